//! A host's default routes: its gateway per address family, written or inferred; none
//! for `gateway: none` or a host on networks no router is on (an L2-only segment).

use std::net::IpAddr;

use ipnet::IpNet;
use miette::SourceSpan;

use super::infer::Gateways;
use super::members::{Member, Node};
use super::networks::NetInfo;
use super::route_parts::kernel_metric;
use super::values::parse_ip;
use super::{Code, Cx};
use crate::lab::LabRoute;
use crate::state::{RT_TABLE_MAIN, RTPROT_BOOT, Route};
use crate::topology::Spanned;

/// A host's default routes, with the place of each: its gateway written, or the host.
pub(super) fn host_routes(
    cx: &mut Cx,
    node: &Node,
    gateway: Option<&Spanned<String>>,
    gateways: &Gateways,
    nets: &[NetInfo],
) -> (Vec<LabRoute>, Vec<SourceSpan>) {
    if gateway.is_some_and(|g| g.value == "none") {
        return (Vec::new(), Vec::new());
    }
    let Some(first) = node.members.first() else {
        return (Vec::new(), Vec::new());
    };
    let me = gateway_member(node, gateway, gateways).unwrap_or(first);
    let mut v4: Option<IpAddr> = None;
    let mut v6: Option<IpAddr> = None;
    let mut failed = false;
    let gateway_span = gateway.map(|g| cx.span(g));
    if let Some(gw) = gateway {
        match written_gateway(cx, node, me, gw) {
            Some(ip) if ip.is_ipv4() => v4 = Some(ip),
            Some(ip) => v6 = Some(ip),
            None => failed = true,
        }
    }
    if v4.is_none() && !failed {
        v4 = gateways.infer(me, false);
    }
    if v6.is_none() && !failed {
        v6 = gateways.infer(me, true);
    }
    if v4.is_none() && !failed {
        report_uninferable(cx, node, me, gateways, nets);
    }
    let mut routes = Vec::new();
    let mut spans = Vec::new();
    for (gw, dst) in [
        (v4, IpNet::from(ipnet::Ipv4Net::default())),
        (v6, IpNet::from(ipnet::Ipv6Net::default())),
    ] {
        let Some(gw) = gw else { continue };
        // A link-local gateway is on the host's one interface.
        let dev = is_link_local(gw).then(|| me.ifname.clone());
        routes.push(default_route(dst, gw, dev));
        let written = gateway_span.filter(|_| gateway.is_some_and(|g| g.value.parse() == Ok(gw)));
        spans.push(written.unwrap_or(cx.span(node.key)));
    }
    (routes, spans)
}

/// The interface the gateway is on: the one whose subnet holds the written gateway,
/// else the first that has a router to infer one from.
fn gateway_member<'m, 't>(
    node: &Node<'m, 't>,
    gateway: Option<&Spanned<String>>,
    gateways: &Gateways,
) -> Option<&'m Member<'t>> {
    let written: Option<IpAddr> = gateway.and_then(|g| g.value.parse().ok());
    node.members
        .iter()
        .find(|m| written.is_some_and(|ip| on_subnet(m, ip)))
        .or_else(|| {
            node.members
                .iter()
                .find(|m| gateways.infer(m, false).is_some() || gateways.infer(m, true).is_some())
        })
}

/// The gateway written for the host, when it is on the host's subnet (or link-local)
/// and not its own IPv6 address; `None` otherwise (reported).
fn written_gateway(cx: &mut Cx, node: &Node, me: &Member, gw: &Spanned<String>) -> Option<IpAddr> {
    match parse_ip(cx, gw) {
        Some(ip) if is_link_local(ip) || on_subnet(me, ip) => {
            if is_own(me, ip) && ip.is_ipv6() {
                let span = cx.span(gw);
                cx.report(
                    Code::GatewayIsLocal,
                    format!("the gateway {ip} of host `{}` is its own address", node.name()),
                )
                .with_label(span, "the host's own address")
                .with_help("the gateway is a router's address on the host's subnet (the kernel: \"Gateway can not be a local address\")");
                None
            } else {
                Some(ip)
            }
        }
        Some(ip) => {
            let span = cx.span(gw);
            let list = me
                .addrs
                .iter()
                .map(|(a, _)| a.trunc().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            cx.report(
                Code::GatewayNotConnected,
                format!(
                    "gateway {ip} not on any connected subnet of `{}`",
                    node.name()
                ),
            )
            .with_label(span, "not on a connected subnet")
            .with_help(format!("`{}` is connected to {list}", node.name()));
            None
        }
        None => None,
    }
}

/// A host with an IPv4 address on a routed network that no router there gives an
/// IPv4 gateway: no default route can be inferred.
fn report_uninferable(
    cx: &mut Cx,
    node: &Node,
    me: &Member,
    gateways: &Gateways,
    nets: &[NetInfo],
) {
    let has_v4 = me.addrs.iter().any(|(a, _)| a.addr().is_ipv4());
    if has_v4
        && !me.misplaced
        && me.network.is_some_and(|n| gateways.routed(n))
        && let Some(network) = me.network.map(|n| &nets[n].name)
    {
        let (addr, span) = me
            .addrs
            .iter()
            .find(|(a, _)| a.addr().is_ipv4())
            .copied()
            .expect("has an IPv4 address");
        cx.report(
            Code::NoGateway,
            format!("no gateway for host `{}` can be inferred", node.name()),
        )
        .with_label(span, format!("no router on `{network}` has an address in {}", addr.trunc()))
        .with_help("set `gateway:` to a router address on the host's subnet, or add a router interface to the network");
    }
}

fn on_subnet(me: &Member, ip: IpAddr) -> bool {
    me.addrs.iter().any(|(a, _)| a.trunc().contains(&ip))
}

fn is_own(me: &Member, ip: IpAddr) -> bool {
    me.addrs.iter().any(|(a, _)| a.addr() == ip)
}

/// An IPv6 unicast link-local address (`fe80::/10`): on-link on every link.
fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

pub(super) fn default_route(dst: IpNet, gateway: IpAddr, dev: Option<String>) -> LabRoute {
    LabRoute {
        table: RT_TABLE_MAIN,
        dst,
        metric: kernel_metric(&dst, 0),
        route: Route {
            gateway: Some(gateway),
            dev,
            proto: RTPROT_BOOT,
            ..Route::default()
        },
    }
}
