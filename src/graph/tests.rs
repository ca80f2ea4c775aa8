//! The graphs of the bundled labs, as DOT and Mermaid snapshots, and their colouring
//! from a plan against a live state that lost a namespace and a link and drifted.

use std::path::Path;

use super::*;
use crate::plan::testkit::as_live;
use crate::topology::SourceFile;
use crate::workflow::{self, Loaded};

fn bundled(name: &str) -> Loaded {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(name);
    let text = std::fs::read_to_string(path).unwrap();
    workflow::load_source(SourceFile::from_text(name, &text)).unwrap()
}

#[test]
fn small_and_full_as_dot_and_mermaid() {
    for lab in ["small", "full"] {
        let loaded = bundled(&format!("{lab}.yaml"));
        let g = Graph::of(&loaded.lab);
        assert!(!g.checked);
        insta::assert_snapshot!(format!("{lab}_dot"), dot::render(&g));
        insta::assert_snapshot!(format!("{lab}_mermaid"), mermaid::render(&g));
    }
}

#[test]
fn networks_are_named_as_written_or_inferred_never_by_bridge() {
    let loaded = bundled("small.yaml");
    let g = Graph::of(&loaded.lab);
    let names: Vec<&str> = g.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "10.1.1.0/24",
            "10.1.2.0/24",
            "10.2.1.0/24",
            "10.2.2.0/24",
            "wan"
        ]
    );
    let text = dot::render(&g) + &mermaid::render(&g);
    for net in loaded.lab.networks.values() {
        assert!(!text.contains(&net.bridge), "{} in:\n{text}", net.bridge);
    }
    // Routers first, then hosts; every interface on a network is an edge.
    let nodes: Vec<(&str, Role)> = g.nodes.iter().map(|n| (n.name.as_str(), n.role)).collect();
    assert_eq!(
        nodes[..2],
        [("br-gw", Role::Router), ("hq-gw", Role::Router)]
    );
    assert_eq!(g.edges.len(), 10);
}

