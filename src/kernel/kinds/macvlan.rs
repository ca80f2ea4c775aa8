//! macvlan: `IFLA_MACVLAN_MODE` from and to `state::kinds::Macvlan` (the parent is the
//! link's `IFLA_LINK`, set by the caller).

use netlink_packet_route::link::{InfoMacVlan, MacVlanMode};

use crate::netlink::attrs::{attrs, nla_u32};
use crate::state::kinds::{Macvlan, MacvlanMode as Mode};

pub fn encode(m: &Macvlan) -> Vec<InfoMacVlan> {
    vec![InfoMacVlan::Mode(MacVlanMode::from(m.mode.kernel_value()))]
}

const IFLA_MACVLAN_MODE: u16 = 1;

/// Reads a dumped `IFLA_INFO_DATA`; `parent` is the name of the link's `IFLA_LINK`.
pub fn decode(data: &[u8], parent: String) -> Macvlan {
    let mode = attrs(data)
        .find(|(k, _)| *k == IFLA_MACVLAN_MODE)
        .and_then(|(_, v)| nla_u32(v))
        .and_then(Mode::from_kernel)
        .unwrap_or(Mode::Vepa);
    Macvlan { parent, mode }
}
