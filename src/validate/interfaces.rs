//! Interfaces: the members of networks (router interfaces and each host's one), their
//! kinds with the blocks that go with them, and the interfaces of the resolved lab.

#![warn(clippy::wildcard_enum_match_arm)]

use std::collections::{BTreeMap, HashMap};

use miette::SourceSpan;

use super::members::{Member, Members};
use super::names::check_ifname;
use super::networks::NetInfo;
use super::values::{check_mtu, parse_address};
use super::{Code, Cx};
use crate::lab::{IfaceKind, LabInterface};
use crate::naming;
use crate::state::{DEFAULT_MTU, LOOPBACK_MTU, MacAddr};
use crate::topology::{Interface, Kind, Spanned, Topology};

pub(super) fn collect_members<'t>(cx: &mut Cx, topo: &'t Topology) -> Members<'t> {
    let mut members = Vec::new();
    let mut routers = Vec::new();
    for (node, router) in &topo.routers {
        let start = members.len();
        for (key, iface) in &router.interfaces {
            members.push(router_member(cx, node, key, iface, true));
        }
        routers.push(start..members.len());
    }
    let mut hosts = Vec::new();
    for (node, host) in &topo.hosts {
        let start = members.len();
        if !host.interfaces.is_empty() || host.address.is_none() {
            host_interfaces(cx, topo, node, host, &mut members);
            hosts.push(start..members.len());
            continue;
        }
        let (ifname, name_span) = match &host.interface {
            Some(i) => {
                let span = cx.span(i);
                check_ifname(cx, &i.value, span, true);
                (i.value.clone(), span)
            }
            None => ("eth0".to_string(), cx.span(node)),
        };
        let addrs = host
            .address
            .iter()
            .chain(&host.secondary)
            .filter_map(|a| parse_address(cx, a))
            .collect();
        let mtu = check_mtu(cx, host.mtu.as_ref());
        members.push(Member {
            node,
            router: false,
            ifname,
            name_span,
            kind: Kind::Veth,
            kind_span: None,
            vxlan: None,
            macvlan: None,
            explicit_network: host.network.as_ref(),
            addrs,
            mtu,
            mtu_span: host.mtu.as_ref().map(|m| cx.span(m)),
            up: true,
            down_span: None,
            network: None,
            misplaced: false,
            mac: parse_mac(cx, host.mac.as_ref()),
            impair: host
                .impair
                .as_ref()
                .and_then(|i| super::impair::parse(cx, i)),
        });
        hosts.push(start..members.len());
    }
    Members {
        list: members,
        routers,
        hosts,
    }
}

/// The members of a host written with `interfaces` (veth only), or the problem of a
/// host with neither an address nor interfaces, or with both.
fn host_interfaces<'t>(
    cx: &mut Cx,
    topo: &Topology,
    node: &'t Spanned<String>,
    host: &'t crate::topology::Host,
    members: &mut Vec<Member<'t>>,
) {
    let single = [&host.address, &host.interface, &host.network]
        .into_iter()
        .flatten()
        .next()
        .or(host.secondary.first());
    if host.interfaces.is_empty() {
        // On a network that is not declared, it got no address: that is the cause,
        // reported once per network, and this problem follows from it.
        let unknown = host
            .network
            .as_ref()
            .filter(|net| !topo.networks.keys().any(|k| k.value == net.value));
        let cause = unknown.map(|net| {
            let cause = format!("unknown network `{}`", net.value);
            if cx.first_cause(&cause) {
                let span = cx.span(net);
                let help = declared_networks(topo);
                cx.report(Code::UnknownNetwork, cause.clone())
                    .with_label(span, "not declared under `networks`")
                    .with_help(help);
            }
            cause
        });
        let span = cx.span(node);
        let p = cx
            .report(
                Code::HostInterfaces,
                format!("host `{}` has no address", node.value),
            )
            .with_label(span, "neither `address` nor `interfaces`")
            .with_help("give it an `address`, or a `network` with a subnet to take one from");
        if let Some(cause) = cause {
            p.with_because(cause);
        }
        return;
    }
    if let Some(field) = single {
        let span = cx.span(field);
        cx.report(
            Code::HostInterfaces,
            format!(
                "host `{}` has `interfaces` and a single interface's fields",
                node.value
            ),
        )
        .with_label(span, "a field of a host with one interface")
        .with_help("with `interfaces`, write each interface's network and addresses in it");
    }
    if let Some(impair) = &host.impair {
        let span = cx.span(impair);
        cx.report(
            Code::HostInterfaces,
            format!(
                "host `{}` has `interfaces` and an `impair` of its own",
                node.value
            ),
        )
        .with_label(span, "a field of a host with one interface")
        .with_help("with `interfaces`, write `impair` in each interface it shapes");
    }
    for (key, iface) in &host.interfaces {
        if let Some(kind) = iface.kind.as_ref().filter(|k| k.value != Kind::Veth) {
            let span = cx.span(kind);
            cx.report(
                Code::HostInterfaces,
                format!(
                    "host `{}` interface `{}` is a `{}`",
                    node.value,
                    key.value,
                    kind.value.name()
                ),
            )
            .with_label(span, "a host's interfaces are veths")
            .with_help("make the node a router for other kinds, or leave `kind` out");
            continue;
        }
        members.push(router_member(cx, node, key, iface, false));
    }
}

