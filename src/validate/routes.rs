//! A router's static routes, with what the kernel checks when it adds one: its `dev`
//! exists, is up and (for IPv6) has IPv6; its gateway is reached without another
//! gateway (see `reach`), through its `dev` when it names one; an IPv6 gateway is not
//! one of the router's own addresses, and a link-local one names its `dev`. Routes of
//! one table, destination and metric: IPv4 ones are appended in file order, unless
//! they are the same route twice; IPv6 ones would make a multipath route.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use miette::SourceSpan;

use super::addresses::IPV6_MIN_MTU;
use super::interfaces::{Node, effective_mtu};
use super::names::check_ifname;
use super::reach::{Reach, Resolved};
use super::tables::{Tables, resolve_table};
use super::values::{family_name, parse_ip, parse_prefix};
use super::{Code, Cx};
use crate::lab::{LabInterface, LabRoute};
use crate::state::{
    Nexthop, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTPROT_BOOT,
    RTPROT_KERNEL, Route, RouteType, scope_name,
};
use crate::topology::{RouteKind, RouteProto, RouteScope, RouteSpec, ScopeName, Spanned};

/// Reports an interface reference (route `dev`, a stacked link's lower link) that is
/// not one of the node's interfaces or `lo`.
pub(super) fn check_if_ref(cx: &mut Cx, s: &Spanned<String>, node: &Node) -> bool {
    let span = cx.span(s);
    if !check_ifname(cx, &s.value, span, false) {
        return false;
    }
    if node.has(&s.value) {
        return true;
    }
    let name = node.name();
    let list = node.list_names();
    cx.report(
        Code::UnknownInterface,
        format!("`{name}` has no interface `{}`", s.value),
    )
    .with_label(span, "no such interface")
    .with_help(format!("the interfaces of `{name}`: {list}"));
    false
}

/// One next hop: a gateway, a device, or both.
#[derive(Clone, Copy)]
struct Hop<'s> {
    gateway: Option<(IpAddr, SourceSpan)>,
    dev: Option<(&'s str, SourceSpan)>,
    weight: u16,
}

/// A route whose values are each fine on their own.
struct Parsed<'s> {
    table: u32,
    dst: IpNet,
    metric: u32,
    proto: u8,
    kind: RouteType,
    /// None for a type that sends nothing on, one for a plain route, two or more for a
    /// multipath one (`multipath`).
    hops: Vec<Hop<'s>>,
    multipath: bool,
    src: Option<(IpAddr, SourceSpan)>,
    onlink: bool,
    scope: Option<(u8, SourceSpan)>,
    proto_span: Option<SourceSpan>,
    to_span: SourceSpan,
}

impl Parsed<'_> {
    fn has_gateway(&self) -> bool {
        self.hops.iter().any(|h| h.gateway.is_some())
    }
}

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

    let mut routes = Vec::new();
    let mut spans = Vec::new();
    // Per (table, destination, metric): the first route, and the IPv4 routes appended
    // there, as the kernel would hold them (devices resolved).
    let mut seen: HashMap<(u32, IpNet, u32), SourceSpan> = HashMap::new();
    let mut held: HashMap<(u32, IpNet, u32, Route), SourceSpan> = HashMap::new();
    for p in parsed.into_iter().flatten() {
        if !check_attributes(cx, node, &p) {
            continue;
        }
        let mut outs = Vec::new();
        for hop in &p.hops {
            match check_nexthop(cx, node, &reach, links, &p, hop) {
                Some(out) => outs.push(out),
                None => break,
            }
        }
        if outs.len() != p.hops.len() {
            continue;
        }
        let group = (p.table, p.dst, p.metric);
        if let Some(&first) = seen.get(&group)
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
            continue;
        }
        let route = lab_route(&p, |hop| hop.dev.map(|(d, _)| d.to_string()));
        let resolved = lab_route(&p, |hop| {
            let i = p.hops.iter().position(|h| std::ptr::eq(h, hop));
            i.map(|i| outs[i].to_string())
        });
        let key = (p.table, p.dst, p.metric, resolved);
        if let Some(&first) = held.get(&key) {
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
            continue;
        }
        seen.entry(group).or_insert(p.to_span);
        held.insert(key, p.to_span);
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

fn is_up(node: &Node, dev: &str) -> bool {
    node.iface(dev).is_none_or(|m| m.up)
}

