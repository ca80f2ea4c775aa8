//! The default checks of a lab read back from the kernel (`check --lab NAME`), from its
//! status: the same checks a file that declares none gets.

use std::net::IpAddr;

use super::{LabStatus, NodeRole};
use crate::check::Suite;

/// The default checks of a lab as the kernel has it, without its file (`check --lab
/// NAME`): derived from its status as [`check::Suite::of`](crate::check::Suite::of) derives them from a file that
/// declares no checks.
pub fn default_suite(status: &LabStatus) -> Suite {
    let parse = |a: &str| a.split('/').next().and_then(|a| a.parse::<IpAddr>().ok());
    let nodes = status
        .nodes
        .iter()
        .filter(|n| matches!(n.role, NodeRole::Router | NodeRole::Host))
        .map(|n| {
            // In name order, byte by byte, as a lab file's interfaces are.
            let mut ifaces: Vec<_> = n.interfaces.iter().collect();
            ifaces.sort_by(|a, b| a.name.cmp(&b.name));
            let addresses = |up_only: bool| -> Vec<IpAddr> {
                ifaces
                    .iter()
                    .filter(|i| i.kind != "loopback" && (i.up || !up_only))
                    .flat_map(|i| i.addresses.iter().filter_map(|a| parse(a)))
                    .collect()
            };
            let mut gateways: Vec<IpAddr> = n
                .routes
                .iter()
                .filter(|r| r.table == "main" && r.dst == "default")
                .filter_map(|r| r.via.as_deref().and_then(parse))
                .collect();
            gateways.sort_by_key(|g| g.is_ipv6());
            gateways.dedup();
            crate::check::defaults::Facts {
                name: n.name.clone(),
                ns: n.namespace.clone(),
                router: n.role == NodeRole::Router,
                addresses: addresses(false),
                up_addresses: addresses(true),
                gateways,
            }
        })
        .collect();
    let mut namespaces: Vec<String> = status.nodes.iter().map(|n| n.namespace.clone()).collect();
    namespaces.extend(status.fabric.clone());
    Suite {
        lab: status.lab.clone(),
        namespaces,
        checks: crate::check::defaults::checks_of(nodes),
        defaults: true,
    }
}
