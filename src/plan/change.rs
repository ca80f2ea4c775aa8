//! The change set: what `plan::diff` emits, one variant per kernel operation a user
//! would name ("add this route"). `plan::order` splits each into the steps that carry it
//! out, and `kernel::apply` runs exactly those steps.

use serde::{Deserialize, Serialize};

use crate::state::{
    Address, AddressKey, DevSetting, Link, LinkKind, LinkRef, NsRole, ObjectId, Qdisc, Route,
    RouteKey, Rule,
};

/// Which part of a change an operation is. Most changes are one operation; creating a
/// veth pair is two: the pair from one end's socket, then bringing the other end up
/// from its own namespace's socket (veth refuses to open before both ends exist, and
/// an IPv6 address added before its link is up waits a second for duplicate address
/// detection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Main,
    PeerUp,
    /// The static flood entries of a new vxlan, from a socket in its namespace (after
    /// the link: a vxlan end created from the underlay cannot be given them there).
    Flood,
}

/// One kernel operation. `ns` is the namespace it acts in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Create a namespace (unshare + bind mount) with its loopback up and marked.
    AddNamespace {
        ns: String,
        role: NsRole,
    },
    /// Unmount and remove a namespace; everything in it goes with it, as `contents`
    /// lists (one line per object, for the plan to show). `stray`: the entry holds no
    /// namespace any more (left by an interrupted run) and is only removed.
    DeleteNamespace {
        ns: String,
        role: NsRole,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        contents: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stray: bool,
    },
    /// Create a link. For a veth pair this is the one change that creates both ends:
    /// `ns`/`name` is the end created from `ns`'s socket (the fabric end where there is
    /// one), `peer` the other end, placed directly in its namespace.
    AddLink {
        ns: String,
        name: String,
        link: Box<Link>,
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<Box<PeerEnd>>,
    },
    /// Change a link in place (MTU, up/down, master, MAC, the kind's changeable
    /// attributes).
    UpdateLink {
        ns: String,
        name: String,
        from: Box<Link>,
        to: Box<Link>,
    },
    /// Delete a link. Deleting one end of a veth pair deletes both, and deleting a link
    /// deletes the links stacked on it; a pair is deleted by one change, on the end whose
    /// namespace survives.
    DeleteLink {
        ns: String,
        name: String,
        link: Box<Link>,
    },
    AddAddress {
        ns: String,
        key: AddressKey,
        address: Address,
    },
    DeleteAddress {
        ns: String,
        key: AddressKey,
        address: Address,
    },
    AddRoute {
        ns: String,
        key: RouteKey,
        route: Box<Route>,
    },
    /// Replace a route's gateway, device or protocol in place (`NLM_F_REPLACE`).
    ReplaceRoute {
        ns: String,
        key: RouteKey,
        from: Box<Route>,
        to: Box<Route>,
    },
    DeleteRoute {
        ns: String,
        key: RouteKey,
        route: Box<Route>,
    },
    AddRule {
        ns: String,
        rule: Box<Rule>,
    },
    DeleteRule {
        ns: String,
        rule: Box<Rule>,
    },
    /// Set a namespace-wide sysctl (`from` is its value now, if it was read).
    SetSysctl {
        ns: String,
        key: String,
        from: Option<String>,
        to: String,
    },
    /// Replace a node's firewall (its iptables, ip6tables and nftables tables and its
    /// ipsets) with `to`, atomically per part, after every other change of the
    /// namespace; `from` is what was there (the plan shows the rules that differ).
    SetFirewall {
        ns: String,
        from: Box<crate::firewall::Firewall>,
        to: Box<crate::firewall::Firewall>,
    },
    /// Set a setting of one link.
    SetLinkSetting {
        ns: String,
        link: String,
        setting: DevSetting,
        from: Option<String>,
        to: String,
    },
    /// Set (`to`), change or take away (`None`) the root qdisc of a link that `impair`
    /// makes; `from` is the lab's kind of qdisc there now, if any.
    SetQdisc {
        ns: String,
        link: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Box<Qdisc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Box<Qdisc>>,
    },
}

/// The second end of a veth pair created by an `AddLink`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PeerEnd {
    pub at: LinkRef,
    pub link: Link,
}

/// How a change counts in the plan summary.
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
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Destroy,
}

/// The namespaces `changes` delete (and may make again).
pub fn deleted_namespaces(changes: &[Change]) -> std::collections::BTreeSet<&str> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::DeleteNamespace { ns, .. } => Some(ns.as_str()),
            _ => None,
        })
        .collect()
}

