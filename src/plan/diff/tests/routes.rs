//! Unit tests of the diff of routes and rules: replaced in place, grouped by key,
//! every attribute compared, and added again with a link remade.

use super::*;

#[test]
fn routes_are_replaced_in_place_and_undeclared_ones_deleted() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    let gw = live.namespaces.get_mut("hq-gw").unwrap();
    let key = RouteKey::new(100, net("10.2.0.0/16"), 0);
    gw.routes.get_mut(&key).unwrap().gateway = Some(ip("10.100.1.3"));
    let stale = main_route("172.16.0.0/12");
    gw.routes.insert(
        stale.clone(),
        Box::new(route(Some("10.100.1.2"), Some("eth1"))),
    );
    let changes = ok(&desired, &live);
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(matches!(&changes[0], Change::DeleteRoute { key, .. } if *key == stale));
    match &changes[1] {
        Change::ReplaceRoute {
            key: k, from, to, ..
        } => {
            assert_eq!(*k, key);
            assert_eq!(from.gateway, Some(ip("10.100.1.3")));
            assert_eq!(to.gateway, Some(ip("10.100.1.2")));
        }
        c => panic!("unexpected {c:?}"),
    }
    // A protocol changed by hand is drift too.
    let mut live = as_live(&desired);
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .get_mut(&key)
        .unwrap()
        .proto = 4;
    assert!(
        matches!(&ok(&desired, &live)[..], [Change::ReplaceRoute { from, to, .. }] if from.proto == 4 && to.proto == 3)
    );
}

#[test]
fn routes_sharing_a_key_are_one_group() {
    let two = |a: &str, b: &str| {
        let mut s = small_lab(LAB)
            .network("dmz")
            .attach("hq-gw", "eth2", "dmz", &["10.5.0.1/24"])
            .build();
        let gw = s.namespaces.get_mut("hq-gw").unwrap();
        let mut k = main_route("198.51.100.0/24");
        gw.routes.insert(k.clone(), Box::new(route(None, Some(a))));
        k.alt = 1;
        gw.routes.insert(k, Box::new(route(None, Some(b))));
        s
    };
    let desired = two("eth1", "eth2");
    assert_eq!(ok(&desired, &as_live(&desired)), vec![]);
    // Swapped: the first live route goes, the second stays, and the first desired one
    // after it is appended behind it.
    let changes = ok(&desired, &as_live(&two("eth2", "eth1")));
    let ops: Vec<(&str, u32)> = changes
        .iter()
        .map(|c| match c {
            Change::DeleteRoute { key, .. } => ("del", key.alt),
            Change::AddRoute { key, .. } => ("add", key.alt),
            c => panic!("unexpected {c:?}"),
        })
        .collect();
    assert_eq!(ops, [("del", 0), ("add", 1)]);
}

#[test]
fn rules_and_settings() {
    let desired = small_lab(LAB)
        .rule("hq-gw", rule_from(200, "10.9.0.0/16", 200))
        .build();
    let mut live = as_live(&small_lab(LAB).build());
    let gw = live.namespaces.get_mut("hq-gw").unwrap();
    gw.rules.insert(rule_from(300, "10.8.0.0/16", 300));
    gw.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
    let changes = ok(&desired, &live);
    assert_eq!(
        changes,
        [
            Change::DeleteRule {
                ns: "hq-gw".into(),
                rule: Box::new(rule_from(300, "10.8.0.0/16", 300))
            },
            Change::SetSysctl {
                ns: "hq-gw".into(),
                key: "net.ipv4.ip_forward".into(),
                from: Some("0".into()),
                to: "1".into()
            },
            Change::AddRule {
                ns: "hq-gw".into(),
                rule: Box::new(rule_from(200, "10.9.0.0/16", 200))
            },
        ]
    );
    // Values compare as the kernel prints them.
    let mut live = as_live(&desired);
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "1\n".into());
    assert_eq!(ok(&desired, &live), vec![]);
}

