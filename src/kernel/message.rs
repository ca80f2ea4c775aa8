//! Builds the netlink requests of an operation: pure functions from a change's part
//! (plus the ifindexes it refers to) to rtnetlink messages. Nothing is sent here, and
//! every request of a plan is built before any is sent.

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoData, InfoKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType as NlRouteType,
};
use netlink_packet_route::rule::{
    RuleAction as NlRuleAction, RuleAttribute, RuleFlags, RuleMessage, RulePortRange, RuleUidRange,
};
use netlink_packet_route::{AddressFamily, IpProtocol, RouteNetlinkMessage};

use crate::kernel::kinds;
use crate::netlink::FD_PLACEHOLDER;
use crate::plan::{Change, Part};
use crate::state::{AddressKey, Link, LinkKind, NetState, Route, RouteKey, Rule};

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

/// A request could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BuildError {
    #[error("{ns}: no interface `{name}`")]
    NoLink { ns: String, name: String },
    #[error("sysctl {key}: `{value}` is not a number")]
    BadValue { key: String, value: String },
    #[error("{0}")]
    Kind(String),
    #[error("{0} is not a netlink operation")]
    NotNetlink(String),
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

/// The index of `name` for the attributes of a `kind` link in `ns`: the vxlan end of a
/// stretched network names a device of the machine's own namespace (where its socket
/// is), looked up from the thread that builds the messages, which never leaves it.
fn link_index(idx: &IfIndexes, ns: &str, kind: &LinkKind, name: &str) -> Option<u32> {
    match kind {
        LinkKind::Vxlan(v) if v.underlay => nix::net::if_::if_nametoindex(name).ok(),
        _ => idx.get(ns, name),
    }
}

