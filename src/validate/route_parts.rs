//! A route's parts, each checked on its own as the kernel would: its destination, type,
//! next hops (one, or several weighted ones), protocol, scope, `onlink` and preferred
//! source, and that it is not the route the kernel makes itself for an address. What
//! needs the node's other routes (reaching a gateway, duplicates) is in `routes`.

use std::net::IpAddr;

use ipnet::IpNet;
use miette::SourceSpan;

use super::members::Node;
use super::names::check_if_ref;
use super::tables::{Tables, resolve_table};
use super::values::{family_name, parse_ip, parse_prefix};
use super::{Code, Cx};
use crate::state::{
    Nexthop, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTPROT_BOOT, Route,
    RouteType,
};
use crate::topology::{RouteKind, RouteProto, RouteScope, RouteSpec, ScopeName, Spanned};

mod attributes;

pub(super) use attributes::check_attributes;

/// One next hop: a gateway, a device, or both.
#[derive(Clone, Copy)]
pub(super) struct Hop<'s> {
    pub(super) gateway: Option<(IpAddr, SourceSpan)>,
    pub(super) dev: Option<(&'s str, SourceSpan)>,
    pub(super) weight: u16,
}

/// A route whose values are each fine on their own.
pub(super) struct Parsed<'s> {
    pub(super) table: u32,
    pub(super) dst: IpNet,
    pub(super) metric: u32,
    pub(super) proto: u8,
    pub(super) kind: RouteType,
    /// None for a type that sends nothing on, one for a plain route, two or more for a
    /// multipath one (`multipath`).
    pub(super) hops: Vec<Hop<'s>>,
    pub(super) multipath: bool,
    pub(super) src: Option<(IpAddr, SourceSpan)>,
    pub(super) onlink: bool,
    pub(super) scope: Option<(u8, SourceSpan)>,
    pub(super) proto_span: Option<SourceSpan>,
    pub(super) to_span: SourceSpan,
}

impl Parsed<'_> {
    pub(super) fn has_gateway(&self) -> bool {
        self.hops.iter().any(|h| h.gateway.is_some())
    }
}

