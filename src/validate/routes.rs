//! A router's static routes (their parts are read in `route_parts`), with what the
//! kernel checks when it adds one: each next hop's `dev` exists, is up and (for IPv6)
//! has IPv6; its gateway is reached without another gateway (see `reach`; `onlink`
//! takes it on trust), through its `dev` when it names one; an IPv6 gateway is not one
//! of the router's own addresses, and a link-local one names its `dev`. Routes of one
//! table, destination and metric: IPv4 ones are appended in file order, unless they
//! are the same route twice; IPv6 ones would make a multipath route (`nexthops` says
//! that).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use miette::SourceSpan;

use super::addresses::IPV6_MIN_MTU;
use super::interfaces::effective_mtu;
use super::members::Node;
use super::reach::{Reach, Resolved};
use super::route_parts::{Hop, Parsed, check_attributes, lab_route, parse_route};
use super::tables::Tables;
use super::values::family_name;
use super::{Code, Cx};
use crate::lab::{LabInterface, LabRoute};
use crate::state::{Route, RouteType};
use crate::topology::RouteSpec;

/// Which links of a node can carry IPv6: up or down, and why not when they cannot.
pub(super) struct Ipv6Links<'a> {
    pub(super) interfaces: &'a BTreeMap<String, LabInterface>,
    /// Interfaces whose IPv6 a sysctl turns off (with that sysctl's place).
    pub(super) disabled: &'a HashMap<String, SourceSpan>,
}

impl Ipv6Links<'_> {
    /// Why `dev` has no IPv6, if it has none.
    fn missing(&self, dev: &str) -> Option<String> {
        if self.disabled.contains_key(dev) {
            return Some(format!("a sysctl turns IPv6 off on `{dev}`"));
        }
        let iface = self.interfaces.get(dev)?;
        let mtu = effective_mtu(iface, self.interfaces);
        (mtu < IPV6_MIN_MTU).then(|| format!("`{dev}` has MTU {mtu}, below IPv6's 1280"))
    }
}

/// The router's routes the kernel would add, with the place of each (its destination).
pub(super) fn check_routes(
    cx: &mut Cx,
    node: &Node,
    specs: &[RouteSpec],
    tables: &Tables,
    links: &Ipv6Links,
) -> (Vec<LabRoute>, Vec<SourceSpan>) {
    let start = cx.reported();
    let parsed: Vec<Option<Parsed>> = specs
        .iter()
        .map(|spec| parse_route(cx, node, spec, tables))
        .collect();
    let reach = reach(node, &parsed);
    let mut held = Held::default();
    let mut routes = Vec::new();
    let mut spans = Vec::new();
    for p in parsed.into_iter().flatten() {
        let Some(outs) = out_devices(cx, node, &reach, links, &p) else {
            continue;
        };
        let route = lab_route(&p, |hop| hop.dev.map(|(d, _)| d.to_string()));
        let resolved = lab_route(&p, |hop| {
            let i = p.hops.iter().position(|h| std::ptr::eq(h, hop));
            i.map(|i| outs[i].to_string())
        });
        if !held.keep(cx, node, &p, resolved) {
            continue;
        }
        routes.push(LabRoute {
            table: p.table,
            dst: p.dst,
            metric: p.metric,
            route,
        });
        spans.push(p.to_span);
    }
    // Two passes found them; report them route by route.
    cx.in_file_order_since(start);
    (routes, spans)
}

/// What the node reaches without a gateway: its loopback, its interfaces' subnets and
/// its unicast routes through a device (a route through a gateway reaches nothing more).
fn reach<'s>(node: &Node<'s, '_>, parsed: &[Option<Parsed<'s>>]) -> Reach<'s> {
    let mut reach = Reach::default();
    reach.loopback();
    for m in node.members {
        let addrs: Vec<IpNet> = m.addrs.iter().map(|(a, _)| *a).collect();
        reach.interface(&m.ifname, m.up, &addrs);
    }
    for p in parsed.iter().flatten() {
        if p.kind != RouteType::Unicast {
            continue;
        }
        match (p.multipath, p.hops.first()) {
            (
                false,
                Some(Hop {
                    gateway: None,
                    dev: Some((dev, _)),
                    ..
                }),
            ) => reach.route(p.table, p.dst, dev, is_up(node, dev)),
            (
                false,
                Some(Hop {
                    gateway: Some(_), ..
                }),
            )
            | (true, _) => reach.gateway_route(p.table, p.dst),
            _ => {}
        }
    }
    reach
}

/// The device each next hop of the route goes out of, or `None` (reported) when the
/// kernel would refuse the route: for its attributes or for one of its next hops.
fn out_devices<'s>(
    cx: &mut Cx,
    node: &Node<'s, '_>,
    reach: &Reach<'s>,
    links: &Ipv6Links,
    p: &Parsed<'s>,
) -> Option<Vec<&'s str>> {
    if !check_attributes(cx, node, p) {
        return None;
    }
    p.hops
        .iter()
        .map(|hop| check_nexthop(cx, node, reach, links, p, hop))
        .collect()
}

