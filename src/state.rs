//! `NetState`: the kernel-level objects of a lab, one type for both the desired state
//! (lowered from a topology) and the live state (dumped from the kernel).
//!
//! Every collection is a `BTreeMap`/`BTreeSet`, so iteration order, plan output and
//! snapshots are deterministic. Fields that only the kernel knows (ifindex, ownership
//! of live objects) are carried alongside but never compared as attributes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

/// Route, rule and address protocol number that marks an object as created by nshost.
/// (Unused by iproute2's `rt_protos`; shows as `proto 110` in `ip route`.)
pub const NSHOST_PROTO: u8 = 110;

/// Prefix of the interface alias (`IFLA_IFALIAS`) that marks a link (`nshost:<lab>`),
/// and of the loopback alias that marks a whole namespace (`nshost:<lab>/<role>`), as
/// owned by a lab.
pub const OWNER_ALIAS_PREFIX: &str = "nshost:";

/// The alias that marks an object as owned by `lab`.
pub fn owner_alias(lab: &str) -> String {
    format!("{OWNER_ALIAS_PREFIX}{lab}")
}

/// The lab named by an ownership alias, if the alias is one.
pub fn alias_owner(alias: &str) -> Option<&str> {
    let rest = alias.strip_prefix(OWNER_ALIAS_PREFIX)?;
    Some(rest.split_once('/').map_or(rest, |(lab, _)| lab))
}

/// The loopback alias that marks a namespace as `lab`'s, with its role:
/// `nshost:<lab>/<role>` (lab names contain no `/`).
pub fn namespace_alias(lab: &str, role: NsRole) -> String {
    format!("{OWNER_ALIAS_PREFIX}{lab}/{}", role.name())
}

/// The role recorded in a namespace's loopback alias.
pub fn alias_role(alias: &str) -> NsRole {
    match alias
        .strip_prefix(OWNER_ALIAS_PREFIX)
        .and_then(|r| r.split_once('/'))
    {
        Some((_, "router")) => NsRole::Router,
        Some((_, "host")) => NsRole::Host,
        Some((_, "fabric")) => NsRole::Fabric,
        _ => NsRole::Unknown,
    }
}

/// The main routing table.
pub const RT_TABLE_MAIN: u32 = 254;

/// All the namespaces of interest, by name (the file name under `/run/netns`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetState {
    pub namespaces: BTreeMap<String, Namespace>,
}

/// What a namespace is for; decides plan grouping and labels only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NsRole {
    Router,
    Host,
    /// The hidden per-lab namespace holding the bridges of every network.
    Fabric,
    /// A live namespace whose role is unknown (not owned, or observed without a topology).
    #[default]
    Unknown,
}

impl NsRole {
    /// The role's name, as in plans and ownership marks.
    pub fn name(self) -> &'static str {
        match self {
            NsRole::Router => "router",
            NsRole::Host => "host",
            NsRole::Fabric => "fabric",
            NsRole::Unknown => "namespace",
        }
    }
}

/// One network namespace and the objects in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Namespace {
    /// Lab that owns the namespace (from the loopback alias). Desired: always `Some(lab)`.
    /// Live: `None` for a namespace nshost did not create.
    pub owner: Option<String>,
    pub role: NsRole,
    /// Links by interface name, the loopback included.
    pub links: BTreeMap<String, Link>,
    pub addresses: BTreeMap<AddressKey, Address>,
    pub routes: BTreeMap<RouteKey, Route>,
    pub rules: BTreeMap<Rule, RuleMeta>,
    /// sysctl key (dotted, e.g. `net.ipv4.ip_forward`) to value. Live: only the keys the
    /// desired state names are read.
    pub sysctls: BTreeMap<String, String>,
}

impl Namespace {
    /// Whether this namespace belongs to `lab`.
    pub fn owned_by(&self, lab: &str) -> bool {
        self.owner.as_deref() == Some(lab)
    }
}

/// A reference to a link in some namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LinkRef {
    pub ns: String,
    pub name: String,
}

