//! Address requests.

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};

use super::{BuildError, IfIndexes, Request, family_of, index};
use crate::state::AddressKey;

/// Adds address `key` in `ns`.
pub(super) fn add(ns: &str, key: &AddressKey, idx: &IfIndexes) -> Result<Vec<Request>, BuildError> {
    let i = index(idx, ns, &key.ifname)?;
    Ok(vec![Request::plain(
        RouteNetlinkMessage::NewAddress(address_msg(i, key, true)),
        NLM_F_CREATE | NLM_F_EXCL,
    )])
}

/// Deletes address `key` in `ns`.
pub(super) fn delete(
    ns: &str,
    key: &AddressKey,
    idx: &IfIndexes,
) -> Result<Vec<Request>, BuildError> {
    let i = index(idx, ns, &key.ifname)?;
    Ok(vec![Request::plain(
        RouteNetlinkMessage::DelAddress(address_msg(i, key, false)),
        0,
    )])
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