/// The route's values, each checked on its own; `None` when one is wrong.
fn parse_route<'s>(
    cx: &mut Cx,
    node: &Node,
    spec: &'s RouteSpec,
    tables: &Tables,
) -> Option<Parsed<'s>> {
    let to_span = cx.span(&spec.to);
    let dst = match spec.to.value.as_str() {
        "default" => Some(IpNet::from(ipnet::Ipv4Net::default())),
        "default6" => Some(IpNet::from(ipnet::Ipv6Net::default())),
        _ => parse_prefix(cx, &spec.to, "route destination"),
    };
    let kind = match spec.kind.as_ref().map(|k| k.value) {
        None | Some(RouteKind::Unicast) => RouteType::Unicast,
        Some(RouteKind::Blackhole) => RouteType::Blackhole,
        Some(RouteKind::Unreachable) => RouteType::Unreachable,
        Some(RouteKind::Prohibit) => RouteType::Prohibit,
        Some(RouteKind::Throw) => RouteType::Throw,
    };
    let mut ok = dst.is_some();
    let mut hops = Vec::new();
    let multipath = !spec.nexthops.is_empty();
    if kind != RouteType::Unicast {
        let given: Vec<SourceSpan> = [&spec.via, &spec.dev]
            .into_iter()
            .flatten()
            .map(|v| cx.span(v))
            .chain(spec.nexthops.iter().map(|h| cx.span(h)))
            .collect();
        if !given.is_empty() {
            let name = kind.name();
            let kind_span = spec.kind.as_ref().map(|k| cx.span(k)).unwrap_or(to_span);
            let p = cx
                .report(
                    Code::RouteTypeWithNexthop,
                    format!("{} {name} route has no next hop", article(&name)),
                )
                .with_label(kind_span, format!("type {name}"));
            for span in given {
                p.with_label(span, "a next hop");
            }
            p.with_help(
                "the kernel refuses a gateway, a device or next hops on a route that sends \
                 nothing on (\"Gateway, device and multipath can not be specified for this \
                 route type\"): remove them, or make the route `unicast`",
            );
            ok = false;
        }
    } else if multipath {
        for (field, name) in [(&spec.via, "via"), (&spec.dev, "dev")] {
            if let Some(v) = field {
                let span = cx.span(v);
                cx.report(
                    Code::BadNexthops,
                    format!(
                        "the route to `{}` has both `{name}` and `nexthops`",
                        spec.to.value
                    ),
                )
                .with_label(span, "for a route of one next hop")
                .with_help(format!(
                    "a multipath route names each next hop's gateway and device under \
                     `nexthops`: move `{name}` into them"
                ));
                ok = false;
            }
        }
        if spec.nexthops.len() < 2 {
            let span = cx.span(&spec.nexthops[0]);
            cx.report(
                Code::BadNexthops,
                format!(
                    "the route to `{}` has a single next hop under `nexthops`",
                    spec.to.value
                ),
            )
            .with_label(span, "the only one")
            .with_help(
                "the kernel keeps a multipath route of one next hop as a plain route: write \
                 `via` and `dev` instead, or add another next hop",
            );
            ok = false;
        }
        for h in &spec.nexthops {
            let span = cx.span(h);
            if h.value.via.is_none()
                && h.value.dev.is_some()
                && dst.is_some_and(|d| d.addr().is_ipv6())
            {
                cx.report(
                    Code::BadNexthops,
                    format!(
                        "a next hop of the IPv6 route to `{}` has no gateway",
                        spec.to.value
                    ),
                )
                .with_label(span, "a device alone")
                .with_help(
                    "the kernel takes only gateways as the next hops of an IPv6 multipath \
                     route (\"Device only routes can not be added for IPv6 using the multipath \
                     API\"): add `via`",
                );
                ok = false;
            }
            let weight = match &h.value.weight {
                Some(w) if !(1..=256).contains(&w.value) => {
                    let wspan = cx.span(w);
                    cx.report(
                        Code::BadWeight,
                        format!("the next hop weight {} is out of range", w.value),
                    )
                    .with_label(wspan, "must be 1 to 256")
                    .with_help("the kernel keeps a next hop's weight, less one, in a byte");
                    ok = false;
                    1
                }
                Some(w) => w.value,
                None => 1,
            };
            match parse_hop(
                cx,
                node,
                dst,
                &h.value.via,
                &h.value.dev,
                span,
                &spec.to.value,
            ) {
                Some(mut hop) => {
                    hop.weight = weight;
                    hops.push(hop);
                }
                None => ok = false,
            }
        }
    } else {
        match parse_hop(cx, node, dst, &spec.via, &spec.dev, to_span, &spec.to.value) {
            Some(hop) => hops.push(hop),
            None => ok = false,
        }
    }
    let src = spec.src.as_ref().and_then(|s| {
        let ip = parse_ip(cx, s)?;
        Some((ip, cx.span(s)))
    });
    ok &= spec.src.is_none() || src.is_some();
    let scope = spec.scope.as_ref().map(|s| {
        let n = match &s.value {
            RouteScope::Number(n) => *n,
            RouteScope::Name(ScopeName::Global) => RT_SCOPE_UNIVERSE,
            RouteScope::Name(ScopeName::Site) => 200,
            RouteScope::Name(ScopeName::Link) => RT_SCOPE_LINK,
            RouteScope::Name(ScopeName::Host) => RT_SCOPE_HOST,
            RouteScope::Name(ScopeName::Nowhere) => 255,
        };
        (n, cx.span(s))
    });
    let table = match &spec.table {
        Some(t) => resolve_table(cx, t, tables),
        None => Some(RT_TABLE_MAIN),
    };
    let proto = match &spec.proto {
        Some(p) => route_proto(cx, p),
        None => Some(RTPROT_BOOT),
    };
    let (Some(dst), Some(table), Some(proto), true) = (dst, table, proto, ok) else {
        return None;
    };
    Some(Parsed {
        table,
        dst,
        metric: kernel_metric(&dst, spec.metric.as_ref().map_or(0, |m| m.value)),
        proto,
        kind,
        hops,
        multipath,
        src,
        onlink: spec.onlink.as_ref().is_some_and(|o| o.value),
        scope,
        proto_span: spec.proto.as_ref().map(|p| cx.span(p)),
        to_span,
    })
}

