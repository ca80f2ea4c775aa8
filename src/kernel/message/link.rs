//! Link requests: creating a link (a veth pair's two ends in one request), bringing a
//! pair's far end up, a vxlan's flood entries, updating and deleting a link.

use std::collections::HashSet;

use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};

use super::{BuildError, IfIndexes, Request, index};
use crate::kernel::kinds;
use crate::netlink::FD_PLACEHOLDER;
use crate::plan::PeerEnd;
use crate::state::kinds::Vxlan;
use crate::state::{Link, LinkKind};

/// Creates link `ns`/`name` with an index of its own; a veth pair's far end `peer` is
/// created by the same request, placed in its namespace.
pub(super) fn add(
    ns: &str,
    name: &str,
    link: &Link,
    peer: Option<&PeerEnd>,
    idx: &mut IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    let main = idx.assign(ns, name);
    let mut msg = new_link(main, name, link, link.up);
    if let Some(master) = &link.master {
        msg.attributes
            .push(LinkAttribute::Controller(index(idx, ns, master)?));
    }
    let mut req = Request::plain(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL);
    match (&link.kind, peer) {
        (LinkKind::Veth { .. }, Some(p)) => {
            let pi = idx.assign(&p.at.ns, &p.at.name);
            // The far end cannot be brought up inside the creating request (veth
            // refuses to open before both ends exist): its `PeerUp` does it.
            let mut pmsg = new_link(pi, &p.at.name, &p.link, false);
            if p.at.ns != *ns {
                pmsg.attributes.push(LinkAttribute::NetNsFd(FD_PLACEHOLDER));
                req.ns_fd = Some(p.at.ns.clone());
            }
            let RouteNetlinkMessage::NewLink(msg) = &mut req.msg else {
                unreachable!("built above")
            };
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(pmsg))),
            ]));
        }
        (kind, _) => {
            let info = kinds::link_info(kind, &|n| link_index(idx, ns, kind, n), false)
                .map_err(BuildError::Kind)?
                .ok_or_else(|| {
                    BuildError::Kind(format!("a {} link cannot be created", kind.kernel_name()))
                })?;
            let RouteNetlinkMessage::NewLink(msg) = &mut req.msg else {
                unreachable!("built above")
            };
            if let Some(lower) = kinds::ifla_link(kind) {
                msg.attributes
                    .push(LinkAttribute::Link(index(idx, ns, lower)?));
            }
            if let LinkKind::Vxlan(v) = kind
                && v.underlay
            {
                // Sent from the underlay's socket, which the tunnel keeps, and
                // placed in `ns` by the same request.
                msg.attributes.push(LinkAttribute::NetNsFd(FD_PLACEHOLDER));
                req.ns_fd = Some(ns.to_string());
            }
            msg.attributes.push(LinkAttribute::LinkInfo(info));
        }
    }
    Ok(vec![req])
}

/// Brings up the far end `p` of a new veth pair, from its own namespace: IPv6
/// link-local addressing off first unless the plan gives it an IPv6 address, its
/// master set when it has one.
pub(super) fn peer_up(
    p: &PeerEnd,
    idx: &IfIndexes,
    ipv6_links: &HashSet<(String, String)>,
) -> Result<Vec<Request>, BuildError> {
    let i = index(idx, &p.at.ns, &p.at.name)?;
    let mut out = Vec::new();
    if !ipv6_links.contains(&(p.at.ns.clone(), p.at.name.clone())) {
        // Before the link goes up, or the kernel has made its link-local already.
        let mut msg = LinkMessage::default();
        msg.header.index = i;
        msg.attributes
            .push(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
            )]));
        out.push(Request::plain(RouteNetlinkMessage::SetLink(msg), 0));
    }
    // An uplink of a tree of bridges has both ends in the fabric, each on a bridge.
    if let Some(m) = &p.link.master {
        let mut msg = LinkMessage::default();
        msg.header.index = i;
        msg.attributes
            .push(LinkAttribute::Controller(index(idx, &p.at.ns, m)?));
        out.push(Request::plain(RouteNetlinkMessage::SetLink(msg), 0));
    }
    if p.link.up {
        out.push(Request::plain(
            RouteNetlinkMessage::SetLink(up_msg(i, true)),
            0,
        ));
    }
    Ok(out)
}

