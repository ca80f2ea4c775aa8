//! Addresses: each in a subnet of its network, used once in the lab, and IPv6 only where
//! the kernel keeps IPv6 on.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use indexmap::IndexMap;
use ipnet::IpNet;
use miette::SourceSpan;

use super::interfaces::effective_mtu;
use super::members::Member;
use super::networks::{DeclaredNet, NetInfo, subnet_index};
use super::{Code, Cx};
use crate::lab::LabInterface;

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

/// Warns of an IPv4 address that is its subnet's network or broadcast address (a
/// likely typo: `10.0.0.0/24`, `10.0.0.255/24`); on a /31 or /32 every address is a
/// host's.
pub(super) fn check_edge_addresses(cx: &mut Cx, members: &[Member]) {
    for m in members {
        for (a, span) in &m.addrs {
            let IpNet::V4(v4) = a else { continue };
            if v4.prefix_len() >= 31 {
                continue;
            }
            let which = if v4.addr() == v4.network() {
                "network"
            } else if v4.addr() == v4.broadcast() {
                "broadcast"
            } else {
                continue;
            };
            cx.warn(
                Code::EdgeAddress,
                format!(
                    "{} has the {which} address of its subnet, {}",
                    m.describe(),
                    v4.trunc()
                ),
            )
            .with_label(*span, format!("the subnet's {which} address"))
            .with_help(
                "the kernel takes it, but it is seldom meant: pick an address inside \
                 the subnet (or a /31 or /32, where every address is a host's)",
            );
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

/// The smallest MTU at which the kernel keeps IPv6 on an interface (`IPV6_MIN_MTU`).
pub(super) const IPV6_MIN_MTU: u32 = 1280;

/// IPv6 addresses where the kernel has no IPv6 and refuses them: on an interface whose
/// MTU is below 1280, or whose IPv6 a sysctl turns off (`disabled`).
pub(super) fn check_ipv6_on(
    cx: &mut Cx,
    mine: &[Member],
    nets: &[NetInfo],
    interfaces: &BTreeMap<String, LabInterface>,
    disabled: &HashMap<String, SourceSpan>,
) {
    for m in mine {
        let Some((a, span)) = m.addrs.iter().find(|(a, _)| a.addr().is_ipv6()) else {
            continue;
        };
        if let Some(&sysctl) = disabled.get(&m.ifname) {
            cx.report(
                Code::Ipv6Disabled,
                format!(
                    "{} has an IPv6 address, but a sysctl turns IPv6 off there",
                    m.describe()
                ),
            )
            .with_label(*span, format!("the kernel refuses {} there", a.addr()))
            .with_label(sysctl, "turns IPv6 off")
            .with_help("remove the `disable_ipv6` sysctl, or the IPv6 addresses");
            continue;
        }
        let Some(iface) = interfaces.get(&m.ifname) else {
            continue;
        };
        let mtu = effective_mtu(iface, interfaces);
        if mtu >= IPV6_MIN_MTU {
            continue;
        }
        let net = m.network.map(|n| &nets[n]);
        let (at, what) = match (m.mtu_span, net) {
            (Some(s), _) => (s, format!("MTU {mtu}")),
            (None, Some(n)) if n.mtu.is_some() => {
                let at = n.mtu_span.unwrap_or(n.span);
                (at, format!("MTU {mtu} of network `{}`", n.name))
            }
            _ => (
                m.kind_or_name_span(),
                format!("MTU {mtu}, from the link below"),
            ),
        };
        cx.report(
            Code::Ipv6MtuTooSmall,
            format!(
                "{} has an IPv6 address but an MTU of {mtu}, below IPv6's 1280",
                m.describe()
            ),
        )
        .with_label(*span, format!("the kernel refuses {} there", a.addr()))
        .with_label(at, what)
        .with_help("the kernel turns IPv6 off on a link below 1280 bytes: raise the MTU to 1280 or more, or remove the IPv6 addresses");
    }
}
