//! What the kernel checks of a route beyond its next hops: its scope, its `onlink`, its
//! source address, and that it is not a route the kernel makes itself.

use std::net::IpAddr;

use super::super::members::Node;
use super::super::routes::IP6_RT_PRIO_ADDRCONF;
use super::super::values::family_name;
use super::super::{Code, Cx};
use super::{Parsed, article};
use crate::state::{
    RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTPROT_KERNEL, RouteType, scope_name,
};

/// What the kernel checks of a route beyond its next hops: its scope, its `onlink`, its
/// source address, and that it is not a route the kernel makes itself.
pub(in crate::validate) fn check_attributes(cx: &mut Cx, node: &Node, p: &Parsed) -> bool {
    let mut ok = check_scope(cx, p);
    ok &= check_onlink(cx, p);
    ok &= check_source(cx, node, p);
    ok &= check_not_kernel_route(cx, node, p);
    ok
}

/// The route's scope, if written, is one the kernel takes for it.
fn check_scope(cx: &mut Cx, p: &Parsed) -> bool {
    let Some((scope, span)) = p.scope else {
        return true;
    };
    let Some((label, help)) = scope_refused(p, scope) else {
        return true;
    };
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
    false
}

/// Why the kernel refuses the route with `scope` (what the scope is not with, and a
/// help), if it does.
fn scope_refused(p: &Parsed, scope: u8) -> Option<(&'static str, String)> {
    let v6 = p.dst.addr().is_ipv6();
    if v6 && scope != RT_SCOPE_UNIVERSE {
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
    }
}

/// An `onlink` route has a gateway and a device on each next hop, and a next hop at all.
fn check_onlink(cx: &mut Cx, p: &Parsed) -> bool {
    if !p.onlink {
        return true;
    }
    let mut ok = true;
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
    ok
}

/// The route's preferred source, if written, is of its family and an address of the node.
fn check_source(cx: &mut Cx, node: &Node, p: &Parsed) -> bool {
    let Some((src, span)) = p.src else {
        return true;
    };
    let mut ok = true;
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
    ok
}

/// The route is not the one the kernel adds itself for an address's subnet (proto
/// kernel, on the address's device, of the kernel's metric).
fn check_not_kernel_route(cx: &mut Cx, node: &Node, p: &Parsed) -> bool {
    let v6 = p.dst.addr().is_ipv6();
    let mut ok = true;
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
