//! The two iproute2 baselines, generated from the benchmark lab: a bash script with one
//! `ip` process per operation (the old tool's way, collision check included) and one
//! `ip -batch` file per namespace. Both build exactly what nshost builds for the lab: one
//! namespace per node, the bridges in the hidden fabric namespace, one veth pair per node
//! interface (fabric end enslaved to the network's bridge), addresses, routes, loopback
//! up and forwarding on in the routers. They do not set nshost's ownership marks.

use std::fmt::Write as _;

use nshost::naming;

use crate::labgen::{GenLab, HOST_IFNAME};

/// Files to write into one directory, and the scripts to run there.
pub struct Baseline {
    /// File name and content.
    pub files: Vec<(String, String)>,
    /// The script (one of `files`) that builds the lab, run with `bash`.
    pub build: &'static str,
    /// The script that removes it again.
    pub teardown: &'static str,
}

/// The sysctls that make a router forward (what nshost sets for every router).
pub const FORWARDING: [&str; 2] = ["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"];

/// One node interface seen from the fabric: node namespace, interface name, the fabric
/// end's name and the bridge it joins.
struct Port {
    ns: String,
    ifname: String,
    fabric_end: String,
    bridge: String,
}

fn fabric_ns(lab: &GenLab) -> String {
    naming::fabric_ns("", &lab.name)
}

fn port(node: &str, ifname: &str, network: &str) -> Port {
    Port {
        ns: naming::node_ns("", node),
        ifname: ifname.to_string(),
        fabric_end: naming::fabric_port_name(node, ifname),
        bridge: naming::bridge_name(network),
    }
}

/// Every namespace of the lab: the fabric, the routers, the hosts.
pub fn namespaces(lab: &GenLab) -> Vec<String> {
    std::iter::once(fabric_ns(lab))
        .chain(lab.node_names().iter().map(|n| naming::node_ns("", n)))
        .collect()
}

const HEADER: &str = "#!/bin/bash\nset -e\n";

/// The old tool's way: one `ip` (or `ip netns exec … sysctl`) process per operation, and
/// before each host, `ip -n <router> addr show | grep` to check that its address is not
/// already taken on the router.
pub fn per_operation(lab: &GenLab) -> Baseline {
    let fab = fabric_ns(lab);
    let mut s = String::from(HEADER);
    s.push_str("# nshost benchmark baseline: one ip process per operation\n");
    let _ = writeln!(s, "ip netns add {fab}");
    let _ = writeln!(s, "ip -n {fab} link set lo up");
    for n in &lab.networks {
        let br = naming::bridge_name(&n.name);
        let _ = writeln!(s, "ip -n {fab} link add {br} type bridge");
        let _ = writeln!(s, "ip -n {fab} link set {br} up");
    }
    let veth = |s: &mut String, p: &Port| {
        let _ = writeln!(
            s,
            "ip -n {fab} link add {} type veth peer name {} netns {}",
            p.fabric_end, p.ifname, p.ns
        );
        let _ = writeln!(
            s,
            "ip -n {fab} link set {} master {}",
            p.fabric_end, p.bridge
        );
        let _ = writeln!(s, "ip -n {fab} link set {} up", p.fabric_end);
    };
    for r in &lab.routers {
        let ns = naming::node_ns("", &r.name);
        let _ = writeln!(s, "ip netns add {ns}");
        let _ = writeln!(s, "ip -n {ns} link set lo up");
        for kv in FORWARDING {
            let _ = writeln!(s, "ip netns exec {ns} sysctl -qw {kv}");
        }
        for i in &r.interfaces {
            veth(&mut s, &port(&r.name, &i.name, &i.network));
            let _ = writeln!(s, "ip -n {ns} addr add {} dev {}", i.address, i.name);
            let _ = writeln!(s, "ip -n {ns} link set {} up", i.name);
        }
        for (to, via) in &r.routes {
            let _ = writeln!(s, "ip -n {ns} route add {to} via {via}");
        }
    }
    for h in &lab.hosts {
        let ns = naming::node_ns("", &h.name);
        let router = naming::node_ns("", &lab.routers[h.router].name);
        let addr = h.address.addr();
        let _ = writeln!(s, "ip netns add {ns}");
        let _ = writeln!(s, "ip -n {ns} link set lo up");
        let _ = writeln!(
            s,
            "if ip -n {router} addr show | grep -qF 'inet {addr}/'; then \
             echo '{addr} is already on {router}' >&2; exit 1; fi"
        );
        veth(&mut s, &port(&h.name, HOST_IFNAME, &h.network));
        let _ = writeln!(s, "ip -n {ns} addr add {} dev {HOST_IFNAME}", h.address);
        let _ = writeln!(s, "ip -n {ns} link set {HOST_IFNAME} up");
        let _ = writeln!(s, "ip -n {ns} route add default via {}", h.gateway);
    }

    let mut t = String::from(HEADER);
    t.push_str("# nshost benchmark baseline: one ip netns del per namespace\n");
    for ns in namespaces(lab).iter().rev() {
        let _ = writeln!(t, "ip netns del {ns}");
    }
    Baseline {
        files: vec![("build.sh".to_string(), s), ("teardown.sh".to_string(), t)],
        build: "build.sh",
        teardown: "teardown.sh",
    }
}