/// Builds the requests of one operation, in order.
pub fn build(
    change: &Change,
    part: Part,
    idx: &mut IfIndexes,
    ipv6_links: &HashSet<(String, String)>,
) -> Result<Vec<Request>, BuildError> {
    let index = |idx: &IfIndexes, ns: &str, name: &str| {
        idx.get(ns, name).ok_or_else(|| BuildError::NoLink {
            ns: ns.to_string(),
            name: name.to_string(),
        })
    };
    if part == Part::Flood {
        let (ns, name, v) = match change {
            Change::AddLink { ns, name, link, .. } => match &link.kind {
                LinkKind::Vxlan(v) => (ns, name, v),
                _ => return Err(BuildError::NotNetlink(change.describe())),
            },
            _ => return Err(BuildError::NotNetlink(change.describe())),
        };
        let i = index(idx, ns, name)?;
        return Ok(v
            .flood
            .iter()
            .map(|dst| flood_entry(i, *dst, true))
            .collect());
    }
    if part == Part::PeerUp {
        let Change::AddLink { peer: Some(p), .. } = change else {
            return Err(BuildError::NotNetlink(change.describe()));
        };
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
        return Ok(out);
    }
    Ok(match change {
        Change::AddNamespace { .. }
        | Change::DeleteNamespace { .. }
        | Change::SetSysctl { .. }
        | Change::SetFirewall { .. } => {
            return Err(BuildError::NotNetlink(change.describe()));
        }
        Change::SetQdisc { ns, link, to, .. } => {
            let (msg, flags) = crate::kernel::qdisc::request(index(idx, ns, link)?, to.as_deref());
            vec![Request::plain(msg, flags)]
        }
        Change::SetLinkSetting {
            ns,
            link,
            setting,
            to,
            ..
        } => {
            let Some(conf) = setting.devconf_index() else {
                return Err(BuildError::NotNetlink(change.describe()));
            };
            let value: i32 = to.trim().parse().map_err(|_| BuildError::BadValue {
                key: setting.key(link),
                value: to.clone(),
            })?;
            let mut msg = LinkMessage::default();
            msg.header.index = index(idx, ns, link)?;
            msg.attributes
                .push(LinkAttribute::AfSpecUnknown(devconf_payload(conf, value)));
            vec![Request::plain(RouteNetlinkMessage::SetLink(msg), 0)]
        }
        Change::AddLink {
            ns,
            name,
            link,
            peer,
        } => {
            let main = idx.assign(ns, name);
            let mut msg = new_link(main, name, link, link.up);
            if let Some(master) = &link.master {
                msg.attributes
                    .push(LinkAttribute::Controller(index(idx, ns, master)?));
            }
            let mut req =
                Request::plain(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL);
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
                            BuildError::Kind(format!(
                                "a {} link cannot be created",
                                kind.kernel_name()
                            ))
                        })?;
                    let RouteNetlinkMessage::NewLink(msg) = &mut req.msg else {
                        unreachable!("built above")
                    };
                    if let LinkKind::Macvlan(m) = kind {
                        msg.attributes
                            .push(LinkAttribute::Link(index(idx, ns, &m.parent)?));
                    }
                    if let LinkKind::Vxlan(v) = kind
                        && v.underlay
                    {
                        // Sent from the underlay's socket, which the tunnel keeps, and
                        // placed in `ns` by the same request.
                        msg.attributes.push(LinkAttribute::NetNsFd(FD_PLACEHOLDER));
                        req.ns_fd = Some(ns.clone());
                    }
                    msg.attributes.push(LinkAttribute::LinkInfo(info));
                }
            }
            vec![req]
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
                && let Some(info) =
                    kinds::link_info(&to_kind, &|n| link_index(idx, ns, &to_kind, n), true)
                        .map_err(BuildError::Kind)?
            {
                msg.attributes.push(LinkAttribute::LinkInfo(info));
            }
            let mut out = Vec::new();
            let link_changes =
                !msg.attributes.is_empty() || msg.header.change_mask != LinkFlags::empty();
            if link_changes || flood.is_none() {
                out.push(Request::plain(RouteNetlinkMessage::SetLink(msg), 0));
            }
            if let Some((was, will)) = flood {
                out.extend(was.difference(will).map(|d| flood_entry(i, *d, false)));
                out.extend(will.difference(was).map(|d| flood_entry(i, *d, true)));
            }
            out
        }
        Change::DeleteLink { ns, name, .. } => {
            let i = index(idx, ns, name)?;
            idx.forget(ns, name);
            let mut msg = LinkMessage::default();
            msg.header.index = i;
            vec![Request::plain(RouteNetlinkMessage::DelLink(msg), 0)]
        }
        Change::AddAddress { ns, key, .. } => {
            let i = index(idx, ns, &key.ifname)?;
            vec![Request::plain(
                RouteNetlinkMessage::NewAddress(address_msg(i, key, true)),
                NLM_F_CREATE | NLM_F_EXCL,
            )]
        }
        Change::DeleteAddress { ns, key, .. } => {
            let i = index(idx, ns, &key.ifname)?;
            vec![Request::plain(
                RouteNetlinkMessage::DelAddress(address_msg(i, key, false)),
                0,
            )]
        }
        Change::AddRoute { ns, key, route } => {
            let flags = if key.alt > 0 {
                NLM_F_CREATE | NLM_F_APPEND
            } else {
                NLM_F_CREATE | NLM_F_EXCL
            };
            vec![Request::plain(
                RouteNetlinkMessage::NewRoute(route_msg(key, route, ns, idx, true)?),
                flags,
            )]
        }
        Change::ReplaceRoute { ns, key, to, .. } => vec![Request::plain(
            RouteNetlinkMessage::NewRoute(route_msg(key, to, ns, idx, true)?),
            NLM_F_CREATE | NLM_F_REPLACE,
        )],
        Change::DeleteRoute { ns, key, route } => vec![Request::plain(
            RouteNetlinkMessage::DelRoute(route_msg(key, route, ns, idx, false)?),
            0,
        )],
        Change::AddRule { rule, .. } => vec![Request::plain(
            RouteNetlinkMessage::NewRule(rule_msg(rule)),
            NLM_F_CREATE | NLM_F_EXCL,
        )],
        Change::DeleteRule { rule, .. } => {
            vec![Request::plain(
                RouteNetlinkMessage::DelRule(rule_msg(rule)),
                0,
            )]
        }
    })
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

