//! Links by shorthand: `{ends: [r1:eth1, r2:eth1], subnet: 10.0.0.0/30}` becomes a
//! network with that subnet (or one carved from a pool, `pool: p2p`) and an interface
//! on it at each end (made when the node does not have it), the first end on the
//! subnet's first address, the second on the next, unless the interface writes its own.

use ipnet::IpNet;

use super::super::{Interface, Network, Spanned, Topology};
use super::pools::Carver;
use super::{Ex, ipam};
use crate::problem::Code;

pub(super) fn expand_links(ex: &mut Ex, topo: &mut Topology, carver: &mut Carver) {
    for link in std::mem::take(&mut topo.links) {
        let at = link.referenced;
        let link = link.value;
        let ends: Vec<(&Spanned<String>, &str, &str)> = link
            .ends
            .iter()
            .filter_map(|e| e.value.rsplit_once(':').map(|(n, i)| (e, n, i)))
            .collect();
        let [(end_a, node_a, if_a), (end_b, node_b, if_b)] = ends[..] else {
            let span = ex.span(&Spanned::new((), at, at));
            ex.report(
                Code::BadLink,
                "a link needs two ends, `node:interface` each",
            )
            .with_label(span, "this link")
            .with_help("write `ends: [r1:eth1, r2:eth1]`");
            continue;
        };
        let name = link.network.clone().unwrap_or_else(|| {
            Spanned::new(link.default_network(), end_a.referenced, end_a.defined)
        });
        if let Some((first, _)) = topo.networks.iter().find(|(k, _)| k.value == name.value) {
            let (span, first) = (ex.span(&name), ex.span(first));
            ex.report(
                Code::BadLink,
                format!("the link's network `{}` is declared already", name.value),
            )
            .with_label(first, "declared here")
            .with_label(span, "and made by this link")
            .with_help("give the link its own `network:` name");
            continue;
        }
        let written = match (&link.subnet, &link.pool) {
            (Some(_), Some(pool)) => {
                let span = ex.span(pool);
                ex.report(
                    Code::BadLink,
                    format!("the link `{}` has both a `subnet` and a `pool`", name.value),
                )
                .with_label(span, "a pool besides the subnet")
                .with_help("a link has one subnet: write it, or take it from a pool");
                continue;
            }
            (None, Some(pool)) => {
                let carved =
                    carver.carve(ex, &name.value, "link", std::slice::from_ref(pool), false);
                let [carved] = &carved[..] else {
                    continue;
                };
                Some(carved.clone())
            }
            (subnet, None) => subnet.clone(),
        };
        let subnet = match &written {
            None => None,
            Some(s) => match s.value.parse::<IpNet>() {
                Ok(net) if net == net.trunc() => Some(net),
                _ => {
                    let span = ex.span(s);
                    ex.report(Code::BadLink, format!("`{}` is not a subnet", s.value))
                        .with_label(span, "not a prefix without host bits")
                        .with_help("write a subnet like `10.0.0.0/30`");
                    continue;
                }
            },
        };
        let subnets = written.into_iter().collect();
        topo.networks.insert(
            name.clone(),
            Network {
                subnets,
                mtu: link.mtu.clone(),
                allow_overlap: false,
                pool: None,
                vni: None,
                vxlan_port: None,
            },
        );
        for (slot, (end, node, ifname)) in [(end_a, node_a, if_a), (end_b, node_b, if_b)]
            .into_iter()
            .enumerate()
        {
            let address = subnet
                .map(|net| ipam::nth(net, slot as u128 + u128::from(ipam::first_offset(net))));
            let Some(iface) = interface(topo, node, ifname, end) else {
                let span = ex.span(end);
                ex.report(
                    Code::BadLink,
                    format!(
                        "no router or host `{node}` for the link's end `{}`",
                        end.value
                    ),
                )
                .with_label(span, "no such node")
                .with_help("an end is `node:interface`, the node a router or host of the lab");
                continue;
            };
            match &iface.network {
                Some(n) if n.value != name.value => {
                    let span = ex.span(n);
                    ex.report(
                        Code::BadLink,
                        format!("`{}` is on `{}`, not on the link", end.value, n.value),
                    )
                    .with_label(span, "its network")
                    .with_help("leave the interface's `network` out: the link sets it");
                    continue;
                }
                _ => {
                    iface.network = Some(Spanned::new(
                        name.value.clone(),
                        end.referenced,
                        end.defined,
                    ))
                }
            }
            if iface.addresses.is_empty()
                && let Some(Some(address)) = address
            {
                iface.addresses.push(Spanned::new(
                    address.to_string(),
                    end.referenced,
                    end.defined,
                ));
            }
        }
    }
}

/// The interface an end names, made when the node does not have it. A host written
/// with one interface (`address`, `network`) has it when its name matches.
fn interface<'t>(
    topo: &'t mut Topology,
    node: &str,
    ifname: &str,
    end: &Spanned<String>,
) -> Option<&'t mut Interface> {
    let key = Spanned::new(ifname.to_string(), end.referenced, end.defined);
    if let Some((_, router)) = topo.routers.iter_mut().find(|(k, _)| k.value == node) {
        return Some(entry(&mut router.interfaces, key));
    }
    let (_, host) = topo.hosts.iter_mut().find(|(k, _)| k.value == node)?;
    Some(entry(&mut host.interfaces, key))
}

fn entry(map: &mut super::NamedMap<Interface>, key: Spanned<String>) -> &mut Interface {
    let i = match map.iter().position(|(k, _)| k.value == key.value) {
        Some(i) => i,
        None => {
            map.insert(key, Interface::default());
            map.len() - 1
        }
    };
    &mut map[i]
}