/// One next hop's gateway and device, each checked on its own.
fn parse_hop<'s>(
    cx: &mut Cx,
    node: &Node,
    dst: Option<IpNet>,
    via: &Option<Spanned<String>>,
    dev: &'s Option<Spanned<String>>,
    span: SourceSpan,
    to: &str,
) -> Option<Hop<'s>> {
    if via.is_none() && dev.is_none() {
        cx.report(
            Code::RouteWithoutNexthop,
            format!("the route to `{to}` has neither `via` nor `dev`"),
        )
        .with_label(span, "where should this go?")
        .with_help("add `via: <gateway>` and/or `dev: <interface>`");
        return None;
    }
    let mut ok = true;
    let gateway = via.as_ref().and_then(|via| {
        let ip = parse_ip(cx, via)?;
        let via_span = cx.span(via);
        if let Some(dst) = dst
            && dst.addr().is_ipv4() != ip.is_ipv4()
        {
            cx.report(
                Code::FamilyMismatch,
                format!("the route to {dst} has the gateway {ip} of the other address family"),
            )
            .with_label(span, family_name(dst.addr()))
            .with_label(via_span, family_name(ip));
            return None;
        }
        Some((ip, via_span))
    });
    ok &= via.is_none() || gateway.is_some();
    let dev = match dev {
        Some(dev) if check_if_ref(cx, dev, node) => Some((dev.value.as_str(), cx.span(dev))),
        Some(_) => {
            ok = false;
            None
        }
        None => None,
    };
    ok.then_some(Hop {
        gateway,
        dev,
        weight: 1,
    })
}

/// The route as the lab holds it, each next hop's device given by `dev`.
fn lab_route<'h, 's: 'h>(p: &'h Parsed<'s>, dev: impl Fn(&'h Hop<'s>) -> Option<String>) -> Route {
    let v6 = p.dst.addr().is_ipv6();
    let scope = match p.scope {
        _ if v6 => RT_SCOPE_UNIVERSE,
        Some((n, _)) => n,
        None if p.kind == RouteType::Unicast && !p.has_gateway() => RT_SCOPE_LINK,
        None => RT_SCOPE_UNIVERSE,
    };
    let mut route = Route {
        proto: p.proto,
        kind: p.kind,
        scope,
        src: p.src.map(|(ip, _)| ip),
        onlink: p.onlink,
        ..Route::default()
    };
    if p.multipath {
        route.nexthops = p
            .hops
            .iter()
            .map(|h| Nexthop {
                gateway: h.gateway.map(|g| g.0),
                dev: dev(h),
                weight: h.weight,
            })
            .collect();
    } else if let Some(h) = p.hops.first() {
        route.gateway = h.gateway.map(|g| g.0);
        route.dev = dev(h);
    }
    route
}

