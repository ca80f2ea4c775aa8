//! The warm pool: a lab built from namespaces that another lab used, reset and given
//! back by its destroy, is indistinguishable from one built on fresh namespaces (every
//! attribute `ip` shows, the sysctls nshost knows, netfilter state); a namespace that
//! cannot be reset (a firewall) is deleted, never handed out; fill and drain leave
//! nothing behind, even a fill killed half-way.

use serde_json::Value;

use crate::ktest::*;
use crate::*;

/// A router with a loopback address, a setting on lo and sysctls, and two hosts.
const LAB: &str = "\
name: pooled
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
      eth1: {addresses: [10.2.2.1/24]}
    loopback: [10.255.0.1/32, \"2001:db8:ff::1/128\"]
    sysctls: {net.ipv4.conf.all.rp_filter: 2, net.ipv4.icmp_echo_ignore_all: 1}
hosts:
  h1: {address: 10.1.1.10/24}
  h2: {address: 10.2.2.10/24}
";

const NODES: [&str; 3] = ["r1", "h1", "h2"];

/// The sysctls compared: those the lab sets and those a node's forwarding depends on.
const SYSCTLS: [&str; 6] = [
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.icmp_echo_ignore_all",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.conf.default.rp_filter",
];

/// Fields that differ between any two builds, fresh or not: interface indexes (the
/// kernel hands them out in turn in a namespace), random MAC addresses, counters and
/// timers.
const VOLATILE: [&str; 11] = [
    "ifindex",
    "link_index",
    "address",
    "permaddr",
    "broadcast",
    "stats64",
    "stats",
    "preferred_life_time",
    "valid_life_time",
    "used",
    "inet6_addr_gen_mode",
];

fn masked(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            // A link's `address` is its MAC, an address's `local` is kept.
            for k in VOLATILE {
                if map.contains_key("ifname") || k != "address" {
                    map.remove(k);
                }
            }
            for (_, x) in map.iter_mut() {
                *x = masked(x.take());
            }
        }
        Value::Array(items) => {
            for x in items.iter_mut() {
                *x = masked(x.take());
            }
        }
        _ => {}
    }
    v
}

/// Everything `ip` shows of the lab's nodes, the sysctls, and their netfilter state.
fn everything() -> Value {
    let mut out = serde_json::Map::new();
    for ns in NODES {
        let mut node = serde_json::Map::new();
        for (what, args) in [
            ("links", &["-d", "link", "show"][..]),
            ("addresses", &["addr", "show"]),
            ("routes4", &["-4", "route", "show", "table", "all"]),
            ("routes6", &["-6", "route", "show", "table", "all"]),
            ("rules4", &["-4", "rule", "show"]),
            ("rules6", &["-6", "rule", "show"]),
            ("neighbours", &["neigh", "show", "nud", "permanent"]),
        ] {
            node.insert(what.into(), masked(ip_json(ns, args)));
        }
        for key in SYSCTLS {
            node.insert(key.into(), sysctl(ns, key).into());
        }
        node.insert("nft".into(), run_in(ns, &["nft", "list", "ruleset"]).into());
        node.insert(
            "ip_tables_names".into(),
            proc_net(ns, "ip_tables_names").into(),
        );
        out.insert(ns.into(), node.into());
    }
    out.into()
}

fn run_in(ns: &str, cmd: &[&str]) -> String {
    let mut args = vec!["netns", "exec", ns];
    args.extend_from_slice(cmd);
    run("ip", &args).ok()
}

/// A count of an apply's or destroy's JSON report (0 when it is not there).
fn stat(run: Run, key: &str) -> u64 {
    fn find(v: &Value, key: &str) -> Option<u64> {
        match v {
            Value::Object(map) => map
                .get(key)
                .and_then(Value::as_u64)
                .or_else(|| map.values().find_map(|x| find(x, key))),
            _ => None,
        }
    }
    find(&run.code(0).json(), key).unwrap_or(0)
}

