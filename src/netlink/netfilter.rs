//! `NETLINK_NETFILTER`: nfnetlink messages as their subsystem, command, protocol family
//! and attribute bytes (the `nfgenmsg` header is written here). Enough for the requests
//! nshost makes itself; rulesets are read and written by the kernel's own tools.

use netlink_packet_core::{NetlinkDeserializable, NetlinkHeader, NetlinkSerializable};

use super::Family;

/// The netfilter family.
#[derive(Debug, Clone, Copy)]
pub struct Netfilter;

impl Family for Netfilter {
    const PROTOCOL: isize = netlink_sys::protocols::NETLINK_NETFILTER;
    type Message = NfMessage;
}

/// `NFNL_SUBSYS_IPSET`.
pub const SUBSYS_IPSET: u8 = 6;
/// `NFNL_SUBSYS_NFTABLES`.
pub const SUBSYS_NFTABLES: u8 = 10;

/// One nfnetlink message: `(subsystem << 8) | command`, the `nfgenmsg` family, and the
/// attributes after the header, already encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfMessage {
    pub subsys: u8,
    pub command: u8,
    /// `nfgen_family` (`NFPROTO_*`).
    pub family: u8,
    pub attrs: Vec<u8>,
}

impl NfMessage {
    /// A message with no attributes.
    pub fn new(subsys: u8, command: u8, family: u8) -> Self {
        NfMessage {
            subsys,
            command,
            family,
            attrs: Vec::new(),
        }
    }

    /// Appends an attribute (`nla_type`, value), padded to 4 bytes.
    pub fn with_attr(mut self, kind: u16, value: &[u8]) -> Self {
        let len = 4 + value.len();
        self.attrs.extend_from_slice(&(len as u16).to_ne_bytes());
        self.attrs.extend_from_slice(&kind.to_ne_bytes());
        self.attrs.extend_from_slice(value);
        self.attrs.resize(self.attrs.len().next_multiple_of(4), 0);
        self
    }
}

/// The `nfgenmsg` header: family, version 0, resource id 0.
const NFGENMSG_LEN: usize = 4;

impl NetlinkSerializable for NfMessage {
    fn message_type(&self) -> u16 {
        (u16::from(self.subsys) << 8) | u16::from(self.command)
    }

    fn buffer_len(&self) -> usize {
        NFGENMSG_LEN + self.attrs.len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        buffer[0] = self.family;
        buffer[1] = 0;
        buffer[2..4].copy_from_slice(&0u16.to_be_bytes());
        buffer[NFGENMSG_LEN..].copy_from_slice(&self.attrs);
    }
}

/// A message from the kernel that is not one nshost decodes.
#[derive(Debug)]
pub struct Undecoded;

impl std::fmt::Display for Undecoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a netfilter message too short for its header")
    }
}

impl std::error::Error for Undecoded {}

impl NetlinkDeserializable for NfMessage {
    type Error = Undecoded;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, Self::Error> {
        if payload.len() < NFGENMSG_LEN {
            return Err(Undecoded);
        }
        Ok(NfMessage {
            subsys: (header.message_type >> 8) as u8,
            command: header.message_type as u8,
            family: payload[0],
            attrs: payload[NFGENMSG_LEN..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_its_header_then_padded_attributes() {
        let m = NfMessage::new(SUBSYS_IPSET, 7, 2).with_attr(1, &[7]);
        assert_eq!(m.message_type(), 0x0607);
        let mut buf = vec![0xff; m.buffer_len()];
        m.serialize(&mut buf);
        assert_eq!(buf, [2, 0, 0, 0, 5, 0, 1, 0, 7, 0, 0, 0]);
    }
}
