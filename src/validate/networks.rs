//! Declared networks, and the lab-wide checks of all networks.

use std::collections::HashMap;

use indexmap::IndexMap;
use ipnet::IpNet;
use miette::SourceSpan;

use super::members::Member;
use super::prefixes::PrefixMap;
use super::values::{check_mtu, parse_prefix};
use super::{Code, Cx};
use crate::topology::Topology;

/// A network as declared under `networks`, after its own checks.
pub(super) struct DeclaredNet {
    pub(super) name: String,
    pub(super) key_span: SourceSpan,
    pub(super) subnets: Vec<(IpNet, SourceSpan)>,
    pub(super) mtu: Option<u32>,
    /// Where the MTU is written.
    pub(super) mtu_span: Option<SourceSpan>,
    pub(super) allow_overlap: bool,
}

/// Any network of the lab, declared or inferred, for the lab-wide checks.
pub(super) struct NetInfo {
    pub(super) name: String,
    /// Subnets with the place each comes from (a declared subnet, or the address an
    /// inferred subnet was taken from).
    pub(super) subnets: Vec<(IpNet, SourceSpan)>,
    pub(super) mtu: Option<u32>,
    /// Where the MTU is written.
    pub(super) mtu_span: Option<SourceSpan>,
    pub(super) allow_overlap: bool,
    pub(super) inferred: bool,
    /// Where the network is named (declared key, or the first address it was inferred from).
    pub(super) span: SourceSpan,
}

pub(super) fn check_networks(cx: &mut Cx, topo: &Topology) -> IndexMap<String, DeclaredNet> {
    let mut nets = IndexMap::new();
    for key in topo.pools.keys() {
        let span = cx.span(key);
        refuse_range(cx, span, &key.value, "pool");
    }
    for (key, net) in &topo.networks {
        let key_span = cx.span(key);
        if key.value.is_empty() {
            cx.report(Code::BadNetworkName, "a network has an empty name")
                .with_label(key_span, "empty name");
        }
        refuse_range(cx, key_span, &key.value, "network");
        let subnets = net
            .subnets
            .iter()
            .filter_map(|s| {
                let span = cx.span(s);
                parse_prefix(cx, s, "subnet").map(|n| (n, span))
            })
            .collect();
        let mtu = check_mtu(cx, net.mtu.as_ref());
        nets.insert(
            key.value.clone(),
            DeclaredNet {
                name: key.value.clone(),
                key_span,
                subnets,
                mtu,
                mtu_span: net.mtu.as_ref().map(|m| cx.span(m)),
                allow_overlap: net.allow_overlap,
            },
        );
    }
    nets
}

/// Refuses `[` and `]` in the name of a network or pool (`what`): a range there would
/// make one object with brackets in its name, and every reference to `lan1` unknown.
pub(super) fn refuse_range(cx: &mut Cx, span: SourceSpan, name: &str, what: &str) {
    if !name.contains(['[', ']']) {
        return;
    }
    cx.report(
        Code::BadNetworkName,
        format!("the {what} name `{name}` holds `[` or `]`: ranges are for nodes"),
    )
    .with_label(span, format!("a {what} name cannot be a range"))
    .with_help(format!(
        "a range makes routers or hosts (`web[1-200]`), not a {what} each: declare \
         each {what} by its own name (`lan1`, `lan2`, ...)"
    ));
}

/// Every declared subnet, with the networks declaring it (by index) in file order.
pub(super) fn subnet_index(declared: &IndexMap<String, DeclaredNet>) -> PrefixMap<usize> {
    let mut by_subnet = PrefixMap::default();
    for (n, net) in declared.values().enumerate() {
        for (s, _) in &net.subnets {
            by_subnet.insert(*s, n);
        }
    }
    by_subnet
}