/// Another lab, [`LAB`] without the loopback addresses and sysctls: what the recycled
/// namespaces are built into, so that whatever the first lab left is seen (its own
/// settings record would put the first lab's sysctls back).
fn plain() -> String {
    LAB.replace("name: pooled", "name: plain")
        .lines()
        .filter(|l| !l.contains("loopback:") && !l.contains("sysctls:"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_lab_built_from_recycled_namespaces_is_one_built_on_fresh_ones() {
    let (fresh, recycled, counts) = sandboxed(|| {
        let used = scratch("pooled.yaml", LAB);
        let plain = scratch("plain.yaml", &plain());
        let json = |cmd: &str, file: &std::path::Path| {
            nshost([cmd, file.to_str().unwrap(), "--output", "json"])
        };
        // Fresh namespaces, the reference, without a pool.
        apply(&plain);
        let fresh = everything();
        nshost(["destroy", plain.to_str().unwrap()]).ok();
        // The other lab built from a pool, used (a firewall table and a neighbour made
        // by hand too, and a sysctl), destroyed into the pool; the plain lab built from what it gave
        // back, whichever node gets whose namespace.
        nshost(["pool", "fill", "4"]).ok();
        let first = stat(json("apply", &used), "namespaces_from_pool");
        run_in("h1", &["nft", "add", "table", "inet", "scratch"]);
        run_in("h1", &["nft", "delete", "table", "inet", "scratch"]);
        let neigh = ["-n", "h2", "neigh", "add", "10.2.2.99"];
        let neigh = [&neigh[..], &["lladdr", "02:00:00:00:00:99", "dev", "eth0"]].concat();
        run("ip", &neigh).ok();
        // A sysctl set by hand, which the lab's record does not name (destroy puts
        // the lab's own back itself).
        run_in("h2", &["sysctl", "-w", "net.ipv4.ip_forward=1"]);
        let given_back = stat(json("destroy", &used), "namespaces_recycled");
        let taken = stat(json("apply", &plain), "namespaces_from_pool");
        assert_converged(&plain);
        let recycled = everything();
        (fresh, recycled, [first, given_back, taken])
    });
    // The fabric is never recycled: the three nodes are.
    assert_eq!(counts, [4, 3, 3]);
    assert_eq!(recycled, fresh);
}

#[test]
fn a_namespace_that_cannot_be_proved_clean_is_deleted_not_pooled() {
    let (recycled, pool, tables) = sandboxed(|| {
        let file = scratch("pooled.yaml", LAB);
        let f = file.to_str().unwrap();
        nshost(["pool", "fill", "4"]).ok();
        apply(&file);
        // An nftables table made by hand: no reset of it is proved, so h1 goes.
        run_in("h1", &["nft", "add", "table", "inet", "scratch"]);
        let recycled = stat(
            nshost(["destroy", f, "--output", "json"]),
            "namespaces_recycled",
        );
        let pool = nshost(["pool", "--output", "json"]).code(0).json()["pool"].clone();
        // Every pooled namespace is handed out clean.
        apply(&file);
        let tables: Vec<String> = NODES
            .iter()
            .map(|ns| run_in(ns, &["nft", "list", "tables"]))
            .collect();
        (recycled, pool, tables)
    });
    assert_eq!(recycled, 2);
    assert_eq!(pool["size"], 2, "{pool}");
    assert_eq!(tables, ["", "", ""]);
}

#[test]
fn fill_and_drain_leave_nothing_even_a_killed_fill() {
    let (after_fill, left, netns, pool) = sandboxed(|| {
        nshost(["pool", "fill", "5"]).ok();
        let after_fill = pool_entries();
        nshost(["pool", "drain"]).ok();
        // A fill killed half-way: the next pool command cleans what it left.
        let mut fill = spawn_nshost_quiet(["pool", "fill", "400"]);
        std::thread::sleep(std::time::Duration::from_millis(150));
        fill.kill().unwrap();
        fill.wait().unwrap();
        nshost(["pool", "drain"]).ok();
        let pool = nshost(["pool", "--output", "json"]).code(0).json()["pool"].clone();
        (after_fill, pool_entries(), netns(), pool)
    });
    assert_eq!(after_fill, 5);
    assert_eq!(left, 0);
    assert!(netns.is_empty(), "{netns:?}");
    // Emptied, with no target: destroy deletes namespaces again.
    assert_eq!(
        (&pool["size"], &pool["target"]),
        (&0.into(), &0.into()),
        "{pool}"
    );
}

/// How many entries the pool's directory holds (mounted or not).
fn pool_entries() -> usize {
    std::fs::read_dir("/run/nshost/pool").map_or(0, |d| d.count())
}
