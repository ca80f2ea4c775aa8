//! Decoding dump replies into state objects, straight from the message bytes and only
//! the attributes the diff needs: a link dump carries kilobytes per link (per-family
//! configuration, statistics) and a full decode of every reply dominated the no-op plan.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_core::NlasIterator;

use crate::state::{
    Address, AddressKey, Link, LinkKind, NSHOST_PROTO, PortRange, Route, RouteKey, Rule, RuleMeta,
    alias_owner,
};

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWRULE: u16 = 32;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// Netlink message header length.
const NLMSG_HDR: usize = 16;

/// A veth's peer as the kernel reports it: peer ifindex and the peer namespace's nsid
/// (`None` when the peer is in the same namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPeer {
    pub ifindex: u32,
    pub netnsid: Option<i32>,
}

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

/// Attributes as (type without flags, value).
pub(crate) fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    NlasIterator::new(buf).map_while(|nla| {
        let nla = nla.ok()?;
        let (kind, len) = (nla.kind() & 0x3fff, usize::from(nla.length()));
        Some((kind, nla.into_inner().get(4..len)?))
    })
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

/// A decoded link: name, link, raw veth peer, master ifindex, alias, and the raw
/// `IFLA_AF_SPEC` payload (borrowed from the message).
pub type DecodedLink<'a> = (
    String,
    Link,
    Option<RawPeer>,
    Option<u32>,
    Option<String>,
    Option<&'a [u8]>,
);

const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_IFALIAS: u16 = 20;
const IFLA_LINK_NETNSID: u16 = 37;
const ARPHRD_LOOPBACK: u16 = 772;
const IFF_UP: u32 = 1;

fn nla_str(v: &[u8]) -> String {
    let v = v.split(|b| *b == 0).next().unwrap_or(v);
    String::from_utf8_lossy(v).into_owned()
}

fn nla_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// Decodes only the link attributes the diff needs, straight from the message bytes:
/// a link dump carries kilobytes per link (per-family configuration) that nshost never
/// looks at, and a full decode of a large fabric dominated the no-op plan.
pub fn decode_link(raw: &[u8]) -> Option<DecodedLink<'_>> {
    let (ifi, rest) = split(raw, RTM_NEWLINK, 16)?;
    let link_type = u16::from_ne_bytes([ifi[2], ifi[3]]);
    let index = u32::from_ne_bytes(ifi[4..8].try_into().ok()?);
    let flags = u32::from_ne_bytes(ifi[8..12].try_into().ok()?);
    let (mut name, mut mtu, mut alias, mut master) = (String::new(), None, None, None);
    let (mut peer_index, mut netnsid, mut kind, mut af_spec) = (None, None, None, None);
    for (kind_bits, v) in attrs(rest) {
        match kind_bits {
            IFLA_IFNAME => name = nla_str(v),
            IFLA_MTU => mtu = nla_u32(v),
            IFLA_IFALIAS => alias = Some(nla_str(v)),
            IFLA_MASTER => master = nla_u32(v),
            IFLA_LINK => peer_index = nla_u32(v),
            IFLA_LINK_NETNSID => netnsid = nla_u32(v).map(|i| i as i32),
            IFLA_AF_SPEC => af_spec = Some(v),
            IFLA_LINKINFO => {
                for (k, value) in attrs(v) {
                    if k == IFLA_INFO_KIND {
                        kind = Some(nla_str(value));
                    }
                }
            }
            _ => {}
        }
    }
    let kind = match kind.as_deref() {
        Some("veth") => LinkKind::Veth { peer: None },
        Some("bridge") => LinkKind::Bridge,
        Some(other) => LinkKind::Other {
            name: other.to_string(),
        },
        None if link_type == ARPHRD_LOOPBACK => LinkKind::Loopback,
        None => LinkKind::Other {
            name: "unknown".to_string(),
        },
    };
    let peer = match (&kind, peer_index) {
        (LinkKind::Veth { .. }, Some(ifindex)) => Some(RawPeer { ifindex, netnsid }),
        _ => None,
    };
    let owner = match kind {
        LinkKind::Loopback => None,
        _ => alias.as_deref().and_then(alias_owner).map(str::to_string),
    };
    let link = Link {
        kind,
        owner,
        mtu,
        up: flags & IFF_UP != 0,
        master: None,
        ifindex: Some(index),
    };
    Some((name, link, peer, master, alias, af_spec))
}

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_PROTO: u16 = 11;

