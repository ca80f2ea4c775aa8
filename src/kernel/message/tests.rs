//! Round trips: what nshost's own request builders encode, its decoders read back.

use std::collections::{HashMap, HashSet};

use super::devconf::{AF_INET, IFLA_INET_CONF, nla};
use super::*;
use crate::kernel::RouteBatch;
use crate::kernel::decode::{decode_address, decode_link, decode_route, decode_rule};
use crate::netlink::for_each_message;
use crate::plan::task::task_of;
use crate::plan::testkit::{ip, link, net, route};
use crate::plan::{Part, Task};
use crate::state::kinds::{Macvlan, MacvlanMode, Vxlan};
use crate::state::{
    Address, AddressKey, Fwmark, LinkKind, Nexthop, PortRange, RT_TABLE_MAIN, Route, RouteKey,
    RouteType, Rule, RuleAction, UidRange,
};
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE};
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute};

/// The requests of part `part` of `change`, as `apply` builds them.
fn build_of(change: &Change, part: Part, idx: &mut IfIndexes) -> Result<Vec<Request>, BuildError> {
    let Some(Task::Netlink { ns, item } | Task::Underlay { ns, item }) =
        task_of(change, part, &HashSet::new())
    else {
        panic!("{} ({part:?}) is no netlink work", change.describe());
    };
    build(ns, &item, idx, &HashSet::new())
}

fn encode(change: &Change, part: Part, idx: &mut IfIndexes) -> Vec<Vec<u8>> {
    let mut batch = RouteBatch::new();
    for r in build_of(change, part, idx).unwrap() {
        batch.push(r.msg, r.flags);
    }
    let mut out = Vec::new();
    for_each_message(batch.bytes(), |_, _, _, raw| out.push(raw.to_vec()));
    out
}

fn eth0() -> (IfIndexes, HashMap<u32, String>) {
    let mut idx = IfIndexes::default();
    let i = idx.assign("ns", "eth0");
    (idx, HashMap::from([(i, "eth0".to_string())]))
}

#[test]
fn addresses_round_trip() {
    let (mut idx, by_index) = eth0();
    for addr in ["10.1.2.3/24", "2001:db8::7/64"] {
        let key = AddressKey {
            ifname: "eth0".into(),
            addr: net(addr),
        };
        let change = Change::AddAddress {
            ns: "ns".into(),
            key: key.clone(),
            address: Address::default(),
        };
        let mut raw = encode(&change, Part::Main, &mut idx).remove(0);
        // As dumped: an address added by hand is permanent (IFA_F_PERMANENT).
        raw[16 + 2] |= 0x80;
        assert_eq!(
            decode_address(&raw, &by_index),
            Some((key, Address::default()))
        );
    }
}

#[test]
fn ipv4_addresses_get_the_broadcast_brd_plus_gives() {
    let (mut idx, _) = eth0();
    for (addr, brd) in [
        ("10.1.2.3/24", Some("10.1.2.255")),
        ("10.1.2.3/30", Some("10.1.2.3")),
        ("10.1.2.3/31", None),
        ("10.1.2.3/32", None),
        ("2001:db8::7/64", None),
    ] {
        let change = Change::AddAddress {
            ns: "ns".into(),
            key: AddressKey {
                ifname: "eth0".into(),
                addr: net(addr),
            },
            address: Address::default(),
        };
        let req = &build_of(&change, Part::Main, &mut idx).unwrap()[0];
        let RouteNetlinkMessage::NewAddress(msg) = &req.msg else {
            panic!("{req:?}")
        };
        let got = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Broadcast(b) => Some(b.to_string()),
            _ => None,
        });
        assert_eq!(got.as_deref(), brd, "{addr}");
    }
}

#[test]
fn routes_round_trip() {
    let (mut idx, by_index) = eth0();
    for (dst, gw, table, metric, proto) in [
        ("0.0.0.0/0", Some("10.1.1.1"), RT_TABLE_MAIN, 0, 3),
        ("10.9.0.0/16", None, 100, 7, 4),
        ("2001:db8:9::/48", Some("2001:db8::1"), 70000, 1024, 3),
    ] {
        let key = RouteKey::new(table, net(dst), metric);
        let mut r = route(gw, Some("eth0"));
        r.proto = proto;
        let change = Change::AddRoute {
            ns: "ns".into(),
            key: key.clone(),
            route: Box::new(r.clone()),
        };
        let raw = &encode(&change, Part::Main, &mut idx)[0];
        assert_eq!(
            decode_route(raw, &by_index, &Default::default()),
            Some((key, r))
        );
    }
}