fn router_member<'t>(
    cx: &mut Cx,
    node: &'t Spanned<String>,
    key: &'t Spanned<String>,
    iface: &'t Interface,
    router: bool,
) -> Member<'t> {
    let name_span = cx.span(key);
    check_ifname(cx, &key.value, name_span, true);
    let kind = iface.kind.as_ref().map_or(Kind::Veth, |k| k.value);
    let kind_span = iface.kind.as_ref().map(|k| cx.span(k));
    let what = if router { "router" } else { "host" };
    let describe = || format!("{what} `{}` interface `{}`", node.value, key.value);
    if !kind.on_network()
        && let Some(network) = &iface.network
    {
        let span = cx.span(network);
        let why = if kind.stacked() {
            format!(
                "a `{}` sits on another interface of the router",
                kind.name()
            )
        } else {
            format!("a `{}` is a link of the router alone", kind.name())
        };
        cx.report(
            Code::NetworkOnStandalone,
            format!("a `{}` interface cannot be on a network", kind.name()),
        )
        .with_label(span, "only veth interfaces join networks")
        .with_help(format!(
            "{why}: remove `network`, or remove `kind` to make it a veth"
        ));
    }
    if kind.on_network() && iface.network.is_none() && iface.addresses.is_empty() {
        cx.report(Code::NoNetwork, format!("{} is on no network", describe()))
            .with_label(name_span, "neither `network` nor an address")
            .with_help("name its network with `network:`, or give it an address to infer it from");
    }
    for other in Kind::all().filter(|k| *k != kind) {
        if let (Some(field), Some(at)) = (other.block(), written_block(cx, iface, other)) {
            block_on_other_kind(cx, field, at, kind, kind_span, name_span);
        }
    }
    if let Some((field, (what, example))) = kind.block().zip(block_help(kind))
        && written_block(cx, iface, kind).is_none()
    {
        cx.report(
            Code::KindBlockMissing,
            format!("{} is a {field} without a `{field}` block", describe()),
        )
        .with_label(kind_span.unwrap_or(name_span), format!("needs {what}"))
        .with_help(format!("add e.g. `{example}` to the interface"));
    }
    let addrs = iface
        .addresses
        .iter()
        .filter_map(|a| parse_address(cx, a))
        .collect();
    let mtu = check_mtu(cx, iface.mtu.as_ref());
    Member {
        node,
        router,
        ifname: key.value.clone(),
        name_span,
        kind,
        kind_span,
        vxlan: iface.vxlan.as_ref().filter(|_| kind == Kind::Vxlan),
        macvlan: iface.macvlan.as_ref().filter(|_| kind == Kind::Macvlan),
        explicit_network: if kind.on_network() {
            iface.network.as_ref()
        } else {
            None
        },
        addrs,
        mtu,
        mtu_span: iface.mtu.as_ref().map(|m| cx.span(m)),
        up: iface.up.as_ref().is_none_or(|u| u.value),
        down_span: iface.up.as_ref().filter(|u| !u.value).map(|u| cx.span(u)),
        network: None,
        misplaced: false,
        mac: parse_mac(cx, iface.mac.as_ref()),
        impair: iface
            .impair
            .as_ref()
            .and_then(|i| super::impair::parse(cx, i)),
    }
}

/// Reports the block `field` (written at `at`) of another kind than the interface's.
fn block_on_other_kind(
    cx: &mut Cx,
    field: &str,
    at: SourceSpan,
    kind: Kind,
    kind_span: Option<SourceSpan>,
    name_span: SourceSpan,
) {
    let block_span = cx.key_span(at, field);
    let (at, what) = match kind_span {
        Some(span) => (span, format!("the interface is a `{}`", kind.name())),
        None => (
            name_span,
            "the interface is a veth (the default kind)".to_string(),
        ),
    };
    cx.report(
        Code::KindBlockMismatch,
        format!("a `{field}` block on a `{}` interface", kind.name()),
    )
    .with_label(block_span, format!("only for `kind: {field}`"))
    .with_label(at, what)
    .with_help(format!(
        "set `kind: {field}`, or remove the `{field}` block"
    ));
}

