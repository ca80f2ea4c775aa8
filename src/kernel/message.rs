//! Builds the netlink requests for a change: pure functions from a `Change` (plus the
//! ifindexes and namespace fds they refer to) to rtnetlink messages. Nothing is sent here.

use std::collections::{HashMap, HashSet};
use std::os::fd::RawFd;

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressMessage, AddressProtocol,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage, RulePortRange};
use netlink_packet_route::{AddressFamily, IpProtocol, RouteNetlinkMessage};

use crate::devconf;
use crate::plan::Change;
use crate::state::{
    AddressKey, Link, LinkKind, NSHOST_PROTO, NetState, Route, RouteKey, Rule, owner_alias,
};

/// One request: the namespace whose socket sends it, the message and its extra flags.
/// `later` requests go out in the next stage (they touch a link another namespace's
/// request of this stage creates).
#[derive(Debug, Clone)]
pub struct Request {
    pub ns: String,
    pub msg: RouteNetlinkMessage,
    pub flags: u16,
    pub later: bool,
}

/// Interface indexes: the live ones, and the ones nshost picks for links it creates
/// (explicit `ifi_index`, so every request can be built before any is sent).
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
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{ns}: no interface `{name}`")]
    NoLink { ns: String, name: String },
    #[error("{ns}: namespace is not open")]
    NoNamespace { ns: String },
    #[error("sysctl {key}: `{value}` is not a number")]
    BadValue { key: String, value: String },
}

