//! Convergence tests: for many (desired, live) pairs, the plan applies cleanly on a
//! model of the kernel (in either interleaving of each stage's channels), respects
//! every ordering rule, and leaves nothing to change.

use crate::naming;
use crate::plan::testkit::oracle::check_order;
use crate::plan::testkit::sim;
use crate::plan::testkit::*;
use crate::plan::{Change, diff, order};
use crate::state::{
    Address, AddressKey, LinkKind, NetState, RT_TABLE_MAIN, Route, RouteKey, RuleMeta,
};

const LAB: &str = "lab";

/// Plans, applies and re-plans; panics with the plan on any failure.
fn converges(desired: &NetState, live: &NetState) -> usize {
    let changes = diff(LAB, desired, live).expect("no conflicts");
    let plan = order(LAB, changes);
    check_order(&plan);
    for reverse in [false, true] {
        let after = sim::apply(live, &plan, reverse)
            .unwrap_or_else(|e| panic!("apply failed: {e}\nplan: {:#?}", plan.changes));
        let again = diff(LAB, desired, &after).expect("no conflicts after apply");
        assert!(
            again.is_empty(),
            "not converged, still: {again:#?}\nplan: {:#?}",
            plan.changes
        );
    }
    plan.changes.len()
}

/// Desired states that differ in every kind of object.
fn variants() -> Vec<NetState> {
    let base = || small_lab(LAB);
    vec![
        base().build(),
        base().mtu("hq-gw", "eth1", 9000).build(),
        small_lab_with_web3(LAB).build(),
        base()
            .network("dmz")
            .attach("hq-gw", "eth2", "dmz", &["10.5.0.1/24", "10.5.1.1/24"])
            .standalone("hq-gw", "lo1", "dummy")
            .address("hq-gw", "lo1", "192.0.2.1/32")
            .rule("hq-gw", rule_from(200, "10.5.0.0/16", 200))
            .route_in("hq-gw", 200, "default", Some("10.100.1.2"), Some("eth1"))
            .sysctl("web1", "net.ipv6.conf.all.disable_ipv6", "1")
            .build(),
        // web2 moves to another network (same fabric port, another bridge) and subnet.
        LabBuilder::new(LAB)
            .network("lan")
            .network("wan")
            .network("lan2")
            .router("hq-gw")
            .attach("hq-gw", "eth0", "lan", &["10.1.1.1/24"])
            .attach("hq-gw", "eth1", "wan", &["10.100.1.1/24"])
            .attach("hq-gw", "eth3", "lan2", &["10.1.2.1/24"])
            .route_in("hq-gw", 100, "10.2.0.0/16", Some("10.100.1.3"), None)
            .host("web1")
            .attach("web1", "eth0", "lan", &["10.1.1.20/24"])
            .route("web1", "default", "10.1.1.1")
            .host("web2")
            .attach("web2", "eth0", "lan2", &["10.1.2.11/24"])
            .route("web2", "default", "10.1.2.1")
            .build(),
        // The router's WAN link loses its address; the route leaves by the LAN now.
        {
            let mut s = base().build();
            let gw = s.namespaces.get_mut("hq-gw").unwrap();
            gw.addresses.retain(|k, _| k.ifname != "eth1");
            gw.routes
                .values_mut()
                .for_each(|r| r.gateway = Some(ip("10.1.1.2")));
            s
        },
        NetState::default(),
    ]
}

#[test]
fn every_variant_converges_from_every_other() {
    let vs = variants();
    for (i, from) in vs.iter().enumerate() {
        let live = as_live(from);
        for (j, to) in vs.iter().enumerate() {
            let n = converges(to, &live);
            if i == j {
                assert_eq!(n, 0, "variant {i} against itself");
            }
        }
        converges(from, &NetState::default());
    }
}

/// xorshift64*: deterministic, dependency-free randomness for the drift test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())].clone())
    }
}

