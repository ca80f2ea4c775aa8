//! The bundled small lab (`topologies/small.yaml`): what the kernel must hold once it
//! is applied, checked object by object, and a copy of it that runs beside it.

use std::collections::{BTreeMap, BTreeSet};

use nshost::naming::fabric_port_name;
use serde_json::Value;

use crate::ktest::*;

/// An interface of the small lab: name, address, network.
pub type Iface = (&'static str, &'static str, &'static str);

/// The small lab's nodes and their interfaces.
pub const SMALL: &[(&str, &[Iface])] = &[
    (
        "hq-gw",
        &[
            ("wan0", "10.100.1.1/30", "wan"),
            ("eth0", "10.1.1.1/24", "10.1.1.0/24"),
            ("eth1", "10.1.2.1/24", "10.1.2.0/24"),
        ],
    ),
    (
        "br-gw",
        &[
            ("wan0", "10.100.1.2/30", "wan"),
            ("eth0", "10.2.1.1/24", "10.2.1.0/24"),
            ("eth1", "10.2.2.1/24", "10.2.2.0/24"),
        ],
    ),
    ("web1", &[("eth0", "10.1.1.10/24", "10.1.1.0/24")]),
    ("db1", &[("eth0", "10.1.2.10/24", "10.1.2.0/24")]),
    ("pc1", &[("eth0", "10.2.1.10/24", "10.2.1.0/24")]),
    ("pc2", &[("eth0", "10.2.2.10/24", "10.2.2.0/24")]),
];

/// The small lab's routes per node, as `routes()` prints them.
pub fn small_routes(node: &str) -> Vec<&'static str> {
    match node {
        "hq-gw" => vec!["10.2.0.0/16 via 10.100.1.2 dev wan0 proto boot"],
        "br-gw" => vec!["10.1.0.0/16 via 10.100.1.1 dev wan0 proto boot"],
        "web1" => vec!["default via 10.1.1.1 dev eth0 proto boot"],
        "db1" => vec!["default via 10.1.2.1 dev eth0 proto boot"],
        "pc1" => vec!["default via 10.2.1.1 dev eth0 proto boot"],
        "pc2" => vec!["default via 10.2.2.1 dev eth0 proto boot"],
        _ => unreachable!("{node}"),
    }
}

pub fn small_text() -> String {
    std::fs::read_to_string(topology("small.yaml")).unwrap()
}

/// The small lab again, renamed and prefixed so that it can run beside the original.
pub fn other_text() -> String {
    edit(&small_text(), "name: small\n", "name: other\nprefix: o-\n")
}

