//! Lowering: a validated `Lab` into the desired `NetState`.
//!
//! Pure and total: every node becomes a namespace with its loopback, links, addresses,
//! routes, rules and settings; the fabric namespace (only when the lab has a network)
//! holds one bridge per network (a tree of them for a network with many ports, see
//! [`tree`]) and the fabric end of every veth pair.
//!
//! Every attribute nshost compares is given a value here, the kind's default where the
//! lab says nothing (a veth's MTU is 1500 unless the lab sets one), so that a setting
//! removed from the file is undone and one changed by hand is seen as drift. Each sysctl
//! is classified once, as namespace-wide or as a setting of one of the node's links.

#![warn(clippy::wildcard_enum_match_arm)]

pub mod tree;

use crate::lab::{IfaceKind, Lab, LabInterface};
use crate::state::settings::{self, DevSetting, Section, Setting};
use crate::state::{
    Address, AddressKey, DEFAULT_MTU, Link, LinkKind, LinkRef, Namespace, NetState, NsRole,
    RouteKey,
};

/// The per-interface setting every node interface with an IPv4 address gets (unless the
/// lab sets it): promote an IPv4 secondary address when the primary of its subnet is
/// deleted. A plan replaces an address by adding the new one before deleting the old (so
/// the link never loses its routes); in the same subnet the new one is a secondary,
/// which the kernel would otherwise delete together with the old primary. It is carried
/// in netlink, so it costs no `/proc/sys` access.
pub fn promote_secondaries() -> DevSetting {
    DevSetting {
        section: Section::Ipv4Conf,
        name: "promote_secondaries".to_string(),
    }
}

/// Namespace-wide sysctls of the fabric: it only switches frames, so no IPv6 stack on
/// its bridges and ports, which spares every port IPv6 address configuration when it
/// comes up.
pub const FABRIC_SYSCTLS: [&str; 2] = [
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv6.conf.default.disable_ipv6",
];

/// The namespace-wide setting of every node with an IPv6 address (see `lower`).
pub const NO_DAD: &str = "net.ipv6.conf.default.accept_dad";

/// The MTU an interface gets: the one written (for it or its network), else what the
/// kernel gives a fresh link of its kind.
fn mtu_of(iface: &LabInterface, lower_mtu: impl Fn(&str) -> Option<u32>) -> u32 {
    if let Some(mtu) = iface.mtu {
        return mtu;
    }
    iface.kind.default_mtu(lower_mtu)
}

