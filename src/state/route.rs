//! Addresses, routes and policy rules, keyed the way the kernel identifies them.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The main routing table.
pub const RT_TABLE_MAIN: u32 = 254;
/// The protocol of a route added without one (`ip route add` says `boot`, and
/// `ip route show` leaves it out).
pub const RTPROT_BOOT: u8 = 3;

/// An address is identified by the interface and the address with its prefix.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct AddressKey {
    pub ifname: String,
    pub addr: IpNet,
}

/// Attributes of an address beyond its key (none are compared yet).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Address {}

/// A route is identified the way the kernel identifies it: table, destination, metric;
/// `alt` numbers the IPv4 routes that share those three (`ip route append`), in the
/// kernel's order, from 0.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct RouteKey {
    pub table: u32,
    pub dst: IpNet,
    pub metric: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub alt: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RouteKey {
    /// The first (or only) route of `table` to `dst` at `metric`.
    pub fn new(table: u32, dst: IpNet, metric: u32) -> Self {
        RouteKey {
            table,
            dst,
            metric,
            alt: 0,
        }
    }

    /// The key without its `alt` number: the kernel's own identity.
    pub fn group(&self) -> (u32, IpNet, u32) {
        (self.table, self.dst, self.metric)
    }
}

/// Attributes of a route that can be replaced in place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Route {
    pub gateway: Option<IpAddr>,
    /// Output interface. Desired `None`: whatever the kernel resolves from the gateway
    /// (never compared); live routes always carry one.
    pub dev: Option<String>,
    /// `rtm_protocol`: who says the route exists (`boot` by default, as for `ip`).
    pub proto: u8,
}

/// A firewall-mark match: `mark/mask`. A zero mask matches every packet, so it is never
/// stored: the kernel reports no mark then.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct Fwmark {
    pub mark: u32,
    pub mask: u32,
}

impl Fwmark {
    /// The match the kernel makes of a mark and an optional mask (without a mask, a
    /// non-zero mark is compared in full and a zero mark matches everything), or `None`
    /// when it matches every packet.
    pub fn new(mark: u32, mask: Option<u32>) -> Option<Self> {
        let mask = mask.unwrap_or(if mark == 0 { 0 } else { u32::MAX });
        let mark = mark & mask;
        (mask != 0).then_some(Fwmark { mark, mask })
    }
}

/// A policy rule. Rules have no in-place update, so the whole rule is its identity.
/// Prefixes of length 0 are stored as `None`, as the kernel stores them.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct Rule {
    /// `false` for IPv4, `true` for IPv6.
    pub v6: bool,
    pub priority: u32,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<Fwmark>,
    pub tos: Option<u8>,
    pub ipproto: Option<u8>,
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    pub table: u32,
}

impl Rule {
    /// A prefix as the kernel keeps it in a rule: none for a zero-length one.
    pub fn prefix(net: Option<IpNet>) -> Option<IpNet> {
        net.filter(|n| n.prefix_len() != 0).map(|n| n.trunc())
    }
}

/// An inclusive port range; a single port is `start == end`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fwmarks_are_stored_as_the_kernel_matches_them() {
        assert_eq!(Fwmark::new(0, None), None);
        assert_eq!(Fwmark::new(0, Some(0)), None);
        // A mark with no bit to compare matches every packet too.
        assert_eq!(Fwmark::new(0x100, Some(0)), None);
        assert_eq!(
            Fwmark::new(0, Some(u32::MAX)),
            Some(Fwmark {
                mark: 0,
                mask: u32::MAX
            })
        );
        assert_eq!(
            Fwmark::new(0x11, None),
            Some(Fwmark {
                mark: 0x11,
                mask: u32::MAX
            })
        );
        assert_eq!(
            Fwmark::new(0x11, Some(0xf0)),
            Some(Fwmark {
                mark: 0x10,
                mask: 0xf0
            })
        );
    }

    #[test]
    fn zero_length_rule_prefixes_are_none() {
        assert_eq!(Rule::prefix(Some("0.0.0.0/0".parse().unwrap())), None);
        assert_eq!(Rule::prefix(Some("::/0".parse().unwrap())), None);
        assert_eq!(
            Rule::prefix(Some("10.1.2.3/16".parse().unwrap())),
            Some("10.1.0.0/16".parse().unwrap())
        );
    }
}