/// Warns of each pair of networks whose subnets overlap, once, unless one of them
/// allows it: the kernel accepts overlaps, but they are seldom meant. The subnets are sorted by where they start, so that every subnet is compared
/// only with the chain of subnets holding it (at most one per prefix length).
pub(super) fn check_overlaps(cx: &mut Cx, nets: &[NetInfo]) {
    let mut all: Vec<(IpNet, usize, SourceSpan)> = nets
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.allow_overlap)
        .flat_map(|(i, n)| n.subnets.iter().map(move |(s, span)| (*s, i, *span)))
        .collect();
    all.sort_by_key(|(s, i, _)| (s.addr().is_ipv6(), s.network(), s.prefix_len(), *i));
    // The subnets holding the current one, outermost first.
    let mut holding: Vec<(IpNet, usize, SourceSpan)> = Vec::new();
    let mut pairs: HashMap<(usize, usize), [(IpNet, SourceSpan); 2]> = HashMap::new();
    for (s, i, span) in all {
        while holding.last().is_some_and(|(h, _, _)| !h.contains(&s)) {
            holding.pop();
        }
        if let Some(&(h, j, hspan)) = holding.iter().rev().find(|(_, j, _)| *j != i) {
            let (a, b) = if j < i {
                ((j, h, hspan), (i, s, span))
            } else {
                ((i, s, span), (j, h, hspan))
            };
            pairs.entry((a.0, b.0)).or_insert([(a.1, a.2), (b.1, b.2)]);
        }
        holding.push((s, i, span));
    }
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort_by_key(|(k, _)| *k);
    for ((ai, bi), [(sa, spa), (sb, spb)]) in pairs {
        let (a, b) = (&nets[ai], &nets[bi]);
        let describe = |n: &NetInfo, s: &IpNet| {
            if n.inferred {
                format!("{s} (inferred network `{}`)", n.name)
            } else {
                format!("{s} of network `{}`", n.name)
            }
        };
        let (la, lb) = (describe(a, &sa), describe(b, &sb));
        let help = if a.inferred || b.inferred {
            "an address that is in no declared subnet starts a network of its own; \
             check its prefix length, or declare the network and name it with `network` \
             (then `allow_overlap: true` on one of them silences this)"
        } else {
            "the kernel routes overlapping subnets of different links, the most specific \
             first; set `allow_overlap: true` on one of them if the overlap is intended"
        };
        cx.warn(
            Code::OverlappingSubnets,
            format!(
                "networks `{}` and `{}` have overlapping subnets",
                a.name, b.name
            ),
        )
        .with_label(spa, la)
        .with_label(spb, format!("overlaps {lb}"))
        .with_help(help);
    }
}

/// The most ports a bridge may have besides its uplink: the kernel's 1023
/// (`BR_MAX_PORTS`) less one.
const LEAF_PORTS_MAX: usize = 1022;

/// Refuses a network whose ports would give one of its tree's leaf bridges more ports
/// than the kernel allows a bridge (`lower::tree`). The leaf of each port follows from
/// its name, so this is known before anything is made: past about 16,000 ports, and
/// earlier if the names crowd one leaf.
pub(super) fn check_bridge_ports(cx: &mut Cx, nets: &[NetInfo], lab: &crate::lab::Lab) {
    // Each network's fabric ports, as the lab names them.
    let mut ports: HashMap<&str, Vec<&str>> = HashMap::new();
    for iface in lab.nodes.values().flat_map(|n| n.interfaces.values()) {
        if let crate::lab::IfaceKind::Veth {
            network,
            fabric_name,
        } = &iface.kind
        {
            ports.entry(network).or_default().push(fabric_name);
        }
    }
    for net in nets {
        let Some(names) = ports.get(net.name.as_str()) else {
            continue;
        };
        if names.len() <= crate::lower::tree::TREE_ABOVE {
            continue;
        }
        let mut per_leaf = [0usize; crate::lower::tree::LEAVES];
        for name in names {
            per_leaf[crate::lower::tree::leaf_of(name)] += 1;
        }
        let (leaf, most) = per_leaf
            .iter()
            .enumerate()
            .max_by_key(|(_, n)| **n)
            .map(|(k, n)| (k, *n))
            .unwrap_or_default();
        if most > LEAF_PORTS_MAX {
            cx.report(
                Code::NetworkTooBig,
                format!(
                    "network `{}` has {} interfaces on bridges, more than its bridges can hold: they \
                     are spread over {} leaf bridges by their names, and leaf {leaf} would get \
                     {most} and its uplink, past the kernel's {} ports per bridge",
                    net.name,
                    names.len(),
                    crate::lower::tree::LEAVES,
                    LEAF_PORTS_MAX + 1,
                ),
            )
            .with_label(net.span, "this network")
            .with_help("split it into several networks joined by a router");
        }
    }
}

