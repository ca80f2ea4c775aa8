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

mod routes;

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