/// Checks that lab `lab` (the small lab under `prefix`) is in the kernel exactly as
/// `topologies/small.yaml` declares it, and that its hosts reach each other.
pub fn check_small(lab: &str, prefix: &str) {
    let alias = format!("nshost:{lab}");
    let fabric_ns = format!("{prefix}{lab}-fabric");
    let fabric = links(&fabric_ns);
    let fabric_by_index: BTreeMap<u64, (&String, &Value)> = fabric
        .iter()
        .map(|(name, l)| (l["ifindex"].as_u64().unwrap(), (name, l)))
        .collect();
    // Network -> the bridges its members' fabric ends are enslaved to.
    let mut bridges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut ports: BTreeSet<&String> = BTreeSet::new();

    for (node, interfaces) in SMALL {
        let ns = format!("{prefix}{node}");
        let here = links(&ns);
        let names: BTreeSet<&str> = here.keys().map(String::as_str).collect();
        let want: BTreeSet<&str> = interfaces
            .iter()
            .map(|i| i.0)
            .chain(std::iter::once("lo"))
            .collect();
        assert_eq!(names, want, "links of {ns}");
        let lo = &here["lo"];
        assert!(is_up(lo), "{ns}/lo is up");
        // The loopback marks the namespace: its owner and its role.
        let role = if node.ends_with("-gw") {
            "router"
        } else {
            "host"
        };
        assert_eq!(
            str_of(lo, "ifalias"),
            format!("{alias}/{role}"),
            "{ns}/lo marks the namespace"
        );

        for (ifname, _, network) in *interfaces {
            let link = &here[*ifname];
            let at = format!("{ns}/{ifname}");
            assert_eq!(kind(link), "veth", "{at}");
            assert!(is_up(link), "{at} is up");
            assert_eq!(link["mtu"], 1500, "{at}");
            assert!(link.get("ifalias").is_none(), "{at}: links carry no mark");
            // The peer is in the fabric, and points back.
            let peer_index = link["link_index"].as_u64().expect("a veth has a peer");
            let (peer_name, peer) = fabric_by_index
                .get(&peer_index)
                .unwrap_or_else(|| panic!("{at}: peer {peer_index} not in {fabric_ns}"));
            assert_eq!(
                peer["link_index"], link["ifindex"],
                "{at}: peer points back"
            );
            assert_eq!(
                peer_name.as_str(),
                fabric_port_name(node, ifname),
                "{at}: fabric end"
            );
            assert_eq!(kind(peer), "veth", "{at}: fabric end");
            assert!(is_up(peer), "{at}: fabric end is up");
            assert_eq!(peer["mtu"], 1500, "{at}: fabric end");
            let master = str_of(peer, "master").to_string();
            let bridge = &fabric[&master];
            assert_eq!(kind(bridge), "bridge", "{at}: master {master}");
            assert!(is_up(bridge), "{at}: bridge {master} is up");
            bridges.entry(network).or_default().insert(master);
            ports.insert(peer_name);
        }

        let mut want: Vec<String> = interfaces
            .iter()
            .map(|(ifname, addr, _)| format!("{ifname} {addr}"))
            .collect();
        want.sort();
        assert_eq!(addresses(&ns), want, "addresses of {ns}");
        assert_eq!(routes(&ns), small_routes(node), "routes of {ns}");
        assert_eq!(rules(&ns), Vec::<Value>::new(), "{ns} declares no rules");
        let router = node.ends_with("-gw");
        for key in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
            let want = if router { "1" } else { "0" };
            assert_eq!(sysctl(&ns, key), want, "{ns}: {key}");
        }
    }

    for key in [
        "net.ipv6.conf.all.disable_ipv6",
        "net.ipv6.conf.default.disable_ipv6",
    ] {
        assert_eq!(sysctl(&fabric_ns, key), "1", "{fabric_ns}: {key}");
    }

    // One bridge per network, a different one for each, and nothing else in the fabric.
    assert_eq!(bridges.len(), 5, "{bridges:?}");
    let distinct: BTreeSet<&String> = bridges
        .values()
        .map(|b| {
            assert_eq!(
                b.len(),
                1,
                "a network's members share one bridge: {bridges:?}"
            );
            b.first().unwrap()
        })
        .collect();
    assert_eq!(distinct.len(), 5, "networks have bridges of their own");
    let everything: BTreeSet<&String> = fabric.keys().collect();
    let expected: BTreeSet<&String> = ports
        .into_iter()
        .chain(distinct)
        .chain(fabric.keys().filter(|k| *k == "lo"))
        .collect();
    assert_eq!(everything, expected, "links of {fabric_ns}");

    // Across both routers, and back.
    let ns = |node: &str| format!("{prefix}{node}");
    assert!(reach(&ns("web1"), "10.2.2.10"), "web1 -> pc2");
    assert!(reach(&ns("pc1"), "10.1.2.10"), "pc1 -> db1");
}

/// Namespaces of the small lab under `prefix`, sorted.
pub fn small_namespaces(lab: &str, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = SMALL
        .iter()
        .map(|(node, _)| format!("{prefix}{node}"))
        .chain(std::iter::once(format!("{prefix}{lab}-fabric")))
        .collect();
    names.sort();
    names
}