/// The routes kept so far, as the kernel would hold them.
#[derive(Default)]
struct Held {
    /// Per (table, destination, metric): the first route.
    seen: HashMap<(u32, IpNet, u32), SourceSpan>,
    /// The IPv4 routes appended there, as the kernel would hold them (devices resolved).
    held: HashMap<(u32, IpNet, u32, Route), SourceSpan>,
}

impl Held {
    /// Keeps the route (`resolved`: its devices resolved), unless the kernel would merge
    /// it with another IPv6 route into a multipath one, or refuse it as one it already
    /// has (reported).
    fn keep(&mut self, cx: &mut Cx, node: &Node, p: &Parsed, resolved: Route) -> bool {
        let group = (p.table, p.dst, p.metric);
        if let Some(&first) = self.seen.get(&group)
            && p.dst.addr().is_ipv6()
        {
            cx.report(
                Code::Ipv6Multipath,
                format!(
                    "`{}` has two IPv6 routes to {} in table {} with metric {}",
                    node.name(),
                    p.dst,
                    p.table,
                    p.metric
                ),
            )
            .with_label(first, "first route")
            .with_label(p.to_span, "same destination, table and metric")
            .with_help(
                "the kernel would merge them into one multipath route: write one route \
                 with `nexthops`, or give one of them another `metric` or `table`",
            );
            return false;
        }
        let key = (p.table, p.dst, p.metric, resolved);
        if let Some(&first) = self.held.get(&key) {
            cx.report(
                Code::DuplicateRoute,
                format!(
                    "`{}` has the same route to {} in table {} with metric {} twice",
                    node.name(),
                    p.dst,
                    p.table,
                    p.metric
                ),
            )
            .with_label(first, "first route")
            .with_label(p.to_span, "same destination, nexthop, table and metric")
            .with_help(
                "the kernel refuses a route it already has; remove one, or give it another \
                 `metric` or `table`",
            );
            return false;
        }
        self.seen.entry(group).or_insert(p.to_span);
        self.held.insert(key, p.to_span);
        true
    }
}

fn is_up(node: &Node, dev: &str) -> bool {
    node.iface(dev).is_none_or(|m| m.up)
}

/// The route's nexthop as the kernel checks it when adding the route: the device it
/// goes out of, or `None` (reported) when the kernel would refuse the route.
fn check_nexthop<'s>(
    cx: &mut Cx,
    node: &Node<'s, '_>,
    reach: &Reach<'s>,
    links: &Ipv6Links,
    p: &Parsed<'s>,
    hop: &Hop<'s>,
) -> Option<&'s str> {
    if let Some((dev, dev_span)) = hop.dev
        && !check_out_dev(cx, node, links, p, dev, dev_span)
    {
        return None;
    }
    let Some((gw, via_span)) = hop.gateway else {
        return hop.dev.map(|(d, _)| d);
    };
    if let IpAddr::V6(g6) = gw
        && let Some(decided) = ipv6_gateway(cx, node, reach, p, hop, (g6, via_span))
    {
        return decided;
    }
    let dev = hop.dev.map(|(d, _)| d);
    if p.onlink
        && let Some(dev) = dev
    {
        // The kernel takes the gateway to be on the device's link.
        return Some(dev);
    }
    resolve_gateway(cx, node, reach, p, hop, (gw, via_span))
}

/// A next hop's `dev` is up and, for an IPv6 route, has IPv6.
fn check_out_dev(
    cx: &mut Cx,
    node: &Node,
    links: &Ipv6Links,
    p: &Parsed,
    dev: &str,
    dev_span: SourceSpan,
) -> bool {
    if let Some(down) = node.iface(dev).and_then(|m| m.down_span) {
        cx.report(
            Code::RouteDevDown,
            format!(
                "the route to {} goes out of `{dev}`, which is declared down",
                p.dst
            ),
        )
        .with_label(dev_span, "out of this interface")
        .with_label(down, "declared down")
        .with_help(format!(
            "the kernel adds no route through a link that is down (\"Nexthop device is not \
             up\"): bring `{dev}` up, or route through another interface"
        ));
        return false;
    }
    if p.dst.addr().is_ipv6()
        && let Some(why) = links.missing(dev)
    {
        cx.report(
            Code::NoIpv6OnDev,
            format!("the IPv6 route to {} goes out of `{dev}`, which has no IPv6", p.dst),
        )
        .with_label(dev_span, why)
        .with_help("the kernel has no IPv6 on this link, so no IPv6 route out of it: route through another interface, or give this one IPv6");
        return false;
    }
    true
}

