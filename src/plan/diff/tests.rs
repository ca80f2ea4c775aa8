//! Unit tests of the diff, pass by pass.

use super::*;
use crate::plan::testkit::*;
use crate::state::kinds::{Macvlan, MacvlanMode};
use crate::state::{Address, AddressKey, LinkKind, Route, RouteKey, Rule};

const LAB: &str = "lab";

fn ok(desired: &NetState, live: &NetState) -> Vec<Change> {
    diff(LAB, desired, live).expect("no conflicts")
}

fn count(changes: &[Change], f: impl Fn(&Change) -> bool) -> usize {
    changes.iter().filter(|c| f(c)).count()
}

fn lr(ns: &str, name: &str) -> LinkRef {
    LinkRef::new(ns, name)
}

#[test]
fn cold_create_adds_everything_but_the_loopbacks() {
    let desired = small_lab(LAB).build();
    let changes = ok(&desired, &NetState::default());
    assert_eq!(
        count(&changes, |c| matches!(c, Change::AddNamespace { .. })),
        4
    );
    // 2 bridges, 4 veth pairs (one change each, from the fabric end).
    let links: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            Change::AddLink { ns, link, peer, .. } => Some((ns, link, peer)),
            _ => None,
        })
        .collect();
    assert_eq!(links.len(), 6);
    for (ns, link, peer) in &links {
        assert_eq!(ns.as_str(), "lab-fabric");
        match &link.kind {
            LinkKind::Bridge => assert!(peer.is_none()),
            LinkKind::Veth { peer: Some(p) } => {
                let pe = peer.as_ref().expect("veth creates its peer");
                assert_eq!(&pe.at, p);
                assert!(link.master.is_some());
            }
            k => panic!("unexpected {k:?}"),
        }
    }
    assert!(!changes.iter().any(|c| matches!(c,
        Change::AddLink { name, .. } | Change::UpdateLink { name, .. } if name == "lo")));
    assert_eq!(
        count(&changes, |c| matches!(c, Change::AddAddress { .. })),
        4
    );
    assert_eq!(count(&changes, |c| matches!(c, Change::AddRoute { .. })), 3);
    assert_eq!(count(&changes, |c| matches!(c, Change::AddRule { .. })), 1);
    assert!(changes.iter().any(|c| matches!(c,
        Change::SetSysctl { ns, from: None, to, .. } if ns == "hq-gw" && to == "1")));
    assert!(
        changes
            .iter()
            .all(|c| c.action() == crate::plan::Action::Add)
    );
    // Deterministic.
    assert_eq!(changes, ok(&desired, &NetState::default()));
}

#[test]
fn converged_state_has_no_changes_and_ignores_other_namespaces() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    live.namespaces.insert("manual".into(), foreign_ns(None));
    live.namespaces
        .insert("other-x".into(), foreign_ns(Some("other")));
    assert_eq!(ok(&desired, &live), vec![]);
}

#[test]
fn everything_in_an_owned_namespace_is_the_labs() {
    // Objects made by hand inside a lab namespace are removed, each listed.
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    let web1 = live.namespaces.get_mut("web1").unwrap();
    web1.links
        .insert("ifb9".into(), Box::new(link(LinkKind::Ifb)));
    web1.addresses.insert(
        AddressKey {
            ifname: "eth0".into(),
            addr: net("10.1.1.99/24"),
        },
        Address::default(),
    );
    web1.routes.insert(
        main_route("192.168.0.0/16"),
        Box::new(route(Some("10.1.1.1"), Some("eth0"))),
    );
    web1.rules.insert(rule_from(5, "1.2.3.0/24", 7));
    let changes = ok(&desired, &live);
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| match c {
            Change::DeleteLink { name, .. } if name == "ifb9" => "link",
            Change::DeleteAddress { key, .. } if key.addr == net("10.1.1.99/24") => "address",
            Change::DeleteRoute { key, .. } if key.dst == net("192.168.0.0/16") => "route",
            Change::DeleteRule { rule, .. } if rule.priority == 5 => "rule",
            c => panic!("unexpected {c:?}"),
        })
        .collect();
    assert_eq!(kinds, ["route", "rule", "link", "address"]);
}

