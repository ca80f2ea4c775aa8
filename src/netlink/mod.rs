//! A netlink layer generic over the protocol family: requests built into batches ahead
//! of sending, sent in chunks with one acknowledgement per chunk, dumps, and the
//! kernel's errors decoded with their extended-ack text. Written once for every family
//! nshost speaks (route today; netfilter and generic netlink next), below `kernel` and
//! unaware of labs.

pub mod attrs;
mod batch;
mod error;
pub mod netfilter;
mod socket;

pub use batch::{Batch, FD_PLACEHOLDER};
pub use error::NlError;
pub use netfilter::Netfilter;
pub use socket::{Socket, for_each_message, parse};

use netlink_packet_core::{NetlinkDeserializable, NetlinkSerializable};

/// A netlink protocol family: its protocol number and its message type.
pub trait Family {
    /// The protocol passed to `socket(AF_NETLINK, SOCK_RAW, protocol)`.
    const PROTOCOL: isize;
    type Message: NetlinkSerializable + NetlinkDeserializable + std::fmt::Debug + Clone;
}

/// `NETLINK_ROUTE`: links, addresses, routes, rules, namespace ids.
#[derive(Debug, Clone, Copy)]
pub struct Route;

impl Family for Route {
    const PROTOCOL: isize = netlink_sys::protocols::NETLINK_ROUTE;
    type Message = netlink_packet_route::RouteNetlinkMessage;
}
