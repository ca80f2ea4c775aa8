//! Inference: the network of each interface left without one, the inferred networks, and
//! each host's gateway. Nothing here checks; what cannot be inferred is reported.

use std::collections::HashMap;
use std::net::IpAddr;

use indexmap::IndexMap;
use ipnet::IpNet;
use miette::SourceSpan;

use super::interfaces::Member;
use super::networks::{DeclaredNet, NetInfo};
use super::{Code, Cx};

/// Resolves every veth member's network, explicit or inferred, and returns all the
/// networks of the lab: the declared ones in file order, then the inferred ones.
pub(super) fn resolve_networks(
    cx: &mut Cx,
    declared: &IndexMap<String, DeclaredNet>,
    members: &mut [Member],
) -> Vec<NetInfo> {
    let mut inferable = Vec::new();
    for (i, m) in members.iter_mut().enumerate() {
        if m.standalone.is_some() {
            continue;
        }
        if let Some(net) = m.explicit_network {
            if declared.contains_key(&net.value) {
                m.network = Some(net.value.clone());
            } else {
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
            }
            continue;
        }
        let Some((first, first_span)) = m.addrs.first().copied() else {
            continue;
        };
        // The declared networks with the most specific subnet holding the address.
        let mut best: Option<(u8, Vec<&String>)> = None;
        for (name, net) in declared {
            let Some(len) = net
                .subnets
                .iter()
                .filter(|(s, _)| s.contains(&first.addr()))
                .map(|(s, _)| s.prefix_len())
                .max()
            else {
                continue;
            };
            match &mut best {
                Some((l, names)) if *l == len => names.push(name),
                Some((l, _)) if *l > len => {}
                _ => best = Some((len, vec![name])),
            }
        }
        match best {
            None => inferable.push(i),
            Some((_, names)) if names.len() == 1 => m.network = Some(names[0].clone()),
            Some((_, names)) => {
                let list = names
                    .iter()
                    .map(|n| format!("`{n}`"))
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

    // Inferred networks: members whose subnets (the address prefixes) meet share one,
    // named after the first address of its first member.
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

    let mut nets: Vec<NetInfo> = declared
        .iter()
        .map(|(name, d)| NetInfo {
            name: name.clone(),
            subnets: d.subnets.clone(),
            mtu: d.mtu,
            allow_overlap: d.allow_overlap,
            inferred: false,
            span: d.key_span,
        })
        .collect();
    for group in groups.values() {
        let mut subnets: Vec<(IpNet, SourceSpan)> = Vec::new();
        for &i in group {
            for (a, span) in &members[i].addrs {
                if !subnets.iter().any(|(s, _)| *s == a.trunc()) {
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
            continue;
        }
        for &i in group {
            members[i].network = Some(name.clone());
        }
        nets.push(NetInfo {
            span: subnets[0].1,
            name,
            subnets,
            mtu: None,
            allow_overlap: false,
            inferred: true,
        });
    }

    // Addresses must lie in the subnets of the declared network they are on.
    for m in members.iter_mut() {
        let Some(net) = m.network.as_ref().and_then(|n| declared.get(n)) else {
            continue;
        };
        if net.subnets.is_empty() {
            continue;
        }
        for (a, span) in &m.addrs {
            if net.subnets.iter().any(|(s, _)| s.contains(&a.addr())) {
                continue;
            }
            m.misplaced = true;
            let name = m.network.as_deref().unwrap_or_default();
            let list = net
                .subnets
                .iter()
                .map(|(s, _)| s.to_string())
                .collect::<Vec<_>>();
            let help = match list.as_slice() {
                [one] => format!("the subnet of `{name}` is {one}"),
                many => format!("the subnets of `{name}` are {}", many.join(", ")),
            };
            cx.report(
                Code::AddressOutsideNetwork,
                format!("{} is outside its network's subnet", a.addr()),
            )
            .with_label(*span, format!("not in any subnet of `{name}`"))
            .with_label(net.key_span, format!("`{name}` is declared here"))
            .with_help(help);
        }
    }
    nets
}

/// The first router interface address (in file order) on the host's network whose
/// subnet holds one of the host's addresses of the family.
pub(super) fn infer_gateway(host: &Member, members: &[Member], v6: bool) -> Option<IpAddr> {
    let network = host.network.as_ref()?;
    let host_addrs: Vec<IpAddr> = host
        .addrs
        .iter()
        .map(|(a, _)| a.addr())
        .filter(|a| a.is_ipv6() == v6)
        .collect();
    members
        .iter()
        .filter(|m| m.router && m.network.as_ref() == Some(network))
        .flat_map(|m| m.addrs.iter().map(|(a, _)| *a))
        .filter(|a| a.addr().is_ipv6() == v6)
        .find(|a| host_addrs.iter().any(|h| a.trunc().contains(h)))
        .map(|a| a.addr())
}