#[test]
fn taken_namespaces_are_all_reported() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    live.namespaces
        .insert("web2".into(), foreign_ns(Some("other")));
    live.namespaces.insert("web1".into(), foreign_ns(None));
    let conflicts = diff(LAB, &desired, &live).unwrap_err();
    let text: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "namespace web1 already exists, owned by nobody (not created by nshost)",
            "namespace web2 already exists, owned by another lab (other)",
        ]
    );
}

#[test]
fn destroy_deletes_owned_namespaces_only_and_lists_what_goes_with_them() {
    let live = {
        let mut l = as_live(&small_lab(LAB).build());
        l.namespaces.insert("manual".into(), foreign_ns(None));
        l.namespaces
            .insert("other-x".into(), foreign_ns(Some("other")));
        l
    };
    let changes = ok(&NetState::default(), &live);
    let names: Vec<_> = changes
        .iter()
        .map(|c| match c {
            Change::DeleteNamespace { ns, .. } => ns.as_str(),
            c => panic!("unexpected {c:?}"),
        })
        .collect();
    assert_eq!(names, ["hq-gw", "lab-fabric", "web1", "web2"]);
    let Change::DeleteNamespace { contents, .. } = &changes[2] else {
        unreachable!()
    };
    assert_eq!(contents.len(), 3, "{contents:?}");
    assert!(contents[0].starts_with("link eth0 (veth"), "{contents:?}");
    assert_eq!(contents[1], "address eth0 10.1.1.10/24");
    assert_eq!(contents[2], "route default via 10.1.1.1 dev eth0");
}

#[test]
fn a_stray_mount_point_is_removed_and_the_namespace_made_again() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    let role = live.namespaces["web1"].role;
    live.namespaces.insert(
        "web1".into(),
        Namespace {
            owner: Some(LAB.into()),
            role,
            stray: true,
            ..Namespace::default()
        },
    );
    let changes = ok(&desired, &live);
    assert!(
        matches!(
            &changes[..],
            [
                Change::DeleteLink { ns, .. },
                Change::AddLink { .. },
                ..
            ] if ns == "lab-fabric"
        ) || changes
            .iter()
            .any(|c| matches!(c, Change::DeleteNamespace { ns, stray: true, .. } if ns == "web1"))
    );
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::DeleteNamespace { ns, stray: true, .. } if ns == "web1"))
    );
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::AddNamespace { ns, .. } if ns == "web1"))
    );
    // The pair is made again (its old fabric end pointed at the gone namespace).
    assert!(
        changes.iter().any(
            |c| matches!(c, Change::AddLink { peer: Some(p), .. } if p.at == lr("web1", "eth0"))
        )
    );
    // And a stray not desired is only removed.
    let changes = ok(&NetState::default(), &live);
    assert!(changes.iter().any(
        |c| matches!(c, Change::DeleteNamespace { ns, stray: true, contents, .. } if ns == "web1" && contents.is_empty())
    ));
}

#[test]
fn removing_a_host_deletes_its_namespace_and_the_fabric_end() {
    let (live, desired) = small_lab_without_web2(LAB);
    let port = crate::naming::fabric_port_name("web2", "eth0");
    let changes = ok(&desired, &live);
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert!(
        matches!(&changes[0], Change::DeleteLink { ns, name, .. } if ns == "lab-fabric" && *name == port)
    );
    assert!(matches!(&changes[1], Change::DeleteNamespace { ns, .. } if ns == "web2"));
}

