//! Route requests: add (appended to a multipath group's alternatives when `alt` > 0),
//! replace in place, delete.

use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType as NlRouteType,
};

use super::{BuildError, IfIndexes, Request, family_of};
use crate::state::{Route, RouteKey};

/// Adds route `key` in `ns`.
pub(super) fn add(
    ns: &str,
    key: &RouteKey,
    route: &Route,
    idx: &IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    let flags = if key.alt > 0 {
        NLM_F_CREATE | NLM_F_APPEND
    } else {
        NLM_F_CREATE | NLM_F_EXCL
    };
    Ok(vec![Request::plain(
        RouteNetlinkMessage::NewRoute(route_msg(key, route, ns, idx, true)?),
        flags,
    )])
}

/// Replaces route `key` in `ns` by `to`.
pub(super) fn replace(
    ns: &str,
    key: &RouteKey,
    to: &Route,
    idx: &IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    Ok(vec![Request::plain(
        RouteNetlinkMessage::NewRoute(route_msg(key, to, ns, idx, true)?),
        NLM_F_CREATE | NLM_F_REPLACE,
    )])
}

/// Deletes route `key` in `ns`.
pub(super) fn delete(
    ns: &str,
    key: &RouteKey,
    route: &Route,
    idx: &IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    Ok(vec![Request::plain(
        RouteNetlinkMessage::DelRoute(route_msg(key, route, ns, idx, false)?),
        0,
    )])
}

fn route_msg(
    key: &RouteKey,
    route: &Route,
    ns: &str,
    idx: &IfIndexes,
    create: bool,
) -> Result<RouteMessage, BuildError> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family_of(&key.dst);
    msg.header.destination_prefix_length = key.dst.prefix_len();
    msg.header.protocol = RouteProtocol::from(route.proto);
    msg.header.table = if key.table < 256 {
        key.table as u8
    } else {
        252
    };
    msg.attributes.push(RouteAttribute::Table(key.table));
    if key.dst.prefix_len() > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(
                key.dst.network(),
            )));
    }
    if key.metric != 0 {
        msg.attributes.push(RouteAttribute::Priority(key.metric));
    }
    let dev_index = |dev: &String| {
        idx.get(ns, dev).ok_or_else(|| BuildError::NoLink {
            ns: ns.to_string(),
            name: dev.clone(),
        })
    };
    if create {
        msg.header.kind = NlRouteType::from(route.kind.number());
        msg.header.scope = RouteScope::from(route.scope);
        if let Some(src) = route.src {
            msg.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
        }
        if route.onlink && route.nexthops.is_empty() {
            msg.header.flags = RouteFlags::Onlink;
        }
    } else {
        // Any type and scope: the kernel picks the route by key, device and gateway.
        msg.header.kind = NlRouteType::Unspec;
        msg.header.scope = RouteScope::NoWhere;
    }
    if let Some(gw) = route.gateway {
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    if let Some(dev) = &route.dev {
        msg.attributes.push(RouteAttribute::Oif(dev_index(dev)?));
    }
    // IPv6 deletes a multipath route whole when no next hop is named.
    if !route.nexthops.is_empty() && (create || key.dst.addr().is_ipv4()) {
        let mut hops = Vec::new();
        for hop in &route.nexthops {
            let mut nh = RouteNextHop::default();
            nh.hops = u8::try_from(hop.weight.clamp(1, 256) - 1).unwrap_or(u8::MAX);
            if route.onlink {
                nh.flags = RouteNextHopFlags::Onlink;
            }
            if let Some(dev) = &hop.dev {
                nh.interface_index = dev_index(dev)?;
            }
            if let Some(gw) = hop.gateway {
                nh.attributes
                    .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
            }
            hops.push(nh);
        }
        msg.attributes.push(RouteAttribute::MultiPath(hops));
    }
    Ok(msg)
}
