//! The checks a lab gets when its file declares none, derived from its topology:
//!
//! - every host reaches its gateway, one check per default route (IPv4 and IPv6);
//! - every host reaches one host behind every other router: the first host by name
//!   whose gateway is that router, at its first address of each family both have a
//!   default route for (the source) and an address of (the target).
//!
//! A host is behind the router owning its first default route's gateway. Computed in
//! one pass over the hosts with a hash of the routers' addresses: linear in the number
//! of checks (hosts times routers).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::spec::{Check, family_of};
use crate::lab::{Lab, LabNode};
use crate::state::{NsRole, RT_TABLE_MAIN};
use crate::topology::{Expect, Family};

/// What the default checks need to know of a node: of a lab file's node, or of one
/// the kernel has (`check --lab NAME`, from its status).
#[derive(Clone, Debug)]
pub struct Facts {
    pub name: String,
    pub ns: String,
    pub router: bool,
    /// Every address of its interfaces (a router's say which router a gateway is).
    pub addresses: Vec<IpAddr>,
    /// The addresses of its interfaces that are up, in interface order (a target's
    /// first one of a family is checked).
    pub up_addresses: Vec<IpAddr>,
    /// The gateways of its default routes in main, IPv4 first, each once.
    pub gateways: Vec<IpAddr>,
}

impl Facts {
    fn of(name: &str, node: &LabNode) -> Facts {
        let addresses = |up_only: bool| -> Vec<IpAddr> {
            node.interfaces
                .values()
                .filter(|i| i.up || !up_only)
                .flat_map(|i| i.addresses.iter().map(|a| a.addr()))
                .collect()
        };
        Facts {
            name: name.to_string(),
            ns: node.ns.clone(),
            router: node.role == NsRole::Router,
            addresses: addresses(false),
            up_addresses: addresses(true),
            gateways: gateways(node),
        }
    }

    /// Its first address of `family` on an up interface.
    fn first_address(&self, family: Family) -> Option<IpAddr> {
        self.up_addresses
            .iter()
            .copied()
            .find(|a| family_of(*a) == family)
    }
}

/// The default checks of `lab`, in host order (natural, by name), each host's gateway
/// checks first.
pub fn default_checks(lab: &Lab) -> Vec<Check> {
    let nodes: Vec<Facts> = lab
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n.role, NsRole::Router | NsRole::Host))
        .map(|(name, n)| Facts::of(name, n))
        .collect();
    checks_of(nodes)
}

/// The default checks of nodes (routers and hosts), as [`default_checks`] makes them.
pub fn checks_of(mut nodes: Vec<Facts>) -> Vec<Check> {
    // By name, byte by byte: the host behind a router is the first in that order.
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let mut router_of: HashMap<IpAddr, &str> = HashMap::new();
    for node in nodes.iter().filter(|n| n.router) {
        for a in &node.addresses {
            router_of.entry(*a).or_insert(&node.name);
        }
    }
    let mut hosts: Vec<&Facts> = nodes.iter().filter(|n| !n.router).collect();
    let mut behind: BTreeMap<&str, &Facts> = BTreeMap::new();
    for host in &hosts {
        if let Some(router) = host.gateways.first().and_then(|g| router_of.get(g)) {
            behind.entry(router).or_insert(host);
        }
    }
    // Listed to people in natural order (`h2` before `h10`).
    hosts.sort_by(|a, b| crate::names::natural_cmp(&a.name, &b.name));
    let mut out = Vec::with_capacity(hosts.len() * (1 + behind.len()));
    for host in &hosts {
        let check = |to: &str, to_node: bool, dst: IpAddr| Check {
            from: host.name.clone(),
            ns: host.ns.clone(),
            to: to.to_string(),
            to_node,
            dst,
            expect: Expect::Reachable,
            probe: crate::check::spec::Probe::Icmp,
        };
        for gw in &host.gateways {
            match router_of.get(gw) {
                Some(router) => out.push(check(router, true, *gw)),
                None => out.push(check(&gw.to_string(), false, *gw)),
            }
        }
        let mine = host
            .gateways
            .first()
            .and_then(|g| router_of.get(g))
            .copied();
        for (router, target) in &behind {
            if Some(*router) == mine || target.name == host.name {
                continue;
            }
            let mut families: Vec<_> = host.gateways.iter().map(|g| family_of(*g)).collect();
            families.dedup();
            for family in families {
                if let Some(dst) = target.first_address(family) {
                    out.push(check(&target.name, true, dst));
                }
            }
        }
    }
    out
}

