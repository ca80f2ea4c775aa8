//! Today's scenarios: a lab applied from nothing, applied again, edited, drifted; a
//! link kind the kernel lacks; the lab file that uses every field.

use std::collections::BTreeSet;

use nshost::naming::fabric_port_name;
use serde_json::Value;

use crate::ktest::*;
use crate::small::*;
use crate::*;

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

        // The fabric's ports are shown by the node interfaces they belong to, and the
        // bridge by its network (the inferred 10.1.1.0/24).
        let human = plan_code(&file).code(2).stdout;
        let want = "\
# host db1
  - namespace db1
  - link eth0 (veth, network 10.1.2.0/24, up)
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
  + link eth0 (veth, network 10.2.1.0/24, up)
  + address eth0 10.2.1.11/24
  + route default via 10.2.1.1

# fabric small-fabric
  ~ network 10.1.1.0/24: mtu 1500 -> 1400

# host web1
  ~ link eth0: mtu 1500 -> 1400

Plan: 9 to add, 3 to change, 6 to destroy.
";
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
        assert!(reach("pc3", "10.1.1.10"), "pc3 -> web1");
        assert!(reach("web1", "10.2.2.20"), "web1 -> pc2's new address");

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
        // The fabric end comes back with web1's eth0, on its line.
        let plan = plan_code(&file).code(2).stdout;
        assert_eq!(
            plan,
            "\
# router hq-gw
  + address eth1 10.1.2.1/24

# host web1
  + link eth0 (veth, network 10.1.1.0/24, up)
  + address eth0 10.1.1.10/24
  + route default via 10.1.1.1

Plan: 6 to add, 0 to change, 0 to destroy.
"
        );

        apply(&file);
        assert_converged(&file);
        check_small("small", "");
        assert!(
            reach("db1", "10.1.2.1"),
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
            assert!(
                run.stderr.contains(&format!("d0: {{kind: {missing}")),
                "the link is shown at its place in the file: {}",
                run.stderr
            );
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
        assert!(reach("fl-pc", "10.20.1.10"), "pc -> lab through isp");
        assert!(reach("fl-edge", "10.20.0.10"), "edge -> web");
        assert!(reach("fl-pc", "fd00:ff::2"), "pc -> isp over IPv6");
    })
}
