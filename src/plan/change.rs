//! The change set: what `plan::diff` emits and `kernel::apply` executes, one variant
//! per kernel operation.

use serde::Serialize;

use crate::state::{AddressKey, Link, LinkRef, NsRole, Route, RouteKey, Rule};

/// One kernel operation. `ns` is the namespace whose netlink socket carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Create a namespace (unshare + bind mount) with its loopback up and marked.
    AddNamespace {
        ns: String,
        role: NsRole,
    },
    /// Unmount and remove a namespace; everything in it goes with it.
    DeleteNamespace {
        ns: String,
        role: NsRole,
    },
    /// Create a link. For a veth pair this is the one change that creates both ends:
    /// `ns`/`name` is the end created from `ns`'s socket (the fabric end where there is
    /// one), `peer` the other end, placed directly in its namespace.
    AddLink {
        ns: String,
        name: String,
        link: Link,
        #[serde(skip_serializing_if = "Option::is_none")]
        peer: Option<Box<PeerEnd>>,
    },
    /// Change a link in place (MTU, up/down, master, ownership alias).
    UpdateLink {
        ns: String,
        name: String,
        from: Link,
        to: Link,
    },
    /// Delete a link. Deleting one end of a veth pair deletes both; a pair is deleted
    /// by one change, on the end whose namespace survives.
    DeleteLink {
        ns: String,
        name: String,
        link: Link,
    },
    AddAddress {
        ns: String,
        key: AddressKey,
    },
    DeleteAddress {
        ns: String,
        key: AddressKey,
    },
    AddRoute {
        ns: String,
        key: RouteKey,
        route: Route,
    },
    /// Replace a route's gateway/device in place (`NLM_F_REPLACE`).
    ReplaceRoute {
        ns: String,
        key: RouteKey,
        from: Route,
        to: Route,
    },
    DeleteRoute {
        ns: String,
        key: RouteKey,
        route: Route,
    },
    AddRule {
        ns: String,
        rule: Rule,
    },
    DeleteRule {
        ns: String,
        rule: Rule,
    },
    /// Write a sysctl under `/proc/sys` from a thread inside the namespace.
    SetSysctl {
        ns: String,
        key: String,
        from: Option<String>,
        to: String,
    },
}

/// The second end of a veth pair created by an `AddLink`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerEnd {
    pub at: LinkRef,
    pub link: Link,
}

/// How a change counts in the plan summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Destroy,
}

impl Change {
    /// The namespace whose socket (or thread) carries this change.
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
            | Change::SetSysctl { ns, .. } => ns,
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
            Change::SetSysctl { from, .. } => {
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

    /// Whether this change is carried by a netlink message on the `ns` socket (as
    /// opposed to a namespace thread: namespace creation/removal and `/proc/sys` writes).
    pub fn is_netlink(&self) -> bool {
        match self {
            Change::AddNamespace { .. } | Change::DeleteNamespace { .. } => false,
            // Per-interface IPv4 settings are link attributes; the rest is /proc/sys.
            Change::SetSysctl { key, .. } => crate::devconf::parse_key(key).is_some(),
            _ => true,
        }
    }
}
