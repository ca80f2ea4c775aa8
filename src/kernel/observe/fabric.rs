//! Fabrics and veth peers: finding a lab's fabric namespace by its loopback mark, and
//! resolving each veth end's peer (in its own namespace or the fabric) once every
//! namespace is read.

use std::collections::HashMap;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

use super::PendingPeer;
use crate::kernel::RouteSocket;
use crate::kernel::decode::decode_link;
use crate::kernel::netns::{self, Entry};
use crate::state::{LinkKind, LinkRef, NetState, parse_namespace_alias};

/// The fabrics a dump may ask for the nsid of: the one lab's, held open, or every
/// lab's by name (opened when asked for, so that descriptors stay bounded).
pub(super) struct Fabrics<'a> {
    pub(super) held: Option<i32>,
    pub(super) by_lab: &'a HashMap<String, String>,
    /// The links of the namespace nshost runs in, by index: the underlay devices of
    /// stretched networks' vxlan ends, whose sockets are there.
    pub(super) home: &'a HashMap<u32, String>,
}

/// The lab's fabric namespace among `entries`: one named `*-fabric` whose loopback
/// marks it as the lab's fabric.
pub(super) fn find_fabric(lab: &str, entries: &[Entry]) -> Option<String> {
    let suffix = format!("{lab}-fabric");
    find_fabrics(entries, |n| n.ends_with(&suffix))
        .into_iter()
        .find(|(l, _)| l == lab)
        .map(|(_, n)| n)
}

/// The fabric namespaces among the `entries` named `*-fabric` that `wanted` accepts, as
/// (lab, namespace), from their loopback marks.
pub fn find_fabrics(entries: &[Entry], wanted: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let candidates: Vec<&String> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::File(n) if n.ends_with("-fabric") && wanted(n) => Some(n),
            _ => None,
        })
        .collect();
    let marks = netns::on_threads(&candidates, |name| {
        netns::enter(name).ok()??;
        mark_here()
    });
    candidates
        .into_iter()
        .zip(marks)
        .filter_map(|(n, m)| match m {
            Some((lab, crate::state::NsRole::Fabric)) => Some((lab, n.clone())),
            _ => None,
        })
        .collect()
}

/// The mark on the loopback of the calling thread's network namespace: its lab and role
/// (one request).
pub fn mark_here() -> Option<(String, crate::state::NsRole)> {
    let mut sock = RouteSocket::open().ok()?;
    let mut lo = LinkMessage::default();
    lo.header.index = 1;
    let raw = sock.request(RouteNetlinkMessage::GetLink(lo)).ok()?.ok()?;
    let alias = decode_link(&raw, &|_| false)?.alias?;
    parse_namespace_alias(&alias).map(|(l, r)| (l.to_string(), r))
}

/// Fills in veth peers: a link whose peer is in the same namespace, or in the fabric
/// namespace (known by its nsid as seen from the link's namespace). The fabric ends get
/// the reverse reference.
pub(super) fn resolve_peers(state: &mut NetState, fabric: Option<&str>, peers: Vec<PendingPeer>) {
    let index_name = |state: &NetState, ns: &str, ifindex: u32| -> Option<String> {
        state.namespaces.get(ns).and_then(|n| {
            n.links
                .iter()
                .find(|(_, l)| l.ifindex == Some(ifindex))
                .map(|(name, _)| name.clone())
        })
    };
    let fabric_index: HashMap<u32, String> = fabric
        .and_then(|f| state.namespaces.get(f))
        .map(|n| {
            n.links
                .iter()
                .filter_map(|(name, l)| l.ifindex.map(|i| (i, name.clone())))
                .collect()
        })
        .unwrap_or_default();
    let mut resolved: Vec<(LinkRef, LinkRef)> = Vec::new();
    for (ns, ifname, index, netnsid, fabric_nsid) in &peers {
        let (peer_ns, peer_name) = match netnsid {
            None => (Some(ns.as_str()), index_name(state, ns, *index)),
            Some(id) if Some(*id) == *fabric_nsid => (fabric, fabric_index.get(index).cloned()),
            Some(_) => (None, None),
        };
        if let (Some(peer_ns), Some(peer_name)) = (peer_ns, peer_name) {
            resolved.push((LinkRef::new(ns, ifname), LinkRef::new(peer_ns, &peer_name)));
        }
    }
    for (at, peer) in resolved {
        let set = |state: &mut NetState, at: &LinkRef, peer: &LinkRef| {
            if let Some(link) = state
                .namespaces
                .get_mut(&at.ns)
                .and_then(|n| n.links.get_mut(&at.name))
            {
                link.kind = LinkKind::Veth {
                    peer: Some(peer.clone()),
                };
            }
        };
        set(state, &at, &peer);
        if Some(peer.ns.as_str()) == fabric && at.ns != peer.ns {
            set(state, &peer, &at);
        }
    }
}
