//! Every route and rule the kernel holds, and link MACs: each field applied and read
//! back with `ip -d route show table all` and `ip rule show`, a second plan empty,
//! changes made in place, and their removal undone.

use crate::ktest::*;
use crate::*;

/// A router with two LANs and one host; `ROUTES`, `RULES` and the MACs are what the
/// tests edit.
const LAB: &str = "\
name: rt
tables:
  isp: 100
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24, \"2001:db8:1::1/64\"], mac: \"52:54:00:12:34:01\"}
      eth1: {addresses: [10.1.2.1/24, \"2001:db8:2::1/64\"]}
    routes:
      - {to: 10.66.0.0/16, type: blackhole}
      - {to: 10.67.0.0/16, type: unreachable, metric: 10}
      - {to: 10.68.0.0/16, type: prohibit, table: isp}
      - {to: default, type: throw, table: isp}
      - {to: \"2001:db8:66::/48\", type: blackhole}
      - {to: 10.9.0.0/16, via: 10.1.1.2, src: 10.1.2.1}
      - {to: 10.10.0.0/16, via: 192.0.2.1, dev: eth0, onlink: true}
      - {to: 10.11.0.0/16, dev: eth1, scope: host}
      - {to: 10.12.0.0/16, via: 10.1.1.2, scope: site}
      - {to: 10.13.0.0/16, dev: eth0, proto: kernel}
      - to: 10.20.0.0/16
        nexthops:
          - {via: 10.1.1.2, weight: 3}
          - {via: 10.1.2.2, dev: eth1}
      - to: \"2001:db8:20::/48\"
        nexthops:
          - {via: \"2001:db8:1::2\", weight: 256}
          - {via: \"2001:db8:2::2\"}
      - {to: 10.30.0.0/16, dev: eth0, metric: 5}
      - {to: 10.30.0.0/16, dev: eth1, metric: 5}
    rules:
      - {priority: 100, not: true, from: 10.1.0.0/16, table: isp}
      - {priority: 110, from: 10.2.0.0/16, goto: 200}
      - {priority: 130, iif: eth0, action: nop}
      - {priority: 140, to: 10.66.0.0/16, action: blackhole}
      - {priority: 150, to: 10.67.0.0/16, action: unreachable}
      - {priority: 160, to: 10.68.0.0/16, action: prohibit}
      - {priority: 170, uidrange: 0, table: isp}
      - {priority: 190, table: main, suppress_prefixlength: 0}
      - {priority: 200, family: ipv6, action: prohibit}
      - {priority: 200, table: isp}
hosts:
  h1: {address: 10.1.1.10/24, mac: \"02:00:00:00:00:10\"}
";

/// `ip -d route show table all` of both families in `ns`, one route a line.
fn ip_routes(ns: &str) -> String {
    let mut out = String::new();
    for family in ["-4", "-6"] {
        out.push_str(
            &run(
                "ip",
                &["-n", ns, family, "-d", "route", "show", "table", "all"],
            )
            .ok(),
        );
    }
    out
}

/// `ip rule show` of both families in `ns`.
fn ip_rules(ns: &str) -> String {
    let mut out = String::new();
    for family in ["-4", "-6"] {
        out.push_str(&run("ip", &["-n", ns, family, "rule", "show"]).ok());
    }
    out
}

/// The MAC address of `ns`/`dev`.
fn mac(ns: &str, dev: &str) -> String {
    let link = &ip_json(ns, &["link", "show", "dev", dev])[0];
    str_of(link, "address").to_string()
}

#[track_caller]
fn assert_has(text: &str, lines: &[&str]) {
    let have: Vec<&str> = text.lines().map(str::trim_end).collect();
    for line in lines {
        assert!(have.contains(line), "missing `{line}` in:\n{text}");
    }
}

/// Every lab route as `ip -d route` shows it once the lab is up.
const LAB_ROUTES: &[&str] = &[
    "throw default table 100 proto boot scope global",
    "prohibit 10.68.0.0/16 table 100 proto boot scope global",
    "unicast 10.9.0.0/16 via 10.1.1.2 dev eth0 table main proto boot scope global src 10.1.2.1",
    "unicast 10.10.0.0/16 via 192.0.2.1 dev eth0 table main proto boot scope global onlink",
    "unicast 10.11.0.0/16 dev eth1 table main proto boot scope host",
    "unicast 10.12.0.0/16 via 10.1.1.2 dev eth0 table main proto boot scope site",
    "unicast 10.13.0.0/16 dev eth0 table main proto kernel scope link",
    "unicast 10.20.0.0/16 table main proto boot scope global",
    "\tnexthop via 10.1.1.2 dev eth0 weight 3",
    "\tnexthop via 10.1.2.2 dev eth1 weight 1",
    "unicast 10.30.0.0/16 dev eth0 table main proto boot scope link metric 5",
    "unicast 10.30.0.0/16 dev eth1 table main proto boot scope link metric 5",
    "blackhole 10.66.0.0/16 table main proto boot scope global",
    "unreachable 10.67.0.0/16 table main proto boot scope global metric 10",
    "unicast 2001:db8:20::/48 table main proto boot scope global metric 1024 pref medium",
    "\tnexthop via 2001:db8:1::2 dev eth0 weight 256",
    "\tnexthop via 2001:db8:2::2 dev eth1 weight 1",
    "blackhole 2001:db8:66::/48 dev lo table main proto boot scope global metric 1024 pref medium",
];

/// Every lab rule as `ip rule show` shows it.
const LAB_RULES: &[&str] = &[
    "100:\tnot from 10.1.0.0/16 lookup 100",
    "110:\tfrom 10.2.0.0/16 goto 200",
    "130:\tfrom all iif eth0 nop",
    "140:\tfrom all to 10.66.0.0/16 blackhole",
    "150:\tfrom all to 10.67.0.0/16 unreachable",
    "160:\tfrom all to 10.68.0.0/16 prohibit",
    "170:\tfrom all uidrange 0-0 lookup 100",
    "190:\tfrom all lookup main suppress_prefixlength 0",
    "200:\tfrom all lookup 100",
    "200:\tfrom all prohibit",
];

/// What the kernel holds of `r1` by itself: its connected routes, the local table,
/// IPv6 link-local and multicast, and the default rules.
fn only_the_kernels(ns: &str) {
    for line in ip_routes(ns).lines().filter(|l| !l.starts_with('\t')) {
        assert!(
            line.contains("proto kernel")
                && (line.contains("table local")
                    || line.contains(" scope link src ")
                    || line.contains("fe80::/64")
                    || line.contains("metric 256")),
            "not the kernel's: `{line}`"
        );
    }
    let rules = ip_rules(ns);
    let prios: Vec<&str> = rules
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(prios, ["0", "32766", "32767", "0", "32766"], "{rules}");
}

#[test]
fn every_route_and_rule_applies_and_reads_back() {
    sandboxed(|| {
        let file = scratch("rt.yaml", LAB);
        let out = apply(&file);
        assert!(out.contains("Apply complete!"), "{out}");
        assert_has(&ip_routes("r1"), LAB_ROUTES);
        assert_has(&ip_rules("r1"), LAB_RULES);
        assert_eq!(mac("r1", "eth0"), "52:54:00:12:34:01");
        assert_eq!(mac("h1", "eth0"), "02:00:00:00:00:10");
        // IPv4 addresses have the broadcast `ip addr add ... brd +` gives.
        let addrs = &ip_json("r1", &["-4", "addr", "show", "dev", "eth1"])[0]["addr_info"];
        assert_eq!(addrs[0]["broadcast"], "10.1.2.255", "{addrs}");
        // The second plan is empty: nshost reads every field back as it wrote it, and
        // takes none of the kernel's own routes (proto kernel too) for the lab's.
        assert_converged(&file);
        // The unreachable route and rule drop what they match, the multipath route
        // still carries traffic.
        assert!(reach("h1", "10.1.1.1"));
    })
}

#[test]
fn changes_are_made_in_place_and_removal_is_undone() {
    sandboxed(|| {
        let file = scratch("rt.yaml", LAB);
        apply(&file);
        let before = ifindexes();
        let mut text = LAB.to_string();
        for (from, to) in [
            (
                "{to: 10.66.0.0/16, type: blackhole}",
                "{to: 10.66.0.0/16, type: prohibit}",
            ),
            ("src: 10.1.2.1}", "src: 10.1.1.1}"),
            ("via: 192.0.2.1, dev: eth0", "via: 192.0.2.9, dev: eth0"),
            ("scope: host", "scope: link"),
            ("{via: 10.1.1.2, weight: 3}", "{via: 10.1.1.2, weight: 5}"),
            ("      - {to: 10.30.0.0/16, dev: eth1, metric: 5}\n", ""),
            ("52:54:00:12:34:01", "52:54:00:12:34:02"),
            ("not: true, from: 10.1.0.0/16", "from: 10.1.0.0/16"),
            ("goto: 200}", "goto: 190}"),
        ] {
            text = edit(&text, from, to);
        }
        let edited = scratch("rt.yaml", &text);
        let plan = nshost([
            "plan".as_ref(),
            edited.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .ok();
        let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
        assert_eq!(
            change_lines(&plan["plan"]),
            [
                "add_rule r1 100",
                "add_rule r1 110",
                "delete_route r1 10.30.0.0/16",
                "delete_rule r1 100",
                "delete_rule r1 110",
                "replace_route r1 10.10.0.0/16",
                "replace_route r1 10.11.0.0/16",
                "replace_route r1 10.20.0.0/16",
                "replace_route r1 10.66.0.0/16",
                "replace_route r1 10.9.0.0/16",
                "update_link r1/eth0",
            ]
        );
        apply(&edited);
        assert_eq!(ifindexes(), before, "nothing was recreated");
        assert_has(
            &ip_routes("r1"),
            &[
                "prohibit 10.66.0.0/16 table main proto boot scope global",
                "unicast 10.9.0.0/16 via 10.1.1.2 dev eth0 table main proto boot scope global src 10.1.1.1",
                "unicast 10.10.0.0/16 via 192.0.2.9 dev eth0 table main proto boot scope global onlink",
                "unicast 10.11.0.0/16 dev eth1 table main proto boot scope link",
                "\tnexthop via 10.1.1.2 dev eth0 weight 5",
                "unicast 10.30.0.0/16 dev eth0 table main proto boot scope link metric 5",
            ],
        );
        assert!(!ip_routes("r1").contains("10.30.0.0/16 dev eth1"));
        assert_has(
            &ip_rules("r1"),
            &[
                "100:\tfrom 10.1.0.0/16 lookup 100",
                "110:\tfrom 10.2.0.0/16 goto 190",
            ],
        );
        assert_eq!(mac("r1", "eth0"), "52:54:00:12:34:02");
        assert_converged(&edited);

        // Without routes, rules or MACs: the lab's routes and rules go, the kernel's
        // stay, and each link keeps the MAC it has (a fresh one would be random too).
        let mut bare = String::new();
        let mut skipping = false;
        for line in text.lines() {
            if line == "    routes:" || line == "    rules:" {
                skipping = true;
                continue;
            }
            if skipping && line.starts_with("      ") {
                continue;
            }
            skipping = false;
            bare.push_str(line);
            bare.push('\n');
        }
        let bare = edit(&bare, ", mac: \"52:54:00:12:34:02\"", "");
        let bare = edit(&bare, ", mac: \"02:00:00:00:00:10\"", "");
        let bare = scratch("rt.yaml", &bare);
        apply(&bare);
        only_the_kernels("r1");
        assert_eq!(mac("r1", "eth0"), "52:54:00:12:34:02");
        assert_converged(&bare);
        assert_eq!(ifindexes(), before, "nothing was recreated");
    })
}

/// An apply of every kind of route and rule, and of their changes in place (a group of
/// appended routes shrunk included), fails at each stage in turn and is rolled back to
/// the kernel as it was, object for object.
#[test]
fn every_route_and_rule_rolls_back() {
    sandboxed(|| {
        let file = scratch("rt.yaml", LAB);
        let stages = crate::rollback::fail_every_stage(&file, "cold");
        assert!(stages >= 2, "{stages}");
        let edited = edit(
            &edit(
                LAB,
                "      - {to: 10.30.0.0/16, dev: eth0, metric: 5}\n",
                "",
            ),
            "weight: 3",
            "weight: 4",
        );
        let edited = edit(
            &edited,
            "10.66.0.0/16, type: blackhole}",
            "10.66.0.0/16, type: unreachable}",
        );
        let edited = edit(&edited, "goto: 200", "goto: 190");
        let edited = edit(&edited, "52:54:00:12:34:01", "52:54:00:12:34:09");
        let edited = scratch("edited.yaml", &edited);
        crate::rollback::fail_every_stage(&edited, "edited");
    })
}

/// A route the kernel makes itself and removes with its address is never in a plan,
/// and a lab route that shares its destination in another table is the lab's.
#[test]
fn kernel_routes_of_addresses_are_not_the_labs() {
    sandboxed(|| {
        let text = edit(
            LAB,
            "      - {to: 10.66.0.0/16, type: blackhole}\n",
            "      - {to: 10.66.0.0/16, type: blackhole}\n      \
             - {to: 10.1.1.0/24, dev: eth0, proto: kernel, table: isp}\n",
        );
        let file = scratch("rt.yaml", &text);
        apply(&file);
        assert_has(
            &ip_routes("r1"),
            &["unicast 10.1.1.0/24 dev eth0 table 100 proto kernel scope link"],
        );
        assert_converged(&file);
        // A new address brings its kernel route; the plan has only the address.
        let moved = scratch(
            "moved.yaml",
            &edit(&text, "10.1.2.1/24, ", "10.1.2.1/24, 10.1.4.1/24, "),
        );
        let plan = nshost([
            "plan".as_ref(),
            moved.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .ok();
        let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
        assert_eq!(
            change_lines(&plan["plan"]),
            ["add_address r1 eth1 10.1.4.1/24"]
        );
        apply(&moved);
        assert_has(
            &ip_routes("r1"),
            &["unicast 10.1.4.0/24 dev eth1 table main proto kernel scope link src 10.1.4.1"],
        );
        assert_converged(&moved);
        apply(&file);
        assert!(!ip_routes("r1").contains("10.1.4.0/24"));
        assert_converged(&file);
    })
}

/// Two routes of one table, destination and metric out of two devices (`ip route
/// append`) are kept in file order: swapping them deletes the first and appends it
/// after the second, and the kernel holds them in the new order.
#[test]
fn appended_routes_keep_the_files_order() {
    sandboxed(|| {
        let file = scratch("rt.yaml", LAB);
        apply(&file);
        let swapped = edit(
            LAB,
            "      - {to: 10.30.0.0/16, dev: eth0, metric: 5}\n      \
             - {to: 10.30.0.0/16, dev: eth1, metric: 5}\n",
            "      - {to: 10.30.0.0/16, dev: eth1, metric: 5}\n      \
             - {to: 10.30.0.0/16, dev: eth0, metric: 5}\n",
        );
        let swapped = scratch("swapped.yaml", &swapped);
        let plan = nshost([
            "plan".as_ref(),
            swapped.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .ok();
        let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
        assert_eq!(
            change_lines(&plan["plan"]),
            ["add_route r1 10.30.0.0/16", "delete_route r1 10.30.0.0/16"]
        );
        apply(&swapped);
        let order: Vec<String> = ip_routes("r1")
            .lines()
            .filter(|l| l.contains("10.30.0.0/16"))
            .map(|l| {
                l.split(" dev ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(order, ["eth1", "eth0"]);
        assert_converged(&swapped);
        apply(&file);
        assert_converged(&file);
    })
}
