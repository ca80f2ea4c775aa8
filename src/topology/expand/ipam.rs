//! Automatic addresses: a host or router interface on a network with subnets and no
//! address of its own gets one in each of the network's subnets, derived from the
//! node's name alone, so that adding, removing or reordering nodes never moves another.
//!
//! A name ending in a number takes that number: host `web17` is the subnet's 17th
//! address (`10.1.1.17` in `10.1.1.0/24`), counted from the bottom; router `r2` the
//! 2nd from the top (`10.1.1.253`). Other names take a number from a hash of the name
//! (FNV-1a, fixed forever). Two nodes given one address, or an automatic address that
//! the file writes elsewhere on the network, is an error rather than a renumbering.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::super::{Interface, Spanned, Topology};
use super::Ex;
use crate::problem::Code;

/// The lowest offset a node takes in `net`: 1 but on IPv4 /31 and /32 and IPv6 /127
/// and /128, which have no network address to keep free.
pub(super) fn first_offset(net: IpNet) -> u32 {
    u32::from(net.prefix_len() + 1 < net.max_prefix_len())
}

/// How many offsets from `first_offset` a node may take (the IPv4 broadcast left out).
fn capacity(net: IpNet) -> u128 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let size = if bits >= 128 {
        u128::MAX
    } else {
        1u128 << bits
    };
    let reserved = match net {
        IpNet::V4(_) if first_offset(net) == 1 => 2,
        _ => u128::from(first_offset(net)),
    };
    size - reserved
}

/// The `n`th address of `net`, with its prefix length; `None` past its end.
pub(super) fn nth(net: IpNet, n: u128) -> Option<IpNet> {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if bits < 128 && n >= 1u128 << bits {
        return None;
    }
    let addr = match net.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + n as u32).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + n).into()),
    };
    IpNet::new(addr, net.prefix_len()).ok()
}

/// The number a name stands for: its trailing digits, else a hash of it in
/// `1..=capacity`.
fn slot(name: &str, capacity: u128) -> u128 {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0
        && let Ok(n) = name[name.len() - digits..].parse::<u128>()
    {
        return n;
    }
    1 + u128::from(crate::naming::fnv1a_64(name)) % capacity.max(1)
}

/// The address `node` gets in `net`: hosts count up from the bottom, routers down from
/// the top. `Err` says why there is none.
fn address(net: IpNet, node: &str, router: bool) -> Result<IpNet, String> {
    let cap = capacity(net);
    let n = slot(node, cap);
    let first = u128::from(first_offset(net));
    if n == 0 || n > cap {
        return Err(format!(
            "its number {n} is not between 1 and {cap}, the addresses {net} has for nodes"
        ));
    }
    let offset = if router {
        first + cap - n
    } else {
        first + n - 1
    };
    nth(net, offset).ok_or_else(|| format!("{net} has no address {n}"))
}

/// One interface waiting for addresses: its node, whether a router, its network.
struct Want<'a> {
    node: &'a str,
    /// The node's key (a range's, for a node it made).
    key: &'a Spanned<String>,
    router: bool,
    network: &'a Spanned<String>,
}