/// What the kernel decides of an IPv6 gateway before looking it up: a link-local one
/// goes out of its `dev` (which it needs), one of the router's own addresses or one out
/// of `lo` is refused. `None` when it is left to the lookup.
fn ipv6_gateway<'s>(
    cx: &mut Cx,
    node: &Node,
    reach: &Reach,
    p: &Parsed,
    hop: &Hop<'s>,
    (gw, via_span): (Ipv6Addr, SourceSpan),
) -> Option<Option<&'s str>> {
    if (gw.segments()[0] & 0xffc0) == 0xfe80 {
        return Some(match hop.dev {
            Some(("lo", dev_span)) => loopback_egress(cx, p, dev_span),
            Some((dev, _)) => Some(dev),
            None => {
                cx.report(
                    Code::LinkLocalGatewayNeedsDev,
                    format!("the route to {} has the link-local gateway {gw} but no `dev`", p.dst),
                )
                .with_label(via_span, "link-local: on which link?")
                .with_help("a link-local address is the same on every link: add `dev:` naming the interface it is on");
                None
            }
        });
    }
    if reach.is_own(IpAddr::V6(gw)) {
        cx.report(
            Code::GatewayIsLocal,
            format!("the gateway {gw} of the route to {} is an address of `{}`", p.dst, node.name()),
        )
        .with_label(via_span, "one of this router's own addresses")
        .with_help("an IPv6 gateway is another node's address (the kernel: \"Gateway can not be a local address\")");
        return Some(None);
    }
    if let Some(("lo", dev_span)) = hop.dev {
        return Some(loopback_egress(cx, p, dev_span));
    }
    None
}

/// The device the kernel reaches the gateway through, within the route's `dev` if it
/// names one; `None` (reported) when it reaches it through a link that is down, not
/// through `dev`, or not at all.
fn resolve_gateway<'s>(
    cx: &mut Cx,
    node: &Node,
    reach: &Reach<'s>,
    p: &Parsed,
    hop: &Hop,
    (gw, via_span): (IpAddr, SourceSpan),
) -> Option<&'s str> {
    let dev = hop.dev.map(|(d, _)| d);
    match reach.resolve(gw, p.table, dev) {
        Resolved::Dev(out) => Some(out),
        Resolved::Down(down) => {
            let m = node.iface(down);
            let p2 = cx
                .report(
                    Code::RouteDevDown,
                    format!("the gateway {gw} of the route to {} is on `{down}`, which is declared down", p.dst),
                )
                .with_label(via_span, format!("reached through `{down}`"));
            if let Some(span) = m.and_then(|m| m.down_span) {
                p2.with_label(span, "declared down");
            }
            p2.with_help(format!(
                "the kernel reaches no gateway through a link that is down: bring `{down}` up, \
                 or use a gateway on another interface"
            ));
            None
        }
        Resolved::OtherDev(other, subnet) => {
            let (out, dev_span) = hop.dev.expect("only with a dev");
            cx.report(
                Code::GatewayNotOnDev,
                format!(
                    "the gateway {gw} of the route to {} is not on `{out}`",
                    p.dst
                ),
            )
            .with_label(via_span, format!("on {subnet} of `{other}`"))
            .with_label(dev_span, format!("not reached through `{out}`"))
            .with_help(format!(
                "the kernel looks the gateway up among what the route's `dev` reaches, and \
                 refuses the route otherwise: use `dev: {other}`, or leave `dev` out"
            ));
            None
        }
        Resolved::Unreachable => {
            unreachable(cx, node, reach, p, gw, via_span);
            None
        }
    }
}

fn loopback_egress(cx: &mut Cx, p: &Parsed, dev_span: SourceSpan) -> Option<&'static str> {
    cx.report(
        Code::LoopbackEgress,
        format!("the IPv6 route to {} has a gateway out of `lo`", p.dst),
    )
    .with_label(dev_span, "the loopback")
    .with_help("the kernel refuses an IPv6 route with a gateway out of the loopback (\"Egress device can not be loopback device\"): name the interface the gateway is on");
    None
}

fn unreachable(
    cx: &mut Cx,
    node: &Node,
    reach: &Reach,
    p: &Parsed,
    gw: IpAddr,
    via_span: SourceSpan,
) {
    let list = node
        .members
        .iter()
        .filter(|m| m.up)
        .flat_map(|m| m.addrs.iter().map(|(a, _)| a.trunc()))
        .filter(|s| s.addr().is_ipv4() == gw.is_ipv4())
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let mut help = if list.is_empty() {
        format!("`{}` has no {} address", node.name(), family_name(gw))
    } else {
        format!("`{}` is connected to {}", node.name(), list.join(", "))
    };
    if let Some((other, table)) = reach.in_other_table(gw, p.table) {
        help.push_str(&format!(
            "; the route to {other} of table {table} holds {gw}, but a route of table {} \
             looks its gateway up in its own table and in main only",
            p.table
        ));
    } else if let Some(through) = reach.only_through_gateway(gw, p.table) {
        help.push_str(&format!(
            "; the route to {through} holds {gw}, but it has a gateway itself, and the \
             kernel reaches a gateway only through a connected subnet or a route with `dev` \
             and no `via` (of the same table, or main)"
        ));
    }
    cx.report(
        Code::GatewayUnreachable,
        format!(
            "gateway {gw} unreachable from {}'s connected subnets",
            node.name()
        ),
    )
    .with_label(via_span, "not on a connected subnet")
    .with_help(help);
}

/// The metric of the route the kernel adds for an IPv6 address's prefix.
pub const IP6_RT_PRIO_ADDRCONF: u32 = 256;
