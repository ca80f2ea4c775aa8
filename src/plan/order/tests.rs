//! Unit tests of the ordering: stage shapes, the dependencies inside a phase, and the
//! schedule the kernel model runs.

use super::*;
use crate::plan::diff;
use crate::plan::testkit::oracle::check_order;
use crate::plan::testkit::*;
use crate::state::{LinkKind, NetState, RT_TABLE_MAIN};

const LAB: &str = "lab";

fn plan(desired: &NetState, live: &NetState) -> Plan {
    let p = order(
        LAB,
        diff(LAB, desired, live).expect("no conflicts"),
        desired,
    );
    check_order(&p);
    for reverse in [false, true] {
        if let Err(e) = crate::plan::testkit::sim::apply(live, &p, reverse) {
            panic!(
                "the schedule fails on the kernel model: {e}\n{:#?}",
                p.stages
            );
        }
    }
    p
}

#[test]
fn cold_lab_is_three_stages() {
    let desired = small_lab(LAB).build();
    let p = plan(&desired, &NetState::default());
    assert_eq!(p.stages.len(), 3, "{:#?}", p.changes);
    // Namespaces, with the sysctls their creating threads write.
    assert!(
        p.stages[0]
            .steps
            .iter()
            .all(|s| matches!(s.executor, Executor::Create(_)))
    );
    assert!(
        p.stage_changes(0)
            .all(|c| matches!(c, Change::AddNamespace { .. } | Change::SetSysctl { .. }))
    );
    // The fabric's bridges and pairs, from its socket.
    assert_eq!(
        p.stages[1]
            .steps
            .iter()
            .map(|s| &s.executor)
            .collect::<Vec<_>>(),
        [&Executor::Netlink("lab-fabric".into())]
    );
    // Every node: its end of the pair up, then its addresses, routes, rules.
    assert!(
        p.stages[2]
            .steps
            .iter()
            .all(|s| matches!(s.executor, Executor::Netlink(_)))
    );
    for step in &p.stages[2].steps {
        assert_eq!(step.ops[0].part, Part::PeerUp, "{step:?}");
    }
    // Bridges before the ports enslaved to them.
    let fabric = &p.stages[1].steps[0].ops;
    let kinds: Vec<bool> = fabric
        .iter()
        .map(|op| matches!(&p.changes[op.change], Change::AddLink { link, .. } if link.kind == LinkKind::Bridge))
        .collect();
    assert!(kinds.windows(2).all(|w| w[0] || !w[1]), "{kinds:?}");
}

#[test]
fn destroy_is_one_stage_of_namespace_deletions() {
    let live = as_live(&small_lab(LAB).build());
    let p = plan(&NetState::default(), &live);
    assert_eq!(p.stages.len(), 1);
    assert_eq!(p.changes.len(), 4);
    assert!(
        p.changes
            .iter()
            .all(|c| matches!(c, Change::DeleteNamespace { .. }))
    );
}

#[test]
fn empty_plan() {
    let p = order(LAB, vec![], &NetState::default());
    assert!(p.is_empty());
    assert!(p.stages.is_empty());
}

#[test]
fn removing_a_host_deletes_the_fabric_end_first() {
    let (live, desired) = small_lab_without_web2(LAB);
    let p = plan(&desired, &live);
    assert_eq!(p.stages.len(), 2);
    assert!(matches!(&p.changes[0], Change::DeleteLink { .. }));
    assert!(matches!(&p.changes[1], Change::DeleteNamespace { .. }));
}

#[test]
fn addresses_are_added_before_they_are_deleted() {
    let (live, desired) = small_lab_address_moved(LAB);
    let p = plan(&desired, &live);
    assert!(matches!(&p.changes[0], Change::AddAddress { .. }));
    assert!(matches!(&p.changes[1], Change::DeleteAddress { .. }));
    assert_eq!(p.stages.len(), 1);
}

/// Regression (issue 6, item 7): a route whose gateway only another route of the same
/// table reaches went out in the same unordered stage, so a cold apply always failed.
#[test]
fn a_route_through_another_route_comes_after_it() {
    let desired = small_lab(LAB)
        .route_in("hq-gw", RT_TABLE_MAIN, "10.9.0.0/24", None, Some("eth1"))
        .route_in(
            "hq-gw",
            RT_TABLE_MAIN,
            "10.8.0.0/16",
            Some("10.9.0.1"),
            None,
        )
        .route_in("hq-gw", RT_TABLE_MAIN, "10.7.0.0/16", None, Some("lo"))
        .build();
    let p = plan(&desired, &NetState::default());
    let pos = |dst: &str| {
        p.changes
            .iter()
            .position(|c| matches!(c, Change::AddRoute { key, .. } if key.dst == net(dst)))
            .unwrap()
    };
    assert!(pos("10.9.0.0/24") < pos("10.8.0.0/16"));
}

