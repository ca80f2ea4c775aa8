//! A canonical dump of everything the kernel holds under `/run/netns`, for tests that
//! must find the kernel exactly as it was (a rollback): the entries and what each is,
//! and per namespace its links, addresses, routes of every table and rules of both
//! families (`ip -j -d`), and the sysctls labs set, as sorted lines. What the kernel
//! changes by itself or picks anew when an object is remade is left out: ifindexes,
//! MAC addresses and what derives from them (bridge ids, IPv6 link-local addresses),
//! nsids, carrier and operational state, bridge port numbers and timers, statistics.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::ktest::*;

/// Fields that say nothing about what a lab made.
const VOLATILE: &[&str] = &[
    "ifindex",
    "link_index",
    "link_netnsid",
    "address",
    "perm_address",
    "operstate",
    "stats",
    "stats64",
    // Bridges: ids from the MAC, topology and timers.
    "bridge_id",
    "root_id",
    "root_port",
    "root_path_cost",
    "topology_change",
    "topology_change_detected",
    "hello_timer",
    "tcn_timer",
    "topology_change_timer",
    "gc_timer",
    // IPv6 duplicate address detection in progress.
    "tentative",
];

/// Fields of a bridge port (`info_slave_data`) that say nothing about what a lab made:
/// numbers given in the order of enslaving, STP state following the carrier.
const VOLATILE_PORT: &[&str] = &[
    "designated_root",
    "designated_bridge",
    "designated_port",
    "designated_cost",
    "port_id",
    "port_no",
    "id",
    "no",
    "state",
    "message_age_timer",
    "forward_delay_timer",
    "hold_timer",
];

/// Link and route flags that follow the carrier, not the configuration.
const CARRIER_FLAGS: &[&str] = &["LOWER_UP", "NO-CARRIER", "M-DOWN", "linkdown"];

/// Sysctls read in every namespace: the namespace-wide ones labs set, and per device
/// (`*`) the ones nshost manages.
const SYSCTLS: &[&str] = &[
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/all/disable_ipv6",
    "net/ipv6/conf/default/disable_ipv6",
    "net/ipv4/conf/*/promote_secondaries",
    "net/ipv4/conf/*/rp_filter",
    "net/ipv6/conf/*/accept_ra",
];

fn strip(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for key in VOLATILE {
                map.remove(*key);
            }
            if let Some(Value::Object(port)) = map.get_mut("info_slave_data") {
                for key in VOLATILE_PORT {
                    port.remove(*key);
                }
            }
            if let Some(Value::Array(flags)) = map.get_mut("flags") {
                flags.retain(|f| !f.as_str().is_some_and(|f| CARRIER_FLAGS.contains(&f)));
            }
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Whether `text` is an IPv6 link-local address (with or without a prefix length).
fn link_local(text: &str) -> bool {
    text.split('/')
        .next()
        .and_then(|a| a.parse::<std::net::Ipv6Addr>().ok())
        .is_some_and(|a| a.is_unicast_link_local())
}

/// `ip [<family>] -j -d -n <ns> -batch -` over `commands`: one JSON array per command.
fn batch(ns: &str, family: Option<&str>, commands: &[&str]) -> Vec<Value> {
    let mut child = Command::new("ip")
        .args(family)
        .args(["-j", "-d", "-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running ip");
    let mut script = commands.join("\n");
    script.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ip -batch in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let values: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("ip -batch in {ns}: not JSON ({e})"));
    assert_eq!(
        values.len(),
        commands.len(),
        "one answer per command in {ns}"
    );
    values
}

/// The namespace's sysctls of [`SYSCTLS`], read from inside it.
fn sysctls(ns: &str) -> Vec<String> {
    crate::sandbox::in_netns(ns, || {
        let mut out = Vec::new();
        for pattern in SYSCTLS {
            let (dir, rest) = match pattern.split_once("/*/") {
                Some((dir, key)) => (dir, Some(key)),
                None => (*pattern, None),
            };
            let paths: Vec<std::path::PathBuf> = match rest {
                None => vec![format!("/proc/sys/{dir}").into()],
                Some(key) => {
                    let mut devs: Vec<_> = std::fs::read_dir(format!("/proc/sys/{dir}"))?
                        .map(|e| e.map(|e| e.path().join(key)))
                        .collect::<std::io::Result<_>>()?;
                    devs.sort();
                    devs
                }
            };
            for path in paths {
                if let Ok(v) = std::fs::read_to_string(&path) {
                    out.push(format!("{} = {}", path.display(), v.trim()));
                }
            }
        }
        Ok(out)
    })
    .join()
    .unwrap()
    .unwrap()
}

/// One namespace, as sorted lines `<ns> <what> <json>`.
fn namespace(ns: &str, out: &mut BTreeSet<String>) {
    let mut line = |what: &str, mut v: Value| {
        strip(&mut v);
        out.insert(format!("{ns} {what} {v}"));
    };
    let v4 = batch(
        ns,
        Some("-4"),
        &["link show", "route show table all", "rule show"],
    );
    let v6 = batch(ns, Some("-6"), &["route show table all", "rule show"]);
    let all = batch(ns, None, &["addr show"]);
    let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
    for link in items(&v4[0]) {
        line("link", link);
    }
    for link in items(&all[0]) {
        let ifname = str_of(&link, "ifname").to_string();
        for a in items(&link["addr_info"]) {
            if !a["local"].as_str().is_some_and(link_local) {
                line(&format!("addr {ifname}"), a);
            }
        }
    }
    for (family, dump) in [("-4", &v4), ("-6", &v6)] {
        let (routes, rules) = if family == "-4" {
            (&dump[1], &dump[2])
        } else {
            (&dump[0], &dump[1])
        };
        for r in items(routes) {
            if !r["dst"].as_str().is_some_and(link_local) {
                line(&format!("route{family}"), r);
            }
        }
        for r in items(rules) {
            line(&format!("rule{family}"), r);
        }
    }
    for s in sysctls(ns) {
        out.insert(format!("{ns} sysctl {s}"));
    }
}

/// The whole dump, as sorted lines: every entry under `/run/netns` and what it is, then
/// every namespace's objects.
pub fn kernel() -> Vec<String> {
    let mut out = BTreeSet::new();
    for (name, what) in entries() {
        out.insert(format!("entry {name} {what}"));
        if what == "namespace" {
            namespace(&name, &mut out);
        }
    }
    out.into_iter().collect()
}

/// Asserts that two dumps are the same, showing only the lines that differ.
#[track_caller]
pub fn assert_same(before: &[String], after: &[String], what: &str) {
    if before != after {
        let b: BTreeSet<&String> = before.iter().collect();
        let a: BTreeSet<&String> = after.iter().collect();
        let gone: Vec<&&String> = b.difference(&a).collect();
        let new: Vec<&&String> = a.difference(&b).collect();
        panic!(
            "{what}: the kernel is not as it was\nonly before:\n  {}\nonly after:\n  {}",
            gone.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  "),
            new.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
}