/// Builds the requests for one change. Namespace creation/removal and sysctls written
/// under `/proc/sys` are not netlink and yield nothing; per-interface IPv4 settings are
/// one `RTM_NEWLINK` each.
pub fn build(
    lab: &str,
    change: &Change,
    idx: &mut IfIndexes,
    ns_fds: &HashMap<String, RawFd>,
    ipv6_links: &HashSet<(String, String)>,
) -> Result<Vec<Request>, BuildError> {
    let here = |ns: &str, msg, flags| Request {
        ns: ns.to_string(),
        msg,
        flags,
        later: false,
    };
    let index = |idx: &IfIndexes, ns: &str, name: &str| {
        idx.get(ns, name).ok_or_else(|| BuildError::NoLink {
            ns: ns.to_string(),
            name: name.to_string(),
        })
    };
    Ok(match change {
        Change::SetSysctl { ns, key, to, .. } => match devconf::parse_key(key) {
            Some(conf) => {
                let value: u32 = to.trim().parse().map_err(|_| BuildError::BadValue {
                    key: key.clone(),
                    value: to.clone(),
                })?;
                let mut msg = LinkMessage::default();
                msg.header.index = index(idx, ns, conf.dev)?;
                msg.attributes
                    .push(LinkAttribute::AfSpecUnknown(devconf::af_spec_payload(
                        conf.index, value,
                    )));
                vec![here(ns, RouteNetlinkMessage::NewLink(msg), 0)]
            }
            None => Vec::new(),
        },
        Change::AddNamespace { .. } | Change::DeleteNamespace { .. } => Vec::new(),
        Change::AddLink {
            ns,
            name,
            link,
            peer,
        } => {
            let index_main = idx.assign(ns, name);
            let mut msg = new_link_header(index_main, name, link);
            if let Some(master) = &link.master {
                msg.attributes
                    .push(LinkAttribute::Controller(index(idx, ns, master)?));
            }
            let mut out = Vec::new();
            match (&link.kind, peer) {
                (LinkKind::Veth { .. }, Some(peer)) => {
                    let index_peer = idx.assign(&peer.at.ns, &peer.at.name);
                    // The peer cannot be brought up inside the creating request (veth
                    // refuses to open before both ends exist): it goes up with its alias.
                    let mut pmsg = new_link_header(
                        index_peer,
                        &peer.at.name,
                        &Link {
                            up: false,
                            ..peer.link.clone()
                        },
                    );
                    if peer.at.ns != *ns {
                        let fd =
                            ns_fds
                                .get(&peer.at.ns)
                                .ok_or_else(|| BuildError::NoNamespace {
                                    ns: peer.at.ns.clone(),
                                })?;
                        pmsg.attributes.push(LinkAttribute::NetNsFd(*fd));
                    }
                    msg.attributes.push(LinkAttribute::LinkInfo(vec![
                        LinkInfo::Kind(InfoKind::Veth),
                        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(pmsg))),
                    ]));
                    out.push(here(
                        ns,
                        RouteNetlinkMessage::NewLink(msg),
                        NLM_F_CREATE | NLM_F_EXCL,
                    ));
                    out.push(here(ns, set_alias(index_main, lab), 0));
                    let later = peer.at.ns != *ns;
                    let mut peer_set = LinkMessage::default();
                    peer_set.header.index = index_peer;
                    peer_set
                        .attributes
                        .push(LinkAttribute::IfAlias(owner_alias(lab)));
                    // An end that carries no IPv6 address gets no IPv6 link-local one
                    // either: no duplicate address detection, router solicitation or
                    // their timers for every host. Set before the link goes up (the
                    // kernel applies flags before IFLA_AF_SPEC within one request).
                    if !ipv6_links.contains(&(peer.at.ns.clone(), peer.at.name.clone())) {
                        peer_set
                            .attributes
                            .push(LinkAttribute::AfSpecUnknown(devconf::inet6_no_link_local()));
                    }
                    out.push(Request {
                        ns: peer.at.ns.clone(),
                        msg: RouteNetlinkMessage::NewLink(peer_set),
                        flags: 0,
                        later,
                    });
                    if peer.link.up {
                        let mut up = LinkMessage::default();
                        up.header.index = index_peer;
                        up.header.flags = LinkFlags::Up;
                        up.header.change_mask = LinkFlags::Up;
                        out.push(Request {
                            ns: peer.at.ns.clone(),
                            msg: RouteNetlinkMessage::NewLink(up),
                            flags: 0,
                            later,
                        });
                    }
                }
                (kind, _) => {
                    let info = match kind {
                        LinkKind::Bridge => InfoKind::Bridge,
                        LinkKind::Veth { .. } => InfoKind::Veth,
                        LinkKind::Loopback => InfoKind::Other("loopback".into()),
                        LinkKind::Other { name } => InfoKind::from(name.as_str()),
                    };
                    msg.attributes
                        .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(info)]));
                    out.push(here(
                        ns,
                        RouteNetlinkMessage::NewLink(msg),
                        NLM_F_CREATE | NLM_F_EXCL,
                    ));
                    out.push(here(ns, set_alias(index_main, lab), 0));
                }
            }
            out
        }
        Change::UpdateLink { ns, name, from, to } => {
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
            // The loopback's alias is the namespace's mark (owner and role), set when
            // the namespace is created: never rewritten here.
            if from.owner != to.owner
                && to.kind != LinkKind::Loopback
                && let Some(owner) = &to.owner
            {
                msg.attributes
                    .push(LinkAttribute::IfAlias(owner_alias(owner)));
            }
            vec![here(ns, RouteNetlinkMessage::NewLink(msg), 0)]
        }
        Change::DeleteLink { ns, name, .. } => {
            let i = index(idx, ns, name)?;
            idx.forget(ns, name);
            let mut msg = LinkMessage::default();
            msg.header.index = i;
            vec![here(ns, RouteNetlinkMessage::DelLink(msg), 0)]
        }
        Change::AddAddress { ns, key } => {
            let i = index(idx, ns, &key.ifname)?;
            vec![here(
                ns,
                RouteNetlinkMessage::NewAddress(address_msg(i, key, true)),
                NLM_F_CREATE | NLM_F_EXCL,
            )]
        }
        Change::DeleteAddress { ns, key } => {
            let i = index(idx, ns, &key.ifname)?;
            vec![here(
                ns,
                RouteNetlinkMessage::DelAddress(address_msg(i, key, false)),
                0,
            )]
        }
        Change::AddRoute { ns, key, route } => vec![here(
            ns,
            RouteNetlinkMessage::NewRoute(route_msg(key, Some(route), ns, idx)?),
            NLM_F_CREATE | NLM_F_EXCL,
        )],
        Change::ReplaceRoute { ns, key, to, .. } => vec![here(
            ns,
            RouteNetlinkMessage::NewRoute(route_msg(key, Some(to), ns, idx)?),
            NLM_F_CREATE | NLM_F_REPLACE,
        )],
        Change::DeleteRoute { ns, key, .. } => vec![here(
            ns,
            RouteNetlinkMessage::DelRoute(route_msg(key, None, ns, idx)?),
            0,
        )],
        Change::AddRule { ns, rule } => vec![here(
            ns,
            RouteNetlinkMessage::NewRule(rule_msg(rule)),
            NLM_F_CREATE | NLM_F_EXCL,
        )],
        Change::DeleteRule { ns, rule } => {
            vec![here(ns, RouteNetlinkMessage::DelRule(rule_msg(rule)), 0)]
        }
    })
}

