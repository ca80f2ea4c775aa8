//! Routes, policy rules and the values they name (tables, protocols, ports), as a lab
//! file writes them under a router.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Family, Spanned, formats, null_as_empty};

/// A static route.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Destination prefix, or `default` (IPv4) / `default6` (IPv6).
    #[schemars(with = "formats::RouteDestination")]
    pub to: Spanned<String>,
    /// Gateway address. It must be reachable without another gateway: on a subnet of
    /// an interface that is up (of `dev`, when given), or on a route with `dev` and no
    /// `via` of the same table or of main. An IPv6 link-local gateway needs `dev`.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpAddress>")]
    pub via: Option<Spanned<String>>,
    /// Output interface (up).
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceRef>")]
    pub dev: Option<Spanned<String>>,
    /// Route metric (priority). Default 0; for IPv6 the kernel turns 0 into 1024.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub metric: Option<Spanned<u32>>,
    /// Routing table: a number, or a name declared under `tables`. Default: main.
    #[serde(default)]
    #[schemars(with = "Option<TableRef>")]
    pub table: Option<Spanned<TableRef>>,
    /// Who the route is from (`rtm_protocol`): a name as in iproute2's `rt_protos`
    /// (`boot`, `static`, `kernel`, `dhcp`, `ra`, `zebra`, `bird`, `babel`, `bgp`,
    /// `isis`, `ospf`, `rip`, `eigrp`, ...) or a number 0-255. Default `boot`. `kernel`
    /// for any route but the one the kernel makes itself for an address's subnet.
    #[serde(default)]
    #[schemars(with = "Option<RouteProto>")]
    pub proto: Option<Spanned<RouteProto>>,
    /// `unicast` (the default), or a route that sends nothing on: `blackhole` (drops),
    /// `unreachable` and `prohibit` (drop with an ICMP error), `throw` (the lookup goes
    /// on with the next rule). Those take no `via`, `dev` or `nexthops`.
    #[serde(default, rename = "type")]
    #[schemars(with = "Option<RouteKind>")]
    pub kind: Option<Spanned<RouteKind>>,
    /// Preferred source address for traffic the router sends by this route: one of the
    /// router's own addresses, as the kernel requires.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpAddress>")]
    pub src: Option<Spanned<String>>,
    /// The gateway is on `dev`'s link whatever its subnets say: needs `via` and `dev`.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub onlink: Option<Spanned<bool>>,
    /// `global`, `site`, `link`, `host`, `nowhere` or a number 0-255 (IPv4; the kernel
    /// keeps none for IPv6). Default as `ip route`: `link` for a unicast route without
    /// a gateway, else `global`.
    #[serde(default)]
    #[schemars(with = "Option<RouteScope>")]
    pub scope: Option<Spanned<RouteScope>>,
    /// Several weighted next hops (a multipath route), instead of `via` and `dev`.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<NexthopSpec>>")]
    pub nexthops: Vec<Spanned<NexthopSpec>>,
}

/// One next hop of a multipath route.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NexthopSpec {
    /// Gateway address, reachable as a route's `via` must be.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpAddress>")]
    pub via: Option<Spanned<String>>,
    /// Output interface (up).
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceRef>")]
    pub dev: Option<Spanned<String>>,
    /// Share of the traffic, 1-256. Default 1.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 1, max = 256))]
    pub weight: Option<Spanned<u16>>,
}

/// A route's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

/// A route scope by name or number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RouteScope {
    Number(u8),
    Name(ScopeName),
}

/// A scope's name, as `ip route` has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeName {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