/// An address reply: the address on its interface, and whether it carries nshost's mark.
pub fn decode_address(
    raw: &[u8],
    by_index: &HashMap<u32, String>,
) -> Option<(AddressKey, Address)> {
    let (ifa, rest) = split(raw, RTM_NEWADDR, 8)?;
    let (family, prefix_len) = (ifa[0], ifa[1]);
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
    Some((
        AddressKey { ifname, addr },
        Address {
            owned: proto == NSHOST_PROTO,
        },
    ))
}

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
/// The local table holds the kernel's own local and broadcast routes.
const RT_TABLE_LOCAL: u32 = 255;

/// A route reply, keyed as the kernel keys routes; `None` for other families and for
/// the local table.
pub fn decode_route(raw: &[u8], by_index: &HashMap<u32, String>) -> Option<(RouteKey, Route)> {
    let (rtm, rest) = split(raw, RTM_NEWROUTE, 12)?;
    let (family, dst_len, protocol) = (rtm[0], rtm[1], rtm[5]);
    if family != AF_INET && family != AF_INET6 {
        return None;
    }
    let mut table = u32::from(rtm[4]);
    let (mut dst, mut gateway, mut oif, mut metric) = (None, None, None, 0);
    for (kind, v) in attrs(rest) {
        match kind {
            RTA_TABLE => table = nla_u32(v)?,
            RTA_DST => dst = ip(family, v),
            RTA_GATEWAY => gateway = ip(family, v),
            RTA_OIF => oif = nla_u32(v),
            RTA_PRIORITY => metric = nla_u32(v)?,
            _ => {}
        }
    }
    if table == RT_TABLE_LOCAL {
        return None;
    }
    let dst = IpNet::new(dst.unwrap_or(unspecified(family)), dst_len).ok()?;
    Some((
        RouteKey { table, dst, metric },
        Route {
            gateway,
            dev: oif.and_then(|i| by_index.get(&i).cloned()),
            owned: protocol == NSHOST_PROTO,
        },
    ))
}

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_TABLE: u16 = 15;
const FRA_OIFNAME: u16 = 17;
const FRA_PROTOCOL: u16 = 21;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;
const FR_ACT_TO_TBL: u8 = 1;

fn port_range(v: &[u8]) -> Option<PortRange> {
    Some(PortRange {
        start: u16::from_ne_bytes(v.get(0..2)?.try_into().ok()?),
        end: u16::from_ne_bytes(v.get(2..4)?.try_into().ok()?),
    })
}

/// A rule reply. Rules that do not look up a table get table 0.
pub fn decode_rule(raw: &[u8]) -> Option<(Rule, RuleMeta)> {
    let (frh, rest) = split(raw, RTM_NEWRULE, 12)?;
    let (family, dst_len, src_len, tos, action) = (frh[0], frh[1], frh[2], frh[3], frh[7]);
    let v6 = match family {
        AF_INET => false,
        AF_INET6 => true,
        _ => return None,
    };
    let to_table = action == FR_ACT_TO_TBL;
    let mut rule = Rule {
        v6,
        table: if to_table { u32::from(frh[4]) } else { 0 },
        tos: (tos != 0).then_some(tos),
        ..Rule::default()
    };
    let mut owned = false;
    for (kind, v) in attrs(rest) {
        match kind {
            FRA_PRIORITY => rule.priority = nla_u32(v)?,
            FRA_SRC => rule.from = IpNet::new(ip(family, v)?, src_len).ok(),
            FRA_DST => rule.to = IpNet::new(ip(family, v)?, dst_len).ok(),
            FRA_IIFNAME => rule.iif = Some(nla_str(v)),
            FRA_OIFNAME => rule.oif = Some(nla_str(v)),
            FRA_FWMARK => rule.fwmark = nla_u32(v),
            FRA_TABLE if to_table => rule.table = nla_u32(v)?,
            FRA_IP_PROTO => rule.ipproto = v.first().copied(),
            FRA_SPORT_RANGE => rule.sport = port_range(v),
            FRA_DPORT_RANGE => rule.dport = port_range(v),
            FRA_PROTOCOL => owned = v.first() == Some(&NSHOST_PROTO),
            _ => {}
        }
    }
    Some((rule, RuleMeta { owned }))
}