#[test]
fn route_attributes_round_trip() {
    let (mut idx, by_index) = eth0();
    let key = RouteKey::new(100, net("10.9.0.0/16"), 5);
    let hop = |gw: &str, weight| Nexthop {
        gateway: Some(ip(gw)),
        dev: Some("eth0".into()),
        weight,
    };
    let mut routes = vec![
        Route {
            kind: RouteType::Blackhole,
            proto: 4,
            ..Route::default()
        },
        Route {
            kind: RouteType::Throw,
            proto: 3,
            scope: 200,
            ..Route::default()
        },
        Route {
            gateway: Some(ip("10.5.5.5")),
            dev: Some("eth0".into()),
            proto: 3,
            src: Some(ip("10.1.1.1")),
            onlink: true,
            ..Route::default()
        },
        Route {
            proto: 3,
            nexthops: vec![hop("10.1.1.2", 1), hop("10.1.1.3", 256)],
            ..Route::default()
        },
    ];
    routes.push(Route {
        onlink: true,
        ..routes[3].clone()
    });
    for r in routes {
        let change = Change::AddRoute {
            ns: "ns".into(),
            key: key.clone(),
            route: Box::new(r.clone()),
        };
        let raw = &encode(&change, Part::Main, &mut idx)[0];
        assert_eq!(
            decode_route(raw, &by_index, &Default::default()),
            Some((key.clone(), r))
        );
    }
}

#[test]
fn kernel_made_routes_are_left_out_but_other_kernel_routes_are_kept() {
    let (mut idx, by_index) = eth0();
    let prefixes = [("eth0".to_string(), net("10.1.1.0/24"))]
        .into_iter()
        .collect();
    let mut kernel = |dst: &str, table| {
        let mut r = route(None, Some("eth0"));
        r.proto = 2;
        let change = Change::AddRoute {
            ns: "ns".into(),
            key: RouteKey::new(table, net(dst), 0),
            route: Box::new(r),
        };
        let raw = encode(&change, Part::Main, &mut idx).remove(0);
        decode_route(&raw, &by_index, &prefixes).is_some()
    };
    assert!(!kernel("10.1.1.0/24", RT_TABLE_MAIN));
    assert!(!kernel("fe80::/64", RT_TABLE_MAIN));
    assert!(!kernel("ff00::/8", RT_TABLE_MAIN));
    // The same prefix in another table, another prefix in main: the lab's.
    assert!(kernel("10.1.1.0/24", 100));
    assert!(kernel("10.1.2.0/24", RT_TABLE_MAIN));
}

#[test]
fn rules_round_trip() {
    let (mut idx, _) = eth0();
    let rule = Rule {
        v6: false,
        priority: 100,
        from: Some(net("10.1.0.0/16")),
        to: Some(net("10.2.0.0/16")),
        iif: Some("eth0".into()),
        oif: Some("eth1".into()),
        fwmark: Fwmark::new(0x10, Some(0xf0)),
        tos: Some(0x10),
        ipproto: Some(6),
        sport: Some(PortRange {
            start: 1000,
            end: 2000,
        }),
        dport: Some(PortRange { start: 80, end: 80 }),
        table: 100,
        ..Rule::default()
    };
    for rule in [
        rule.clone(),
        Rule {
            not: true,
            uidrange: Some(UidRange {
                start: 1000,
                end: 2000,
            }),
            suppress_prefixlength: Some(0),
            ..rule.clone()
        },
        Rule {
            action: RuleAction::Goto,
            goto: Some(200),
            table: 0,
            ..rule.clone()
        },
        Rule {
            action: RuleAction::Prohibit,
            table: 0,
            ..rule.clone()
        },
        Rule {
            action: RuleAction::Nop,
            table: 0,
            ..rule.clone()
        },
        Rule {
            fwmark: Fwmark::new(0, Some(u32::MAX)),
            ..rule.clone()
        },
        Rule {
            fwmark: Fwmark::new(7, None),
            ..rule
        },
    ] {
        let change = Change::AddRule {
            ns: "ns".into(),
            rule: Box::new(rule.clone()),
        };
        let raw = &encode(&change, Part::Main, &mut idx)[0];
        assert_eq!(decode_rule(raw), Some(rule));
    }
}