/// The route's values, each checked on its own; `None` when one is wrong.
pub(super) fn parse_route<'s>(
    cx: &mut Cx,
    node: &Node,
    spec: &'s RouteSpec,
    tables: &Tables,
) -> Option<Parsed<'s>> {
    let to_span = cx.span(&spec.to);
    let dst = destination(cx, spec);
    let kind = route_type(spec);
    let multipath = !spec.nexthops.is_empty();
    let hops = if kind != RouteType::Unicast {
        check_no_next_hop(cx, spec, kind, to_span).then(Vec::new)
    } else if multipath {
        multipath_hops(cx, node, spec, dst)
    } else {
        parse_hop(cx, node, dst, &spec.via, &spec.dev, to_span, &spec.to.value).map(|h| vec![h])
    };
    let src = spec.src.as_ref().and_then(|s| {
        let ip = parse_ip(cx, s)?;
        Some((ip, cx.span(s)))
    });
    let src_ok = spec.src.is_none() || src.is_some();
    let scope = spec.scope.as_ref().map(|s| (scope_number(s), cx.span(s)));
    let table = match &spec.table {
        Some(t) => resolve_table(cx, t, tables),
        None => Some(RT_TABLE_MAIN),
    };
    let proto = match &spec.proto {
        Some(p) => route_proto(cx, p),
        None => Some(RTPROT_BOOT),
    };
    let (Some(dst), Some(hops), true, Some(table), Some(proto)) = (dst, hops, src_ok, table, proto)
    else {
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

/// The route's destination: a prefix, or `default` (IPv4) or `default6`.
fn destination(cx: &mut Cx, spec: &RouteSpec) -> Option<IpNet> {
    match spec.to.value.as_str() {
        "default" => Some(IpNet::from(ipnet::Ipv4Net::default())),
        "default6" => Some(IpNet::from(ipnet::Ipv6Net::default())),
        _ => parse_prefix(cx, &spec.to, "route destination"),
    }
}

/// The route's type, `unicast` unless written.
fn route_type(spec: &RouteSpec) -> RouteType {
    match spec.kind.as_ref().map(|k| k.value) {
        None | Some(RouteKind::Unicast) => RouteType::Unicast,
        Some(RouteKind::Blackhole) => RouteType::Blackhole,
        Some(RouteKind::Unreachable) => RouteType::Unreachable,
        Some(RouteKind::Prohibit) => RouteType::Prohibit,
        Some(RouteKind::Throw) => RouteType::Throw,
    }
}

/// The number of a route's scope.
fn scope_number(s: &Spanned<RouteScope>) -> u8 {
    match &s.value {
        RouteScope::Number(n) => *n,
        RouteScope::Name(ScopeName::Global) => RT_SCOPE_UNIVERSE,
        RouteScope::Name(ScopeName::Site) => 200,
        RouteScope::Name(ScopeName::Link) => RT_SCOPE_LINK,
        RouteScope::Name(ScopeName::Host) => RT_SCOPE_HOST,
        RouteScope::Name(ScopeName::Nowhere) => 255,
    }
}

/// A route of a type that sends nothing on has no gateway, device or next hops.
fn check_no_next_hop(cx: &mut Cx, spec: &RouteSpec, kind: RouteType, to_span: SourceSpan) -> bool {
    let given: Vec<SourceSpan> = [&spec.via, &spec.dev]
        .into_iter()
        .flatten()
        .map(|v| cx.span(v))
        .chain(spec.nexthops.iter().map(|h| cx.span(h)))
        .collect();
    if given.is_empty() {
        return true;
    }
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
    false
}

/// The next hops of a multipath route, each with its weight; `None` when one is wrong.
fn multipath_hops<'s>(
    cx: &mut Cx,
    node: &Node,
    spec: &'s RouteSpec,
    dst: Option<IpNet>,
) -> Option<Vec<Hop<'s>>> {
    let mut ok = check_multipath_alone(cx, spec);
    let mut hops = Vec::new();
    for h in &spec.nexthops {
        let span = cx.span(h);
        if h.value.via.is_none() && h.value.dev.is_some() && dst.is_some_and(|d| d.addr().is_ipv6())
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
        let weight = h
            .value
            .weight
            .as_ref()
            .map_or(Some(1), |w| hop_weight(cx, w));
        ok &= weight.is_some();
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
                hop.weight = weight.unwrap_or(1);
                hops.push(hop);
            }
            None => ok = false,
        }
    }
    ok.then_some(hops)
}

/// A multipath route has its next hops under `nexthops` only, and two of them or more.
fn check_multipath_alone(cx: &mut Cx, spec: &RouteSpec) -> bool {
    let mut ok = true;
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
    ok
}

/// A next hop's weight, 1 to 256; `None` when out of range (reported).
fn hop_weight(cx: &mut Cx, w: &Spanned<u16>) -> Option<u16> {
    if (1..=256).contains(&w.value) {
        return Some(w.value);
    }
    let wspan = cx.span(w);
    cx.report(
        Code::BadWeight,
        format!("the next hop weight {} is out of range", w.value),
    )
    .with_label(wspan, "must be 1 to 256")
    .with_help("the kernel keeps a next hop's weight, less one, in a byte");
    None
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
pub(super) fn lab_route<'h, 's: 'h>(
    p: &'h Parsed<'s>,
    dev: impl Fn(&'h Hop<'s>) -> Option<String>,
) -> Route {
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

/// The protocols the lab owns beyond `boot`, `static` and `kernel`: those its routes
/// name, and those it takes with `owns: {protocols: [...]}`.
pub(super) fn owned_protocols(
    cx: &mut Cx,
    topo: &crate::topology::Topology,
    lab: &crate::lab::Lab,
) -> crate::state::Protocols {
    let mut owned: crate::state::Protocols = lab
        .nodes
        .values()
        .flat_map(|n| n.routes.iter().map(|r| r.route.proto))
        .collect();
    for p in topo.owns.iter().flat_map(|o| &o.value.protocols) {
        if let Some(n) = route_proto(cx, p) {
            owned.insert(n);
        }
    }
    owned
}

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
        RouteProto::Name(name) => {
            match crate::state::PROTOCOL_NAMES.iter().find(|(n, _)| n == name) {
                Some((_, n)) => *n,
                None => {
                    let names = crate::state::PROTOCOL_NAMES
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
            }
        }
    };
    Some(n)
}

/// `a` or `an`, for a word.
pub(super) fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
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
