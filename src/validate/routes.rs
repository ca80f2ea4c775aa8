//! Routes: a router's static routes and a host's default routes.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use miette::SourceSpan;

use super::infer::Gateways;
use super::interfaces::{Member, Node};
use super::names::check_ifname;
use super::networks::NetInfo;
use super::prefixes::PrefixMap;
use super::tables::{Tables, resolve_table};
use super::values::{family_name, parse_ip, parse_prefix};
use super::{Code, Cx};
use crate::lab::LabRoute;
use crate::state::{RT_TABLE_MAIN, RTPROT_BOOT};
use crate::topology::{RouteSpec, Spanned};

/// Reports an interface reference (route `dev`, rule `iif`/`oif`) that is not one of
/// the node's interfaces or `lo`.
pub(super) fn check_if_ref(cx: &mut Cx, s: &Spanned<String>, node: &Node) -> bool {
    let span = cx.span(s);
    if !check_ifname(cx, &s.value, span, false) {
        return false;
    }
    if node.has(&s.value) {
        return true;
    }
    let name = node.name();
    let list = std::iter::once("lo")
        .chain(node.members.iter().map(|m| m.ifname.as_str()))
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    cx.report(
        Code::UnknownInterface,
        format!("`{name}` has no interface `{}`", s.value),
    )
    .with_label(span, "no such interface")
    .with_help(format!("the interfaces of `{name}`: {list}"));
    false
}

pub(super) fn check_routes(
    cx: &mut Cx,
    node: &Node,
    specs: &[RouteSpec],
    tables: &Tables,
) -> Vec<LabRoute> {
    let mut connected: PrefixMap<()> = PrefixMap::default();
    for m in node.members {
        for (a, _) in &m.addrs {
            connected.insert(*a, ());
        }
    }
    let mut routes = Vec::new();
    let mut seen: HashMap<(u32, IpNet, u32), SourceSpan> = HashMap::new();
    for spec in specs {
        let to_span = cx.span(&spec.to);
        let dst = match spec.to.value.as_str() {
            "default" => Some(IpNet::from(ipnet::Ipv4Net::default())),
            "default6" => Some(IpNet::from(ipnet::Ipv6Net::default())),
            _ => parse_prefix(cx, &spec.to, "route destination"),
        };
        if spec.via.is_none() && spec.dev.is_none() {
            cx.report(
                Code::RouteWithoutNexthop,
                format!(
                    "the route to `{}` has neither `via` nor `dev`",
                    spec.to.value
                ),
            )
            .with_label(to_span, "where should this go?")
            .with_help("add `via: <gateway>` and/or `dev: <interface>`");
        }
        let mut ok = dst.is_some();
        let gateway = spec.via.as_ref().and_then(|via| {
            let ip = parse_ip(cx, via)?;
            let via_span = cx.span(via);
            if let Some(dst) = dst
                && dst.addr().is_ipv4() != ip.is_ipv4()
            {
                cx.report(
                    Code::FamilyMismatch,
                    format!("the route to {dst} has the gateway {ip} of the other address family"),
                )
                .with_label(to_span, family_name(dst.addr()))
                .with_label(via_span, family_name(ip));
                return None;
            }
            if connected.longest(ip).is_none() {
                let list = node
                    .members
                    .iter()
                    .flat_map(|m| m.addrs.iter().map(|(a, _)| a.trunc()))
                    .filter(|s| s.addr().is_ipv4() == ip.is_ipv4())
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>();
                let help = if list.is_empty() {
                    format!("`{}` has no {} address", node.name(), family_name(ip))
                } else {
                    format!("`{}` is connected to {}", node.name(), list.join(", "))
                };
                cx.report(
                    Code::GatewayUnreachable,
                    format!(
                        "gateway {ip} unreachable from {}'s connected subnets",
                        node.name()
                    ),
                )
                .with_label(via_span, "not on a connected subnet")
                .with_help(help);
                return None;
            }
            Some(ip)
        });
        ok &= spec.via.is_none() || gateway.is_some();
        if let Some(dev) = &spec.dev {
            ok &= check_if_ref(cx, dev, node);
        }
        let table = match &spec.table {
            Some(t) => resolve_table(cx, t, tables),
            None => Some(RT_TABLE_MAIN),
        };
        let (Some(dst), Some(table), true) = (dst, table, ok) else {
            continue;
        };
        let metric = kernel_metric(&dst, spec.metric.as_ref().map_or(0, |m| m.value));
        if let Some(first) = seen.get(&(table, dst, metric)) {
            cx.report(
                Code::DuplicateRoute,
                format!(
                    "`{}` has two routes to {dst} in table {table} with metric {metric}",
                    node.name()
                ),
            )
            .with_label(*first, "first route")
            .with_label(to_span, "same destination, table and metric")
            .with_help("give one of them another `metric` or `table`");
            continue;
        }
        seen.insert((table, dst, metric), to_span);
        routes.push(LabRoute {
            table,
            dst,
            metric,
            gateway,
            dev: spec.dev.as_ref().map(|d| d.value.clone()),
            proto: RTPROT_BOOT,
        });
    }
    routes
}