/// Where the block of kind `of` is written on `iface`, if it is.
fn written_block(cx: &Cx, iface: &Interface, of: Kind) -> Option<SourceSpan> {
    match of {
        Kind::Vxlan => iface.vxlan.as_ref().map(|b| cx.span(b)),
        Kind::Macvlan => iface.macvlan.as_ref().map(|b| cx.span(b)),
        Kind::Veth | Kind::Dummy | Kind::Ifb => None,
    }
}

/// For a kind with a block: what the block gives, and an example of one.
fn block_help(kind: Kind) -> Option<(&'static str, &'static str)> {
    match kind {
        Kind::Vxlan => Some((
            "its VNI (`id`) and endpoints",
            "vxlan: {id: 42, remote: 192.0.2.2}",
        )),
        Kind::Macvlan => Some(("its `parent`", "macvlan: {parent: eth0}")),
        Kind::Veth | Kind::Dummy | Kind::Ifb => None,
    }
}

/// The MTU of a node's interface `name` as a link below a stacked one: the one written
/// (for it or its network), else 1500; the loopback's.
pub(super) fn plain_mtu(interfaces: &BTreeMap<String, LabInterface>, name: &str) -> Option<u32> {
    if name == "lo" {
        return Some(LOOPBACK_MTU);
    }
    interfaces.get(name).map(|i| i.mtu.unwrap_or(DEFAULT_MTU))
}

/// The MTU an interface of the lab will have.
pub(super) fn effective_mtu(
    iface: &LabInterface,
    interfaces: &BTreeMap<String, LabInterface>,
) -> u32 {
    iface
        .mtu
        .unwrap_or_else(|| iface.kind.default_mtu(|n| plain_mtu(interfaces, n)))
}

/// The interfaces of one node in the lab. `stacked` holds the kind of each stacked
/// member (by index in `mine`) whose block is valid; the others are left out.
pub(super) fn lab_interfaces(
    cx: &mut Cx,
    mine: &[Member],
    nets: &[NetInfo],
    mut stacked: HashMap<usize, IfaceKind>,
) -> BTreeMap<String, LabInterface> {
    mine.iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let net_mtu = m.network.and_then(|n| nets[n].mtu);
            let kind = match m.kind {
                Kind::Veth => IfaceKind::Veth {
                    network: m.network.map(|n| nets[n].name.clone()).unwrap_or_default(),
                    fabric_name: naming::fabric_port_name(&m.node.value, &m.ifname),
                },
                Kind::Dummy => IfaceKind::Dummy,
                Kind::Ifb => IfaceKind::Ifb,
                Kind::Vxlan | Kind::Macvlan => stacked.remove(&i)?,
            };
            let mtu = m.mtu.or(net_mtu);
            let impair = m
                .impair
                .as_ref()
                .and_then(|imp| imp.qdisc(cx, mtu.unwrap_or(DEFAULT_MTU)));
            Some((
                m.ifname.clone(),
                LabInterface {
                    kind,
                    addresses: m.addrs.iter().map(|(a, _)| *a).collect(),
                    mtu,
                    up: m.up,
                    mac: m.mac,
                    impair,
                },
            ))
        })
        .collect()
}

/// An interface's Ethernet address, as the kernel takes one for a link: six bytes,
/// neither multicast nor all zeros (`eth_validate_addr`).
fn parse_mac(cx: &mut Cx, mac: Option<&Spanned<String>>) -> Option<MacAddr> {
    let mac = mac?;
    let span = cx.span(mac);
    let Ok(addr) = mac.value.parse::<MacAddr>() else {
        cx.report(
            Code::BadMac,
            format!("`{}` is not an Ethernet address", mac.value),
        )
        .with_label(span, "not six hex pairs between colons")
        .with_help("write it like `52:54:00:12:34:01`");
        return None;
    };
    let why = if addr.0 == [0; 6] {
        "all zeros"
    } else if addr.0[0] & 1 == 1 {
        "a multicast address (the first byte is odd)"
    } else {
        return Some(addr);
    };
    cx.report(
        Code::BadMac,
        format!("the Ethernet address {addr} cannot be an interface's"),
    )
    .with_label(span, why)
    .with_help(
        "the kernel gives a link only a unicast address (\"Cannot assign requested \
         address\"); locally administered ones start `02:`, `52:54:00:` is QEMU's",
    );
    None
}

/// The help of an unknown network: the declared ones.
pub(super) fn declared_networks(topo: &Topology) -> String {
    if topo.networks.is_empty() {
        return "no networks are declared under `networks`".to_string();
    }
    let names: Vec<String> = topo
        .networks
        .keys()
        .take(20)
        .map(|k| format!("`{}`", k.value))
        .collect();
    format!("declared networks: {}", names.join(", "))
}