impl Change {
    /// The namespace this change acts in (for a veth pair, the end it is created or
    /// deleted from).
    pub fn ns(&self) -> &str {
        match self {
            Change::AddNamespace { ns, .. }
            | Change::DeleteNamespace { ns, .. }
            | Change::AddLink { ns, .. }
            | Change::UpdateLink { ns, .. }
            | Change::DeleteLink { ns, .. }
            | Change::AddAddress { ns, .. }
            | Change::DeleteAddress { ns, .. }
            | Change::AddRoute { ns, .. }
            | Change::ReplaceRoute { ns, .. }
            | Change::DeleteRoute { ns, .. }
            | Change::AddRule { ns, .. }
            | Change::DeleteRule { ns, .. }
            | Change::SetSysctl { ns, .. }
            | Change::SetLinkSetting { ns, .. }
            | Change::SetQdisc { ns, .. }
            | Change::SetFirewall { ns, .. } => ns,
        }
    }

    /// The other namespace a change acts in: the far end of a veth pair it creates or
    /// deletes.
    pub fn other_ns(&self) -> Option<&str> {
        match self {
            Change::AddLink {
                ns, peer: Some(p), ..
            } if p.at.ns != *ns => Some(&p.at.ns),
            Change::DeleteLink { ns, link, .. } => {
                link.kind.peer().map(|p| p.ns.as_str()).filter(|p| p != ns)
            }
            _ => None,
        }
    }

    /// Add, change or destroy, for the summary line.
    pub fn action(&self) -> Action {
        match self {
            Change::AddNamespace { .. }
            | Change::AddLink { .. }
            | Change::AddAddress { .. }
            | Change::AddRoute { .. }
            | Change::AddRule { .. } => Action::Add,
            Change::UpdateLink { .. } | Change::ReplaceRoute { .. } => Action::Change,
            Change::SetFirewall { from, to, .. } => {
                if from.is_empty() {
                    Action::Add
                } else if to.is_empty() {
                    Action::Destroy
                } else {
                    Action::Change
                }
            }
            Change::SetQdisc { from, to, .. } => match (from, to) {
                (None, _) => Action::Add,
                (_, None) => Action::Destroy,
                _ => Action::Change,
            },
            Change::SetSysctl { from, .. } | Change::SetLinkSetting { from, .. } => {
                if from.is_some() {
                    Action::Change
                } else {
                    Action::Add
                }
            }
            Change::DeleteNamespace { .. }
            | Change::DeleteLink { .. }
            | Change::DeleteAddress { .. }
            | Change::DeleteRoute { .. }
            | Change::DeleteRule { .. } => Action::Destroy,
        }
    }

    /// The object the change acts on.
    pub fn object(&self) -> ObjectId {
        let ns = self.ns().to_string();
        match self {
            Change::AddNamespace { .. } | Change::DeleteNamespace { .. } => {
                ObjectId::Namespace { ns }
            }
            Change::AddLink { name, .. }
            | Change::UpdateLink { name, .. }
            | Change::DeleteLink { name, .. } => ObjectId::Link {
                ns,
                name: name.clone(),
            },
            Change::AddAddress { key, .. } | Change::DeleteAddress { key, .. } => {
                ObjectId::Address {
                    ns,
                    key: key.clone(),
                }
            }
            Change::AddRoute { key, .. }
            | Change::ReplaceRoute { key, .. }
            | Change::DeleteRoute { key, .. } => ObjectId::Route {
                ns,
                key: key.clone(),
            },
            Change::AddRule { rule, .. } | Change::DeleteRule { rule, .. } => ObjectId::Rule {
                ns,
                rule: Rule::clone(rule),
            },
            Change::SetSysctl { key, .. } => ObjectId::Sysctl {
                ns,
                key: key.clone(),
            },
            Change::SetFirewall { .. } => ObjectId::Firewall { ns },
            Change::SetLinkSetting { link, setting, .. } => ObjectId::LinkSetting {
                ns,
                link: link.clone(),
                setting: setting.clone(),
            },
            Change::SetQdisc { link, .. } => ObjectId::Qdisc {
                ns,
                link: link.clone(),
            },
        }
    }

