//! Inference: the network of each interface left without one, the inferred networks, and
//! each host's gateway. Nothing here checks; what cannot be inferred is reported.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use indexmap::IndexMap;
use ipnet::IpNet;
use miette::SourceSpan;

use super::members::Member;
use super::networks::{DeclaredNet, NetInfo, subnet_index};
use super::prefixes::PrefixMap;
use super::{Code, Cx};
use crate::topology::Spanned;

/// Resolves every veth member's network, explicit or inferred, and returns all the
/// networks of the lab: the declared ones in file order, then the inferred ones.
pub(super) fn resolve_networks(
    cx: &mut Cx,
    declared: &IndexMap<String, DeclaredNet>,
    members: &mut [Member],
) -> Vec<NetInfo> {
    let inferable = place_on_declared(cx, declared, members);
    let groups = meeting_groups(members, &inferable);
    let mut nets: Vec<NetInfo> = declared
        .values()
        .map(|d| NetInfo {
            name: d.name.clone(),
            subnets: d.subnets.clone(),
            mtu: d.mtu,
            mtu_span: d.mtu_span,
            allow_overlap: d.allow_overlap,
            inferred: false,
            span: d.key_span,
        })
        .collect();
    for group in groups.values() {
        add_inferred(cx, declared, members, group, &mut nets);
    }
    nets
}

/// Puts each veth member on the declared network it names, or else on the one whose
/// subnet holds its first address most specifically; returns the members on none, whose
/// networks are inferred.
fn place_on_declared(
    cx: &mut Cx,
    declared: &IndexMap<String, DeclaredNet>,
    members: &mut [Member],
) -> Vec<usize> {
    let by_subnet = subnet_index(declared);
    let mut inferable = Vec::new();
    for (i, m) in members.iter_mut().enumerate() {
        if !m.is_veth() {
            continue;
        }
        if let Some(net) = m.explicit_network {
            if let Some(n) = named_network(cx, declared, net) {
                m.network = Some(n);
            }
            continue;
        }
        let Some((first, first_span)) = m.addrs.first().copied() else {
            continue;
        };
        // The declared networks with the most specific subnet holding the address.
        let best: Option<Vec<usize>> = by_subnet.longest(first.addr()).map(|(_, nets)| {
            let mut nets = nets.to_vec();
            nets.dedup();
            nets
        });
        match best.as_deref() {
            None => inferable.push(i),
            Some(&[one]) => m.network = Some(one),
            Some(many) => {
                let list = many
                    .iter()
                    .map(|&n| format!("`{}`", declared[n].name))
                    .collect::<Vec<_>>()
                    .join(" and ");
                cx.report(
                    Code::AmbiguousNetwork,
                    format!("{} could be on {list}", m.describe()),
                )
                .with_label(first_span, format!("{first} is in the subnets of {list}"))
                .with_help("name the network with `network:`");
            }
        }
    }
    inferable
}