fn nla(kind: u16, value: &[u8], out: &mut Vec<u8>) {
    let len = 4 + value.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len() + (len.next_multiple_of(4) - len), 0);
}

const AF_INET: u16 = 2;
const IFLA_INET_CONF: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;

/// The payload of an `IFLA_AF_SPEC` setting one IPv4 devconf value (the crate's own
/// request type leaves out zero values, so it cannot set one to 0).
pub fn devconf_payload(index: u16, value: i32) -> Vec<u8> {
    let mut conf = Vec::new();
    nla(index, &value.to_ne_bytes(), &mut conf);
    let mut inet = Vec::new();
    nla(IFLA_INET_CONF | NLA_F_NESTED, &conf, &mut inet);
    let mut spec = Vec::new();
    nla(AF_INET | NLA_F_NESTED, &inet, &mut spec);
    spec
}

/// Reads devconf value `index` from a dumped `IFLA_AF_SPEC` payload, where the kernel
/// puts the whole table as an array of u32 (entry `i` is index `i+1`).
pub fn devconf_read(af_spec: &[u8], index: u16) -> Option<i32> {
    use crate::netlink::attrs::attrs;
    let inet = attrs(af_spec).find(|(k, _)| *k == AF_INET)?.1;
    let conf = attrs(inet).find(|(k, _)| *k == IFLA_INET_CONF)?.1;
    let at = (usize::from(index) - 1) * 4;
    Some(i32::from_ne_bytes(conf.get(at..at + 4)?.try_into().ok()?))
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
    // The broadcast address `ip addr add ... brd +` gives: the subnet's last address
    // (none for a /31 or /32, whose two or one addresses are all hosts).
    if create
        && let IpNet::V4(v4) = key.addr
        && v4.prefix_len() < 31
    {
        msg.attributes
            .push(AddressAttribute::Broadcast(v4.broadcast()));
    }
    if create && ip.is_ipv6() {
        // A lab address is known unique (validated): skip duplicate address detection,
        // so it is usable at once.
        msg.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    msg
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

fn rule_msg(rule: &Rule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = if rule.v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    msg.header.action = NlRuleAction::from(rule.action.number());
    if rule.not {
        msg.header.flags = RuleFlags::Invert;
    }
    msg.header.table = if rule.table < 256 {
        rule.table as u8
    } else {
        0
    };
    msg.header.tos = rule.tos.unwrap_or(0);
    msg.attributes.push(RuleAttribute::Priority(rule.priority));
    if rule.table != 0 {
        msg.attributes.push(RuleAttribute::Table(rule.table));
    }
    if let Some(g) = rule.goto {
        msg.attributes.push(RuleAttribute::Goto(g));
    }
    if let Some(u) = rule.uidrange {
        msg.attributes.push(RuleAttribute::UidRange(RuleUidRange {
            start: u.start,
            end: u.end,
        }));
    }
    if let Some(n) = rule.suppress_prefixlength {
        msg.attributes.push(RuleAttribute::SuppressPrefixLen(n));
    }
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
    if let Some(m) = rule.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(m.mark));
        msg.attributes.push(RuleAttribute::FwMask(m.mask));
    }
    if let Some(p) = rule.ipproto {
        msg.attributes
            .push(RuleAttribute::IpProtocol(IpProtocol::from(p)));
    }
    // A rule put back by a rollback keeps who added it.
    if rule.proto != 0 {
        msg.attributes
            .push(RuleAttribute::Protocol(RouteProtocol::from(rule.proto)));
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
    msg
}

#[cfg(test)]
mod tests;