#[cfg(test)]
mod tests {
    //! Round trips: what nshost's own request builders encode, these decoders read back.

    use super::*;
    use crate::kernel::message::{self, IfIndexes};
    use crate::kernel::netlink::{Batch, for_each_raw};
    use crate::plan::Change;

    fn encode(change: &Change, idx: &mut IfIndexes) -> Vec<Vec<u8>> {
        let mut batch = Batch::new();
        for r in message::build("lab", change, idx, &HashMap::new(), &Default::default()).unwrap() {
            batch.push(r.msg, r.flags);
        }
        let mut out = Vec::new();
        for_each_raw(batch.bytes(), |_, _, raw| out.push(raw.to_vec()));
        out
    }

    fn eth0() -> (IfIndexes, HashMap<u32, String>) {
        let mut idx = IfIndexes::default();
        let i = idx.assign("ns", "eth0");
        (idx, HashMap::from([(i, "eth0".to_string())]))
    }

    #[test]
    fn addresses_round_trip() {
        let (mut idx, by_index) = eth0();
        for addr in ["10.1.2.3/24", "2001:db8::7/64"] {
            let key = AddressKey {
                ifname: "eth0".into(),
                addr: addr.parse().unwrap(),
            };
            let change = Change::AddAddress {
                ns: "ns".into(),
                key: key.clone(),
            };
            let raw = &encode(&change, &mut idx)[0];
            assert_eq!(
                decode_address(raw, &by_index),
                Some((key, Address { owned: true }))
            );
        }
    }

    #[test]
    fn routes_round_trip() {
        let (mut idx, by_index) = eth0();
        for (dst, gw, table, metric) in [
            ("0.0.0.0/0", Some("10.1.1.1"), 254, 0),
            ("10.9.0.0/16", None, 100, 7),
            ("2001:db8:9::/48", Some("2001:db8::1"), 70000, 1024),
        ] {
            let key = RouteKey {
                table,
                dst: dst.parse().unwrap(),
                metric,
            };
            let route = Route {
                gateway: gw.map(|g| g.parse().unwrap()),
                dev: Some("eth0".into()),
                owned: true,
            };
            let change = Change::AddRoute {
                ns: "ns".into(),
                key: key.clone(),
                route: route.clone(),
            };
            let raw = &encode(&change, &mut idx)[0];
            assert_eq!(decode_route(raw, &by_index), Some((key, route)));
        }
    }

    #[test]
    fn rules_round_trip() {
        let (mut idx, _) = eth0();
        let rule = Rule {
            v6: false,
            priority: 100,
            from: Some("10.1.0.0/16".parse().unwrap()),
            to: Some("10.2.0.0/16".parse().unwrap()),
            iif: Some("eth0".into()),
            oif: Some("eth1".into()),
            fwmark: Some(7),
            tos: Some(0x10),
            ipproto: Some(6),
            sport: Some(PortRange {
                start: 1000,
                end: 2000,
            }),
            dport: Some(PortRange { start: 80, end: 80 }),
            table: 100,
        };
        let change = Change::AddRule {
            ns: "ns".into(),
            rule: rule.clone(),
        };
        let raw = &encode(&change, &mut idx)[0];
        assert_eq!(decode_rule(raw), Some((rule, RuleMeta { owned: true })));
    }
}