#[test]
fn adding_a_host() {
    let live = as_live(&small_lab(LAB).build());
    let desired = small_lab_with_web3(LAB).build();
    let changes = ok(&desired, &live);
    assert_eq!(changes.len(), 4, "{changes:#?}");
    assert!(
        matches!(&changes[0], Change::AddLink { ns, peer: Some(p), .. }
        if ns == "lab-fabric" && p.at == lr("web3", "eth0"))
    );
    assert!(matches!(&changes[1], Change::AddNamespace { ns, role: NsRole::Host } if ns == "web3"));
    assert!(matches!(&changes[2], Change::AddAddress { .. }));
    assert!(matches!(&changes[3], Change::AddRoute { .. }));
}

#[test]
fn mtu_and_state_are_updated_in_place_and_back() {
    let live = as_live(&small_lab(LAB).build());
    let desired = small_lab(LAB)
        .mtu("hq-gw", "eth1", 9000)
        .down("web1", "eth0")
        .build();
    let changes = ok(&desired, &live);
    let updates: Vec<_> = changes
        .iter()
        .map(|c| match c {
            Change::UpdateLink { ns, name, from, to } => {
                (ns.as_str(), name.as_str(), from.mtu, to.mtu, to.up)
            }
            c => panic!("unexpected {c:?}"),
        })
        .collect();
    let port = crate::naming::fabric_port_name("hq-gw", "eth1");
    assert_eq!(
        updates,
        [
            ("hq-gw", "eth1", Some(1500), Some(9000), true),
            ("lab-fabric", port.as_str(), Some(1500), Some(9000), true),
            ("web1", "eth0", Some(1500), Some(1500), false),
        ]
    );
    // The MTU left out of the file again: back to the default, 1500.
    let changes = ok(&small_lab(LAB).build(), &as_live(&desired));
    assert!(changes.iter().any(|c| matches!(c,
        Change::UpdateLink { name, from, to, .. } if name == "eth1" && from.mtu == Some(9000) && to.mtu == Some(1500))));
}

#[test]
fn address_change_adds_and_deletes() {
    let (live, desired) = small_lab_address_moved(LAB);
    let changes = ok(&desired, &live);
    let key = |a: &str| AddressKey {
        ifname: "eth0".into(),
        addr: net(a),
    };
    assert_eq!(
        changes,
        [
            Change::AddAddress {
                ns: "web1".into(),
                key: key("10.1.1.20/24"),
                address: Address::default(),
            },
            Change::DeleteAddress {
                ns: "web1".into(),
                key: key("10.1.1.10/24"),
                address: Address::default(),
            },
        ]
    );
}

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
fn a_device_setting_is_set_on_its_link() {
    let setting = crate::lower::promote_secondaries();
    let desired = small_lab(LAB)
        .link_setting("web1", "eth0", setting.clone(), "1")
        .build();
    let live = as_live(&small_lab(LAB).build());
    let changes = ok(&desired, &live);
    assert!(
        matches!(&changes[..], [Change::SetLinkSetting { ns, link, from: None, to, .. }]
        if ns == "web1" && link == "eth0" && to == "1")
    );
    // A recreated link has none of its settings any more.
    let mut live = as_live(&desired);
    live.namespaces
        .get_mut("web1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .kind = LinkKind::Veth { peer: None };
    let changes = ok(&desired, &live);
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::SetLinkSetting { from: None, .. }))
    );
}

#[test]
fn missing_veth_end_recreates_the_pair_and_what_was_on_it() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    // The node end vanished (with its address); the fabric end still claims it.
    let web1 = live.namespaces.get_mut("web1").unwrap();
    web1.links.remove("eth0");
    web1.addresses.clear();
    let changes = ok(&desired, &live);
    let port = crate::naming::fabric_port_name("web1", "eth0");
    assert_eq!(changes.len(), 4, "{changes:#?}");
    assert!(
        matches!(&changes[0], Change::DeleteLink { ns, name, .. } if ns == "lab-fabric" && *name == port)
    );
    assert!(
        matches!(&changes[1], Change::AddLink { ns, name, peer: Some(p), .. }
        if ns == "lab-fabric" && *name == port && p.at == lr("web1", "eth0"))
    );
    assert!(matches!(&changes[2], Change::AddAddress { ns, .. } if ns == "web1"));
    // The live default route left by eth0, which the kernel flushes: added again.
    assert!(matches!(&changes[3], Change::AddRoute { ns, .. } if ns == "web1"));
}