/// `ip -batch`: one batch adding every namespace, one run in the fabric namespace that
/// creates the bridges and every veth pair (each node end placed directly in its
/// namespace), then one per node for its addresses, links and routes, plus one
/// `ip netns exec … sysctl` per router for forwarding.
pub fn batch(lab: &GenLab) -> Baseline {
    let fab = fabric_ns(lab);
    let mut files = Vec::new();

    let mut adds = String::new();
    for ns in namespaces(lab) {
        let _ = writeln!(adds, "netns add {ns}");
    }
    files.push(("netns.batch".to_string(), adds));

    let mut fabric = String::from("link set lo up\n");
    for n in &lab.networks {
        let br = naming::bridge_name(&n.name);
        let _ = writeln!(fabric, "link add {br} type bridge");
        let _ = writeln!(fabric, "link set {br} up");
    }
    let mut ports: Vec<Port> = Vec::new();
    for r in &lab.routers {
        for i in &r.interfaces {
            ports.push(port(&r.name, &i.name, &i.network));
        }
    }
    for h in &lab.hosts {
        ports.push(port(&h.name, HOST_IFNAME, &h.network));
    }
    for p in &ports {
        let _ = writeln!(
            fabric,
            "link add {} type veth peer name {} netns {}",
            p.fabric_end, p.ifname, p.ns
        );
        let _ = writeln!(fabric, "link set {} master {}", p.fabric_end, p.bridge);
        let _ = writeln!(fabric, "link set {} up", p.fabric_end);
    }
    files.push(("fabric.batch".to_string(), fabric));

    let mut s = String::from(HEADER);
    s.push_str("# nshost benchmark baseline: ip -batch per namespace\n");
    s.push_str("ip -batch netns.batch\n");
    let _ = writeln!(s, "ip -n {fab} -batch fabric.batch");
    for r in &lab.routers {
        let ns = naming::node_ns("", &r.name);
        let mut b = String::from("link set lo up\n");
        for i in &r.interfaces {
            let _ = writeln!(b, "addr add {} dev {}", i.address, i.name);
            let _ = writeln!(b, "link set {} up", i.name);
        }
        for (to, via) in &r.routes {
            let _ = writeln!(b, "route add {to} via {via}");
        }
        let _ = writeln!(s, "ip -n {ns} -batch {ns}.batch");
        let _ = writeln!(s, "ip netns exec {ns} sysctl -qw {}", FORWARDING.join(" "));
        files.push((format!("{ns}.batch"), b));
    }
    for h in &lab.hosts {
        let ns = naming::node_ns("", &h.name);
        let mut b = String::from("link set lo up\n");
        let _ = writeln!(b, "addr add {} dev {HOST_IFNAME}", h.address);
        let _ = writeln!(b, "link set {HOST_IFNAME} up");
        let _ = writeln!(b, "route add default via {}", h.gateway);
        let _ = writeln!(s, "ip -n {ns} -batch {ns}.batch");
        files.push((format!("{ns}.batch"), b));
    }
    files.push(("build.sh".to_string(), s));

    let mut dels = String::new();
    for ns in namespaces(lab).iter().rev() {
        let _ = writeln!(dels, "netns del {ns}");
    }
    files.push(("teardown.batch".to_string(), dels));
    let t = format!(
        "{HEADER}# nshost benchmark baseline: one ip -batch deleting every namespace\nip -batch teardown.batch\n"
    );
    files.push(("teardown.sh".to_string(), t));
    Baseline {
        files,
        build: "build.sh",
        teardown: "teardown.sh",
    }
}
