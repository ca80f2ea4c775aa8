//! Decoding dump replies into state objects, straight from the message bytes and only
//! the attributes the diff needs: a link dump carries kilobytes per link (per-family
//! configuration, statistics) and a full decode of every reply dominated the no-op plan.
//!
//! What the kernel makes itself is left out here, so that the live state of a lab's
//! namespace holds exactly what the lab owns: the fallback tunnel devices a namespace
//! may be born with, the loopback's own addresses, link-local and autoconfigured IPv6
//! addresses, connected and router-advertised routes, the local table, and the default
//! rules.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::netlink::attrs::{attrs, nla_str, nla_u32};
use crate::state::{
    Address, AddressKey, Fwmark, LinkKind, MacAddr, Nexthop, PortRange, Route, RouteKey, RouteType,
    Rule, RuleAction, UidRange,
};

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWRULE: u16 = 32;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// Netlink message header length.
const NLMSG_HDR: usize = 16;

/// The message type and the payload after the netlink header and the `fixed`-byte
/// family header, or `None` when the message is shorter.
fn split(raw: &[u8], want: u16, fixed: usize) -> Option<(&[u8], &[u8])> {
    if raw.len() < NLMSG_HDR + fixed || u16::from_ne_bytes([raw[4], raw[5]]) != want {
        return None;
    }
    Some((
        &raw[NLMSG_HDR..NLMSG_HDR + fixed],
        &raw[NLMSG_HDR + fixed..],
    ))
}

fn ip(family: u8, v: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(v.get(..4)?).ok()?,
        ))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(v.get(..16)?).ok()?,
        ))),
        _ => None,
    }
}

