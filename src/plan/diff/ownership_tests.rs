//! Unit tests of the diff and ownership: a routing daemon's routes, rules and addresses
//! (another protocol than the lab's) are left alone, taken back with `owns`, and a
//! declared route in a daemon's place is a conflict.

use super::*;
use crate::plan::testkit::*;
use crate::state::{Address, AddressKey, RT_TABLE_MAIN, RouteKey, Rule};

const LAB: &str = "lab";

fn ok(desired: &NetState, live: &NetState) -> Vec<Change> {
    diff(LAB, desired, live).expect("no conflicts")
}

fn count(changes: &[Change], f: impl Fn(&Change) -> bool) -> usize {
    changes.iter().filter(|c| f(c)).count()
}

/// A routing daemon's route, rule and address in `hq-gw`, none of them in the file.
fn with_daemon_objects(desired: &NetState) -> NetState {
    let mut live = as_live(desired);
    let gw = live.namespaces.get_mut("hq-gw").unwrap();
    let mut bird = route(Some("10.100.1.3"), Some("eth1"));
    bird.proto = 12;
    gw.routes.insert(
        RouteKey::new(RT_TABLE_MAIN, "10.2.0.0/24".parse().unwrap(), 32),
        Box::new(bird),
    );
    gw.rules.insert(Rule {
        proto: 11,
        ..rule_from(100, "10.9.0.0/16", 100)
    });
    gw.addresses.insert(
        AddressKey {
            ifname: "eth1".into(),
            addr: "10.100.1.9/32".parse().unwrap(),
        },
        Address { proto: 18 },
    );
    live
}

#[test]
fn another_programs_routes_rules_and_addresses_are_left_alone() {
    let desired = small_lab(LAB).build();
    let live = with_daemon_objects(&desired);
    assert_eq!(ok(&desired, &live), vec![], "not the lab's: no drift");
}

#[test]
fn a_lab_that_takes_a_protocol_removes_its_objects() {
    let mut desired = small_lab(LAB).build();
    let live = with_daemon_objects(&desired);
    let gw = desired.namespaces.get_mut("hq-gw").unwrap();
    gw.protocols = [12, 11, 18].into_iter().collect();
    let changes = ok(&desired, &live);
    assert_eq!(
        count(
            &changes,
            |c| matches!(c, Change::DeleteRoute { route, .. } if route.proto == 12)
        ),
        1,
        "{changes:#?}"
    );
    assert_eq!(
        count(
            &changes,
            |c| matches!(c, Change::DeleteRule { rule, .. } if rule.proto == 11)
        ),
        1
    );
    assert_eq!(
        count(
            &changes,
            |c| matches!(c, Change::DeleteAddress { address, .. } if address.proto == 18)
        ),
        1
    );
    assert_eq!(changes.len(), 3);
}

#[test]
fn a_declared_route_where_a_daemons_route_is_is_a_conflict() {
    let mut desired = small_lab(LAB).build();
    let key = RouteKey::new(RT_TABLE_MAIN, "10.2.0.0/24".parse().unwrap(), 32);
    desired
        .namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .insert(key.clone(), Box::new(route(Some("10.100.1.2"), None)));
    let mut live = with_daemon_objects(&desired);
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .remove(&RouteKey {
            alt: 0,
            ..key.clone()
        });
    let mut bird = route(Some("10.100.1.3"), Some("eth1"));
    bird.proto = 12;
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .insert(key, Box::new(bird));
    let conflicts = diff(LAB, &desired, &live).expect_err("a conflict");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let text = conflicts[0].to_string();
    assert!(
        text.starts_with(
            "route 10.2.0.0/24 metric 32 in hq-gw already exists, owned by bird (protocol 12)"
        ),
        "{text}"
    );
    // The same route at another metric is no conflict: both live side by side.
    let mut desired2 = desired.clone();
    let gw = desired2.namespaces.get_mut("hq-gw").unwrap();
    let r = gw
        .routes
        .remove(&RouteKey::new(
            RT_TABLE_MAIN,
            "10.2.0.0/24".parse().unwrap(),
            32,
        ))
        .unwrap();
    gw.routes.insert(
        RouteKey::new(RT_TABLE_MAIN, "10.2.0.0/24".parse().unwrap(), 10),
        r,
    );
    let changes = ok(&desired2, &live);
    assert_eq!(
        count(&changes, |c| matches!(c, Change::AddRoute { .. })),
        1,
        "{changes:#?}"
    );
    assert_eq!(changes.len(), 1);
}
