//! Lowering: a validated `Lab` into the desired `NetState`.
//!
//! Pure and total: every node becomes a namespace with its loopback, links, addresses,
//! routes, rules and sysctls (with [`PROMOTE_SECONDARIES`] on each IPv4 interface); the fabric namespace
//! (only when the lab has a network) holds one bridge per network and the fabric end of
//! every veth pair.

use crate::lab::{Attach, Lab};
use crate::naming;
use crate::state::{
    Address, AddressKey, Link, LinkKind, LinkRef, Namespace, NetState, NsRole, Route, RouteKey,
    RuleMeta,
};

/// The per-interface setting every node interface with an IPv4 address gets (unless the
/// lab sets it): promote an IPv4 secondary address when the primary of its subnet is
/// deleted. A plan replaces an address by adding the new one before deleting the old (so
/// the link never loses its routes); in the same subnet the new one is a secondary,
/// which the kernel would otherwise delete together with the old primary. Set and read
/// over netlink (see `devconf`), so it costs no `/proc/sys` access.
pub const PROMOTE_SECONDARIES: &str = "promote_secondaries";

/// A namespace owned by `lab` holding only its loopback.
fn namespace(lab: &str, role: NsRole) -> Namespace {
    let mut ns = Namespace {
        owner: Some(lab.to_string()),
        role,
        ..Namespace::default()
    };
    ns.links.insert("lo".to_string(), Link::loopback());
    ns
}

/// sysctls of the fabric namespace.
const FABRIC_SYSCTLS: [&str; 2] = [
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv6.conf.default.disable_ipv6",
];

/// The metric the kernel records for a route: IPv6 turns metric 0 into 1024
/// (`IP6_RT_PRIO_USER`), so the desired state says so too, or it would never match.
fn kernel_metric(route: &crate::lab::LabRoute) -> u32 {
    if route.metric == 0 && route.dst.addr().is_ipv6() {
        1024
    } else {
        route.metric
    }
}

/// The kernel objects `lab` consists of.
pub fn lower(lab: &Lab) -> NetState {
    let owner = lab.name.as_str();
    let mut state = NetState::default();
    let mut fabric = namespace(owner, NsRole::Fabric);
    // The fabric only switches frames: no IPv6 stack on its bridges and ports, which
    // spares every port IPv6 address configuration when it comes up.
    for key in FABRIC_SYSCTLS {
        fabric.sysctls.insert(key.to_string(), "1".to_string());
    }
    for network in lab.networks.values() {
        let mut bridge = Link::new(LinkKind::Bridge, owner);
        bridge.mtu = network.mtu;
        fabric.links.insert(network.bridge.clone(), bridge);
    }

    for node in lab.nodes.values() {
        let mut ns = namespace(owner, node.role);
        for (ifname, iface) in &node.interfaces {
            let kind = match &iface.attach {
                Attach::Veth {
                    network,
                    fabric_name,
                } => {
                    let bridge = lab
                        .networks
                        .get(network)
                        .map_or_else(|| naming::bridge_name(network), |n| n.bridge.clone());
                    let mut fabric_end = Link::new(
                        LinkKind::Veth {
                            peer: Some(LinkRef {
                                ns: node.ns.clone(),
                                name: ifname.clone(),
                            }),
                        },
                        owner,
                    );
                    fabric_end.mtu = iface.mtu;
                    fabric_end.master = Some(bridge);
                    fabric.links.insert(fabric_name.clone(), fabric_end);
                    LinkKind::Veth {
                        peer: Some(LinkRef {
                            ns: lab.fabric_ns.clone(),
                            name: fabric_name.clone(),
                        }),
                    }
                }
                Attach::Standalone { kind } => LinkKind::Other { name: kind.clone() },
            };
            let mut link = Link::new(kind, owner);
            link.mtu = iface.mtu;
            link.up = iface.up;
            ns.links.insert(ifname.clone(), link);
            for addr in &iface.addresses {
                ns.addresses.insert(
                    AddressKey {
                        ifname: ifname.clone(),
                        addr: *addr,
                    },
                    Address { owned: true },
                );
            }
        }
        for route in &node.routes {
            ns.routes.insert(
                RouteKey {
                    table: route.table,
                    dst: route.dst,
                    metric: kernel_metric(route),
                },
                Route {
                    gateway: route.gateway,
                    dev: route.dev.clone(),
                    owned: true,
                },
            );
        }
        for rule in &node.rules {
            ns.rules.insert(rule.clone(), RuleMeta { owned: true });
        }
        ns.sysctls = node.sysctls.clone();
        for (ifname, iface) in &node.interfaces {
            if iface.addresses.iter().any(|a| a.addr().is_ipv4()) {
                ns.sysctls
                    .entry(format!("net.ipv4.conf.{ifname}.{PROMOTE_SECONDARIES}"))
                    .or_insert_with(|| "1".to_string());
            }
        }
        state.namespaces.insert(node.ns.clone(), ns);
    }

    if !lab.networks.is_empty() {
        state.namespaces.insert(lab.fabric_ns.clone(), fabric);
    }
    state
}