    /// A short description for error messages: `add route 10.2.0.0/16 table main`.
    pub fn describe(&self) -> String {
        use crate::plan::display;
        match self {
            Change::AddNamespace { ns, role } => format!("create {} namespace {ns}", role.name()),
            Change::DeleteNamespace { ns, .. } => format!("delete namespace {ns}"),
            Change::AddLink { name, link, .. } => {
                format!("create link {name} ({})", link.kind.kernel_name())
            }
            Change::UpdateLink { name, .. } => format!("update link {name}"),
            Change::DeleteLink { name, .. } => format!("delete link {name}"),
            Change::AddAddress { key, .. } => format!("add address {} on {}", key.addr, key.ifname),
            Change::DeleteAddress { key, .. } => {
                format!("delete address {} on {}", key.addr, key.ifname)
            }
            Change::AddRoute { key, route, .. } => format!(
                "add route {} {}",
                display::route_key_short(key),
                display::route_attrs(&key.dst, route)
            )
            .trim_end()
            .to_string(),
            Change::ReplaceRoute { key, to, .. } => format!(
                "replace route {} {}",
                display::route_key_short(key),
                display::route_attrs(&key.dst, to)
            )
            .trim_end()
            .to_string(),
            Change::DeleteRoute { key, .. } => {
                format!("delete route {}", display::route_key_short(key))
            }
            Change::AddRule { rule, .. } => format!("add rule {}", display::rule(rule)),
            Change::DeleteRule { rule, .. } => format!("delete rule {}", display::rule(rule)),
            Change::SetSysctl { key, to, .. } => format!("set sysctl {key} = {to}"),
            Change::SetFirewall { to, .. } => format!("load firewall ({})", to.counts()),
            Change::SetLinkSetting {
                link, setting, to, ..
            } => format!("set sysctl {} = {to}", setting.key(link)),
            Change::SetQdisc { link, to, .. } => match to {
                Some(q) => format!("set qdisc of {link} to {}", q.describe()),
                None => format!("delete qdisc of {link}"),
            },
        }
    }

    /// Whether this change creates `r` (an end of the link it adds).
    pub fn creates(&self, r: &LinkRef) -> bool {
        match self {
            Change::AddLink { ns, name, peer, .. } => {
                (ns == &r.ns && name == &r.name) || peer.as_ref().is_some_and(|p| &p.at == r)
            }
            _ => false,
        }
    }
}

/// Whether a link of this kind sits on another link of its namespace.
pub fn is_stacked(kind: &LinkKind) -> bool {
    kind.lower().is_some()
}

/// The phases of a namespace's changes, in the order they run: the one table that both
/// the sorted change set (`plan::diff`) and the schedule (`plan::order`) follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Removing a namespace: first in a sorted change set (a stray mount point is
    /// removed before its namespace is made again); in the schedule it runs after every
    /// phase of its namespace, alone on its executor.
    DeleteNamespace,
    /// Creating a namespace, before every other phase of it.
    AddNamespace,
    /// Rule and route deletions.
    Unroute,
    /// Link deletions.
    DeleteLinks,
    /// Namespace-wide sysctls (before links, so new links see them).
    Sysctls,
    /// Bridge creation.
    Bridges,
    /// Other plain links, and in-place updates.
    Links,
    /// Veth creation.
    Veths,
    /// Bringing up the far end of a new veth pair.
    PeerUp,
    /// Stacked links (macvlan, vxlan on a device) and their updates.
    Stacked,
    /// Settings and root qdiscs of one link, and a new vxlan's flood entries (after
    /// every link).
    LinkSettings,
    /// Address additions (after every link is up).
    AddAddresses,
    /// Address deletions (after additions, so an interface never drops to zero
    /// addresses and has its routes flushed).
    DeleteAddresses,
    /// Route additions and replacements.
    Routes,
    /// Rule additions.
    Rules,
    /// The firewall (its rules may name the namespace's interfaces, and it is loaded by
    /// the kernel's tools, not netlink).
    Firewall,
}

impl Phase {
    /// The number of phases of a namespace's contents (between its creation and its
    /// removal).
    pub const INSIDE: usize = Phase::Firewall as usize - Phase::Unroute as usize + 1;

