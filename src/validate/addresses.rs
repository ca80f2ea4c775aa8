//! Addresses: each in a subnet of its network, and used once in the lab.

use std::collections::HashMap;
use std::net::IpAddr;

use indexmap::IndexMap;
use miette::SourceSpan;

use super::interfaces::Member;
use super::networks::{DeclaredNet, subnet_index};
use super::{Code, Cx};

pub(super) fn check_duplicate_addresses(cx: &mut Cx, members: &[Member]) {
    let mut all: Vec<(IpAddr, SourceSpan, String)> = members
        .iter()
        .flat_map(|m| {
            m.addrs
                .iter()
                .map(move |(a, span)| (a.addr(), *span, m.describe()))
        })
        .collect();
    all.sort_by_key(|(_, span, _)| span.offset());
    let mut first: HashMap<IpAddr, (SourceSpan, &str)> = HashMap::new();
    for (ip, span, who) in &all {
        if let Some((first_span, first_who)) = first.get(ip) {
            cx.report(
                Code::DuplicateAddress,
                format!("the address {ip} is used twice"),
            )
            .with_label(*first_span, format!("on {first_who}"))
            .with_label(*span, format!("and again on {who}"))
            .with_help("every address in a lab must be unique");
        } else {
            first.insert(*ip, (*span, who));
        }
    }
}

/// Addresses must lie in the subnets of the declared network they are on.
pub(super) fn check_in_network(
    cx: &mut Cx,
    declared: &IndexMap<String, DeclaredNet>,
    members: &mut [Member],
) {
    let by_subnet = subnet_index(declared);
    for m in members.iter_mut() {
        let Some((n, (name, net))) = m
            .network
            .and_then(|n| declared.get_index(n).map(|d| (n, d)))
        else {
            continue;
        };
        if net.subnets.is_empty() {
            continue;
        }
        for (a, span) in &m.addrs {
            if by_subnet
                .containing(a.addr())
                .any(|(_, nets)| nets.contains(&n))
            {
                continue;
            }
            m.misplaced = true;
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
}