pub(super) fn assign(ex: &mut Ex, topo: &mut Topology) {
    let subnets: HashMap<String, Vec<IpNet>> = topo
        .networks
        .iter()
        .map(|(k, n)| {
            let nets = n
                .subnets
                .iter()
                .filter_map(|s| s.value.parse::<IpNet>().ok())
                .map(|s| s.trunc())
                .collect();
            (k.value.clone(), nets)
        })
        .collect();
    if subnets.values().all(Vec::is_empty) {
        return;
    }
    // Addresses the file writes, by address: who has it.
    let mut taken: HashMap<IpAddr, String> = HashMap::new();
    let mut note = |addrs: &[Spanned<String>], who: String| {
        for a in addrs {
            if let Ok(net) = a.value.parse::<IpNet>() {
                taken.entry(net.addr()).or_insert_with(|| who.clone());
            }
        }
    };
    for (k, r) in &topo.routers {
        for (i, iface) in &r.interfaces {
            note(
                &iface.addresses,
                format!("router `{}` interface `{}`", k.value, i.value),
            );
        }
    }
    for (k, h) in &topo.hosts {
        note(h.address.as_slice(), format!("host `{}`", k.value));
        note(&h.secondary, format!("host `{}`", k.value));
        for (i, iface) in &h.interfaces {
            note(
                &iface.addresses,
                format!("host `{}` interface `{}`", k.value, i.value),
            );
        }
    }
    let mut give = |ex: &mut Ex, want: Want| -> Vec<Spanned<String>> {
        let Some(nets) = subnets.get(&want.network.value) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &net in nets {
            let what = if want.router { "router" } else { "host" };
            match address(net, want.node, want.router) {
                Ok(a) => {
                    let me = format!("{what} `{}`", want.node);
                    if let Some(other) = taken.get(&a.addr()) {
                        let (span, key) = (ex.span(want.network), ex.span(want.key));
                        ex.report(
                            Code::AddressTaken,
                            format!("the address {} that {me} would get is {other}'s", a.addr()),
                        )
                        .with_label(key, format!("{me} is made here"))
                        .with_label(span, format!("{me} gets its address from `{}`", want.network.value))
                        .with_help("write an address for one of them, or rename one (the address comes from the name)");
                        continue;
                    }
                    taken.insert(a.addr(), me);
                    out.push(Spanned::new(
                        a.to_string(),
                        want.network.referenced,
                        want.network.defined,
                    ));
                }
                Err(why) => {
                    let (span, key) = (ex.span(want.network), ex.span(want.key));
                    ex.report(
                        Code::NoAddress,
                        format!("{what} `{}` gets no address in {net}: {why}", want.node),
                    )
                    .with_label(key, format!("{what} `{}` is made here", want.node))
                    .with_label(span, "on this network")
                    .with_help("write its address, or give the network a larger subnet");
                }
            }
        }
        out
    };
    // A veth without addresses that is up (one declared down is a spare port).
    let on_network = |i: &Interface| {
        i.addresses.is_empty()
            && i.kind.as_ref().is_none_or(|k| k.value.on_network())
            && i.up.as_ref().is_none_or(|u| u.value)
    };
    for (k, r) in &mut topo.routers {
        for iface in r.interfaces.values_mut() {
            if on_network(iface)
                && let Some(network) = iface.network.clone()
            {
                iface.addresses = give(
                    ex,
                    Want {
                        node: &k.value,
                        key: k,
                        router: true,
                        network: &network,
                    },
                );
            }
        }
    }
    for (k, h) in &mut topo.hosts {
        if h.address.is_none()
            && h.interfaces.is_empty()
            && let Some(network) = h.network.clone()
        {
            let mut got = give(
                ex,
                Want {
                    node: &k.value,
                    key: k,
                    router: false,
                    network: &network,
                },
            )
            .into_iter();
            h.address = got.next();
            h.secondary.extend(got);
        }
        // A host with both forms is validation's to report.
        let interfaces = h.interfaces.values_mut().filter(|_| h.address.is_none());
        for iface in interfaces {
            if on_network(iface)
                && let Some(network) = iface.network.clone()
            {
                iface.addresses = give(
                    ex,
                    Want {
                        node: &k.value,
                        key: k,
                        router: false,
                        network: &network,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_come_from_names() {
        let lan = net("10.1.1.0/24");
        assert_eq!(
            address(lan, "web17", false).unwrap().to_string(),
            "10.1.1.17/24"
        );
        assert_eq!(
            address(lan, "r1", true).unwrap().to_string(),
            "10.1.1.254/24"
        );
        assert_eq!(
            address(lan, "r2", true).unwrap().to_string(),
            "10.1.1.253/24"
        );
        assert!(address(lan, "web255", false).is_err());
        assert!(address(lan, "web0", false).is_err());
        // A name without a number: a hash, the same every time, inside the subnet.
        let a = address(lan, "db", false).unwrap();
        assert_eq!(a, address(lan, "db", false).unwrap());
        assert!(
            lan.contains(&a.addr()) && a.addr() != lan.network() && a.addr() != lan.broadcast()
        );
        let v6 = net("2001:db8::/64");
        assert_eq!(
            address(v6, "h3", false).unwrap().to_string(),
            "2001:db8::3/64"
        );
        let p2p = net("10.0.0.0/31");
        assert_eq!(
            nth(p2p, u128::from(first_offset(p2p))).unwrap().to_string(),
            "10.0.0.0/31"
        );
        let p30 = net("10.0.0.0/30");
        assert_eq!(
            nth(p30, 1 + u128::from(first_offset(p30)))
                .unwrap()
                .to_string(),
            "10.0.0.2/30"
        );
    }
}