    /// The phase of part `part` of `c`.
    #[warn(clippy::wildcard_enum_match_arm)]
    pub fn of(c: &Change, part: Part) -> Phase {
        match part {
            Part::PeerUp => return Phase::PeerUp,
            Part::Flood => return Phase::LinkSettings,
            Part::Main => {}
        }
        match c {
            Change::AddNamespace { .. } => Phase::AddNamespace,
            Change::DeleteNamespace { .. } => Phase::DeleteNamespace,
            Change::DeleteRule { .. } | Change::DeleteRoute { .. } => Phase::Unroute,
            Change::DeleteLink { .. } => Phase::DeleteLinks,
            Change::SetSysctl { .. } => Phase::Sysctls,
            Change::AddLink { link, .. } => match link.kind {
                LinkKind::Bridge => Phase::Bridges,
                LinkKind::Veth { .. } => Phase::Veths,
                ref k if is_stacked(k) => Phase::Stacked,
                LinkKind::Loopback
                | LinkKind::Dummy
                | LinkKind::Ifb
                | LinkKind::Vxlan(_)
                | LinkKind::Macvlan(_)
                | LinkKind::Unmanaged { .. } => Phase::Links,
            },
            Change::UpdateLink { to, .. } if is_stacked(&to.kind) => Phase::Stacked,
            Change::UpdateLink { .. } => Phase::Links,
            Change::SetLinkSetting { .. } | Change::SetQdisc { .. } => Phase::LinkSettings,
            Change::AddAddress { .. } => Phase::AddAddresses,
            Change::DeleteAddress { .. } => Phase::DeleteAddresses,
            Change::AddRoute { .. } | Change::ReplaceRoute { .. } => Phase::Routes,
            Change::AddRule { .. } => Phase::Rules,
            Change::SetFirewall { .. } => Phase::Firewall,
        }
    }

    /// The phase's place among the phases of a namespace's contents; none for creating
    /// and removing the namespace.
    pub fn inside(self) -> Option<usize> {
        match self {
            Phase::DeleteNamespace | Phase::AddNamespace => None,
            Phase::Unroute
            | Phase::DeleteLinks
            | Phase::Sysctls
            | Phase::Bridges
            | Phase::Links
            | Phase::Veths
            | Phase::PeerUp
            | Phase::Stacked
            | Phase::LinkSettings
            | Phase::AddAddresses
            | Phase::DeleteAddresses
            | Phase::Routes
            | Phase::Rules
            | Phase::Firewall => Some(self as usize - Phase::Unroute as usize),
        }
    }

    /// The phase a sorted change set groups by: a namespace's new and updated links,
    /// whatever their kind, are one group (in the order the diff made them).
    pub fn in_change_set(self) -> Phase {
        match self {
            Phase::Bridges | Phase::Links | Phase::Veths | Phase::Stacked => Phase::Links,
            Phase::DeleteNamespace
            | Phase::AddNamespace
            | Phase::Unroute
            | Phase::DeleteLinks
            | Phase::Sysctls
            | Phase::PeerUp
            | Phase::LinkSettings
            | Phase::AddAddresses
            | Phase::DeleteAddresses
            | Phase::Routes
            | Phase::Rules
            | Phase::Firewall => self,
        }
    }
}

#[cfg(test)]
mod phase_tests {
    use super::Phase;

    const ALL: [Phase; 16] = [
        Phase::DeleteNamespace,
        Phase::AddNamespace,
        Phase::Unroute,
        Phase::DeleteLinks,
        Phase::Sysctls,
        Phase::Bridges,
        Phase::Links,
        Phase::Veths,
        Phase::PeerUp,
        Phase::Stacked,
        Phase::LinkSettings,
        Phase::AddAddresses,
        Phase::DeleteAddresses,
        Phase::Routes,
        Phase::Rules,
        Phase::Firewall,
    ];

    /// The schedule's per-namespace barriers are the table's phases inside a namespace,
    /// numbered without a gap; a sorted change set (of whole changes: no `PeerUp`)
    /// keeps the table's order with its links one group.
    #[test]
    fn one_table_orders_both() {
        assert!(ALL.windows(2).all(|w| w[0] < w[1]));
        let inside: Vec<usize> = ALL.iter().filter_map(|p| p.inside()).collect();
        assert_eq!(inside, (0..Phase::INSIDE).collect::<Vec<_>>());
        assert_eq!(Phase::PeerUp.inside(), Some(6));
        assert_eq!(Phase::LinkSettings.inside(), Some(8));
        let grouped: Vec<Phase> = ALL
            .iter()
            .filter(|p| **p != Phase::PeerUp)
            .map(|p| p.in_change_set())
            .collect();
        assert!(grouped.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(Phase::Veths.in_change_set(), Phase::Links);
    }
}