/// The static flood entries of new vxlan `ns`/`name`.
pub(super) fn flood(
    ns: &str,
    name: &str,
    v: &Vxlan,
    idx: &IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    let i = index(idx, ns, name)?;
    Ok(v.flood
        .iter()
        .map(|dst| flood_entry(i, *dst, true))
        .collect())
}

/// Changes link `ns`/`name` in place from `from` to `to`; a vxlan's flood entries
/// that differ are added and deleted beside it.
pub(super) fn update(
    ns: &str,
    name: &str,
    from: &Link,
    to: &Link,
    idx: &IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    let i = index(idx, ns, name)?;
    let mut msg = LinkMessage::default();
    msg.header.index = i;
    if from.up != to.up {
        msg.header.change_mask = LinkFlags::Up;
        if to.up {
            msg.header.flags = LinkFlags::Up;
        }
    }
    if let Some(mtu) = to.mtu
        && from.mtu != Some(mtu)
    {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if from.master != to.master {
        let m = match &to.master {
            Some(m) => index(idx, ns, m)?,
            None => 0,
        };
        msg.attributes.push(LinkAttribute::Controller(m));
    }
    if let Some(mac) = to.mac
        && from.mac != Some(mac)
    {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    // Flood entries are the device's forwarding database, not its attributes.
    let (from_kind, to_kind, flood) = match (&from.kind, &to.kind) {
        (LinkKind::Vxlan(a), LinkKind::Vxlan(b)) => (
            LinkKind::Vxlan(Box::new(a.without_flood())),
            LinkKind::Vxlan(Box::new(b.without_flood())),
            Some((&a.flood, &b.flood)),
        ),
        _ => (from.kind.clone(), to.kind.clone(), None),
    };
    if from_kind.attrs_differ(&to_kind)
        && let Some(info) = kinds::link_info(&to_kind, &|n| link_index(idx, ns, &to_kind, n), true)
            .map_err(BuildError::Kind)?
    {
        msg.attributes.push(LinkAttribute::LinkInfo(info));
    }
    let mut out = Vec::new();
    let link_changes = !msg.attributes.is_empty() || msg.header.change_mask != LinkFlags::empty();
    if link_changes || flood.is_none() {
        out.push(Request::plain(RouteNetlinkMessage::SetLink(msg), 0));
    }
    if let Some((was, will)) = flood {
        out.extend(was.difference(will).map(|d| flood_entry(i, *d, false)));
        out.extend(will.difference(was).map(|d| flood_entry(i, *d, true)));
    }
    Ok(out)
}

/// Deletes link `ns`/`name` (and forgets its index).
pub(super) fn delete(
    ns: &str,
    name: &str,
    idx: &mut IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    let i = index(idx, ns, name)?;
    idx.forget(ns, name);
    let mut msg = LinkMessage::default();
    msg.header.index = i;
    Ok(vec![Request::plain(RouteNetlinkMessage::DelLink(msg), 0)])
}

/// The index of `name` for the attributes of a `kind` link in `ns`: the vxlan end of a
/// stretched network names a device of the machine's own namespace (where its socket
/// is), looked up from the thread that builds the messages, which never leaves it.
fn link_index(idx: &IfIndexes, ns: &str, kind: &LinkKind, name: &str) -> Option<u32> {
    match kind {
        LinkKind::Vxlan(v) if v.underlay => nix::net::if_::if_nametoindex(name).ok(),
        _ => idx.get(ns, name),
    }
}

/// A static flood entry of vxlan `ifindex` (an all-zero MAC entry of its own forwarding
/// database, towards `dst`), added or deleted.
fn flood_entry(ifindex: u32, dst: std::net::IpAddr, add: bool) -> Request {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = ifindex;
    msg.header.state = NeighbourState::Permanent;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(vec![0; 6]));
    let dst = match dst {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Other(
            dst,
        )));
    if add {
        Request::plain(
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | NLM_F_APPEND,
        )
    } else {
        Request::plain(RouteNetlinkMessage::DelNeighbour(msg), 0)
    }
}

/// `RTM_NEWLINK` for a link to create with a chosen index: name, MTU, MAC, up.
fn new_link(index: u32, name: &str, link: &Link, up: bool) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    if up {
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
    }
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(mtu) = link.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = link.mac {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    msg
}

/// `RTM_SETLINK` bringing a link up or down.
pub fn up_msg(index: u32, up: bool) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.change_mask = LinkFlags::Up;
    if up {
        msg.header.flags = LinkFlags::Up;
    }
    msg
}