#[test]
fn link_kind_change_deletes_and_adds() {
    let desired = small_lab(LAB)
        .standalone("hq-gw", "lo1", LinkKind::Ifb)
        .address("hq-gw", "lo1", "192.0.2.1/32")
        .build();
    let mut live = as_live(&desired);
    let gw = live.namespaces.get_mut("hq-gw").unwrap();
    gw.links.get_mut("lo1").unwrap().kind = LinkKind::Bridge;
    let changes = ok(&desired, &live);
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert!(matches!(&changes[0], Change::DeleteLink { name, .. } if name == "lo1"));
    assert!(matches!(&changes[1], Change::AddLink { name, peer: None, .. } if name == "lo1"));
    assert!(matches!(&changes[2], Change::AddAddress { key, .. } if key.ifname == "lo1"));
}

#[test]
fn stacked_links_follow_the_link_they_sit_on() {
    let mv = |mode| {
        LinkKind::Macvlan(Macvlan {
            parent: "eth0".into(),
            mode,
        })
    };
    let desired = small_lab(LAB)
        .standalone("web1", "mv0", mv(MacvlanMode::Bridge))
        .address("web1", "mv0", "10.1.1.77/24")
        .build();
    // The mode changes in place.
    let mut live = as_live(&desired);
    live.namespaces
        .get_mut("web1")
        .unwrap()
        .links
        .get_mut("mv0")
        .unwrap()
        .kind = mv(MacvlanMode::Private);
    assert!(matches!(&ok(&desired, &live)[..], [Change::UpdateLink { name, .. }] if name == "mv0"));
    // The parent's pair is recreated: the macvlan went with it and is made again.
    let mut live = as_live(&desired);
    live.namespaces
        .get_mut("web1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .kind = LinkKind::Veth { peer: None };
    let changes = ok(&desired, &live);
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::AddLink { name, .. } if name == "mv0")),
        "{changes:#?}"
    );
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::DeleteLink { name, .. } if name == "mv0"))
    );
    // Not declared any more while its parent stays: deleted by itself.
    let changes = ok(&small_lab(LAB).build(), &as_live(&desired));
    assert!(matches!(&changes[..], [Change::DeleteLink { name, .. }] if name == "mv0"));
}

#[test]
fn a_loopback_brought_up() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    live.namespaces
        .get_mut("web1")
        .unwrap()
        .links
        .get_mut("lo")
        .unwrap()
        .up = false;
    let changes = ok(&desired, &live);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert!(matches!(&changes[0], Change::UpdateLink { name, to, .. } if name == "lo" && to.up));
}

#[test]
fn stale_links_are_deleted_once() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    // A leftover pair web1/eth9 <-> fabric/old, neither desired.
    live.namespaces.get_mut("web1").unwrap().links.insert(
        "eth9".into(),
        Box::new(link(LinkKind::Veth {
            peer: Some(lr("lab-fabric", "old")),
        })),
    );
    live.namespaces.get_mut("web1").unwrap().addresses.insert(
        AddressKey {
            ifname: "eth9".into(),
            addr: net("10.9.9.9/24"),
        },
        Address::default(),
    );
    live.namespaces.get_mut("lab-fabric").unwrap().links.insert(
        "old".into(),
        Box::new(link(LinkKind::Veth {
            peer: Some(lr("web1", "eth9")),
        })),
    );
    let changes = ok(&desired, &live);
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert!(
        matches!(&changes[0], Change::DeleteLink { ns, name, .. } if ns == "lab-fabric" && name == "old")
    );
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
