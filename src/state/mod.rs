//! `NetState`: the kernel-level objects of a lab, one type for both the desired state
//! (lowered from a topology) and the live state (dumped from the kernel).
//!
//! Every collection is ordered (a `BTreeMap`, or a `SmallMap`/`SmallSet` where one
//! namespace or link holds few entries), so iteration order, plan output and
//! snapshots are deterministic. Fields that only the kernel knows (ifindex, MAC address
//! when the lab sets none) are carried alongside but never compared as attributes.
//!
//! Ownership is per namespace: a namespace whose loopback carries the lab's mark is the
//! lab's, and so is everything in it except what the kernel makes itself, which
//! `kernel::observe` leaves out of the live state, and the routes, rules and addresses
//! other programs install, known by their protocol ([`Protocols`]), which the diff
//! leaves alone (see the README's ownership model).

pub mod kinds;
mod link;
mod object;
mod ownership;
pub mod qdisc;
mod route;
pub mod settings;
pub mod small;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use kinds::KernelKind;
pub use link::{DEFAULT_MTU, LOOPBACK_MTU, Link, LinkKind, LinkRef, MacAddr, OperState};
pub use object::ObjectId;
pub use ownership::{LAB_PROTOCOLS, PROTOCOL_NAMES, Protocols, protocol_name};
pub use qdisc::{Netem, Qdisc, Tbf};
pub use route::{
    Address, AddressKey, Fwmark, Nexthop, PortRange, RT_SCOPE_HOST, RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RTPROT_BOOT, RTPROT_KERNEL, Route, RouteKey, RouteType, Rule,
    RuleAction, UidRange, scope_name,
};
pub use settings::DevSetting;
pub use small::{SmallMap, SmallSet};

/// Prefix of the loopback alias (`IFLA_IFALIAS`) that marks a whole namespace as owned
/// by a lab: `nshost:<lab>/<role>`.
pub const OWNER_ALIAS_PREFIX: &str = "nshost:";

/// The loopback alias that marks a namespace as `lab`'s, with its role:
/// `nshost:<lab>/<role>` (lab names contain no `/`).
pub fn namespace_alias(lab: &str, role: NsRole) -> String {
    format!("{OWNER_ALIAS_PREFIX}{lab}/{}", role.name())
}

/// The lab and role recorded in a loopback alias, if the alias is an nshost mark.
pub fn parse_namespace_alias(alias: &str) -> Option<(&str, NsRole)> {
    let rest = alias.strip_prefix(OWNER_ALIAS_PREFIX)?;
    let (lab, role) = rest.split_once('/').unwrap_or((rest, ""));
    let role = match role {
        "router" => NsRole::Router,
        "host" => NsRole::Host,
        "fabric" => NsRole::Fabric,
        _ => NsRole::Unknown,
    };
    (!lab.is_empty()).then_some((lab, role))
}

/// All the namespaces of interest, by name (the file name under `/run/netns`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NetState {
    pub namespaces: BTreeMap<String, Namespace>,
}

/// What a namespace is for; decides plan grouping and labels only.
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Namespace {
    /// Lab that owns the namespace (from the loopback mark). Desired: always `Some(lab)`.
    /// Live: `None` for a namespace nshost did not create; then nothing else of it is
    /// read.
    pub owner: Option<String>,
    pub role: NsRole,
    /// Live only: the entry under `/run/netns` is this lab's but holds no namespace any
    /// more (an nshost run was killed between making the mount point and mounting, or
    /// between unmounting and removing it). Nothing is in it; apply removes it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stray: bool,
    /// Links by interface name, the loopback included.
    pub links: SmallMap<String, Box<Link>>,
    pub addresses: SmallMap<AddressKey, Address>,
    pub routes: SmallMap<RouteKey, Box<Route>>,
    pub rules: SmallSet<Rule>,
    /// Namespace-wide sysctls (`net.ipv4.ip_forward`, `net.ipv4.conf.all.rp_filter`),
    /// by dotted key. Settings of one device live on its link. Live: only the keys that
    /// were asked for are read.
    pub sysctls: SmallMap<String, String>,
    /// iptables, ip6tables and nftables rules and ipsets, in the kernel's canonical
    /// form (empty: none). Live: read only where the lab declares a firewall or the
    /// kernel shows netfilter tables or sets in the namespace.
    #[serde(skip_serializing_if = "crate::firewall::Firewall::is_empty")]
    pub firewall: Box<crate::firewall::Firewall>,
    /// Desired: the protocols beyond `boot`, `static` and `kernel` whose routes, rules
    /// and addresses here are the lab's (see [`Protocols`]); the others' are left
    /// alone. Live: empty (each object carries its own protocol).
    #[serde(default, skip_serializing_if = "Protocols::is_empty")]
    pub protocols: Protocols,
}

impl Namespace {
    /// An empty namespace owned by `lab`, holding only its loopback (up).
    pub fn owned(lab: &str, role: NsRole) -> Self {
        let mut ns = Namespace {
            owner: Some(lab.to_string()),
            role,
            ..Namespace::default()
        };
        ns.links
            .insert("lo".to_string(), Box::new(Link::loopback()));
        ns
    }

    /// Whether this namespace belongs to `lab`.
    pub fn owned_by(&self, lab: &str) -> bool {
        self.owner.as_deref() == Some(lab)
    }

    /// Number of objects in it (links, their qdiscs, addresses, routes, rules, settings).
    pub fn object_count(&self) -> usize {
        self.links
            .values()
            .map(|l| 1 + l.settings.len() + usize::from(l.qdisc.is_some()))
            .sum::<usize>()
            + self.addresses.len()
            + self.routes.len()
            + self.rules.len()
            + self.sysctls.len()
    }
}

impl NetState {
    /// Total number of objects (namespaces and everything in them).
    pub fn object_count(&self) -> usize {
        self.namespaces
            .values()
            .map(|ns| 1 + ns.object_count())
            .sum()
    }

    /// The labs that own namespaces here, by name, each once.
    pub fn labs(&self) -> Vec<String> {
        let mut labs: Vec<String> = self
            .namespaces
            .values()
            .filter_map(|n| n.owner.clone())
            .collect();
        labs.sort();
        labs.dedup();
        labs
    }

    /// The namespaces owned by `lab`, and nothing else.
    pub fn owned_by(&self, lab: &str) -> NetState {
        NetState {
            namespaces: self
                .namespaces
                .iter()
                .filter(|(_, ns)| ns.owned_by(lab))
                .map(|(n, ns)| (n.clone(), ns.clone()))
                .collect(),
        }
    }

    /// The fabric namespace of a lab's state, if it has one.
    pub fn fabric(&self) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|(_, ns)| ns.role == NsRole::Fabric)
            .map(|(name, _)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_marks_round_trip() {
        for role in [NsRole::Router, NsRole::Host, NsRole::Fabric] {
            let alias = namespace_alias("lab-1", role);
            assert_eq!(parse_namespace_alias(&alias), Some(("lab-1", role)));
        }
        assert_eq!(
            parse_namespace_alias("nshost:old"),
            Some(("old", NsRole::Unknown))
        );
        assert_eq!(parse_namespace_alias("nshost:"), None);
        assert_eq!(parse_namespace_alias("something else"), None);
    }
}
