//! Builds the netlink requests of an operation: pure functions from a change's part
//! (plus the ifindexes it refers to) to rtnetlink messages. Nothing is sent here, and
//! every request of a plan is built before any is sent.

mod address;
mod devconf;
mod link;
mod route;
mod rule;

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::plan::{Change, NetlinkItem};
use crate::state::NetState;

pub use devconf::{devconf_payload, devconf_read};
pub use link::up_msg;

/// `IFLA_NET_NS_FD`: the namespace a new link (a veth's far end) is placed in.
pub const IFLA_NET_NS_FD: u16 = 28;

/// One request: the message, its extra flags, and the namespace whose descriptor goes
/// into its `IFLA_NET_NS_FD` when it is sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub msg: RouteNetlinkMessage,
    pub flags: u16,
    pub ns_fd: Option<String>,
}

impl Request {
    fn plain(msg: RouteNetlinkMessage, flags: u16) -> Self {
        Request {
            msg,
            flags,
            ns_fd: None,
        }
    }
}

/// Interface indexes: the live ones, and the ones nshost picks for links it creates
/// (explicit `ifi_index`, so every request can be built before any is sent). The
/// loopback is 1 in every namespace.
#[derive(Debug, Default)]
pub struct IfIndexes {
    known: HashMap<(String, String), u32>,
    next: HashMap<String, u32>,
}

/// Indexes nshost assigns start above this, clear of devices a new namespace may come
/// with (lo, and fallback tunnel devices such as sit0).
const FIRST_ASSIGNED_IFINDEX: u32 = 100;

impl IfIndexes {
    /// Seeds the table from the live state.
    pub fn from_live(live: &NetState) -> Self {
        let mut t = IfIndexes::default();
        for (ns, n) in &live.namespaces {
            let mut max = FIRST_ASSIGNED_IFINDEX;
            for (name, link) in &n.links {
                if let Some(i) = link.ifindex {
                    t.known.insert((ns.clone(), name.clone()), i);
                    max = max.max(i);
                }
            }
            t.next.insert(ns.clone(), max + 1);
        }
        t
    }

    /// The index of `ns`/`name`, if known.
    pub fn get(&self, ns: &str, name: &str) -> Option<u32> {
        if name == "lo" {
            return Some(1);
        }
        self.known.get(&(ns.to_string(), name.to_string())).copied()
    }

    /// Picks a fresh index for a link about to be created.
    pub fn assign(&mut self, ns: &str, name: &str) -> u32 {
        let next = self
            .next
            .entry(ns.to_string())
            .or_insert(FIRST_ASSIGNED_IFINDEX + 1);
        let i = *next;
        *next += 1;
        self.known.insert((ns.to_string(), name.to_string()), i);
        i
    }

    /// Forgets a deleted link.
    pub fn forget(&mut self, ns: &str, name: &str) {
        self.known.remove(&(ns.to_string(), name.to_string()));
    }
}
/// A request could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    #[error("{ns}: no interface `{name}`")]
    NoLink { ns: String, name: String },
    #[error("sysctl {key}: `{value}` is not a number")]
    BadValue { key: String, value: String },
    #[error("{0}")]
    Kind(String),
}

/// The links a plan gives an IPv6 address: they keep IPv6 link-local addressing, every
/// other new veth end gets none (no duplicate address detection, router solicitation or
/// their timers for every host).
pub fn ipv6_links(changes: &[Change]) -> HashSet<(String, String)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::AddAddress { ns, key, .. } if key.addr.addr().is_ipv6() => {
                Some((ns.clone(), key.ifname.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The index of `ns`/`name`, or the error that names it.
fn index(idx: &IfIndexes, ns: &str, name: &str) -> Result<u32, BuildError> {
    idx.get(ns, name).ok_or_else(|| BuildError::NoLink {
        ns: ns.to_string(),
        name: name.to_string(),
    })
}

/// Builds the requests of one operation in namespace `ns`, in order.
pub fn build(
    ns: &str,
    item: &NetlinkItem<'_>,
    idx: &mut IfIndexes,
    ipv6_links: &HashSet<(String, String)>,
) -> Result<Vec<Request>, BuildError> {
    match *item {
        NetlinkItem::AddLink { name, link, peer } => link::add(ns, name, link, peer, idx),
        NetlinkItem::PeerUp(p) => link::peer_up(p, idx, ipv6_links),
        NetlinkItem::Flood { name, vxlan } => link::flood(ns, name, vxlan, idx),
        NetlinkItem::UpdateLink { name, from, to } => link::update(ns, name, from, to, idx),
        NetlinkItem::DeleteLink { name } => link::delete(ns, name, idx),
        NetlinkItem::AddAddress(key) => address::add(ns, key, idx),
        NetlinkItem::DeleteAddress(key) => address::delete(ns, key, idx),
        NetlinkItem::AddRoute { key, route } => route::add(ns, key, route, idx),
        NetlinkItem::ReplaceRoute { key, to } => route::replace(ns, key, to, idx),
        NetlinkItem::DeleteRoute { key, route } => route::delete(ns, key, route, idx),
        NetlinkItem::AddRule(rule) => Ok(rule::add(rule)),
        NetlinkItem::DeleteRule(rule) => Ok(rule::delete(rule)),
        NetlinkItem::Devconf {
            link,
            setting,
            conf,
            to,
        } => devconf::set(ns, link, setting, conf, to, idx),
        NetlinkItem::Qdisc { link, to } => {
            let (msg, flags) = crate::kernel::qdisc::request(index(idx, ns, link)?, to);
            Ok(vec![Request::plain(msg, flags)])
        }
    }
}

fn family_of(net: &IpNet) -> AddressFamily {
    match net {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

#[cfg(test)]
mod tests;
