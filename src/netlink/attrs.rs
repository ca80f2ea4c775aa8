//! Reading netlink attributes straight from message bytes: the walker and the value
//! forms every family uses (strings, u32, addresses), for decoders that read only what
//! they need.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::NlasIterator;

/// Attributes as (type without the nested/byte-order flags, value).
pub fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    NlasIterator::new(buf).map_while(|nla| {
        let nla = nla.ok()?;
        let (kind, len) = (nla.kind() & 0x3fff, usize::from(nla.length()));
        Some((kind, nla.into_inner().get(4..len)?))
    })
}

/// A NUL-terminated string value.
pub fn nla_str(v: &[u8]) -> String {
    let v = v.split(|b| *b == 0).next().unwrap_or(v);
    String::from_utf8_lossy(v).into_owned()
}

/// A u32 value in host byte order.
pub fn nla_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// An address of either family, told by its length.
pub fn ip_any(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?))),
        _ => None,
    }
}
