//! Links by shorthand: `{ends: [r1:eth1, r2:eth1], subnet: 10.0.0.0/30}` becomes a
//! network with that subnet (or one carved from a pool, `pool: p2p`) and an interface
//! on it at each end (made when the node does not have it), the first end on the
//! subnet's first address, the second on the next, unless the interface writes its own.

use ipnet::IpNet;

use super::super::{Interface, Link, Network, Spanned, Topology};
use super::pools::Carver;
use super::{Ex, ipam};
use crate::problem::Code;

/// Makes each link's network, and an interface on it at each of its ends.
pub(super) fn expand_links(ex: &mut Ex, topo: &mut Topology, carver: &mut Carver) {
    for link in std::mem::take(&mut topo.links) {
        expand_link(ex, topo, carver, link.referenced, &link.value);
    }
}

/// One end of a link: where it is written, its node and its interface.
type End<'l> = (&'l Spanned<String>, &'l str, &'l str);

/// One link (written at `at`): its two ends, its network and subnet, then an interface
/// on it at each end. A link with a problem (reported) makes nothing more.
fn expand_link(
    ex: &mut Ex,
    topo: &mut Topology,
    carver: &mut Carver,
    at: serde_saphyr::Location,
    link: &Link,
) {
    let Some((a, b)) = ends(ex, link, at) else {
        return;
    };
    let Some(name) = network_name(ex, topo, link, a.0) else {
        return;
    };
    let Some((written, subnet)) = link_subnet(ex, carver, link, &name) else {
        return;
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
    for (slot, end) in [a, b].into_iter().enumerate() {
        let address =
            subnet.map(|net| ipam::nth(net, slot as u128 + u128::from(ipam::first_offset(net))));
        attach_end(ex, topo, &name, end, address);
    }
}

/// The link's two ends, `node:interface` each.
fn ends<'l>(ex: &mut Ex, link: &'l Link, at: serde_saphyr::Location) -> Option<(End<'l>, End<'l>)> {
    let ends: Vec<End> = link
        .ends
        .iter()
        .filter_map(|e| e.value.rsplit_once(':').map(|(n, i)| (e, n, i)))
        .collect();
    let [a, b] = ends[..] else {
        let span = ex.span(&Spanned::new((), at, at));
        ex.report(
            Code::BadLink,
            "a link needs two ends, `node:interface` each",
        )
        .with_label(span, "this link")
        .with_help("write `ends: [r1:eth1, r2:eth1]`");
        return None;
    };
    Some((a, b))
}

/// The network the link makes: its `network`, or one named for its ends' nodes, not
/// declared already.
fn network_name(
    ex: &mut Ex,
    topo: &Topology,
    link: &Link,
    end_a: &Spanned<String>,
) -> Option<Spanned<String>> {
    let name = link
        .network
        .clone()
        .unwrap_or_else(|| Spanned::new(link.default_network(), end_a.referenced, end_a.defined));
    if let Some((first, _)) = topo.networks.iter().find(|(k, _)| k.value == name.value) {
        let (span, first) = (ex.span(&name), ex.span(first));
        ex.report(
            Code::BadLink,
            format!("the link's network `{}` is declared already", name.value),
        )
        .with_label(first, "declared here")
        .with_label(span, "and made by this link")
        .with_help("give the link its own `network:` name");
        return None;
    }
    Some(name)
}

/// The link's subnet as written (its `subnet`, or one carved from its `pool`), and
/// parsed; `None` when it is wrong (reported).
fn link_subnet(
    ex: &mut Ex,
    carver: &mut Carver,
    link: &Link,
    name: &Spanned<String>,
) -> Option<(Option<Spanned<String>>, Option<IpNet>)> {
    let written = match (&link.subnet, &link.pool) {
        (Some(_), Some(pool)) => {
            let span = ex.span(pool);
            ex.report(
                Code::BadLink,
                format!("the link `{}` has both a `subnet` and a `pool`", name.value),
            )
            .with_label(span, "a pool besides the subnet")
            .with_help("a link has one subnet: write it, or take it from a pool");
            return None;
        }
        (None, Some(pool)) => {
            let carved = carver.carve(ex, &name.value, "link", std::slice::from_ref(pool), false);
            let [carved] = &carved[..] else {
                return None;
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
                return None;
            }
        },
    };
    Some((written, subnet))
}

/// Puts the end's interface (made if its node lacks it) on the link's network `name`,
/// with `address` unless it writes its own.
fn attach_end(
    ex: &mut Ex,
    topo: &mut Topology,
    name: &Spanned<String>,
    (end, node, ifname): End,
    address: Option<Option<IpNet>>,
) {
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
        return;
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
            return;
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