/// The kernel objects `lab` consists of.
pub fn lower(lab: &Lab) -> NetState {
    let owner = lab.name.as_str();
    let mut state = NetState::default();
    let mut fabric = Namespace::owned(owner, NsRole::Fabric);
    for key in FABRIC_SYSCTLS {
        fabric.sysctls.insert(key.to_string(), "1".to_string());
    }
    for network in lab.networks.values() {
        let mut bridge = Link::new(LinkKind::Bridge);
        bridge.mtu = network.mtu;
        fabric
            .links
            .insert(network.bridge.clone(), Box::new(bridge));
    }

    for node in lab.nodes.values() {
        let mut ns = Namespace::owned(owner, node.role);
        ns.protocols = lab.protocols;
        // MTUs first: a stacked link's default follows the link it sits on (which is
        // never itself stacked on another here: validation says so).
        let plain_mtu = |name: &str| {
            node.interfaces
                .get(name)
                .map(|i| i.mtu.unwrap_or(DEFAULT_MTU))
        };
        for (ifname, iface) in &node.interfaces {
            let kind = match &iface.kind {
                IfaceKind::Veth {
                    network,
                    fabric_name,
                } => {
                    let mut fabric_end = Link::new(LinkKind::Veth {
                        peer: Some(LinkRef::new(&node.ns, ifname)),
                    });
                    fabric_end.mtu = Some(mtu_of(iface, plain_mtu));
                    fabric_end.master = lab.networks.get(network).map(|n| n.bridge.clone());
                    fabric
                        .links
                        .insert(fabric_name.clone(), Box::new(fabric_end));
                    LinkKind::Veth {
                        peer: Some(LinkRef::new(&lab.fabric_ns, fabric_name)),
                    }
                }
                IfaceKind::Dummy => LinkKind::Dummy,
                IfaceKind::Ifb => LinkKind::Ifb,
                IfaceKind::Vxlan(v) => LinkKind::Vxlan(Box::new(v.clone())),
                IfaceKind::Macvlan(m) => LinkKind::Macvlan(m.clone()),
            };
            let mut link = Link::new(kind);
            link.mtu = Some(mtu_of(iface, plain_mtu));
            link.up = iface.up;
            link.mac = iface.mac;
            link.qdisc = iface.impair.clone().map(Box::new);
            if iface.addresses.iter().any(|a| a.addr().is_ipv4()) {
                link.settings.insert(promote_secondaries(), "1".to_string());
            }
            ns.links.insert(ifname.clone(), Box::new(link));
            for addr in &iface.addresses {
                ns.addresses.insert(
                    AddressKey {
                        ifname: ifname.clone(),
                        addr: *addr,
                    },
                    Address::default(),
                );
            }
        }
        for addr in &node.loopback {
            ns.addresses.insert(
                AddressKey {
                    ifname: "lo".to_string(),
                    addr: *addr,
                },
                Address::default(),
            );
        }
        // Routes sharing table, destination and metric are appended in file order.
        for route in &node.routes {
            let mut key = RouteKey::new(route.table, route.dst, route.metric);
            while ns.routes.contains_key(&key) {
                key.alt += 1;
            }
            ns.routes.insert(key, Box::new(route.route.clone()));
        }
        ns.rules.extend(node.rules.iter().cloned());
        if let Some(text) = &node.firewall {
            ns.firewall = Box::new(crate::firewall::Firewall::from_text(text));
        }
        for (key, value) in &node.sysctls {
            let value = settings::normalize(value);
            match settings::classify(key, |d| ns.links.contains_key(d)) {
                Setting::Namespace(key) => {
                    ns.sysctls.insert(key.to_string(), value);
                }
                Setting::Device { dev, setting } => {
                    let dev = dev.to_string();
                    if let Some(link) = ns.links.get_mut(&dev) {
                        link.settings.insert(setting, value);
                    }
                }
            }
        }
        // No duplicate address detection on the links of a node with IPv6 (they inherit
        // the default): its addresses are validated unique (and added `nodad`), but the
        // kernel's link-local ones would stay tentative for a second, and until then a
        // router sends no neighbour solicitation on the link, so IPv6 through it would
        // not work right after the apply. Written by the thread creating the namespace,
        // before any link; a node without IPv6 is spared the `/proc/sys` write.
        if ns.addresses.keys().any(|k| k.addr.addr().is_ipv6()) {
            ns.sysctls
                .get_or_insert_with(NO_DAD.to_string(), || "0".to_string());
        }
        state.namespaces.insert(node.ns.clone(), ns);
    }

    // A bridge whose MTU the lab does not set follows its ports: the smallest of theirs
    // (the kernel's own rule), or 1500 without ports.
    let mut smallest: std::collections::BTreeMap<String, u32> = Default::default();
    for port in fabric.links.values() {
        if let (Some(m), Some(mtu)) = (&port.master, port.mtu) {
            let e = smallest.entry(m.clone()).or_insert(mtu);
            *e = (*e).min(mtu);
        }
    }
    for (name, bridge) in fabric.links.iter_mut() {
        if bridge.kind == LinkKind::Bridge && bridge.mtu.is_none() {
            bridge.mtu = Some(smallest.get(name).copied().unwrap_or(DEFAULT_MTU));
        }
    }
    tree::spread(&lab.fabric_ns, &mut fabric);
    if !lab.networks.is_empty() {
        state.namespaces.insert(lab.fabric_ns.clone(), fabric);
    }
    state
}