#[test]
fn every_route_attribute_is_compared_and_replaced_in_place() {
    use crate::state::{Nexthop, RouteType};
    let desired = small_lab(LAB).build();
    let key = RouteKey::new(100, net("10.2.0.0/16"), 0);
    let hop = |gw: &str, weight| Nexthop {
        gateway: Some(ip(gw)),
        dev: None,
        weight,
    };
    type Edit = Box<dyn Fn(&mut Route)>;
    let edits: Vec<Edit> = vec![
        Box::new(|r| r.kind = RouteType::Prohibit),
        Box::new(|r| r.scope = 200),
        Box::new(|r| r.src = Some(ip("10.1.1.1"))),
        Box::new(|r| r.onlink = true),
        Box::new(move |r| {
            r.gateway = None;
            r.nexthops = vec![hop("10.100.1.2", 1), hop("10.100.1.3", 2)];
        }),
    ];
    for edit in &edits {
        let mut live = as_live(&desired);
        edit(
            live.namespaces
                .get_mut("hq-gw")
                .unwrap()
                .routes
                .get_mut(&key)
                .unwrap(),
        );
        let changes = ok(&desired, &live);
        assert!(
            matches!(&changes[..], [Change::ReplaceRoute { key: k, .. }] if *k == key),
            "{changes:?}"
        );
    }
    // Multipath next hops: a weight differs, a device the lab leaves open does not.
    let mut want = desired.clone();
    let mut mp = want.namespaces["hq-gw"].routes[&key].clone();
    mp.gateway = None;
    mp.dev = None;
    mp.nexthops = vec![hop("10.100.1.2", 1), hop("10.100.1.3", 2)];
    want.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .insert(key.clone(), mp.clone());
    let mut live = as_live(&want);
    let live_mp = live
        .namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .get_mut(&key)
        .unwrap();
    for h in &mut live_mp.nexthops {
        h.dev = Some("eth1".into());
    }
    assert_eq!(ok(&want, &live), vec![]);
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .get_mut(&key)
        .unwrap()
        .nexthops[1]
        .weight = 3;
    assert!(matches!(
        &ok(&want, &live)[..],
        [Change::ReplaceRoute { .. }]
    ));
}

#[test]
fn a_multipath_route_through_a_link_remade_is_added_again() {
    use crate::state::Nexthop;
    let mut desired = small_lab(LAB).build();
    let key = RouteKey::new(100, net("10.2.0.0/16"), 0);
    let r = desired
        .namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .get_mut(&key)
        .unwrap();
    r.gateway = None;
    r.nexthops = vec![
        Nexthop {
            gateway: Some(ip("10.100.1.2")),
            dev: Some("eth1".into()),
            weight: 1,
        },
        Nexthop {
            gateway: Some(ip("10.1.1.20")),
            dev: Some("eth0".into()),
            weight: 1,
        },
    ];
    let mut live = as_live(&desired);
    // eth0 is another kind live: the lab's veth replaces it, and the kernel drops the
    // route with it.
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .kind = LinkKind::Dummy;
    let changes = ok(&desired, &live);
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::AddRoute { key: k, .. } if *k == key))
    );
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::DeleteRoute { .. }))
    );
}

#[test]
fn a_rule_changed_is_deleted_and_added() {
    use crate::state::RuleAction;
    let mut desired = small_lab(LAB).build();
    let rule = desired.namespaces["hq-gw"]
        .rules
        .iter()
        .next()
        .unwrap()
        .clone();
    let live = as_live(&desired);
    let rules = &mut desired.namespaces.get_mut("hq-gw").unwrap().rules;
    rules.clear();
    rules.insert(Rule {
        action: RuleAction::Goto,
        goto: Some(200),
        table: 0,
        ..rule.clone()
    });
    let changes = ok(&desired, &live);
    assert!(
        matches!(&changes[..], [Change::DeleteRule { rule: d, .. }, Change::AddRule { rule: a, .. }]
        if a.goto == Some(200) && *d == Box::new(rule)),
        "{changes:?}"
    );
}