/// What a rule does with the packets it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleActionSpec {
    Lookup,
    Goto,
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A uid or an inclusive range of uids.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Uids {
    Uid(u32),
    Range(#[schemars(with = "formats::UidRange")] String),
}

/// A policy routing rule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Rule priority (required, so the rule has a stable identity), 1-32765.
    #[schemars(with = "u32", range(min = 1, max = 32765))]
    pub priority: Spanned<u32>,
    /// Address family when neither `from` nor `to` says it: `ipv4` (default) or `ipv6`.
    #[serde(default)]
    #[schemars(with = "Option<Family>")]
    pub family: Option<Spanned<Family>>,
    /// Source prefix.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpPrefix>")]
    pub from: Option<Spanned<String>>,
    /// Destination prefix.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpPrefix>")]
    pub to: Option<Spanned<String>>,
    /// Input interface (one the node does not have is kept, as the kernel does).
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceRef>")]
    pub iif: Option<Spanned<String>>,
    /// Output interface (one the node does not have is kept, as the kernel does).
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceRef>")]
    pub oif: Option<Spanned<String>>,
    /// Firewall mark: packets whose mark, masked with `fwmask`, equals it.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub fwmark: Option<Spanned<u32>>,
    /// The bits of the mark `fwmark` compares. Default: all of them (none for
    /// `fwmark: 0`, which then matches every packet; `fwmask: 0xffffffff` matches the
    /// unmarked ones).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub fwmask: Option<Spanned<u32>>,
    /// Type of service, a multiple of 4 (the kernel refuses the two ECN bits here).
    #[serde(default)]
    #[schemars(with = "Option<u8>", extend("multipleOf" = 4))]
    pub tos: Option<Spanned<u8>>,
    /// IP protocol: `tcp`, `udp`, `icmp`, `icmpv6`, `sctp` or a number.
    #[serde(default)]
    #[schemars(with = "Option<Proto>")]
    pub ipproto: Option<Spanned<Proto>>,
    /// Source port or range (`80`, `"1000-2000"`), ports 1-65534.
    #[serde(default)]
    #[schemars(with = "Option<Ports>")]
    pub sport: Option<Spanned<Ports>>,
    /// Destination port or range, ports 1-65534.
    #[serde(default)]
    #[schemars(with = "Option<Ports>")]
    pub dport: Option<Spanned<Ports>>,
    /// The table to look up (with `action: lookup`, and only then): a number or a
    /// declared name.
    #[serde(default)]
    #[schemars(with = "Option<TableRef>")]
    pub table: Option<Spanned<TableRef>>,
    /// Invert the selector: the rule matches the packets it would not.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub not: Option<Spanned<bool>>,
    /// `lookup` (the default; needs `table`), `goto` (needs `goto`), `nop`,
    /// `blackhole`, `unreachable` or `prohibit`.
    #[serde(default)]
    #[schemars(with = "Option<RuleActionSpec>")]
    pub action: Option<Spanned<RuleActionSpec>>,
    /// The priority of the rule to go on at (a later one: the kernel refuses a jump
    /// backwards); written alone, it implies `action: goto`.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 2))]
    pub goto: Option<Spanned<u32>>,
    /// The uids of the sockets whose packets match: `1000` or `"1000-2000"`.
    #[serde(default)]
    #[schemars(with = "Option<Uids>")]
    pub uidrange: Option<Spanned<Uids>>,
    /// Pass over the routes of the looked-up table whose prefix is this long or shorter
    /// (`0` passes over a default route), 0-128.
    #[serde(default)]
    #[schemars(with = "Option<u8>", range(min = 0, max = 128))]
    pub suppress_prefixlength: Option<Spanned<u8>>,
}

/// A routing table: number or declared name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TableRef {
    /// Not 0, 253 (default) or 255 (local); 254 is main.
    Id(#[schemars(range(min = 1), extend("not" = {"enum": [253, 255]}))] u32),
    Name(#[schemars(with = "formats::TableRefName")] String),
}

/// IP protocol by name or number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Proto {
    Number(u8),
    Name(#[schemars(with = "formats::IpprotoName")] String),
}

/// A route protocol by number (0-255) or name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RouteProto {
    /// 0 to 255.
    Number(#[schemars(range(max = 255))] u32),
    Name(#[schemars(with = "formats::RouteProtoName")] String),
}

/// A port or an inclusive range `"lo-hi"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Ports {
    Port(#[schemars(range(min = 1, max = 65534))] u16),
    Range(#[schemars(with = "formats::PortRange")] String),
}