/// Refuses a network MTU its bridge would not keep: a Linux bridge takes the smallest
/// MTU of its ports, so a network MTU above an interface's on it, or below every one of
/// them, would never be reached and every apply would fail to converge. An interface
/// without an `mtu` takes its network's (not the default 1500).
pub(super) fn check_port_mtus(cx: &mut Cx, nets: &[NetInfo], members: &[Member]) {
    /// The interfaces a problem points at; the message counts them all.
    const SHOWN: usize = 5;
    let mut ports: Vec<Vec<(&Member, u32)>> = vec![Vec::new(); nets.len()];
    for m in members.iter().filter(|m| m.is_veth()) {
        if let Some(n) = m.network
            && let Some(net_mtu) = nets[n].mtu
        {
            ports[n].push((m, m.mtu.unwrap_or(net_mtu)));
        }
    }
    for (net, ports) in nets.iter().zip(ports) {
        let (Some(net_mtu), Some(smallest)) = (net.mtu, ports.iter().map(|p| p.1).min()) else {
            continue;
        };
        if smallest == net_mtu {
            continue;
        }
        let shown: Vec<_> = if smallest < net_mtu {
            ports.iter().filter(|p| p.1 < net_mtu).collect()
        } else {
            ports.iter().filter(|p| p.1 == smallest).collect()
        };
        let (first, first_mtu) = shown[0];
        let message = match (smallest < net_mtu, shown.len()) {
            (true, 1) => format!(
                "network `{}` has MTU {net_mtu}, above the MTU {first_mtu} of {}",
                net.name,
                first.describe()
            ),
            (true, n) => format!(
                "network `{}` has MTU {net_mtu}, above the MTU of {n} of its interfaces \
                 (the smallest {smallest})",
                net.name
            ),
            (false, _) => format!(
                "network `{}` has MTU {net_mtu}, below the MTU of every interface on it \
                 (the smallest {smallest})",
                net.name
            ),
        };
        let at = net.mtu_span.unwrap_or(net.span);
        let p = cx
            .report(Code::NetworkMtuNotKept, message)
            .with_label(at, format!("MTU {net_mtu}"));
        for (m, mtu) in shown.iter().take(SHOWN) {
            p.with_label(
                m.mtu_span.unwrap_or(m.name_span),
                format!("{} has MTU {mtu}", m.describe()),
            );
        }
        p.with_help(if smallest < net_mtu {
            "raise the interface's mtu or lower the network's: the network's bridge \
             takes the smallest MTU of its ports, so it could never have this one"
        } else {
            "lower an interface's mtu to the network's (or leave it out: an interface \
             takes its network's), or raise the network's: its bridge takes the smallest \
             MTU of its ports"
        });
    }
}

/// Warns of a host alone on its network: no router and no other node is on it, so it
/// reaches nothing (a likely typo in its address or network name, as an address in no
/// declared subnet makes a network of its own).
pub(super) fn check_lonely_hosts(cx: &mut Cx, nets: &[NetInfo], members: &[Member]) {
    let mut on: Vec<Vec<&Member>> = vec![Vec::new(); nets.len()];
    for m in members.iter().filter(|m| m.is_veth()) {
        if let Some(n) = m.network {
            on[n].push(m);
        }
    }
    for (net, members) in nets.iter().zip(on) {
        let [m] = members[..] else { continue };
        if m.router {
            continue;
        }
        let what = if net.inferred {
            format!("the network `{}` inferred from its address", net.name)
        } else {
            format!("network `{}`", net.name)
        };
        cx.warn(
            Code::LonelyHost,
            format!(
                "host `{}` is alone on {what}: no router and no other node is on it",
                m.node.value
            ),
        )
        .with_label(m.name_span, "reaches nothing but itself")
        .with_help(
            "check its address and network (an address in no declared subnet makes a \
             network of its own); put a router or another node on the network to \
             silence this",
        );
    }
}