/// Changes `live` the way people and the kernel do: every mutation keeps it a state
/// the kernel could report.
fn mutate(live: &mut NetState, rng: &mut Rng) {
    let owned: Vec<String> = live
        .namespaces
        .iter()
        .filter(|(_, n)| n.owned_by(LAB))
        .map(|(k, _)| k.clone())
        .collect();
    let Some(ns) = rng.pick(&owned) else {
        return;
    };
    let n = &live.namespaces[&ns];
    let links: Vec<String> = n.links.keys().filter(|l| *l != "lo").cloned().collect();
    let addrs: Vec<AddressKey> = n.addresses.keys().cloned().collect();
    let routes: Vec<RouteKey> = n.routes.keys().cloned().collect();
    match rng.below(13) {
        0 => {
            if let Some(l) = rng.pick(&links) {
                sim::remove_link(live, &ns, &l).unwrap();
            }
        }
        1 => {
            if rng.below(3) == 0 {
                sim::remove_ns(live, &ns).unwrap();
            }
        }
        2 => {
            if let Some(a) = rng.pick(&addrs) {
                sim::remove_address(live, &ns, &a).unwrap();
            }
        }
        3 => {
            if let Some(r) = rng.pick(&routes) {
                live.namespaces.get_mut(&ns).unwrap().routes.remove(&r);
            }
        }
        4 => {
            if let Some(r) = rng.pick(&routes) {
                let route = live
                    .namespaces
                    .get_mut(&ns)
                    .unwrap()
                    .routes
                    .get_mut(&r)
                    .unwrap();
                route.gateway = Some(ip("10.100.1.77"));
            }
        }
        5 => {
            if let Some(l) = rng.pick(&links) {
                let n = live.namespaces.get_mut(&ns).unwrap();
                n.links.get_mut(&l).unwrap().up = false;
                n.routes.retain(|_, r| r.dev.as_deref() != Some(l.as_str()));
            }
        }
        6 => {
            if let Some(l) = rng.pick(&links) {
                live.namespaces
                    .get_mut(&ns)
                    .unwrap()
                    .links
                    .get_mut(&l)
                    .unwrap()
                    .mtu = Some(1400);
            }
        }
        7 => {
            if let Some(l) = rng.pick(&links) {
                let n = live.namespaces.get_mut(&ns).unwrap();
                let key = AddressKey {
                    ifname: l.clone(),
                    addr: net("172.31.0.1/24"),
                };
                n.addresses.insert(
                    key,
                    Address {
                        owned: rng.below(2) == 0,
                    },
                );
                let rk = RouteKey {
                    table: RT_TABLE_MAIN,
                    dst: net("172.30.0.0/16"),
                    metric: 5,
                };
                let owned = rng.below(2) == 0;
                n.routes.insert(
                    rk,
                    Route {
                        gateway: Some(ip("172.31.0.9")),
                        dev: Some(l),
                        owned,
                    },
                );
            }
        }
        8 => {
            let n = live.namespaces.get_mut(&ns).unwrap();
            n.rules.insert(
                rule_from(77, "10.77.0.0/16", 77),
                RuleMeta {
                    owned: rng.below(2) == 0,
                },
            );
        }
        9 => {
            let n = live.namespaces.get_mut(&ns).unwrap();
            if let Some(k) = n.sysctls.keys().next().cloned() {
                n.sysctls.insert(k, "0".into());
            }
        }
        11 => {
            // A link renamed (`ip link set name`): a veth's peer sees the new name.
            if let Some(l) = rng.pick(&links) {
                let n = live.namespaces.get_mut(&ns).unwrap();
                let link = n.links.remove(&l).unwrap();
                let new: String = format!("x{l}").chars().take(15).collect();
                for k in n.addresses.keys().cloned().collect::<Vec<_>>() {
                    if k.ifname == l {
                        let a = n.addresses.remove(&k).unwrap();
                        n.addresses.insert(
                            AddressKey {
                                ifname: new.clone(),
                                ..k
                            },
                            a,
                        );
                    }
                }
                for r in n.routes.values_mut() {
                    if r.dev.as_deref() == Some(l.as_str()) {
                        r.dev = Some(new.clone());
                    }
                }
                if let LinkKind::Veth { peer: Some(p) } = &link.kind
                    && let Some(pl) = live
                        .namespaces
                        .get_mut(&p.ns)
                        .and_then(|n| n.links.get_mut(&p.name))
                {
                    pl.kind = LinkKind::Veth {
                        peer: Some(crate::state::LinkRef {
                            ns: ns.clone(),
                            name: new.clone(),
                        }),
                    };
                }
                live.namespaces
                    .get_mut(&ns)
                    .unwrap()
                    .links
                    .insert(new, link);
            }
        }
        12 => {
            // A link replaced by one of another kind, same name (routes on it gone).
            if let Some(l) = rng.pick(&links) {
                let old = live.namespaces[&ns].links[&l].clone();
                sim::remove_link(live, &ns, &l).unwrap();
                let mut link = old;
                link.kind = LinkKind::Other {
                    name: "dummy".into(),
                };
                link.master = None;
                live.namespaces
                    .get_mut(&ns)
                    .unwrap()
                    .links
                    .insert(l.clone(), link);
                let key = AddressKey {
                    ifname: l,
                    addr: net("10.1.1.200/24"),
                };
                live.namespaces
                    .get_mut(&ns)
                    .unwrap()
                    .addresses
                    .insert(key, Address { owned: true });
            }
        }
        _ => {
            // A fabric port moved to another bridge (or out of any).
            let n = live.namespaces.get_mut(&ns).unwrap();
            let bridges: Vec<String> = n
                .links
                .iter()
                .filter(|(_, l)| l.kind == LinkKind::Bridge)
                .map(|(k, _)| k.clone())
                .collect();
            let ports: Vec<String> = n
                .links
                .iter()
                .filter(|(_, l)| l.master.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            if let Some(p) = rng.pick(&ports) {
                n.links.get_mut(&p).unwrap().master =
                    rng.pick(&bridges).filter(|_| rng.below(2) == 0);
            }
        }
    }
}

#[test]
fn random_drift_converges() {
    let vs = variants();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut total = 0;
    for round in 0..400 {
        let desired = &vs[rng.below(vs.len())];
        let mut live = as_live(&vs[rng.below(vs.len())]);
        live.namespaces.insert("manual".into(), foreign_ns(None));
        for _ in 0..1 + rng.below(6) {
            mutate(&mut live, &mut rng);
        }
        match diff(LAB, desired, &live) {
            // Unowned stray objects can collide with desired ones: that is a conflict.
            Err(_) => continue,
            Ok(_) => total += converges(desired, &live),
        }
        let _ = round;
    }
    assert!(total > 1000, "only {total} changes exercised");
}

#[test]
fn destroy_after_drift_is_clean() {
    let mut rng = Rng(7);
    for _ in 0..50 {
        let mut live = as_live(&variants()[3]);
        for _ in 0..3 {
            mutate(&mut live, &mut rng);
        }
        let plan = order(LAB, diff(LAB, &NetState::default(), &live).unwrap());
        let after = sim::apply(&live, &plan, true).unwrap();
        assert!(after.namespaces.values().all(|n| !n.owned_by(LAB)));
        assert!(plan.stages.len() <= 1);
        assert!(
            plan.changes
                .iter()
                .all(|c| matches!(c, Change::DeleteNamespace { .. }))
        );
    }
    let _ = naming::IFNAME_MAX;
}
