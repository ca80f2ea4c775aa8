//! Kernel tests: the real `nshost` binary against a real kernel, each test in a fresh
//! sandbox of its own (user + network + mount namespace with a private tmpfs on
//! `/run`; see `support/ktest.rs`), so nothing touches the machine's own namespaces,
//! links or `/run/netns`. Works as root and as an unprivileged user.
//!
//! Each test applies labs as a user would, then checks the kernel directly with
//! `ip -j` and reachability with `ping`, only ever between namespaces it created.
//! Run them with `cargo test --test kernel`.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::collections::{BTreeMap, BTreeSet};

use ktest::*;
use nshost::naming::fabric_port_name;
use serde_json::Value;

/// An interface of the small lab: name, address, network.
type Iface = (&'static str, &'static str, &'static str);

/// The small lab's nodes and their interfaces.
const SMALL: &[(&str, &[Iface])] = &[
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
fn small_routes(node: &str) -> Vec<&'static str> {
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

fn small_text() -> String {
    std::fs::read_to_string(topology("small.yaml")).unwrap()
}

/// The small lab again, renamed and prefixed so that it can run beside the original.
fn other_text() -> String {
    edit(&small_text(), "name: small\n", "name: other\nprefix: o-\n")
}

/// Checks that lab `lab` (the small lab under `prefix`) is in the kernel exactly as
/// `topologies/small.yaml` declares it, and that its hosts reach each other.
fn check_small(lab: &str, prefix: &str) {
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
    assert!(ping(&ns("web1"), "10.2.2.10"), "web1 -> pc2");
    assert!(ping(&ns("pc1"), "10.1.2.10"), "pc1 -> db1");
}

/// Namespaces of the small lab under `prefix`, sorted.
fn small_namespaces(lab: &str, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = SMALL
        .iter()
        .map(|(node, _)| format!("{prefix}{node}"))
        .chain(std::iter::once(format!("{prefix}{lab}-fabric")))
        .collect();
    names.sort();
    names
}

/// Applies a lab file, which must succeed.
fn apply(file: &std::path::Path) -> String {
    nshost(["apply".as_ref(), file.as_os_str()]).ok()
}

/// `plan --detailed-exitcode`: its exit code and output.
fn plan_code(file: &std::path::Path) -> Run {
    nshost([
        "plan".as_ref(),
        file.as_os_str(),
        "--detailed-exitcode".as_ref(),
    ])
}

/// Asserts that the kernel matches `file`: `plan` says `No changes.` and exits 0.
#[track_caller]
fn assert_converged(file: &std::path::Path) {
    assert_eq!(plan_code(file).ok(), "No changes.\n");
}

/// A report's text with miette's gutter and line wrapping taken out.
fn flat(report: &str) -> String {
    report
        .lines()
        .map(|l| l.trim().trim_start_matches(['×', '│']).trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The changes of a `--output json` plan, one short line each.
fn change_lines(plan: &Value) -> Vec<String> {
    let mut out: Vec<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let op = str_of(c, "op");
            let ns = str_of(c, "ns");
            match op {
                "add_namespace" | "delete_namespace" => format!("{op} {ns}"),
                "add_link" | "update_link" | "delete_link" => {
                    let mut s = format!("{op} {ns}/{}", str_of(c, "name"));
                    if let Some(peer) = c.get("peer") {
                        s += &format!(
                            " + {}/{}",
                            str_of(&peer["at"], "ns"),
                            str_of(&peer["at"], "name")
                        );
                    }
                    s
                }
                "add_address" | "delete_address" => format!(
                    "{op} {ns} {} {}",
                    str_of(&c["key"], "ifname"),
                    str_of(&c["key"], "addr")
                ),
                "add_route" | "replace_route" | "delete_route" => {
                    format!("{op} {ns} {}", str_of(&c["key"], "dst"))
                }
                "add_rule" | "delete_rule" => format!("{op} {ns} {}", c["rule"]["priority"]),
                "set_sysctl" => format!("{op} {ns} {}", str_of(c, "key")),
                "set_link_setting" => {
                    format!("{op} {ns}/{} {}", str_of(c, "link"), str_of(c, "setting"))
                }
                _ => panic!("unknown change {c}"),
            }
        })
        .collect();
    out.sort();
    out
}

/// Scenario 1: a lab applied from nothing is in the kernel exactly as declared, and
/// its hosts reach each other across both routers.
#[test]
fn apply_from_empty() {
    sandboxed(|| {
        let file = topology("small.yaml");
        let out = apply(&file);
        assert!(
            out.contains("Apply complete! Resources: 64 added, 0 changed, 0 destroyed."),
            "{out}"
        );
        assert_eq!(netns(), small_namespaces("small", ""));
        check_small("small", "");
        assert_converged(&file);
    })
}

/// Scenario 2: applying again changes nothing, and sends no netlink write.
#[test]
fn apply_again_is_a_no_op() {
    sandboxed(|| {
        let file = topology("small.yaml");
        apply(&file);
        let (links, spaces) = (ifindexes(), netns_ids());

        let out = apply(&file);
        assert!(out.starts_with("No changes.\n"), "{out}");
        assert!(
            out.contains("Apply complete! Resources: 0 added, 0 changed, 0 destroyed."),
            "{out}"
        );
        let json = nshost([
            "apply".as_ref(),
            file.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .code(0)
        .json();
        assert_eq!(json["plan"]["changes"], Value::Array(vec![]));
        assert_eq!(json["applied"]["netlink_writes"], 0, "{json}");
        assert_eq!(json["applied"]["stats"]["netlink_requests"], 0, "{json}");
        assert_eq!(json["applied"]["stats"]["namespaces_created"], 0, "{json}");

        assert_converged(&file);
        assert_eq!(ifindexes(), links, "no link was recreated");
        assert_eq!(netns_ids(), spaces, "no namespace was recreated");
    })
}

/// Every namespace's identity, by name.
fn netns_ids() -> BTreeMap<String, u64> {
    netns()
        .into_iter()
        .map(|n| (n.clone(), netns_id(&n)))
        .collect()
}

/// Scenario 3, edits: the plan shows exactly the edits, apply carries them out in
/// place, and nothing else is recreated.
#[test]
fn edits_plan_and_apply_exactly() {
    sandboxed(|| {
        let before_text = small_text();
        let file = scratch("small.yaml", &before_text);
        apply(&file);
        let (links_before, spaces_before) = (ifindexes(), netns_ids());

        // Add a host (pc3), remove one (db1), change an address (pc2), change an MTU
        // (web1), add a route and a rule (hq-gw).
        let mut text = edit(
            &before_text,
            "      - {to: 10.2.0.0/16, via: 10.100.1.2}\n",
            "      - {to: 10.2.0.0/16, via: 10.100.1.2}\n      \
             - {to: 192.0.2.0/24, via: 10.100.1.2, metric: 5}\n    \
             rules:\n      - {priority: 100, from: 10.1.2.0/24, table: main}\n",
        );
        text = edit(&text, "  db1: {address: 10.1.2.10/24}\n", "");
        text = edit(
            &text,
            "pc2: {address: 10.2.2.10/24}",
            "pc2: {address: 10.2.2.20/24}",
        );
        text = edit(
            &text,
            "web1: {address: 10.1.1.10/24}",
            "web1: {address: 10.1.1.10/24, mtu: 1400}",
        );
        text.push_str("  pc3: {address: 10.2.1.11/24}\n");
        let file = scratch("small.yaml", &text);

        let (db1, pc3, web1) = (
            fabric_port_name("db1", "eth0"),
            fabric_port_name("pc3", "eth0"),
            fabric_port_name("web1", "eth0"),
        );
        let web1_bridge = master_of("small-fabric", &web1);
        let json = nshost([
            "plan".as_ref(),
            file.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .code(0)
        .json();
        let mut want = vec![
            "delete_namespace db1".to_string(),
            format!("delete_link small-fabric/{db1}"),
            "add_route hq-gw 192.0.2.0/24".into(),
            "add_rule hq-gw 100".into(),
            "add_address pc2 eth0 10.2.2.20/24".into(),
            "delete_address pc2 eth0 10.2.2.10/24".into(),
            "add_namespace pc3".into(),
            format!("add_link small-fabric/{pc3} + pc3/eth0"),
            "add_address pc3 eth0 10.2.1.11/24".into(),
            "add_route pc3 0.0.0.0/0".into(),
            "set_link_setting pc3/eth0 net.ipv4.conf.*.promote_secondaries".into(),
            format!("update_link small-fabric/{web1}"),
            format!("update_link small-fabric/{web1_bridge}"),
            "update_link web1/eth0".into(),
        ];
        want.sort();
        assert_eq!(change_lines(&json["plan"]), want);
        assert_eq!(
            json["plan"]["summary"],
            serde_json::json!({"add": 9, "change": 3, "destroy": 6})
        );

        let human = plan_code(&file).code(2).stdout;
        let want = format!(
            "\
# host db1
  - namespace db1
  - link eth0 (veth, peer small-fabric/{db1}, up)
  - address eth0 10.1.2.10/24
  - route default via 10.1.2.1 dev eth0

# router hq-gw
  + route 192.0.2.0/24 metric 5 via 10.100.1.2
  + rule 100: from 10.1.2.0/24 lookup main

# host pc2
  + address eth0 10.2.2.20/24
  - address eth0 10.2.2.10/24

# host pc3
  + namespace pc3
  + link eth0 (veth, peer small-fabric/{pc3}, up)
  + address eth0 10.2.1.11/24
  + route default via 10.2.1.1
  + sysctl net.ipv4.conf.eth0.promote_secondaries = 1

# fabric small-fabric
  ~ link {web1_bridge}: mtu 1500 -> 1400
  - link {db1} (veth, peer db1/eth0, master {db1_bridge}, up)
  + link {pc3} (veth, peer pc3/eth0, master {pc1_bridge}, up)
  ~ link {web1}: mtu 1500 -> 1400

# host web1
  ~ link eth0: mtu 1500 -> 1400

Plan: 9 to add, 3 to change, 6 to destroy.
",
            db1_bridge = master_of("small-fabric", &db1),
            web1_bridge = web1_bridge,
            pc1_bridge = master_of("small-fabric", &fabric_port_name("pc1", "eth0")),
        );
        assert_eq!(human, want);

        apply(&file);
        assert_converged(&file);

        // The edits are in the kernel.
        assert!(!netns().contains(&"db1".to_string()));
        assert_eq!(addresses("pc3"), ["eth0 10.2.1.11/24"]);
        assert_eq!(routes("pc3"), ["default via 10.2.1.1 dev eth0 proto boot"]);
        assert_eq!(addresses("pc2"), ["eth0 10.2.2.20/24"]);
        assert_eq!(routes("pc2"), ["default via 10.2.2.1 dev eth0 proto boot"]);
        assert_eq!(links("web1")["eth0"]["mtu"], 1400);
        assert_eq!(links("small-fabric")[&web1]["mtu"], 1400);
        assert_eq!(
            routes("hq-gw"),
            [
                "10.2.0.0/16 via 10.100.1.2 dev wan0 proto boot",
                "192.0.2.0/24 via 10.100.1.2 dev wan0 metric 5 proto boot",
            ]
        );
        assert_eq!(
            rules("hq-gw").iter().map(rule_text).collect::<Vec<_>>(),
            ["100: from 10.1.2.0/24 lookup main"]
        );
        assert!(ping("pc3", "10.1.1.10"), "pc3 -> web1");
        assert!(ping("web1", "10.2.2.20"), "web1 -> pc2's new address");

        // Nothing else was recreated: every link and namespace that is still there is
        // the same one.
        let links_after = ifindexes();
        let gone: BTreeSet<&String> = links_before
            .keys()
            .filter(|k| !links_after.contains_key(*k))
            .collect();
        let new: BTreeSet<&String> = links_after
            .keys()
            .filter(|k| !links_before.contains_key(*k))
            .collect();
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            gone.into_iter().cloned().collect::<BTreeSet<_>>(),
            set(&["db1/eth0", "db1/lo", &format!("small-fabric/{db1}")])
        );
        assert_eq!(
            new.into_iter().cloned().collect::<BTreeSet<_>>(),
            set(&["pc3/eth0", "pc3/lo", &format!("small-fabric/{pc3}")])
        );
        for (link, index) in &links_after {
            if let Some(before) = links_before.get(link) {
                assert_eq!(index, before, "{link} was recreated");
            }
        }
        for (ns, id) in netns_ids() {
            if let Some(before) = spaces_before.get(&ns) {
                assert_eq!(&id, before, "namespace {ns} was recreated");
            }
        }
    })
}

/// The bridge a fabric port is enslaved to.
fn master_of(fabric: &str, port: &str) -> String {
    str_of(&links(fabric)[port], "master").to_string()
}

/// A rule of `ip -j rule` in `ip rule`'s words.
fn rule_text(r: &Value) -> String {
    let mut s = format!("{}: from {}", r["priority"], str_of(r, "src"));
    if let Some(len) = r["srclen"].as_u64() {
        s += &format!("/{len}");
    }
    if let Some(dst) = r["dst"].as_str() {
        s += &format!(" to {dst}/{}", r["dstlen"]);
    }
    for key in ["iif", "oif", "fwmark", "tos", "ipproto"] {
        if let Some(v) = r[key].as_str() {
            s += &format!(" {key} {v}");
            if let Some(mask) = r["fwmask"].as_str().filter(|_| key == "fwmark") {
                s += &format!("/{mask}");
            }
        }
    }
    for key in ["sport", "dport"] {
        if let Some(p) = r[key].as_u64() {
            s += &format!(" {key} {p}");
        } else if let Some(start) = r[format!("{key}_start")].as_u64() {
            s += &format!(" {key} {start}-{}", r[format!("{key}_end")]);
        }
    }
    s += &format!(" lookup {}", str_of(r, "table"));
    if let Some(p) = r["protocol"].as_str() {
        s += &format!(" proto {p}");
    }
    s
}

/// Scenario 4, drift: a veth and an address removed behind nshost's back show in the
/// plan, and apply puts them back.
#[test]
fn drift_is_planned_and_repaired() {
    sandboxed(|| {
        let file = topology("small.yaml");
        apply(&file);
        let links_before = ifindexes();

        ip(&["-n", "web1", "link", "del", "eth0"]);
        ip(&["-n", "hq-gw", "addr", "del", "10.1.2.1/24", "dev", "eth1"]);

        let web1 = fabric_port_name("web1", "eth0");
        let bridge = master_of("small-fabric", &fabric_port_name("hq-gw", "eth0"));
        let plan = plan_code(&file).code(2).stdout;
        assert_eq!(
            plan,
            format!(
                "\
# router hq-gw
  + address eth1 10.1.2.1/24

# fabric small-fabric
  + link {web1} (veth, peer web1/eth0, master {bridge}, up)

# host web1
  + link eth0 (veth, peer small-fabric/{web1}, up)
  + address eth0 10.1.1.10/24
  + route default via 10.1.1.1
  + sysctl net.ipv4.conf.eth0.promote_secondaries = 1

Plan: 6 to add, 0 to change, 0 to destroy.
"
            )
        );

        apply(&file);
        assert_converged(&file);
        check_small("small", "");
        assert!(
            ping("db1", "10.1.2.1"),
            "db1 -> its gateway's restored address"
        );
        let links_after = ifindexes();
        for (link, index) in &links_before {
            if link != "web1/eth0" && *link != format!("small-fabric/{web1}") {
                assert_eq!(&links_after[link], index, "{link} was recreated");
            }
        }
    })
}

/// The links of a namespace as `ip -d link` shows them, minus what changes by itself.
fn link_snapshot(ns: &str) -> BTreeMap<String, Value> {
    links(ns)
        .into_iter()
        .map(|(name, mut l)| {
            for volatile in ["operstate", "stats64", "stats"] {
                l.as_object_mut().unwrap().remove(volatile);
            }
            (name, l)
        })
        .collect()
}

/// Scenario 5, namespaces nshost did not create: a name collision stops plan and apply
/// with an error naming it, creating nothing; foreign namespaces and their links survive
/// apply and destroy untouched; `destroy --lab` works without the file.
#[test]
fn foreign_namespaces_are_never_touched() {
    sandboxed(|| {
        ip(&["netns", "add", "foreign"]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fv0", "type", "veth", "peer", "name", "fv1",
        ]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fbr", "type", "bridge",
        ]);
        ip(&["-n", "foreign", "link", "set", "fv0", "master", "fbr", "up"]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fifb", "type", "ifb",
        ]);
        ip(&["-n", "foreign", "addr", "add", "192.0.2.1/24", "dev", "fv1"]);
        // A veth with its other end in a namespace named like a lab node.
        ip(&["netns", "add", "web1"]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fx0", "type", "veth", "peer", "name", "eth0",
            "netns", "web1",
        ]);
        let foreign = link_snapshot("foreign");
        let web1_links = link_snapshot("web1");

        let file = topology("small.yaml");
        for command in ["plan", "apply"] {
            let run = nshost([command.as_ref(), file.as_os_str()]).code(1);
            let err = flat(&run.stderr);
            assert!(
                err.contains("namespace web1 is owned by nobody (not created by nshost)"),
                "{command}: {}",
                run.stderr
            );
            assert!(
                err.contains("nshost::conflict"),
                "{command}: {}",
                run.stderr
            );
            assert_eq!(netns(), ["foreign", "web1"], "{command} created nothing");
        }
        assert_eq!(link_snapshot("web1"), web1_links);
        assert_eq!(link_snapshot("foreign"), foreign);

        ip(&["-n", "foreign", "link", "del", "fx0"]);
        ip(&["netns", "del", "web1"]);
        let mut foreign_left = foreign.clone();
        foreign_left.remove("fx0");
        assert_eq!(link_snapshot("foreign"), foreign_left);

        apply(&file);
        assert_converged(&file);
        let mut all = small_namespaces("small", "");
        all.push("foreign".into());
        all.sort();
        assert_eq!(netns(), all);
        assert_eq!(
            link_snapshot("foreign"),
            foreign_left,
            "apply left foreign alone"
        );

        let out = nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        assert!(
            out.contains("Destroy complete! Resources: 0 added, 0 changed, 48 destroyed."),
            "{out}"
        );
        assert_eq!(netns(), ["foreign"]);
        assert_eq!(
            link_snapshot("foreign"),
            foreign_left,
            "destroy left foreign alone"
        );

        // Again, destroying by name.
        apply(&file);
        let out = nshost(["destroy", "--lab", "small"]).ok();
        assert!(out.contains("48 destroyed"), "{out}");
        assert_eq!(netns(), ["foreign"]);
        assert_eq!(link_snapshot("foreign"), foreign_left);
        // And once more: no such lab any more, which is an error naming it.
        let run = nshost(["destroy", "--lab", "small"]).code(1);
        assert!(
            flat(&run.stderr).contains("no lab named `small` has anything on this machine"),
            "{}",
            run.stderr
        );
    })
}

/// Scenario 6a: two labs with the same node names under different prefixes run side
/// by side; destroying one leaves the other as it was.
#[test]
fn two_labs_side_by_side() {
    sandboxed(|| {
        let small = topology("small.yaml");
        let other = scratch("other.yaml", &other_text());
        apply(&small);
        apply(&other);
        assert_converged(&small);
        assert_converged(&other);
        let mut all = small_namespaces("small", "");
        all.extend(small_namespaces("other", "o-"));
        all.sort();
        assert_eq!(netns(), all);
        check_small("small", "");
        check_small("other", "o-");

        let other_links: BTreeMap<String, u64> = ifindexes()
            .into_iter()
            .filter(|(k, _)| k.starts_with("o-"))
            .collect();
        nshost(["destroy".as_ref(), small.as_os_str()]).ok();
        assert_eq!(netns(), small_namespaces("other", "o-"));
        assert_eq!(ifindexes(), other_links, "the other lab is untouched");
        assert_converged(&other);
        check_small("other", "o-");
    })
}

/// Scenario 6b: two applies of one lab at once both succeed; the lab is created once.
#[test]
fn concurrent_applies_apply_once() {
    sandboxed(|| {
        let file = topology("small.yaml");
        let spawn = || {
            nshost_command()
                .args([
                    "apply".as_ref(),
                    file.as_os_str(),
                    "--output".as_ref(),
                    "json".as_ref(),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning nshost")
        };
        let (a, b) = (spawn(), spawn());
        let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let mut created = 0;
        let mut changed = 0;
        for out in &outputs {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {stderr}", out.status);
            let json: Value = serde_json::from_slice(&out.stdout).unwrap();
            created += json["applied"]["stats"]["namespaces_created"]
                .as_u64()
                .unwrap();
            if !json["plan"]["changes"].as_array().unwrap().is_empty() {
                changed += 1;
            } else {
                assert_eq!(json["applied"]["netlink_writes"], 0, "{json}");
            }
        }
        assert_eq!(changed, 1, "exactly one apply had something to do");
        assert_eq!(created, 7, "each namespace created once");
        assert_eq!(netns(), small_namespaces("small", ""));
        assert_converged(&file);
        check_small("small", "");
    })
}

/// A link kind this kernel lacks fails at plan, with a message naming the kind and the
/// interface, and nothing is created (by plan or apply).
#[test]
fn missing_link_kind_fails_at_plan() {
    sandboxed(|| {
        // This kernel has no `dummy`; on one that has it, ask for a kind none has.
        let has_dummy = run("ip", &["link", "add", "name", "probe0", "type", "dummy"]).code == 0;
        let missing = if has_dummy {
            "nshostnosuchkind"
        } else {
            "dummy"
        };
        let text = edit(
            &small_text(),
            "      eth1: {addresses: [10.1.2.1/24]}\n",
            &format!(
                "      eth1: {{addresses: [10.1.2.1/24]}}\n      \
                 d0: {{kind: {missing}, addresses: [192.0.2.1/32]}}\n"
            ),
        );
        let file = scratch("missing-kind.yaml", &text);
        nshost(["validate".as_ref(), file.as_os_str()]).ok();
        for command in ["plan", "apply"] {
            let run = nshost([command.as_ref(), file.as_os_str()]).code(1);
            let err = flat(&run.stderr);
            let want = format!(
                "this kernel cannot create `{missing}` links (not built in and no module), \
                 needed by hq-gw/d0"
            );
            assert!(err.contains(&want), "{command}: {}", run.stderr);
            assert!(err.contains("nshost::unsupported_kind"), "{}", run.stderr);
            assert_eq!(netns(), Vec::<String>::new(), "{command} created nothing");
        }
    })
}

/// `topologies/full.yaml`, which uses every field of the format, applies and converges,
/// and its routes, rules, addresses, links and sysctls are in the kernel as declared.
#[test]
fn full_lab_applies_and_converges() {
    sandboxed(|| {
        let file = topology("full.yaml");
        apply(&file);
        assert_converged(&file);
        assert_eq!(
            netns(),
            [
                "fl-edge",
                "fl-full-fabric",
                "fl-isp",
                "fl-lab",
                "fl-pc",
                "fl-web"
            ]
        );

        let edge = links("fl-edge");
        let names: Vec<&str> = edge.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "core0", "dmz0", "eth0", "ifb0", "lo", "mv0", "spare0", "vx0"
            ]
        );
        assert_eq!(kind(&edge["ifb0"]), "ifb");
        assert_eq!(kind(&edge["vx0"]), "vxlan");
        assert_eq!(edge["vx0"]["mtu"], 1400);
        assert_eq!(kind(&edge["mv0"]), "macvlan");
        assert_eq!(edge["ifb0"]["mtu"], 1500);
        assert!(is_up(&edge["ifb0"]));
        assert!(!is_up(&edge["spare0"]), "spare0 is declared down");
        assert_eq!(edge["eth0"]["mtu"], 1400, "the lan network's MTU");
        assert_eq!(edge["core0"]["mtu"], 9000);
        assert_eq!(edge["dmz0"]["mtu"], 1500);
        let pc = links("fl-pc");
        assert_eq!(pc.keys().collect::<Vec<_>>(), ["ens3", "lo"]);
        assert_eq!(pc["ens3"]["mtu"], 1400);
        let fabric = links("fl-full-fabric");
        let bridges: Vec<(&String, &Value)> =
            fabric.iter().filter(|(_, l)| kind(l) == "bridge").collect();
        assert_eq!(bridges.len(), 4, "one bridge per network");
        let lan_bridge = &fabric[&master_of("fl-full-fabric", &fabric_port_name("pc", "ens3"))];
        assert_eq!(lan_bridge["mtu"], 1400);

        assert_eq!(
            addresses("fl-edge"),
            [
                "core0 10.0.0.1/30",
                "core0 fd00:ff::1/64",
                "dmz0 10.20.0.1/24",
                "eth0 10.10.0.1/24",
                "eth0 fd00:10::1/64",
                "ifb0 192.0.2.1/32",
                "ifb0 2001:db8:2::1/128",
                "mv0 10.21.0.1/24",
                "vx0 172.16.42.1/24",
            ]
        );
        assert_eq!(
            addresses("fl-pc"),
            [
                "ens3 10.10.0.20/24",
                "ens3 10.10.0.21/24",
                "ens3 fd00:10::20/64"
            ]
        );
        assert_eq!(addresses("fl-lab"), ["eth0 10.20.1.10/23"]);
        assert_eq!(
            routes("fl-edge"),
            [
                "198.51.100.128/25 via 172.16.42.2 dev vx0 proto static",
                "203.0.113.0/24 via 10.0.0.2 dev core0 metric 10 proto boot",
                "default via 10.0.0.2 dev core0 proto boot",
                "default via fd00:ff::2 dev core0 metric 1024 proto boot",
                "table 100 2001:db8:99::/48 via fd00:ff::2 dev core0 metric 100 proto boot",
                "table 100 default via 10.0.0.2 dev core0 proto boot",
                "table 200 default via 10.0.0.2 dev core0 metric 20 proto boot",
                "table 300 198.51.100.0/24 dev ifb0 metric 50 proto boot",
            ]
        );
        assert_eq!(
            routes("fl-pc"),
            [
                "default via 10.10.0.1 dev ens3 proto boot",
                "default via fd00:10::1 dev ens3 metric 1024 proto boot",
            ]
        );
        assert_eq!(
            rules("fl-edge").iter().map(rule_text).collect::<Vec<_>>(),
            [
                "100: from 10.10.0.0/25 lookup 100",
                "110: from all to 198.51.100.0/24 lookup 300",
                "120: from all iif eth0 ipproto tcp sport 1024-65534 dport 443 lookup 100",
                "130: from all oif core0 fwmark 0x2a lookup main",
                "140: from all tos 0x10 lookup 200",
                "170: from all fwmark 0x100/0xff00 lookup 100",
                "150: from all fwmark 0x7 ipproto udp sport 5000 dport 53-54 lookup 200",
                "160: from fd00:10::/64 to 2001:db8:99::/48 ipproto ipv6-icmp lookup 100",
            ]
        );
        for (ns, key, want) in [
            ("fl-edge", "net.ipv4.ip_forward", "1"),
            ("fl-edge", "net.ipv6.conf.all.forwarding", "1"),
            ("fl-edge", "net.ipv4.conf.all.rp_filter", "0"),
            ("fl-edge", "net.ipv4.conf.default.rp_filter", "0"),
            ("fl-edge", "net.ipv6.conf.all.accept_ra", "0"),
            ("fl-isp", "net.ipv4.ip_forward", "1"),
            ("fl-pc", "net.ipv6.conf.all.accept_ra", "0"),
            ("fl-pc", "net.ipv4.ip_forward", "0"),
        ] {
            assert_eq!(sysctl(ns, key), want, "{ns}: {key}");
        }

        // pc's traffic is policy-routed to the isp router (rule 100, table isp), which
        // reaches the `lab` network that overlaps `dmz`; the edge router reaches dmz.
        assert!(ping("fl-pc", "10.20.1.10"), "pc -> lab through isp");
        assert!(ping("fl-edge", "10.20.0.10"), "edge -> web");
        assert!(ping("fl-pc", "fd00:ff::2"), "pc -> isp over IPv6");
    })
}

/// The kernel tests pass as an unprivileged user too. As root, this copies the test
/// binary, nshost and the lab files into a fresh world-readable folder and runs every
/// other kernel test from there as `nobody` (util-linux `setpriv`); as any other user
/// the suite already runs unprivileged, and this runs it once more from the copy.
#[test]
fn kernel_tests_pass_unprivileged() {
    use std::os::unix::fs::PermissionsExt;
    const ME: &str = "kernel_tests_pass_unprivileged";
    let dir = std::env::temp_dir().join(format!("nshost-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("topologies")).unwrap();
    let copy = |from: &std::path::Path, to: std::path::PathBuf, mode: u32| {
        std::fs::copy(from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
        to
    };
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("topologies"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let tests = copy(
        &std::env::current_exe().unwrap(),
        dir.join("kernel-tests"),
        0o755,
    );
    let nshost = copy(&ktest::nshost_bin(), dir.join("nshost"), 0o755);
    for lab in ["small.yaml", "full.yaml"] {
        copy(&topology(lab), dir.join("topologies").join(lab), 0o644);
    }
    let root = nix::unistd::geteuid().is_root();
    let mut cmd = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&tests);
        c
    } else {
        std::process::Command::new(&tests)
    };
    let out = cmd
        .args(["--skip", ME, "--test-threads=2"])
        .env(ktest::ENV_NSHOST_BIN, &nshost)
        .env(ktest::ENV_TOPOLOGIES, dir.join("topologies"))
        .current_dir(&dir)
        .output()
        .expect("running the kernel tests unprivileged");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kernel tests failed as an unprivileged user (root: {root}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passed: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        passed >= 9,
        "expected every other kernel test to run and pass:\n{stdout}"
    );
}
