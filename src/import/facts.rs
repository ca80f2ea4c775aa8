//! What a format reads: each router's kernel state as it was recorded, every fact with
//! the file and line it came from. Formats fill these in; [`super::build`] judges them.

use std::net::IpAddr;

use ipnet::IpNet;

/// Where a fact was read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At {
    /// The file, as named in the input directory.
    pub file: String,
    /// 1-based line.
    pub line: usize,
}

/// A fact that could not be read (or cannot be said in a lab file), with the reason.
#[derive(Clone, Debug)]
pub struct Unread {
    pub at: At,
    pub text: String,
    pub reason: String,
}

/// Everything read from an input.
#[derive(Debug, Default)]
pub struct Facts {
    /// The input files, in the order read.
    pub files: Vec<String>,
    pub routers: Vec<RouterFacts>,
    /// Lines that could not be read, by any router.
    pub unread: Vec<Unread>,
}

/// One router's facts.
#[derive(Debug, Default)]
pub struct RouterFacts {
    pub name: String,
    pub file: String,
    pub interfaces: Vec<InterfaceFact>,
    /// Named tables: name, number, where the number was read.
    pub tables: Vec<(String, u32, At)>,
    /// The routes of every table, in file order.
    pub routes: Vec<RouteFact>,
    /// The policy rules, in file order (the kernel's defaults included).
    pub rules: Vec<RuleFact>,
    /// `iptables-save` text, as recorded (comments removed).
    pub iptables: Option<Text>,
    /// `ipset save` text, as recorded.
    pub ipsets: Option<Text>,
}

/// A block of text and where it starts.
#[derive(Debug, Clone)]
pub struct Text {
    pub text: String,
    pub at: At,
    /// The file's line of each line of `text`.
    pub lines: Vec<usize>,
}

/// A link and its addresses (`ip addr show`).
#[derive(Debug, Clone)]
pub struct InterfaceFact {
    pub name: String,
    pub mtu: Option<u32>,
    /// `UP` among the flags.
    pub up: bool,
    /// Hardware address (`link/ether`).
    pub mac: Option<String>,
    /// `link/loopback`.
    pub loopback: bool,
    /// `POINTOPOINT` among the flags, or `link/none`: not an Ethernet link.
    pub point_to_point: bool,
    pub addresses: Vec<AddressFact>,
    pub at: At,
}

/// An address of a link.
#[derive(Debug, Clone)]
pub struct AddressFact {
    pub net: IpNet,
    /// `brd` as recorded (none on a point-to-point link).
    pub broadcast: Option<IpAddr>,
    pub at: At,
}

/// A route's type, as `ip route` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteType {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    /// `local`, `broadcast`, `multicast`, `nat`, `anycast`...: the kernel's own, or
    /// nothing a lab file says.
    Other(String),
}

impl RouteType {
    /// The type as written in a lab file.
    pub fn name(&self) -> &str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
            RouteType::Other(s) => s,
        }
    }
}

/// One next hop of a multipath route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NexthopFact {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub weight: u32,
}

/// A route (`ip route show [table N]`).
#[derive(Clone, Debug)]
pub struct RouteFact {
    pub kind: RouteType,
    /// `default` is `0.0.0.0/0` (or `::/0`).
    pub dst: IpNet,
    /// Written `default`.
    pub default: bool,
    pub table: u32,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub proto: Option<String>,
    pub scope: Option<String>,
    pub src: Option<IpAddr>,
    pub metric: Option<u32>,
    pub onlink: bool,
    pub nexthops: Vec<NexthopFact>,
    pub at: At,
    pub text: String,
}

impl RouteFact {
    /// The devices it names (its own, its next hops').
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.dev
            .as_deref()
            .into_iter()
            .chain(self.nexthops.iter().filter_map(|n| n.dev.as_deref()))
    }
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// `lookup TABLE`: a name or a number, as written.
    Lookup(String),
    Goto(u32),
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A policy rule (`ip rule show`).
#[derive(Clone, Debug, Default)]
pub struct RuleFact {
    pub priority: u32,
    pub not: bool,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub tos: Option<u8>,
    pub ipproto: Option<String>,
    pub sport: Option<String>,
    pub dport: Option<String>,
    pub uidrange: Option<String>,
    pub suppress_prefixlength: Option<u8>,
    pub action: Option<RuleAction>,
    pub at: Option<At>,
    pub text: String,
}

impl RuleFact {
    /// One of the three rules every IPv4 namespace starts with (`0: from all lookup
    /// local`, `32766: from all lookup main`, `32767: from all lookup default`).
    pub fn is_kernel_default(&self) -> bool {
        let plain = !self.not
            && self.from.is_none()
            && self.to.is_none()
            && self.iif.is_none()
            && self.oif.is_none()
            && self.fwmark.is_none()
            && self.tos.is_none()
            && self.ipproto.is_none()
            && self.sport.is_none()
            && self.dport.is_none()
            && self.uidrange.is_none()
            && self.suppress_prefixlength.is_none();
        let table = match &self.action {
            Some(RuleAction::Lookup(t)) => t.as_str(),
            _ => return false,
        };
        plain
            && matches!(
                (self.priority, table),
                (0, "local" | "255") | (32766, "main" | "254") | (32767, "default" | "253")
            )
    }
}
