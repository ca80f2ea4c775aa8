//! Networks with more ports than one kernel bridge takes: a tree of bridges, one L2
//! segment still.

use crate::ktest::*;
use crate::*;

/// The lab: `hosts` hosts on one L2 network, addresses from their names.
fn lab(hosts: usize) -> String {
    format!(
        "name: tree\nnetworks:\n  big: {{subnets: [10.9.0.0/16]}}\nhosts:\n  h[1-{hosts}]: {{network: big}}\n"
    )
}

/// The address (without its length) of `ns`'s `eth0`.
fn address(ns: &str) -> String {
    let a = addresses(ns);
    let first = a.first().unwrap_or_else(|| panic!("{ns} has no address"));
    first.split(['/', ' ']).nth(1).unwrap().to_string()
}

/// Issue: a 10,000-host lab failed with "Exchange full": the kernel gives a bridge at
/// most 1023 ports, and every host of a network had its port on the network's one
/// bridge. 1100 hosts on one network apply and converge; the fabric has the network's
/// bridge and 16 leaves, none with more than a few hundred ports; hosts on different
/// leaves reach each other; one host more is planned as that host alone.
#[test]
fn a_network_of_1100_hosts_is_a_tree_of_bridges() {
    let (bridges, most, reached, grown) = sandboxed(|| {
        let file = scratch("tree.yaml", &lab(1100));
        apply(&file);
        assert_converged(&file);
        let links = ip_json("tree-fabric", &["-d", "link", "show"]);
        let links = links.as_array().unwrap();
        let bridges: Vec<&str> = links
            .iter()
            .filter(|l| l["linkinfo"]["info_kind"] == "bridge")
            .map(|l| l["ifname"].as_str().unwrap())
            .collect();
        let most = bridges
            .iter()
            .map(|b| links.iter().filter(|l| l["master"] == *b).count())
            .max()
            .unwrap();
        let reached = [("h1", "h1100"), ("h17", "h555"), ("h999", "h2")]
            .map(|(from, to)| reach(from, &address(to)));
        let grown = scratch("tree.yaml", &lab(1101));
        let plan = plan_code(&grown).stdout;
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        (
            bridges.len(),
            most,
            reached,
            plan.lines().last().unwrap_or_default().to_string(),
        )
    });
    assert_eq!(bridges, 17);
    assert!(
        (17..200).contains(&most),
        "at most {most} ports on a bridge"
    );
    assert_eq!(reached, [true; 3]);
    assert_eq!(grown, "Plan: 5 to add, 0 to change, 0 to destroy.");
}