#[test]
fn names_are_escaped() {
    // Node names are plain words now; an interface name may still hold these.
    let text = "name: q\nrouters:\n  r1:\n    interfaces:\n      'e\"1#<x>\\0': {addresses: [10.0.0.1/24]}\n";
    let loaded = workflow::load_source(SourceFile::from_text("q.yaml", text)).unwrap();
    let g = Graph::of(&loaded.lab);
    let d = dot::render(&g);
    assert!(d.contains(r#"[label="e\"1#<x>\\0\n10.0.0.1/24"]"#), "{d}");
    let m = mermaid::render(&g);
    assert!(
        m.contains(r#"|"e#quot;1#35;#lt;x#gt;\0<br/>10.0.0.1/24"|"#),
        "{m}"
    );
}

/// The small lab, live, with `pc1`'s namespace gone, `hq-gw`'s `eth1` deleted (both
/// ends of the pair) and `br-gw`'s `wan0` at another MTU.
fn damaged(loaded: &Loaded) -> crate::plan::Plan {
    let lab = &loaded.lab;
    let mut live = as_live(&loaded.desired);
    live.namespaces.remove("pc1");
    let fabric_end = crate::naming::fabric_port_name("hq-gw", "eth1");
    let fabric = live.namespaces.get_mut(&lab.fabric_ns).unwrap();
    fabric.links.remove(&fabric_end).unwrap();
    fabric
        .links
        .remove(&crate::naming::fabric_port_name("pc1", "eth0"));
    let hq = live.namespaces.get_mut("hq-gw").unwrap();
    hq.links.remove("eth1").unwrap();
    hq.addresses.retain(|k, _| k.ifname != "eth1");
    let br = live.namespaces.get_mut("br-gw").unwrap();
    br.links.get_mut("wan0").unwrap().mtu = Some(1400);
    let changes = crate::plan::diff(&lab.name, &loaded.desired, &live).unwrap();
    crate::plan::order(&lab.name, changes, &loaded.desired)
}

#[test]
fn coloured_by_what_the_plan_changes() {
    let loaded = bundled("small.yaml");
    let plan = damaged(&loaded);
    let mut g = Graph::of(&loaded.lab);
    live::colour(&mut g, &loaded.lab, &plan);
    assert!(g.checked);
    let node = |name: &str| g.nodes.iter().find(|n| n.name == name).unwrap().state;
    assert_eq!(node("pc1"), State::Missing);
    assert_eq!(node("hq-gw"), State::Drifted);
    assert_eq!(node("br-gw"), State::Drifted);
    assert_eq!(node("web1"), State::InSync);
    let edge = |n: &str, i: &str| {
        g.edges
            .iter()
            .find(|e| e.node == n && e.interface == i)
            .unwrap()
            .state
    };
    assert_eq!(edge("pc1", "eth0"), State::Missing);
    assert_eq!(edge("hq-gw", "eth1"), State::Missing);
    assert_eq!(edge("br-gw", "wan0"), State::Drifted);
    assert_eq!(edge("hq-gw", "eth0"), State::InSync);
    assert_eq!(edge("db1", "eth0"), State::InSync);
    assert!(g.networks.iter().all(|n| n.state == State::InSync));
    assert_eq!(g.counts(), (3, 3));
    insta::assert_snapshot!("small_damaged_dot", dot::render(&g));
    insta::assert_snapshot!("small_damaged_mermaid", mermaid::render(&g));
}

#[test]
fn a_missing_fabric_is_missing_networks_and_an_applied_lab_is_in_sync() {
    let loaded = bundled("small.yaml");
    let live = as_live(&loaded.desired);
    let plan = crate::plan::order(
        "small",
        crate::plan::diff("small", &loaded.desired, &live).unwrap(),
        &loaded.desired,
    );
    let mut g = Graph::of(&loaded.lab);
    live::colour(&mut g, &loaded.lab, &plan);
    assert_eq!(g.counts(), (0, 0));
    assert!(dot::render(&g).contains("label=\"lab small: in sync\""));

    let mut live = as_live(&loaded.desired);
    live.namespaces.remove(&loaded.lab.fabric_ns);
    // Without the fabric, every veth pair went with it.
    for ns in live.namespaces.values_mut() {
        ns.links.retain(|name, _| name == "lo");
        ns.addresses.clear();
        ns.routes.clear();
    }
    let plan = crate::plan::order(
        "small",
        crate::plan::diff("small", &loaded.desired, &live).unwrap(),
        &loaded.desired,
    );
    let mut g = Graph::of(&loaded.lab);
    live::colour(&mut g, &loaded.lab, &plan);
    assert!(g.networks.iter().all(|n| n.state == State::Missing));
    assert!(g.edges.iter().all(|e| e.state == State::Missing));
    assert!(g.nodes.iter().all(|n| n.state == State::Drifted));
}

#[test]
fn standalone_interfaces_are_in_their_node() {
    let loaded = bundled("full.yaml");
    let g = Graph::of(&loaded.lab);
    let edge = g.nodes.iter().find(|n| n.name == "edge").unwrap();
    let lines: Vec<String> = edge.interfaces.iter().map(interface_line).collect();
    assert_eq!(
        lines,
        [
            "ifb0 (ifb) 192.0.2.1/32 2001:db8:2::1/128",
            "mv0 (macvlan, bridge on dmz0) 10.21.0.1/24",
            "vx0 (vxlan, vni 42 over core0 to 10.0.0.2) 172.16.42.1/24",
        ]
    );
    // A network and a host may share a name (`lab`): their ids differ.
    let d = dot::render(&g);
    assert!(d.contains("\"net:lab\" -- \"node:lab\""), "{d}");
}

/// A lab of 200 hosts on one network, two on another, and one host on both.
fn lab_of_200_hosts() -> Loaded {
    let text = "name: big200
networks:
  lan: {subnets: [10.1.0.0/24]}
  lab: {subnets: [10.2.0.0/24]}
routers:
  core:
    interfaces:
      lan: {network: lan, addresses: [10.1.0.254/24]}
      lab: {network: lab, addresses: [10.2.0.254/24]}
hosts:
  a[1-200]: {network: lan}
  b[1-2]: {network: lab}
  x:
    interfaces:
      eth0: {network: lan, addresses: [10.1.0.250/24]}
      eth1: {network: lab, addresses: [10.2.0.250/24]}
";
    workflow::load_source(SourceFile::from_text("big200.yaml", text)).unwrap()
}

/// A big network's plain hosts are one node in the drawings (the 200-host lab drew one
/// row of 200 ellipses, 26,608 px wide); the small network's hosts and a host on two
/// networks are drawn as they are.
#[test]
fn a_big_network_s_hosts_are_folded() {
    let loaded = lab_of_200_hosts();
    let g = Graph::of(&loaded.lab);
    assert_eq!(g.nodes.len(), 204);
    let folded = g.clone().folded(FOLD_ABOVE);
    let names: Vec<&str> = folded.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["core", "200 hosts (a1..a200)", "b1", "b2", "x"]);
    assert_eq!(folded.edges.len(), 7);
    insta::assert_snapshot!("big200_dot", dot::render(&folded));
    insta::assert_snapshot!("big200_mermaid", mermaid::render(&folded));
    // Nothing to fold under the threshold.
    assert_eq!(g.clone().folded(200), g);
}

/// Hosts fold with the hosts in their state: a missing host stays in sight, and the
/// title counts what a folded node stands for.
#[test]
fn folded_hosts_keep_their_states_and_counts() {
    let loaded = lab_of_200_hosts();
    let mut live = as_live(&loaded.desired);
    live.namespaces.remove("a7");
    let fabric = live.namespaces.get_mut(&loaded.lab.fabric_ns).unwrap();
    fabric
        .links
        .remove(&crate::naming::fabric_port_name("a7", "eth0"));
    let changes = crate::plan::diff("big200", &loaded.desired, &live).unwrap();
    let plan = crate::plan::order("big200", changes, &loaded.desired);
    let mut g = Graph::of(&loaded.lab);
    live::colour(&mut g, &loaded.lab, &plan);
    let folded = g.clone().folded(FOLD_ABOVE);
    let node = |name: &str| folded.nodes.iter().find(|n| n.name == name).unwrap();
    assert_eq!(node("a7").state, State::Missing);
    let rest = node("199 hosts (a1..a6, a8..a200)");
    assert_eq!(rest.state, State::InSync);
    assert_eq!(folded.counts(), g.counts());
    assert_eq!(g.counts(), (2, 0));
    assert!(dot::render(&folded).contains("label=\"lab big200: 2 missing, 0 drifted\""));
}

/// Nodes, their interfaces and the networks are drawn in natural order (`a2` before
/// `a10`), whatever order the file has them in.
#[test]
fn names_in_natural_order() {
    let text = "\
name: n
networks:
  n10: {subnets: [10.10.0.0/24]}
  n2: {subnets: [10.2.0.0/24]}
routers:
  r10:
    interfaces:
      eth10: {network: n10, addresses: [10.10.0.1/24]}
      eth2: {network: n2, addresses: [10.2.0.1/24]}
  r9:
    interfaces:
      eth0: {network: n2, addresses: [10.2.0.2/24]}
hosts:
  a10: {network: n10, address: 10.10.0.10/24}
  a2: {network: n2, address: 10.2.0.20/24}
";
    let loaded = workflow::load_source(SourceFile::from_text("n.yaml", text)).unwrap();
    let g = Graph::of(&loaded.lab);
    let nodes: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nodes, ["r9", "r10", "a2", "a10"]);
    let networks: Vec<&str> = g.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(networks, ["n2", "n10"]);
    let edges: Vec<String> = g
        .edges
        .iter()
        .map(|e| format!("{}.{}", e.node, e.interface))
        .collect();
    assert_eq!(
        edges,
        ["r9.eth0", "r10.eth2", "r10.eth10", "a2.eth0", "a10.eth0"]
    );
}