/// The index of the declared network `net` a member names; reported if none.
fn named_network(
    cx: &mut Cx,
    declared: &IndexMap<String, DeclaredNet>,
    net: &Spanned<String>,
) -> Option<usize> {
    if let Some(n) = declared.get_index_of(&net.value) {
        return Some(n);
    }
    let span = cx.span(net);
    let help = if declared.is_empty() {
        "no networks are declared under `networks`; leave `network` out to infer it from the address".to_string()
    } else {
        format!(
            "declared networks: {}",
            declared
                .keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    cx.report(
        Code::UnknownNetwork,
        format!("unknown network `{}`", net.value),
    )
    .with_label(span, "not declared under `networks`")
    .with_help(help);
    None
}

/// The members left to infer, grouped: those whose subnets (the address prefixes) meet
/// share a network. Each group is keyed by its first member's slot, in that order.
fn meeting_groups(members: &[Member], inferable: &[usize]) -> IndexMap<usize, Vec<usize>> {
    let mut parent: Vec<usize> = (0..inferable.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: HashMap<IpNet, usize> = HashMap::new();
    for (slot, &i) in inferable.iter().enumerate() {
        for (a, _) in &members[i].addrs {
            match owner.get(&a.trunc()) {
                Some(&other) => {
                    let (ra, rb) = (root(&mut parent, slot), root(&mut parent, other));
                    let (lo, hi) = (ra.min(rb), ra.max(rb));
                    parent[hi] = lo;
                }
                None => {
                    owner.insert(a.trunc(), slot);
                }
            }
        }
    }
    let mut groups: IndexMap<usize, Vec<usize>> = IndexMap::new();
    for (slot, &i) in inferable.iter().enumerate() {
        let r = root(&mut parent, slot);
        groups.entry(r).or_default().push(i);
    }
    groups
}

/// The network inferred for a group of members, named after the first address of its
/// first member, with their subnets; reported instead when a declared network has
/// that name.
fn add_inferred(
    cx: &mut Cx,
    declared: &IndexMap<String, DeclaredNet>,
    members: &mut [Member],
    group: &[usize],
    nets: &mut Vec<NetInfo>,
) {
    let mut subnets: Vec<(IpNet, SourceSpan)> = Vec::new();
    let mut seen = HashSet::new();
    for &i in group {
        for (a, span) in &members[i].addrs {
            if seen.insert(a.trunc()) {
                subnets.push((a.trunc(), *span));
            }
        }
    }
    let name = subnets[0].0.to_string();
    if let Some(d) = declared.get(&name) {
        cx.report(
            Code::InferredNetworkNameTaken,
            format!("the inferred network `{name}` has the name of a declared network"),
        )
        .with_label(subnets[0].1, format!("infers network `{name}`"))
        .with_label(d.key_span, "a declared network of that name")
        .with_help("add this subnet to the declared network's `subnets`, or rename it");
        return;
    }
    for &i in group {
        members[i].network = Some(nets.len());
    }
    nets.push(NetInfo {
        span: subnets[0].1,
        name,
        subnets,
        mtu: None,
        mtu_span: None,
        allow_overlap: false,
        inferred: true,
    });
}

/// The router addresses hosts take their gateway from, filed by subnet: for each
/// subnet and network, the first router address (in file order) in that subnet. Built
/// once, so that inferring every host's gateway is linear in the lab's size.
pub(super) struct Gateways {
    /// (network, position in file order, address).
    by_subnet: PrefixMap<(usize, usize, IpAddr)>,
    /// The networks some router is on: a host on another has no gateway to infer.
    routed: std::collections::HashSet<usize>,
}

impl Gateways {
    pub(super) fn new(members: &[Member]) -> Self {
        let mut by_subnet: PrefixMap<(usize, usize, IpAddr)> = PrefixMap::default();
        let router_addrs = members
            .iter()
            .filter(|m| m.router)
            .filter_map(|m| Some((m.network?, &m.addrs)))
            .flat_map(|(net, addrs)| addrs.iter().map(move |(a, _)| (net, *a)));
        for (order, (net, a)) in router_addrs.enumerate() {
            if !by_subnet.get(&a).iter().any(|(n, _, _)| *n == net) {
                by_subnet.insert(a, (net, order, a.addr()));
            }
        }
        let routed = members
            .iter()
            .filter(|m| m.router)
            .filter_map(|m| m.network)
            .collect();
        Gateways { by_subnet, routed }
    }

    /// Whether a router is on network `n` (else it is an L2-only segment).
    pub(super) fn routed(&self, n: usize) -> bool {
        self.routed.contains(&n)
    }

    /// The first router interface address (in file order) on the host's network whose
    /// subnet holds one of the host's addresses of the family.
    pub(super) fn infer(&self, host: &Member, v6: bool) -> Option<IpAddr> {
        let network = host.network?;
        host.addrs
            .iter()
            .map(|(a, _)| a.addr())
            .filter(|a| a.is_ipv6() == v6)
            .flat_map(|h| self.by_subnet.containing(h))
            .flat_map(|(_, hits)| hits.iter().filter(|(n, _, _)| *n == network))
            .min_by_key(|(_, order, _)| *order)
            .map(|(_, _, gw)| *gw)
    }
}