/// `RTM_NEWLINK` header for a link to create with a chosen index: name, MTU, up.
fn new_link_header(index: u32, name: &str, link: &Link) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    if link.up {
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
    }
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(mtu) = link.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    msg
}

/// Sets the ownership alias on a link (the kernel takes no alias at creation).
fn set_alias(index: u32, lab: &str) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::IfAlias(owner_alias(lab)));
    RouteNetlinkMessage::NewLink(msg)
}

fn family_of(net: &IpNet) -> AddressFamily {
    match net {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

fn address_msg(index: u32, key: &AddressKey, create: bool) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family_of(&key.addr);
    msg.header.prefix_len = key.addr.prefix_len();
    msg.header.index = index;
    let ip = key.addr.addr();
    if ip.is_ipv4() {
        msg.attributes.push(AddressAttribute::Local(ip));
    }
    msg.attributes.push(AddressAttribute::Address(ip));
    if create {
        if ip.is_ipv6() {
            // A lab address is known unique (validated): skip duplicate address
            // detection, so it is usable at once.
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        msg.attributes
            .push(AddressAttribute::Protocol(AddressProtocol::from(
                NSHOST_PROTO,
            )));
    }
    msg
}

fn route_msg(
    key: &RouteKey,
    route: Option<&Route>,
    ns: &str,
    idx: &IfIndexes,
) -> Result<RouteMessage, BuildError> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family_of(&key.dst);
    msg.header.destination_prefix_length = key.dst.prefix_len();
    msg.header.protocol = RouteProtocol::from(NSHOST_PROTO);
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
    match route {
        Some(route) => {
            msg.header.kind = RouteType::Unicast;
            msg.header.scope = if route.gateway.is_some() {
                RouteScope::Universe
            } else {
                RouteScope::Link
            };
            if let Some(gw) = route.gateway {
                msg.attributes
                    .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
            }
            if let Some(dev) = &route.dev {
                let i = idx.get(ns, dev).ok_or_else(|| BuildError::NoLink {
                    ns: ns.to_string(),
                    name: dev.clone(),
                })?;
                msg.attributes.push(RouteAttribute::Oif(i));
            }
        }
        None => msg.header.scope = RouteScope::NoWhere,
    }
    Ok(msg)
}

fn rule_msg(rule: &Rule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = if rule.v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    msg.header.action = RuleAction::ToTable;
    msg.header.table = if rule.table < 256 {
        rule.table as u8
    } else {
        0
    };
    msg.header.tos = rule.tos.unwrap_or(0);
    msg.attributes.push(RuleAttribute::Priority(rule.priority));
    msg.attributes.push(RuleAttribute::Table(rule.table));
    if let Some(from) = rule.from {
        msg.header.src_len = from.prefix_len();
        msg.attributes.push(RuleAttribute::Source(from.network()));
    }
    if let Some(to) = rule.to {
        msg.header.dst_len = to.prefix_len();
        msg.attributes
            .push(RuleAttribute::Destination(to.network()));
    }
    if let Some(iif) = &rule.iif {
        msg.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(oif) = &rule.oif {
        msg.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    if let Some(mark) = rule.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(mark));
    }
    if let Some(p) = rule.ipproto {
        msg.attributes
            .push(RuleAttribute::IpProtocol(IpProtocol::from(p)));
    }
    if let Some(r) = rule.sport {
        msg.attributes
            .push(RuleAttribute::SourcePortRange(RulePortRange {
                start: r.start,
                end: r.end,
            }));
    }
    if let Some(r) = rule.dport {
        msg.attributes
            .push(RuleAttribute::DestinationPortRange(RulePortRange {
                start: r.start,
                end: r.end,
            }));
    }
    msg.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(NSHOST_PROTO)));
    msg
}