#[test]
fn stacked_kinds_round_trip() {
    let (mut idx, mut by_index) = eth0();
    let vx = LinkKind::Vxlan(Box::new(Vxlan {
        id: 42,
        local: Some("10.0.0.1".parse().unwrap()),
        remote: Some("10.0.0.2".parse().unwrap()),
        group: None,
        port: 4789,
        dev: Some("eth0".into()),
        underlay: false,
        flood: Default::default(),
    }));
    let mv = LinkKind::Macvlan(Macvlan {
        parent: "eth0".into(),
        mode: MacvlanMode::Bridge,
    });
    for (name, kind) in [("vx0", vx), ("mv0", mv)] {
        let change = Change::AddLink {
            ns: "ns".into(),
            name: name.into(),
            link: Box::new(link(kind.clone())),
            peer: None,
        };
        let raw = &encode(&change, Part::Main, &mut idx)[0];
        let l = decode_link(raw, &|_| false).unwrap();
        by_index.insert(l.index, l.name.clone());
        let name_of = |i: u32| by_index.get(&i).cloned();
        assert_eq!(l.kind(&name_of), kind);
        assert_eq!(l.mtu, Some(1500));
    }
}

#[test]
fn device_settings_are_written_as_zero_too() {
    // The crate's own request type would leave a zero value out.
    let p = devconf_payload(8, 0);
    assert_eq!(p.len(), 4 + 4 + 8);
    // Read back from a dumped table with entry 8 set to 2.
    let mut table = vec![0u8; 33 * 4];
    table[7 * 4..8 * 4].copy_from_slice(&2i32.to_ne_bytes());
    let mut inet = Vec::new();
    nla(IFLA_INET_CONF, &table, &mut inet);
    let mut spec = Vec::new();
    nla(AF_INET, &inet, &mut spec);
    assert_eq!(devconf_read(&spec, 8), Some(2));
    assert_eq!(devconf_read(&spec, 20), Some(0));
}

#[test]
fn the_loopback_is_always_known() {
    let idx = IfIndexes::default();
    assert_eq!(idx.get("any", "lo"), Some(1));
}

#[test]
fn an_underlay_vxlan_is_placed_by_its_request_and_floods_from_inside() {
    let mut idx = IfIndexes::default();
    idx.assign("fab", "br-lan");
    let mut vx = link(LinkKind::Vxlan(Box::new(Vxlan {
        id: 77,
        local: Some("192.0.2.1".parse().unwrap()),
        remote: None,
        group: None,
        port: 4789,
        dev: None,
        underlay: true,
        flood: ["192.0.2.2".parse().unwrap(), "192.0.2.3".parse().unwrap()].into(),
    })));
    vx.master = Some("br-lan".into());
    let change = Change::AddLink {
        ns: "fab".into(),
        name: "vx-lan".into(),
        link: Box::new(vx.clone()),
        peer: None,
    };
    let made = build_of(&change, Part::Main, &mut idx).unwrap();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].ns_fd.as_deref(), Some("fab"));
    let flood = build_of(&change, Part::Flood, &mut idx).unwrap();
    let dsts: Vec<Vec<u8>> = flood
        .iter()
        .map(|r| {
            let RouteNetlinkMessage::NewNeighbour(m) = &r.msg else {
                panic!("{r:?}")
            };
            assert_eq!(m.header.family, AddressFamily::Bridge);
            assert_eq!(r.flags, NLM_F_CREATE | NLM_F_APPEND);
            m.attributes
                .iter()
                .find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Other(d)) => Some(d.clone()),
                    _ => None,
                })
                .unwrap()
        })
        .collect();
    assert_eq!(dsts, [vec![192, 0, 2, 2], vec![192, 0, 2, 3]]);
    // A changed peer is one entry deleted and one added, and no link change.
    let mut to = vx.clone();
    if let LinkKind::Vxlan(v) = &mut to.kind {
        v.flood = ["192.0.2.2".parse().unwrap(), "192.0.2.4".parse().unwrap()].into();
    }
    let update = Change::UpdateLink {
        ns: "fab".into(),
        name: "vx-lan".into(),
        from: Box::new(vx),
        to: Box::new(to),
    };
    let reqs = build_of(&update, Part::Main, &mut idx).unwrap();
    let kinds: Vec<&str> = reqs
        .iter()
        .map(|r| match r.msg {
            RouteNetlinkMessage::DelNeighbour(_) => "del",
            RouteNetlinkMessage::NewNeighbour(_) => "new",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["del", "new"]);
}
