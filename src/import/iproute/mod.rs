//! Readers of iproute2's text output (`ip addr show`, `ip route show`, `ip rule show`),
//! for every format that recorded it. Each reads what it knows and hands back, with its
//! reason, every line it cannot read: the importer reports those, never guesses.

mod addr;
mod route;
mod rule;

pub use addr::interfaces;
pub use route::routes;
pub use rule::rules;

use std::net::IpAddr;

use ipnet::IpNet;

/// A prefix as iproute2 prints it: `10.0.0.0/8`, or a bare address for a host route.
pub(crate) fn prefix(text: &str) -> Option<IpNet> {
    if text.contains('/') {
        text.parse::<IpNet>().ok()
    } else {
        text.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

/// A number as iproute2 prints it: decimal or `0x` hexadecimal.
pub(crate) fn number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