/// What the kernel checks of a route beyond its next hops: its scope, its `onlink`, its
/// source address, and that it is not a route the kernel makes itself.
fn check_attributes(cx: &mut Cx, node: &Node, p: &Parsed) -> bool {
    let v6 = p.dst.addr().is_ipv6();
    let mut ok = true;
    if let Some((scope, span)) = p.scope {
        let why = if v6 && scope != RT_SCOPE_UNIVERSE {
            Some((
                "IPv6",
                "the kernel keeps no scope for an IPv6 route (every one is global): leave \
                 `scope` out"
                    .to_string(),
            ))
        } else if v6 {
            None
        } else if p.kind == RouteType::Unicast && scope == 255 {
            Some((
                "scope nowhere",
                "the kernel refuses a unicast route of scope `nowhere` (\"Invalid scope\"): \
                 use `host`, `link` or `global`"
                    .to_string(),
            ))
        } else if p.has_gateway() && scope >= RT_SCOPE_LINK {
            Some((
                "a gateway",
                format!(
                    "the kernel reaches a gateway only from a route of a wider scope than \
                     link (\"Nexthop has invalid scope\"): a route with `via` has scope \
                     `global` or `site`, not `{}`",
                    scope_name(scope)
                ),
            ))
        } else {
            None
        };
        if let Some((label, help)) = why {
            cx.report(
                Code::BadScope,
                format!(
                    "the route to {} cannot have scope {}",
                    p.dst,
                    scope_name(scope)
                ),
            )
            .with_label(span, format!("not with {label}"))
            .with_help(help);
            ok = false;
        }
    }
    if p.onlink {
        for hop in &p.hops {
            let (gw, dev) = (hop.gateway.is_some(), hop.dev.is_some());
            if gw && dev {
                continue;
            }
            let missing = if gw { "dev" } else { "via" };
            cx.report(
                Code::BadOnlink,
                format!("the `onlink` route to {} has no `{missing}`", p.dst),
            )
            .with_label(p.to_span, format!("onlink, without `{missing}`"))
            .with_help(
                "`onlink` says a gateway is on a device's link: the kernel needs both \
                 (\"Nexthop device required for onlink\"), and refuses it on a route \
                 without a gateway",
            );
            ok = false;
            break;
        }
        if p.hops.is_empty() {
            cx.report(
                Code::BadOnlink,
                format!(
                    "{} {} route cannot be `onlink`",
                    article(&p.kind.name()),
                    p.kind.name()
                ),
            )
            .with_label(p.to_span, "no gateway to be on a link")
            .with_help("remove `onlink`");
            ok = false;
        }
    }
    if let Some((src, span)) = p.src {
        let own = node
            .members
            .iter()
            .flat_map(|m| m.addrs.iter())
            .any(|(a, _)| a.addr() == src)
            || matches!(src, IpAddr::V4(a) if a.is_loopback())
            || src == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        if src.is_ipv4() != p.dst.addr().is_ipv4() {
            cx.report(
                Code::FamilyMismatch,
                format!(
                    "the route to {} has the source {src} of the other address family",
                    p.dst
                ),
            )
            .with_label(p.to_span, family_name(p.dst.addr()))
            .with_label(span, family_name(src));
            ok = false;
        } else if !own {
            let list = node
                .members
                .iter()
                .flat_map(|m| m.addrs.iter())
                .filter(|(a, _)| a.addr().is_ipv4() == src.is_ipv4())
                .map(|(a, _)| a.addr().to_string())
                .collect::<Vec<_>>();
            let help = if list.is_empty() {
                format!("`{}` has no {} address", node.name(), family_name(src))
            } else {
                format!("the addresses of `{}`: {}", node.name(), list.join(", "))
            };
            cx.report(
                Code::SrcNotLocal,
                format!(
                    "the source {src} of the route to {} is not an address of `{}`",
                    p.dst,
                    node.name()
                ),
            )
            .with_label(span, "not one of the router's addresses")
            .with_help(format!(
                "the kernel takes as a route's preferred source only an address the router \
                 has (\"Invalid prefsrc address\"); {help}"
            ));
            ok = false;
        }
    }
    if p.proto == RTPROT_KERNEL
        && p.table == RT_TABLE_MAIN
        && p.kind == RouteType::Unicast
        && !p.multipath
        && let Some(hop) = p.hops.first()
        && hop.gateway.is_none()
        && let Some(m) = node.members.iter().find(|m| {
            hop.dev.is_none_or(|(d, _)| d == m.ifname)
                && m.addrs
                    .iter()
                    .any(|(a, _)| a.trunc() == p.dst && a.prefix_len() < a.max_prefix_len())
        })
        && p.metric == if v6 { IP6_RT_PRIO_ADDRCONF } else { 0 }
    {
        cx.report(
            Code::KernelRouteProto,
            format!("the kernel makes the route to {} itself", p.dst),
        )
        .with_label(p.proto_span.unwrap_or(p.to_span), "proto kernel")
        .with_help(format!(
            "the kernel adds the route to an address's subnet when the address is added \
             (here, on `{}`), and nshost leaves it to the kernel: remove this route",
            m.ifname
        ));
        ok = false;
    }
    ok
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
    let v6 = p.dst.addr().is_ipv6();
    if let Some((dev, dev_span)) = hop.dev {
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
            return None;
        }
        if v6 && let Some(why) = links.missing(dev) {
            cx.report(
                Code::NoIpv6OnDev,
                format!("the IPv6 route to {} goes out of `{dev}`, which has no IPv6", p.dst),
            )
            .with_label(dev_span, why)
            .with_help("the kernel has no IPv6 on this link, so no IPv6 route out of it: route through another interface, or give this one IPv6");
            return None;
        }
    }
    let Some((gw, via_span)) = hop.gateway else {
        return hop.dev.map(|(d, _)| d);
    };
    if let IpAddr::V6(g6) = gw {
        if (g6.segments()[0] & 0xffc0) == 0xfe80 {
            return match hop.dev {
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
            };
        }
        if reach.is_own(gw) {
            cx.report(
                Code::GatewayIsLocal,
                format!("the gateway {gw} of the route to {} is an address of `{}`", p.dst, node.name()),
            )
            .with_label(via_span, "one of this router's own addresses")
            .with_help("an IPv6 gateway is another node's address (the kernel: \"Gateway can not be a local address\")");
            return None;
        }
        if let Some(("lo", dev_span)) = hop.dev {
            return loopback_egress(cx, p, dev_span);
        }
    }
    let dev = hop.dev.map(|(d, _)| d);
    if p.onlink
        && let Some(dev) = dev
    {
        // The kernel takes the gateway to be on the device's link.
        return Some(dev);
    }
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