impl std::fmt::Display for LinkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ns, self.name)
    }
}

/// The kind of a link: what the kernel calls `IFLA_INFO_KIND`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum LinkKind {
    Loopback,
    Bridge,
    /// One end of a veth pair. `peer` is the other end; live, it is resolved from the
    /// kernel (peer ifindex plus the peer namespace's nsid), `None` when it cannot be.
    Veth {
        peer: Option<LinkRef>,
    },
    /// Any other kind the kernel reports (e.g. `dummy`, `vxlan`).
    Other {
        name: String,
    },
}

impl LinkKind {
    /// The kernel's name for the kind (`IFLA_INFO_KIND`).
    pub fn kernel_name(&self) -> &str {
        match self {
            LinkKind::Loopback => "loopback",
            LinkKind::Bridge => "bridge",
            LinkKind::Veth { .. } => "veth",
            LinkKind::Other { name } => name,
        }
    }
}

/// One link (network interface).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    pub kind: LinkKind,
    /// Lab owning the link (from its alias). Desired: `Some(lab)`, except loopback.
    pub owner: Option<String>,
    /// `None` means "whatever the kernel chooses" (desired) and is never diffed.
    pub mtu: Option<u32>,
    pub up: bool,
    /// Name of the bridge (in the same namespace) this link is enslaved to.
    pub master: Option<String>,
    /// Kernel ifindex. Live only; never diffed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<u32>,
}

impl Link {
    /// The loopback every namespace has, as a desired state has it: never owned (the
    /// namespace's mark is on it, not a link owner), always up.
    pub fn loopback() -> Self {
        Link {
            kind: LinkKind::Loopback,
            owner: None,
            mtu: None,
            up: true,
            master: None,
            ifindex: None,
        }
    }

    /// A fresh, owned link of `kind`.
    pub fn new(kind: LinkKind, owner: &str) -> Self {
        Link {
            kind,
            owner: Some(owner.to_string()),
            mtu: None,
            up: true,
            master: None,
            ifindex: None,
        }
    }
}

/// An address is identified by the interface and the address with its prefix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AddressKey {
    pub ifname: String,
    pub addr: IpNet,
}

/// Attributes of an address beyond its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Address {
    /// Whether the address carries nshost's protocol mark (`IFA_PROTO`).
    pub owned: bool,
}

/// A route is identified the way the kernel identifies it: table, destination, metric.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RouteKey {
    pub table: u32,
    pub dst: IpNet,
    pub metric: u32,
}

/// Attributes of a route that can be replaced in place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route {
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    /// Whether the route carries nshost's protocol mark (`rtm_protocol`).
    pub owned: bool,
}

/// A policy rule. Rules have no in-place update, so the whole rule is its identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Rule {
    /// `false` for IPv4, `true` for IPv6.
    pub v6: bool,
    pub priority: u32,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub tos: Option<u8>,
    pub ipproto: Option<u8>,
    pub sport: Option<PortRange>,
    pub dport: Option<PortRange>,
    pub table: u32,
}

/// An inclusive port range; a single port is `start == end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

/// Attributes of a rule that are not part of its identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleMeta {
    /// Whether the rule carries nshost's protocol mark (`FRA_PROTOCOL`).
    pub owned: bool,
}

impl NetState {
    /// Total number of objects (namespaces, links, addresses, routes, rules, sysctls).
    pub fn object_count(&self) -> usize {
        self.namespaces
            .values()
            .map(|ns| {
                1 + ns.links.len()
                    + ns.addresses.len()
                    + ns.routes.len()
                    + ns.rules.len()
                    + ns.sysctls.len()
            })
            .sum()
    }

    /// Sysctl keys the desired state names, per namespace: what observe must read.
    pub fn sysctl_keys(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.namespaces
            .iter()
            .filter(|(_, ns)| !ns.sysctls.is_empty())
            .map(|(name, ns)| (name.clone(), ns.sysctls.keys().cloned().collect()))
            .collect()
    }
}
