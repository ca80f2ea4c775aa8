//! Convergence tests: for many (desired, live) pairs, the plan's schedule runs cleanly
//! on the kernel model (in either order of each stage's steps), respects every ordering
//! rule, and leaves nothing to change; and a failure at any stage can be undone by the
//! inverse plan computed from the state it left.

use crate::plan::testkit::oracle::check_order;
use crate::plan::testkit::sim;
use crate::plan::testkit::*;
use crate::plan::{Change, diff, order};
use crate::state::kinds::{Macvlan, MacvlanMode, VXLAN_PORT, Vxlan};
use crate::state::settings::Section;
use crate::state::{
    Address, AddressKey, DevSetting, LinkKind, LinkRef, Namespace, NetState, RT_TABLE_MAIN,
    RouteKey,
};

const LAB: &str = "lab";

/// Plans, applies and re-plans; panics with the plan on any failure.
fn converges(desired: &NetState, live: &NetState) -> usize {
    let changes = diff(LAB, desired, live).expect("no conflicts");
    let plan = order(LAB, changes, desired);
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

fn rp_filter() -> DevSetting {
    DevSetting {
        section: Section::Ipv4Conf,
        name: "rp_filter".into(),
    }
}

fn accept_ra() -> DevSetting {
    DevSetting {
        section: Section::Ipv6Conf,
        name: "accept_ra".into(),
    }
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
            .standalone("hq-gw", "lo1", LinkKind::Ifb)
            .address("hq-gw", "lo1", "192.0.2.1/32")
            .rule("hq-gw", rule_from(200, "10.5.0.0/16", 200))
            .route_in("hq-gw", 200, "default", Some("10.100.1.2"), Some("eth1"))
            .sysctl("web1", "net.ipv6.conf.all.disable_ipv6", "1")
            .link_setting("hq-gw", "eth2", rp_filter(), "2")
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
        // Stacked links, IPv6, a route through another route, appended routes, a
        // setting under /proc/sys.
        {
            let mut s = base()
                .standalone(
                    "web1",
                    "mv0",
                    LinkKind::Macvlan(Macvlan {
                        parent: "eth0".into(),
                        mode: MacvlanMode::Bridge,
                    }),
                )
                .address("web1", "mv0", "10.1.1.70/24")
                .standalone(
                    "hq-gw",
                    "vx0",
                    LinkKind::Vxlan(Box::new(Vxlan {
                        id: 7,
                        local: Some(ip("10.100.1.1")),
                        remote: Some(ip("10.100.1.2")),
                        group: None,
                        port: VXLAN_PORT,
                        dev: Some("eth1".into()),
                        underlay: false,
                        flood: Default::default(),
                    })),
                )
                .address("hq-gw", "vx0", "10.77.0.1/24")
                .address("web2", "eth0", "2001:db8:1::11/64")
                .address("hq-gw", "eth0", "2001:db8:1::1/64")
                .route_in("hq-gw", RT_TABLE_MAIN, "10.9.0.0/24", None, Some("eth1"))
                .route_in(
                    "hq-gw",
                    RT_TABLE_MAIN,
                    "10.8.0.0/16",
                    Some("10.9.0.1"),
                    None,
                )
                .link_setting("web2", "eth0", accept_ra(), "0")
                .build();
            let gw = s.namespaces.get_mut("hq-gw").unwrap();
            let mut k = main_route("198.51.100.0/24");
            gw.routes
                .insert(k.clone(), Box::new(route(None, Some("eth0"))));
            k.alt = 1;
            gw.routes.insert(k, Box::new(route(None, Some("eth1"))));
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

/// A failure at any stage leaves a state from which the inverse plan (the state before,
/// planned against it) runs cleanly and gets back exactly to the state before.
#[test]
fn a_failure_at_any_stage_can_be_undone() {
    let vs = variants();
    for (i, from) in vs.iter().enumerate() {
        let before = as_live(from);
        for (j, to) in vs.iter().enumerate() {
            let plan = order(LAB, diff(LAB, to, &before).unwrap(), to);
            for stop in 0..plan.stages.len() {
                let partial = sim::apply_until(&before, &plan, stop + 1).unwrap();
                let undo = order(LAB, diff(LAB, &before, &partial).unwrap(), &before);
                check_order(&undo);
                let back = sim::apply(&partial, &undo, false)
                    .unwrap_or_else(|e| panic!("undo of {i}->{j} after stage {stop} fails: {e}"));
                let rest = diff(LAB, &before, &back).unwrap();
                assert!(rest.is_empty(), "{i}->{j} stage {stop}: {rest:#?}");
            }
        }
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

/// Renames link `l` of `ns` (`ip link set name`): a veth's peer sees the new name.
fn rename_link(live: &mut NetState, ns: &str, l: &str) {
    let n = live.namespaces.get_mut(ns).unwrap();
    let link = n.links.remove(l).unwrap();
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
        if r.dev.as_deref() == Some(l) {
            r.dev = Some(new.clone());
        }
    }
    for other in n.links.values_mut() {
        if let LinkKind::Macvlan(m) = &mut other.kind
            && m.parent == l
        {
            m.parent = new.clone();
        }
    }
    if let LinkKind::Veth { peer: Some(p) } = &link.kind
        && let Some(pl) = live
            .namespaces
            .get_mut(&p.ns)
            .and_then(|n| n.links.get_mut(&p.name))
    {
        pl.kind = LinkKind::Veth {
            peer: Some(LinkRef::new(ns, &new)),
        };
    }
    live.namespaces.get_mut(ns).unwrap().links.insert(new, link);
}

fn ns_mut<'a>(live: &'a mut NetState, ns: &str) -> &'a mut Namespace {
    live.namespaces.get_mut(ns).unwrap()
}

/// Changes `live` the way people and the kernel do: every mutation keeps it a state
/// the kernel could report.
fn mutate(live: &mut NetState, rng: &mut Rng) {
    let owned: Vec<String> = live
        .namespaces
        .iter()
        .filter(|(_, n)| n.owned_by(LAB) && !n.stray)
        .map(|(k, _)| k.clone())
        .collect();
    let Some(ns) = rng.pick(&owned) else {
        return;
    };
    let n = &live.namespaces[&ns];
    let links: Vec<String> = n.links.keys().filter(|l| *l != "lo").cloned().collect();
    let addrs: Vec<AddressKey> = n.addresses.keys().cloned().collect();
    let routes: Vec<RouteKey> = n.routes.keys().cloned().collect();
    match rng.below(16) {
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
                let n = ns_mut(live, &ns);
                n.addresses.remove(&a);
                if !n
                    .addresses
                    .keys()
                    .any(|k| k.ifname == a.ifname && k.addr.addr().is_ipv4())
                {
                    n.routes.retain(|k, r| {
                        !(k.dst.addr().is_ipv4() && r.dev.as_deref() == Some(&a.ifname))
                    });
                }
            }
        }
        3 => {
            if let Some(r) = rng.pick(&routes) {
                ns_mut(live, &ns).routes.remove(&r);
            }
        }
        4 => {
            if let Some(r) = rng.pick(&routes) {
                let route = ns_mut(live, &ns).routes.get_mut(&r).unwrap();
                route.gateway = Some(ip("10.100.1.77"));
                route.proto = 4;
            }
        }
        5 => {
            if let Some(l) = rng.pick(&links) {
                let n = ns_mut(live, &ns);
                n.links.get_mut(&l).unwrap().up = false;
                n.routes.retain(|_, r| r.dev.as_deref() != Some(l.as_str()));
            }
        }
        6 => {
            if let Some(l) = rng.pick(&links) {
                ns_mut(live, &ns).links.get_mut(&l).unwrap().mtu = Some(1400);
            }
        }
        7 => {
            if let Some(l) = rng.pick(&links) {
                let n = ns_mut(live, &ns);
                n.addresses.insert(
                    AddressKey {
                        ifname: l.clone(),
                        addr: net("172.31.0.1/24"),
                    },
                    Address::default(),
                );
                n.routes.insert(
                    RouteKey::new(RT_TABLE_MAIN, net("172.30.0.0/16"), 5),
                    Box::new(route(Some("172.31.0.9"), Some(&l))),
                );
            }
        }
        8 => {
            ns_mut(live, &ns)
                .rules
                .insert(rule_from(77, "10.77.0.0/16", 77));
        }
        9 => {
            let n = ns_mut(live, &ns);
            let first = n.sysctls.first_key_value().map(|(k, _)| k.clone());
            if let Some(k) = first {
                n.sysctls.insert(k, "0".into());
            }
        }
        10 => {
            // An interrupted run left the namespace's mount point without a namespace.
            if rng.below(3) == 0 {
                let role = live.namespaces[&ns].role;
                sim::remove_ns(live, &ns).unwrap();
                live.namespaces.insert(
                    ns.clone(),
                    Namespace {
                        owner: Some(LAB.into()),
                        role,
                        stray: true,
                        ..Namespace::default()
                    },
                );
            }
        }
        11 => {
            if let Some(l) = rng.pick(&links) {
                rename_link(live, &ns, &l);
            }
        }
        12 => {
            // A link replaced by one of another kind, same name (routes on it gone).
            if let Some(l) = rng.pick(&links) {
                let old = live.namespaces[&ns].links[&l].clone();
                sim::remove_link(live, &ns, &l).unwrap();
                let mut new = old;
                new.kind = LinkKind::Ifb;
                new.master = None;
                new.settings.clear();
                let n = ns_mut(live, &ns);
                n.links.insert(l.clone(), new);
                n.addresses.insert(
                    AddressKey {
                        ifname: l,
                        addr: net("10.1.1.200/24"),
                    },
                    Address::default(),
                );
            }
        }
        13 => {
            // A link of a kind nshost does not make, made by hand.
            ns_mut(live, &ns).links.insert(
                "sit9".into(),
                Box::new(link(LinkKind::Unmanaged { name: "sit".into() })),
            );
        }
        14 => {
            // A setting of one device changed by hand.
            if let Some(l) = rng.pick(&links) {
                let n = ns_mut(live, &ns);
                let link = n.links.get_mut(&l).unwrap();
                for v in link.settings.values_mut() {
                    *v = "7".into();
                }
                if let LinkKind::Macvlan(m) = &mut link.kind {
                    m.mode = MacvlanMode::Vepa;
                }
            }
        }
        _ => {
            // A fabric port moved to another bridge (or out of any).
            let n = ns_mut(live, &ns);
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
    for _ in 0..400 {
        let desired = &vs[rng.below(vs.len())];
        let mut live = as_live(&vs[rng.below(vs.len())]);
        live.namespaces.insert("manual".into(), foreign_ns(None));
        for _ in 0..1 + rng.below(6) {
            mutate(&mut live, &mut rng);
        }
        total += converges(desired, &live);
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
        let empty = NetState::default();
        let plan = order(LAB, diff(LAB, &empty, &live).unwrap(), &empty);
        let after = sim::apply(&live, &plan, true).unwrap();
        assert!(after.namespaces.values().all(|n| !n.owned_by(LAB)));
        assert!(plan.stages.len() <= 1);
        assert!(
            plan.changes
                .iter()
                .all(|c| matches!(c, Change::DeleteNamespace { .. }))
        );
    }
}