/// The metric the kernel gives a route: IPv6 routes added with metric 0 get 1024
/// (`IP6_RT_PRIO_USER`), so the desired state must say 1024 to match the live one.
pub fn kernel_metric(dst: &IpNet, metric: u32) -> u32 {
    match dst {
        IpNet::V6(_) if metric == 0 => IP6_RT_PRIO_USER,
        _ => metric,
    }
}

/// The kernel's metric for IPv6 routes added without one.
pub const IP6_RT_PRIO_USER: u32 = 1024;

/// A host's default routes: explicit or inferred gateways per address family.
pub(super) fn host_routes(
    cx: &mut Cx,
    node: &Spanned<String>,
    gateway: Option<&Spanned<String>>,
    me: &Member,
    gateways: &Gateways,
    nets: &[NetInfo],
) -> Vec<LabRoute> {
    let mut v4: Option<IpAddr> = None;
    let mut v6: Option<IpAddr> = None;
    let mut failed = false;
    if let Some(gw) = gateway {
        match parse_ip(cx, gw) {
            Some(ip) if me.addrs.iter().any(|(a, _)| a.trunc().contains(&ip)) => {
                if ip.is_ipv4() {
                    v4 = Some(ip);
                } else {
                    v6 = Some(ip);
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
                        node.value
                    ),
                )
                .with_label(span, "not on a connected subnet")
                .with_help(format!("`{}` is connected to {list}", node.value));
                failed = true;
            }
            None => failed = true,
        }
    }
    if v4.is_none() && !failed {
        v4 = gateways.infer(me, false);
    }
    if v6.is_none() && !failed {
        v6 = gateways.infer(me, true);
    }
    let has_v4 = me.addrs.iter().any(|(a, _)| a.addr().is_ipv4());
    if has_v4
        && v4.is_none()
        && !failed
        && !me.misplaced
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
            format!("no gateway for host `{}` can be inferred", node.value),
        )
        .with_label(span, format!("no router on `{network}` has an address in {}", addr.trunc()))
        .with_help("set `gateway:` to a router address on the host's subnet, or add a router interface to the network");
    }
    let mut routes = Vec::new();
    if let Some(gw) = v4 {
        routes.push(default_route(IpNet::from(ipnet::Ipv4Net::default()), gw));
    }
    if let Some(gw) = v6 {
        routes.push(default_route(IpNet::from(ipnet::Ipv6Net::default()), gw));
    }
    routes
}

pub(super) fn default_route(dst: IpNet, gateway: IpAddr) -> LabRoute {
    LabRoute {
        table: RT_TABLE_MAIN,
        dst,
        metric: kernel_metric(&dst, 0),
        gateway: Some(gateway),
        dev: None,
        proto: RTPROT_BOOT,
    }
}