fn unspecified(family: u8) -> IpAddr {
    if family == AF_INET6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_QDISC: u16 = 6;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_LINK_NETNSID: u16 = 37;
const ARPHRD_LOOPBACK: u16 = 772;
const IFF_UP: u32 = 1;

/// A dumped link, before the names of the ifindexes it refers to are known.
#[derive(Debug, Clone)]
pub struct RawLink {
    pub name: String,
    pub index: u32,
    pub up: bool,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    pub master: Option<u32>,
    /// `IFLA_LINK`: a veth's peer, a stacked link's lower device.
    pub link: Option<u32>,
    /// `IFLA_LINK_NETNSID`: the namespace of `link`, when it is another one.
    pub netnsid: Option<i32>,
    pub alias: Option<String>,
    /// `IFLA_OPERSTATE` (RFC 2863: 6 is up).
    pub oper: Option<u8>,
    pub loopback: bool,
    /// `IFLA_LINKINFO`, copied.
    pub linkinfo: Option<Vec<u8>>,
    /// `IFLA_AF_SPEC`, copied when asked for.
    pub af_spec: Option<Vec<u8>>,
    /// `IFLA_QDISC`: the kind of the root qdisc, when it is one `impair` makes (`tbf`,
    /// `netem`), whose parameters a qdisc dump then reads.
    pub lab_qdisc: bool,
}

/// The fallback tunnel devices the kernel may create in every new namespace (when the
/// module is loaded), by name and kind.
const FALLBACK_DEVICES: [(&str, &str); 10] = [
    ("tunl0", "ipip"),
    ("sit0", "sit"),
    ("ip6tnl0", "ip6tnl"),
    ("ip6gre0", "ip6gre"),
    ("gre0", "gre"),
    ("gretap0", "gretap"),
    ("erspan0", "erspan"),
    ("ip_vti0", "vti"),
    ("ip6_vti0", "vti6"),
    ("ip6erspan0", "ip6erspan"),
];

/// Decodes the link attributes nshost reads. `want_af_spec` says, by name, whose
/// per-family configuration to keep (links with settings to read).
pub fn decode_link(raw: &[u8], want_af_spec: &dyn Fn(&str) -> bool) -> Option<RawLink> {
    let (ifi, rest) = split(raw, RTM_NEWLINK, 16)?;
    let link_type = u16::from_ne_bytes([ifi[2], ifi[3]]);
    let index = u32::from_ne_bytes(ifi[4..8].try_into().ok()?);
    let flags = u32::from_ne_bytes(ifi[8..12].try_into().ok()?);
    let mut l = RawLink {
        name: String::new(),
        index,
        up: flags & IFF_UP != 0,
        mtu: None,
        mac: None,
        master: None,
        link: None,
        netnsid: None,
        alias: None,
        oper: None,
        loopback: link_type == ARPHRD_LOOPBACK,
        linkinfo: None,
        af_spec: None,
        lab_qdisc: false,
    };
    let mut af_spec = None;
    for (kind, v) in attrs(rest) {
        match kind {
            IFLA_IFNAME => l.name = nla_str(v),
            IFLA_MTU => l.mtu = nla_u32(v),
            IFLA_ADDRESS if v.len() == 6 => {
                l.mac = Some(MacAddr(v.try_into().ok()?));
            }
            IFLA_IFALIAS => l.alias = Some(nla_str(v)),
            IFLA_MASTER => l.master = nla_u32(v),
            IFLA_OPERSTATE => l.oper = v.first().copied(),
            IFLA_LINK => l.link = nla_u32(v),
            IFLA_LINK_NETNSID => l.netnsid = nla_u32(v).map(|i| i as i32),
            IFLA_AF_SPEC => af_spec = Some(v),
            IFLA_LINKINFO => l.linkinfo = Some(v.to_vec()),
            IFLA_QDISC => l.lab_qdisc = matches!(v, b"tbf\0" | b"netem\0"),
            _ => {}
        }
    }
    if let Some(a) = af_spec
        && want_af_spec(&l.name)
    {
        l.af_spec = Some(a.to_vec());
    }
    Some(l)
}

impl RawLink {
    /// The link's kind; `name_of` names an ifindex of the same namespace.
    pub fn kind(&self, name_of: &dyn Fn(u32) -> Option<String>) -> LinkKind {
        if let Some(kind) =
            crate::kernel::kinds::decode(self.linkinfo.as_deref(), self.link, name_of)
        {
            return kind;
        }
        if self.loopback {
            LinkKind::Loopback
        } else {
            LinkKind::Unmanaged {
                name: "unknown".to_string(),
            }
        }
    }

    /// Whether the kernel made this device itself (a fallback tunnel).
    pub fn kernel_made(&self, kind: &LinkKind) -> bool {
        FALLBACK_DEVICES
            .iter()
            .any(|(n, k)| *n == self.name && kind.kernel_name() == *k)
    }
}

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_PROTO: u16 = 11;
/// `IFA_PROTO_KERNEL_LO`, `_RA`, `_LL`: the loopback's, autoconfigured and link-local.
const IFA_PROTO_KERNEL: [u8; 3] = [1, 2, 3];
const IFA_F_PERMANENT: u8 = 0x80;

/// An address reply, unless it is one the kernel makes itself.
pub fn decode_address(
    raw: &[u8],
    by_index: &HashMap<u32, String>,
) -> Option<(AddressKey, Address)> {
    let (ifa, rest) = split(raw, RTM_NEWADDR, 8)?;
    let (family, prefix_len, flags) = (ifa[0], ifa[1], ifa[2]);
    let index = u32::from_ne_bytes(ifa[4..8].try_into().ok()?);
    let ifname = by_index.get(&index)?.clone();
    let (mut local, mut address, mut proto) = (None, None, 0u8);
    for (kind, v) in attrs(rest) {
        match kind {
            IFA_LOCAL => local = ip(family, v),
            IFA_ADDRESS => address = ip(family, v),
            IFA_PROTO => proto = *v.first()?,
            _ => {}
        }
    }
    let addr = IpNet::new(local.or(address)?, prefix_len).ok()?;
    let kernel_made = IFA_PROTO_KERNEL.contains(&proto)
        || match addr.addr() {
            IpAddr::V6(a) => {
                a.is_unicast_link_local()
                    || flags & IFA_F_PERMANENT == 0
                    || (ifname == "lo" && a.is_loopback())
            }
            IpAddr::V4(a) => ifname == "lo" && a.is_loopback() && prefix_len == 8,
        };
    if kernel_made {
        return None;
    }
    Some((AddressKey { ifname, addr }, Address { proto }))
}

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
/// The local table holds the kernel's own local and broadcast routes.
const RT_TABLE_LOCAL: u32 = 255;
const RT_TABLE_MAIN: u32 = 254;
const RTPROT_KERNEL: u8 = 2;
const RTPROT_RA: u8 = 9;
const RTN_UNICAST: u8 = 1;
const RTNH_F_ONLINK: u8 = 4;
/// `struct rtnexthop`: length, flags, hops (weight - 1), ifindex.
const RTNH_LEN: usize = 8;

/// The prefixes of a namespace's addresses, by interface: the kernel adds a route to
/// each in main (proto kernel), which the lab does not own.
pub type AddressPrefixes = HashSet<(String, IpNet)>;

/// The prefix an address reply gives its interface a route to, whoever made the address.
pub fn address_prefix(raw: &[u8], by_index: &HashMap<u32, String>) -> Option<(String, IpNet)> {
    let (ifa, rest) = split(raw, RTM_NEWADDR, 8)?;
    let (family, prefix_len) = (ifa[0], ifa[1]);
    let index = u32::from_ne_bytes(ifa[4..8].try_into().ok()?);
    let (mut local, mut address) = (None, None);
    for (kind, v) in attrs(rest) {
        match kind {
            IFA_LOCAL => local = ip(family, v),
            IFA_ADDRESS => address = ip(family, v),
            _ => {}
        }
    }
    let net = IpNet::new(local.or(address)?, prefix_len).ok()?.trunc();
    Some((by_index.get(&index)?.clone(), net))
}

/// Whether a proto-kernel route is one the kernel makes itself: an address's prefix
/// route in main, or IPv6's link-local and multicast routes.
fn kernel_made(table: u32, dst: &IpNet, dev: Option<&str>, prefixes: &AddressPrefixes) -> bool {
    if let IpNet::V6(d) = dst {
        let seg = d.addr().segments()[0];
        if (seg & 0xffc0 == 0xfe80 && d.prefix_len() >= 10) || (seg & 0xff00 == 0xff00) {
            return true;
        }
    }
    table == RT_TABLE_MAIN && dev.is_some_and(|dev| prefixes.contains(&(dev.to_string(), *dst)))
}

/// The next hops of an `RTA_MULTIPATH` attribute, and whether the first is onlink.
fn multipath(
    family: u8,
    mut v: &[u8],
    by_index: &HashMap<u32, String>,
) -> Option<(Vec<Nexthop>, bool)> {
    let mut hops = Vec::new();
    let mut onlink = false;
    while v.len() >= RTNH_LEN {
        let len = usize::from(u16::from_ne_bytes([v[0], v[1]]));
        if len < RTNH_LEN || len > v.len() {
            return None;
        }
        let (flags, weight) = (v[2], u16::from(v[3]) + 1);
        let index = u32::from_ne_bytes(v[4..8].try_into().ok()?);
        let mut gateway = None;
        for (kind, a) in attrs(&v[RTNH_LEN..len]) {
            if kind == RTA_GATEWAY {
                gateway = ip(family, a);
            }
        }
        if hops.is_empty() {
            onlink = flags & RTNH_F_ONLINK != 0;
        }
        hops.push(Nexthop {
            gateway,
            dev: by_index.get(&index).cloned(),
            weight,
        });
        v = &v[(len + 3) & !3..];
    }
    Some((hops, onlink))
}

/// A route reply, keyed as the kernel keys routes (`alt` left at 0: the caller numbers
/// routes sharing a key); `None` for other families, the local table, and routes the
/// kernel makes itself (an address's prefix route, IPv6 link-local and multicast,
/// router-advertised).
pub fn decode_route(
    raw: &[u8],
    by_index: &HashMap<u32, String>,
    prefixes: &AddressPrefixes,
) -> Option<(RouteKey, Route)> {
    let (rtm, rest) = split(raw, RTM_NEWROUTE, 12)?;
    let (family, dst_len, protocol, scope, kind) = (rtm[0], rtm[1], rtm[5], rtm[6], rtm[7]);
    let flags = u32::from_ne_bytes(rtm[8..12].try_into().ok()?);
    if family != AF_INET && family != AF_INET6 {
        return None;
    }
    if protocol == RTPROT_RA {
        return None;
    }
    let mut table = u32::from(rtm[4]);
    let (mut dst, mut gateway, mut oif, mut metric) = (None, None, None, 0);
    let (mut src, mut hops) = (None, None);
    for (attr, v) in attrs(rest) {
        match attr {
            RTA_TABLE => table = nla_u32(v)?,
            RTA_DST => dst = ip(family, v),
            RTA_GATEWAY => gateway = ip(family, v),
            RTA_OIF => oif = nla_u32(v),
            RTA_PRIORITY => metric = nla_u32(v)?,
            RTA_PREFSRC => src = ip(family, v),
            RTA_MULTIPATH => hops = multipath(family, v, by_index),
            _ => {}
        }
    }
    if table == RT_TABLE_LOCAL {
        return None;
    }
    let dst = IpNet::new(dst.unwrap_or(unspecified(family)), dst_len).ok()?;
    let dev = oif.and_then(|i| by_index.get(&i).cloned());
    if protocol == RTPROT_KERNEL && kernel_made(table, &dst, dev.as_deref(), prefixes) {
        return None;
    }
    let unicast = kind == RTN_UNICAST;
    let mut route = Route {
        gateway,
        // A route that sends nothing on has no device (IPv6 reports the loopback).
        dev: dev.filter(|_| unicast),
        proto: protocol,
        kind: RouteType::from_number(kind),
        scope: if family == AF_INET { scope } else { 0 },
        src,
        onlink: flags & u32::from(RTNH_F_ONLINK) != 0,
        nexthops: Vec::new(),
    };
    if let Some((hops, onlink)) = hops {
        route.onlink |= onlink;
        route.nexthops = hops;
    }
    Some((RouteKey::new(table, dst, metric), route))
}

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_GOTO: u16 = 4;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_UID_RANGE: u16 = 20;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_PROTOCOL: u16 = 21;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;
const FR_ACT_TO_TBL: u8 = 1;
const FIB_RULE_INVERT: u32 = 2;

fn port_range(v: &[u8]) -> Option<PortRange> {
    Some(PortRange {
        start: u16::from_ne_bytes(v.get(0..2)?.try_into().ok()?),
        end: u16::from_ne_bytes(v.get(2..4)?.try_into().ok()?),
    })
}

/// A rule reply, unless it is one of the kernel's defaults. Rules that do not look up a
/// table get table 0. A uid range the kernel reports for every rule (0-4294967295, no
/// range) is left out.
pub fn decode_rule(raw: &[u8]) -> Option<Rule> {
    let (frh, rest) = split(raw, RTM_NEWRULE, 12)?;
    let (family, dst_len, src_len, tos, action) = (frh[0], frh[1], frh[2], frh[3], frh[7]);
    let v6 = match family {
        AF_INET => false,
        AF_INET6 => true,
        _ => return None,
    };
    let to_table = action == FR_ACT_TO_TBL;
    let flags = u32::from_ne_bytes(frh[8..12].try_into().ok()?);
    let mut rule = Rule {
        v6,
        table: if to_table { u32::from(frh[4]) } else { 0 },
        tos: (tos != 0).then_some(tos),
        not: flags & FIB_RULE_INVERT != 0,
        action: RuleAction::from_number(action),
        ..Rule::default()
    };
    let (mut mark, mut mask) = (None, None);
    for (kind, v) in attrs(rest) {
        match kind {
            FRA_PRIORITY => rule.priority = nla_u32(v)?,
            FRA_SRC => rule.from = Rule::prefix(IpNet::new(ip(family, v)?, src_len).ok()),
            FRA_DST => rule.to = Rule::prefix(IpNet::new(ip(family, v)?, dst_len).ok()),
            FRA_IIFNAME => rule.iif = Some(nla_str(v)),
            FRA_OIFNAME => rule.oif = Some(nla_str(v)),
            FRA_FWMARK => mark = nla_u32(v),
            FRA_FWMASK => mask = nla_u32(v),
            FRA_TABLE if to_table => rule.table = nla_u32(v)?,
            FRA_IP_PROTO => rule.ipproto = v.first().copied(),
            FRA_SPORT_RANGE => rule.sport = port_range(v),
            FRA_DPORT_RANGE => rule.dport = port_range(v),
            FRA_GOTO => rule.goto = nla_u32(v),
            FRA_SUPPRESS_PREFIXLEN => {
                rule.suppress_prefixlength = nla_u32(v).filter(|&n| n != u32::MAX)
            }
            FRA_UID_RANGE => {
                rule.uidrange = Some(UidRange {
                    start: nla_u32(v.get(0..4)?)?,
                    end: nla_u32(v.get(4..8)?)?,
                })
            }
            FRA_PROTOCOL if v.first() == Some(&RTPROT_KERNEL) => return None,
            FRA_PROTOCOL => rule.proto = v.first().copied().unwrap_or(0),
            _ => {}
        }
    }
    if rule.uidrange
        == Some(UidRange {
            start: 0,
            end: u32::MAX,
        })
    {
        rule.uidrange = None;
    }
    rule.fwmark = match (mark, mask) {
        (None, None) => None,
        // A mark without a mask is compared in full; a mask alone goes with mark 0.
        (m, k) => Fwmark::new(m.unwrap_or(0), Some(k.unwrap_or(u32::MAX))),
    };
    Some(rule)
}