/// The route protocols by iproute2's names (`/etc/iproute2/rt_protos`).
const ROUTE_PROTOS: [(&str, u8); 23] = [
    ("unspec", 0),
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("gated", 8),
    ("ra", 9),
    ("mrt", 10),
    ("zebra", 11),
    ("bird", 12),
    ("dnrouted", 13),
    ("xorp", 14),
    ("ntk", 15),
    ("dhcp", 16),
    ("mrouted", 17),
    ("keepalived", 18),
    ("babel", 42),
    ("openr", 99),
    ("bgp", 186),
    ("isis", 187),
    ("ospf", 188),
    ("rip", 189),
    ("eigrp", 192),
];

fn route_proto(cx: &mut Cx, p: &Spanned<RouteProto>) -> Option<u8> {
    let span = cx.span(p);
    let n = match &p.value {
        RouteProto::Number(n) => match u8::try_from(*n) {
            Ok(n) => n,
            Err(_) => {
                cx.report(
                    Code::UnknownRouteProto,
                    format!("route protocol {n} is out of range"),
                )
                .with_label(span, "must be 0 to 255")
                .with_help("`rtm_protocol` is one byte");
                return None;
            }
        },
        RouteProto::Name(name) => match ROUTE_PROTOS.iter().find(|(n, _)| n == name) {
            Some((_, n)) => *n,
            None => {
                let names = ROUTE_PROTOS
                    .iter()
                    .map(|(n, _)| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                cx.report(
                    Code::UnknownRouteProto,
                    format!("unknown route protocol `{name}`"),
                )
                .with_label(span, "not a protocol name")
                .with_help(format!("use a number from 0 to 255 or one of {names}"));
                return None;
            }
        },
    };
    Some(n)
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
/// The metric of the route the kernel adds for an IPv6 address's prefix.
pub const IP6_RT_PRIO_ADDRCONF: u32 = 256;

/// `a` or `an`, for a word.
pub(super) fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
