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

/// Attributes of an address beyond its key (none are compared).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Address {
    /// `IFA_PROTO`: who added the address (0: nobody said, as for nshost's own; a
    /// program like keepalived sets its own). Decides ownership, never compared.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub proto: u8,
}

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

/// The protocol of the routes the kernel makes itself, and of connected routes written
/// as the kernel's.
pub const RTPROT_KERNEL: u8 = 2;
/// `rtm_scope` values.
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;

/// Attributes of a route that can be replaced in place.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Route {
    pub gateway: Option<IpAddr>,
    /// Output interface. Desired `None`: whatever the kernel resolves from the gateway
    /// (never compared); live routes always carry one (but a route of a type that
    /// sends nothing, whose device the kernel does not report).
    pub dev: Option<String>,
    /// `rtm_protocol`: who says the route exists (`boot` by default, as for `ip`).
    pub proto: u8,
    /// `rtm_type`: unicast, or one of the types that send nothing on.
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "RouteType::is_unicast"
    )]
    pub kind: RouteType,
    /// `rtm_scope` (IPv4; the kernel keeps none for IPv6 routes, and reports 0).
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub scope: u8,
    /// Preferred source address (`RTA_PREFSRC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<IpAddr>,
    /// The gateway is on the device's link whatever its subnets say (`RTNH_F_ONLINK`,
    /// on every next hop of a multipath route).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onlink: bool,
    /// The next hops of a multipath route (two or more; then `gateway` and `dev` are
    /// `None`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nexthops: Vec<Nexthop>,
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

/// One next hop of a multipath route.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Nexthop {
    pub gateway: Option<IpAddr>,
    /// Desired `None`: whatever the kernel resolves from the gateway.
    pub dev: Option<String>,
    /// 1 to 256 (the kernel keeps `weight - 1` in a byte).
    pub weight: u16,
}

/// A route's type (`rtm_type`), as far as a lab can write it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RouteType {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    /// Any other type the kernel reports (local, broadcast, ...), by number.
    Other(u8),
}

impl RouteType {
    /// The type's `rtm_type` number.
    pub fn number(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
            RouteType::Throw => 9,
            RouteType::Other(n) => n,
        }
    }

    /// The type of an `rtm_type` number.
    pub fn from_number(n: u8) -> Self {
        match n {
            1 => RouteType::Unicast,
            6 => RouteType::Blackhole,
            7 => RouteType::Unreachable,
            8 => RouteType::Prohibit,
            9 => RouteType::Throw,
            n => RouteType::Other(n),
        }
    }

    pub fn is_unicast(&self) -> bool {
        *self == RouteType::Unicast
    }

    /// The type as `ip route` writes it.
    pub fn name(self) -> String {
        match self {
            RouteType::Unicast => "unicast".into(),
            RouteType::Blackhole => "blackhole".into(),
            RouteType::Unreachable => "unreachable".into(),
            RouteType::Prohibit => "prohibit".into(),
            RouteType::Throw => "throw".into(),
            RouteType::Other(n) => format!("type {n}"),
        }
    }
}

/// A scope as `ip route` writes it.
pub fn scope_name(scope: u8) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
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

/// What a rule does with a packet it matches (`action` of `fib_rule_hdr`).
#[derive(
    Clone,
    Copy,
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
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Look the packet up in `table`.
    #[default]
    Lookup,
    /// Go on at the rule of priority `goto`.
    Goto,
    /// Nothing: go on with the next rule.
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
    /// Any other action the kernel reports, by number.
    Other(u8),
}

impl RuleAction {
    /// The action's `FR_ACT_*` number.
    pub fn number(self) -> u8 {
        match self {
            RuleAction::Lookup => 1,
            RuleAction::Goto => 2,
            RuleAction::Nop => 3,
            RuleAction::Blackhole => 6,
            RuleAction::Unreachable => 7,
            RuleAction::Prohibit => 8,
            RuleAction::Other(n) => n,
        }
    }

    /// The action of an `FR_ACT_*` number.
    pub fn from_number(n: u8) -> Self {
        match n {
            1 => RuleAction::Lookup,
            2 => RuleAction::Goto,
            3 => RuleAction::Nop,
            6 => RuleAction::Blackhole,
            7 => RuleAction::Unreachable,
            8 => RuleAction::Prohibit,
            n => RuleAction::Other(n),
        }
    }

    /// The action as `ip rule` writes it (`lookup` and `goto` are followed by more).
    pub fn name(self) -> String {
        match self {
            RuleAction::Lookup => "lookup".into(),
            RuleAction::Goto => "goto".into(),
            RuleAction::Nop => "nop".into(),
            RuleAction::Blackhole => "blackhole".into(),
            RuleAction::Unreachable => "unreachable".into(),
            RuleAction::Prohibit => "prohibit".into(),
            RuleAction::Other(n) => format!("action {n}"),
        }
    }
}

/// An inclusive range of user ids.
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
pub struct UidRange {
    pub start: u32,
    pub end: u32,
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
    /// The table a `lookup` rule looks up; 0 for the other actions.
    pub table: u32,
    /// The selector is inverted (`ip rule add not ...`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not: bool,
    #[serde(default, skip_serializing_if = "is_lookup")]
    pub action: RuleAction,
    /// The priority a `goto` rule jumps to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goto: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidrange: Option<UidRange>,
    /// Routes of the looked-up table with this prefix length or less are passed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefixlength: Option<u32>,
    /// `FRA_PROTOCOL`: who added the rule (0: nobody said, as for nshost's own and
    /// `ip rule add`'s; FRR's and BIRD's carry theirs).
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub proto: u8,
}

fn is_lookup(a: &RuleAction) -> bool {
    *a == RuleAction::Lookup
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
