//! The lab file's shorthands in the kernel: ranges (and growing one), defaults and
//! groups, automatic addresses, L2-only networks, hosts on several networks and links.
//! Each applies the golden case of the same name (`tests/cases/valid/<case>/lab.yaml`),
//! checks what it made and that it converged.

use crate::ktest::*;
use crate::*;

/// Applies a golden case's lab file from a scratch copy; returns its path.
fn apply_case(name: &str, text: &str) -> std::path::PathBuf {
    let file = scratch(&format!("{name}.yaml"), text);
    apply(&file);
    assert_converged(&file);
    file
}

/// The default routes of `ns`.
fn defaults(ns: &str) -> Vec<String> {
    routes(ns)
        .into_iter()
        .filter(|r| r.starts_with("default"))
        .collect()
}

/// A range makes its nodes with `{i}` filled in; growing it plans only the new node.
#[test]
fn ranges_make_nodes_and_grow_by_one() {
    sandboxed(|| {
        let text = include_str!("../cases/valid/ranges/lab.yaml");
        apply_case("ranges", text);
        let spaces = netns();
        for ns in ["gw1", "gw2", "web1", "web2", "web3", "db08", "db09", "db10"] {
            assert!(spaces.iter().any(|s| s == ns), "{ns} in {spaces:?}");
        }
        assert_eq!(addresses("db09"), ["eth09 10.2.0.109/24"]);
        assert_eq!(addresses("web3"), ["eth0 10.1.0.13/24"]);
        assert_eq!(
            defaults("db09"),
            ["default via 10.2.0.1 dev eth09 proto boot"]
        );
        assert!(reach("web2", "10.1.0.1"));
        assert!(reach("gw1", "10.255.0.2"));

        let grown = scratch("ranges.yaml", &edit(text, "web[1-3]", "web[1-4]"));
        let plan = nshost([
            "plan".as_ref(),
            grown.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .code(0)
        .json();
        let port = nshost::naming::fabric_port_name("web4", "eth0");
        let lines = change_lines(&plan["plan"]);
        assert!(!lines.is_empty());
        for line in &lines {
            assert!(
                line.contains("web4") || line.contains(&port),
                "{line} in {lines:#?}"
            );
        }
        apply(&grown);
        assert_converged(&grown);
        assert_eq!(addresses("web4"), ["eth0 10.1.0.14/24"]);
    })
}

/// Defaults and groups reach the kernel: the node's own value, then its groups', then
/// the defaults.
#[test]
fn defaults_and_groups_set_what_nodes_leave_out() {
    sandboxed(|| {
        apply_case(
            "defaults",
            include_str!("../cases/valid/defaults_and_groups/lab.yaml"),
        );
        assert_eq!(links("h1")["ens3"]["mtu"], 9000, "the jumbo group");
        assert_eq!(links("h2")["ens3"]["mtu"], 1400, "quiet, before jumbo");
        assert_eq!(links("h3")["eth0"]["mtu"], 1500, "the host's own");
        assert_eq!(sysctl("h1", "net.ipv4.icmp_echo_ignore_broadcasts"), "1");
        assert_eq!(sysctl("h2", "net.ipv4.icmp_echo_ignore_broadcasts"), "0");
        assert_eq!(sysctl("h2", "net.ipv4.icmp_echo_ignore_all"), "1");
        assert_eq!(sysctl("r1", "net.ipv4.conf.all.rp_filter"), "2");
        assert!(reach("h1", "10.1.1.1"));
        assert!(!reach_once("h1", "10.1.1.12"), "h2 ignores echo requests");
    })
}

/// Addresses from names: hosts from the bottom, routers from the top, dual stack.
#[test]
fn automatic_addresses_come_from_names() {
    sandboxed(|| {
        apply_case("ipam", include_str!("../cases/valid/ipam/lab.yaml"));
        assert_eq!(
            addresses("h7"),
            ["eth0 10.1.1.7/24", "eth0 2001:db8:1::7/64"]
        );
        assert_eq!(
            addresses("r1"),
            [
                "eth0 10.1.1.254/24",
                "eth0 2001:db8:1:0:ffff:ffff:ffff:ffff/64",
                "eth1 10.9.255.254/16"
            ]
        );
        assert_eq!(addresses("web"), ["eth0 10.9.0.80/16"]);
        assert_eq!(
            defaults("h2")[0],
            "default via 10.1.1.254 dev eth0 proto boot"
        );
        assert!(reach("h2", "10.1.1.254"));
        assert!(reach("h3", "10.9.0.80"), "through r1");
    })
}

/// A network without a router is an L2 segment; `gateway: none` takes no default route.
#[test]
fn l2_only_networks_have_no_gateway() {
    sandboxed(|| {
        apply_case("l2", include_str!("../cases/valid/l2_only/lab.yaml"));
        assert!(defaults("h1").is_empty());
        assert!(defaults("h4").is_empty());
        assert_eq!(
            defaults("h3"),
            ["default via 10.1.1.254 dev eth0 proto boot"]
        );
        assert!(reach("h1", "10.0.0.2"), "h1-switch-h2");
        assert!(reach("h4", "10.1.1.3"), "on its own segment");
    })
}

/// A host on two networks: an interface on each, its default route on the one with a
/// router (or the gateway written).
#[test]
fn hosts_with_several_interfaces() {
    sandboxed(|| {
        apply_case(
            "multihomed",
            include_str!("../cases/valid/multihomed_host/lab.yaml"),
        );
        assert_eq!(addresses("app1"), ["eth0 10.1.1.1/24", "eth1 10.2.2.10/24"]);
        assert_eq!(links("app1")["eth1"]["mtu"], 9000);
        assert_eq!(
            defaults("app1"),
            ["default via 10.1.1.254 dev eth0 proto boot"]
        );
        assert_eq!(
            defaults("app2"),
            ["default via 10.1.1.254 dev eth1 proto boot"]
        );
        assert!(defaults("db1").is_empty());
        assert!(reach("app1", "10.2.2.1"), "db1 on the back network");
        assert!(reach("app2", "10.1.1.254"));
    })
}

/// Links: a point-to-point network each, addresses from the subnet, interfaces made
/// where the node lacks them.
#[test]
fn links_join_two_interfaces() {
    sandboxed(|| {
        apply_case("links", include_str!("../cases/valid/links/lab.yaml"));
        assert_eq!(
            addresses("r2"),
            ["wan0 10.100.1.2/30", "wan1 10.100.2.0/31"]
        );
        assert_eq!(links("r1")["wan0"]["mtu"], 1400, "the interface's own");
        assert_eq!(links("r3")["wan0"]["mtu"], 9000, "the link's");
        assert!(reach("r1", "10.100.1.2"));
        assert!(reach("r3", "10.100.2.0"), "over the /31");
        assert!(reach("r1", "2001:db8:ff::1"), "over the /127");
        assert!(reach("h1", "10.3.0.1"));
    })
}