/// The gateways of a node's default routes in main, IPv4 first, each once.
fn gateways(node: &LabNode) -> Vec<IpAddr> {
    let mut gws: Vec<IpAddr> = node
        .routes
        .iter()
        .filter(|r| r.table == RT_TABLE_MAIN && r.dst.prefix_len() == 0)
        .filter_map(|r| r.route.gateway)
        .collect();
    gws.sort_by_key(|g| g.is_ipv6());
    gws.dedup();
    gws
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::SourceFile;

    fn lab(text: &str) -> Lab {
        crate::workflow::load_source(SourceFile::from_text("lab.yaml", text))
            .unwrap()
            .lab
    }

    fn lines(checks: &[Check]) -> Vec<String> {
        checks
            .iter()
            .map(|c| format!("{} -> {} {}", c.from, c.to, c.dst))
            .collect()
    }

    #[test]
    fn gateways_then_one_host_behind_every_other_router() {
        let small = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/topologies/small.yaml"
        ))
        .unwrap();
        let checks = default_checks(&lab(&small));
        insta::assert_yaml_snapshot!(lines(&checks), @r"
        - db1 -> hq-gw 10.1.2.1
        - db1 -> pc1 10.2.1.10
        - pc1 -> br-gw 10.2.1.1
        - pc1 -> db1 10.1.2.10
        - pc2 -> br-gw 10.2.2.1
        - pc2 -> db1 10.1.2.10
        - web1 -> hq-gw 10.1.1.1
        - web1 -> pc1 10.2.1.10
        ");
        assert!(checks.iter().all(|c| c.expect == Expect::Reachable));
    }

    #[test]
    fn dual_stack_hosts_are_checked_in_both_families() {
        let checks = default_checks(&lab("\
name: d
routers:
  r1:
    interfaces:
      a: {addresses: [10.1.0.1/24, fd00:1::1/64]}
  r2:
    interfaces:
      b: {addresses: [10.2.0.1/24]}
      c: {addresses: [10.9.0.2/30, fd00:9::2/64]}
hosts:
  h1: {address: 10.1.0.10/24, secondary: [fd00:1::10/64]}
  h2: {address: 10.2.0.10/24}
  h3: {address: fd00:9::10/64}
"));
        insta::assert_yaml_snapshot!(lines(&checks), @r#"
        - h1 -> r1 10.1.0.1
        - "h1 -> r1 fd00:1::1"
        - h1 -> h2 10.2.0.10
        - h2 -> r2 10.2.0.1
        - h2 -> h1 10.1.0.10
        - "h3 -> r2 fd00:9::2"
        - "h3 -> h1 fd00:1::10"
        "#);
    }

    /// Hosts are checked in natural order (`h2` before `h10`).
    #[test]
    fn hosts_in_natural_order() {
        let checks = default_checks(&lab("\
name: n
routers:
  r1:
    interfaces:
      a: {addresses: [10.1.0.1/24]}
      b: {addresses: [10.2.0.1/24]}
hosts:
  h10: {address: 10.1.0.10/24}
  h9: {address: 10.1.0.9/24}
  h2: {address: 10.2.0.2/24}
"));
        insta::assert_yaml_snapshot!(lines(&checks), @r"
        - h2 -> r1 10.2.0.1
        - h9 -> r1 10.1.0.1
        - h10 -> r1 10.1.0.1
        ");
    }

    #[test]
    fn a_thousand_hosts_make_four_thousand_checks() {
        let mut text = String::from("name: big\nrouters:\n");
        for r in 0..4 {
            text +=
                &format!("  r{r}:\n    interfaces:\n      lan: {{addresses: [10.{r}.0.1/16]}}\n");
        }
        text += "hosts:\n";
        for h in 0..1000 {
            text += &format!(
                "  h{h}: {{address: 10.{}.{}.{}/16}}\n",
                h % 4,
                h / 200,
                2 + h % 200
            );
        }
        let checks = default_checks(&lab(&text));
        assert_eq!(checks.len(), 4000);
        // Each host checks its gateway and the first host by name (h103 < h11) of each
        // other LAN.
        let h5: Vec<String> = lines(&checks)
            .into_iter()
            .filter(|l| l.starts_with("h5 "))
            .collect();
        assert_eq!(
            h5,
            [
                "h5 -> r1 10.1.0.1",
                "h5 -> h0 10.0.0.2",
                "h5 -> h10 10.2.0.12",
                "h5 -> h103 10.3.0.105"
            ]
        );
    }
}