/// A gateway on a connected subnet of another device than the route's own (`dev`) is
/// reached only through a route of that device (the kernel looks it up through the
/// route's device): that route goes first too.
#[test]
fn a_route_through_another_device_comes_after_the_route_that_reaches_its_gateway() {
    let desired = small_lab(LAB)
        .route_in(
            "hq-gw",
            RT_TABLE_MAIN,
            "10.0.0.0/16",
            Some("10.1.1.99"),
            Some("eth1"),
        )
        .route_in("hq-gw", RT_TABLE_MAIN, "10.1.1.99/32", None, Some("eth1"))
        .build();
    let p = plan(&desired, &NetState::default());
    let pos = |dst: &str| {
        p.changes
            .iter()
            .position(|c| matches!(c, Change::AddRoute { key, .. } if key.dst == net(dst)))
            .unwrap()
    };
    assert!(pos("10.1.1.99/32") < pos("10.0.0.0/16"));
}

/// Regression (issue 6, item 8): a per-device sysctl on a new namespace was folded into
/// the namespace's creation, before its device existed.
#[test]
fn a_device_setting_of_a_new_namespace_runs_after_its_link() {
    let rp = crate::state::DevSetting {
        section: crate::state::settings::Section::Ipv6Conf,
        name: "accept_ra".into(),
    };
    let desired = small_lab(LAB).link_setting("web1", "eth0", rp, "0").build();
    let p = plan(&desired, &NetState::default());
    let (stage, step) = p
        .steps()
        .find(|(_, s)| {
            s.ops
                .iter()
                .any(|op| matches!(p.changes[op.change], Change::SetLinkSetting { .. }))
        })
        .unwrap();
    assert_eq!(step.executor, Executor::Proc("web1".into()));
    assert!(stage >= 2, "stage {stage}");
}

/// IPv6 addresses go on after their link is up (issue 6, item 9): the sim refuses one
/// added to a veth end still waiting for its `PeerUp`.
#[test]
fn ipv6_addresses_follow_the_link_going_up() {
    let desired = small_lab(LAB)
        .address("web1", "eth0", "2001:db8:1::10/64")
        .build();
    plan(&desired, &NetState::default());
}

#[test]
fn drift_and_mixed_changes_respect_every_dependency() {
    let desired = small_lab_with_web3(LAB).mtu("hq-gw", "eth1", 9000).build();
    let mut live = as_live(
        &small_lab(LAB)
            .network("old")
            .host("gone")
            .attach("gone", "eth0", "old", &["10.3.0.1/24"])
            .build(),
    );
    crate::plan::testkit::sim::remove_link(&mut live, "web1", "eth0").unwrap();
    live.namespaces.get_mut("hq-gw").unwrap().routes.insert(
        main_route("172.16.0.0/12"),
        Box::new(route(Some("10.1.1.5"), Some("eth0"))),
    );
    let p = plan(&desired, &live);
    assert!(p.stages.len() <= 4, "{} stages", p.stages.len());
}

/// A lab of `hosts` hosts spread over networks of 200, behind one router.
fn big_lab(hosts: usize) -> NetState {
    let nets = hosts.div_ceil(200);
    let mut b = LabBuilder::new(LAB).router("r");
    for n in 0..nets {
        let name = format!("n{n}");
        b = b.network(&name).attach(
            "r",
            &format!("eth{n}"),
            &name,
            &[&format!("10.{}.{}.1/16", n / 256, n % 256)],
        );
    }
    for h in 0..hosts {
        let n = h / 200;
        let host = format!("h{h}");
        let addr = format!("10.{}.{}.{}/16", n / 256, n % 256, 2 + h % 200);
        let gw = format!("10.{}.{}.1", n / 256, n % 256);
        b = b
            .host(&host)
            .attach(&host, "eth0", &format!("n{n}"), &[&addr])
            .route(&host, "default", &gw);
    }
    b.build()
}

#[test]
fn a_thousand_hosts_order_in_three_stages() {
    let desired = big_lab(1000);
    let changes = diff(LAB, &desired, &NetState::default()).unwrap();
    assert!(changes.len() > 4000);
    let p = order(LAB, changes, &desired);
    assert_eq!(p.stages.len(), 3);
    // One step per executor and stage.
    assert_eq!(p.stages[2].steps.len(), 1001);
}
