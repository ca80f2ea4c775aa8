//! Names for single objects of a state, shared by the plan (what a change acts on), the
//! kernel's errors (what failed) and the lab (where in the file an object comes from).

use serde::Serialize;

use crate::state::{AddressKey, DevSetting, RouteKey, Rule};

/// One object of a `NetState`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum ObjectId {
    Namespace {
        ns: String,
    },
    Link {
        ns: String,
        name: String,
    },
    Address {
        ns: String,
        key: AddressKey,
    },
    Route {
        ns: String,
        key: RouteKey,
    },
    Rule {
        ns: String,
        rule: Rule,
    },
    Sysctl {
        ns: String,
        key: String,
    },
    LinkSetting {
        ns: String,
        link: String,
        setting: DevSetting,
    },
    /// A node's firewall as a whole.
    Firewall {
        ns: String,
    },
    /// The root qdisc of a link (its `impair`).
    Qdisc {
        ns: String,
        link: String,
    },
}

impl ObjectId {
    /// The namespace the object is in.
    pub fn ns(&self) -> &str {
        match self {
            ObjectId::Namespace { ns }
            | ObjectId::Firewall { ns }
            | ObjectId::Link { ns, .. }
            | ObjectId::Address { ns, .. }
            | ObjectId::Route { ns, .. }
            | ObjectId::Rule { ns, .. }
            | ObjectId::Sysctl { ns, .. }
            | ObjectId::LinkSetting { ns, .. }
            | ObjectId::Qdisc { ns, .. } => ns,
        }
    }
}
