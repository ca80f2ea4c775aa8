//! The live objects a saved plan is pinned to, and their digest.
//!
//! The scope is every name under the namespace directory the plan acts on: the
//! namespaces it changes or deletes (with everything in them) and the names it creates
//! a namespace under (which must still be free). What was seen there is kept as
//! observed, normalised the way the diff compares (sysctl values), ifindexes and MAC
//! addresses included: the plan's requests address links by ifindex, so a link deleted
//! and made again by hand under the same name makes the plan stale.
//!
//! The digest is SHA-256 over a canonical serialisation: compact JSON of the wire form
//! ([`WireSeen`]), names in order, every collection sorted, fields in declaration
//! order, behind a domain line (`nshost-pin/1`). Equal observations have equal
//! digests, and the other way round.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kernel::Stray;
use crate::plan::Plan;
use crate::state::settings::normalize;
use crate::state::{
    Address, AddressKey, Link, Namespace, NetState, NsRole, Route, RouteKey, Rule, SmallMap,
};

/// What was seen under one name of the namespace directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// No entry by that name.
    Absent,
    /// A namespace: the lab's with everything in it, another's by owner only.
    Namespace(Box<Namespace>),
    /// An entry that holds no namespace and is not the lab's (what it is: "a FIFO").
    Other(String),
}

/// What a saved plan is pinned to, by name.
pub type Pinned = BTreeMap<String, Seen>;

/// The names a plan's digest covers: every namespace it acts in, those it creates
/// included.
pub fn scope(plan: &Plan) -> BTreeSet<String> {
    plan.touched_namespaces()
}

/// What `live` (and the entries that hold no namespace) has under each of `names`: the
/// lab's objects, not those of the protocols `desired` does not own (a routing daemon's
/// routes change as they will, and the plan never touches them).
pub fn capture(
    names: &BTreeSet<String>,
    live: &NetState,
    strays: &[Stray],
    desired: &NetState,
) -> Pinned {
    names
        .iter()
        .map(|name| {
            let seen = match (
                live.namespaces.get(name),
                strays.iter().find(|s| &s.name == name),
            ) {
                (Some(ns), _) => Seen::Namespace(Box::new(normalised(
                    ns,
                    desired
                        .namespaces
                        .get(name)
                        .map(|d| d.protocols)
                        .unwrap_or_default(),
                ))),
                (None, Some(stray)) => Seen::Other(stray.what.clone()),
                (None, None) => Seen::Absent,
            };
            (name.clone(), seen)
        })
        .collect()
}

/// A live namespace as compared: sysctl values in the diff's normal form, no
/// operational state (a carrier that comes up is no change the plan depends on), and
/// none of the routes, rules and addresses of protocols the lab does not own.
fn normalised(ns: &Namespace, owned: crate::state::Protocols) -> Namespace {
    let mut ns = ns.clone();
    ns.routes.retain(|_, r| owned.owns(r.proto));
    ns.rules.retain(|r| owned.owns(r.proto));
    ns.addresses.retain(|_, a| owned.owns(a.proto));
    for value in ns.sysctls.values_mut() {
        *value = normalize(value);
    }
    for link in ns.links.values_mut() {
        link.oper = None;
        for value in link.settings.values_mut() {
            *value = normalize(value);
        }
    }
    ns
}

/// The canonical serialisation the digest is taken over.
pub fn canonical(pinned: &Pinned) -> Vec<u8> {
    let wire: BTreeMap<&String, WireSeen> = pinned.iter().map(|(n, s)| (n, s.into())).collect();
    serde_json::to_vec(&wire).expect("a pinned state serializes")
}

/// `sha256:<hex>` of the canonical serialisation.
pub fn digest(pinned: &Pinned) -> String {
    let mut hash = Sha256::new();
    hash.update(b"nshost-pin/1\n");
    hash.update(canonical(pinned));
    sha256_text(&hash.finalize())
}

/// `sha256:` and the bytes in lower-case hex.
pub fn sha256_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(7 + 2 * bytes.len());
    out.push_str("sha256:");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_of(bytes: &[u8]) -> String {
    sha256_text(&Sha256::digest(bytes))
}

/// A namespace in the saved file: the state's own types, with the collections keyed by
/// structures written as lists (JSON keys are strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireNamespace {
    pub owner: Option<String>,
    pub role: NsRole,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stray: bool,
    pub links: SmallMap<String, Box<Link>>,
    pub addresses: Vec<(AddressKey, Address)>,
    pub routes: Vec<(RouteKey, Box<Route>)>,
    pub rules: Vec<Rule>,
    pub sysctls: SmallMap<String, String>,
    #[serde(default, skip_serializing_if = "crate::firewall::Firewall::is_empty")]
    pub firewall: Box<crate::firewall::Firewall>,
    #[serde(default, skip_serializing_if = "crate::state::Protocols::is_empty")]
    pub protocols: crate::state::Protocols,
}

impl From<&Namespace> for WireNamespace {
    fn from(ns: &Namespace) -> Self {
        WireNamespace {
            owner: ns.owner.clone(),
            role: ns.role,
            stray: ns.stray,
            links: ns.links.clone(),
            addresses: ns
                .addresses
                .iter()
                .map(|(k, a)| (k.clone(), a.clone()))
                .collect(),
            routes: ns
                .routes
                .iter()
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect(),
            rules: ns.rules.iter().cloned().collect(),
            sysctls: ns.sysctls.clone(),
            firewall: ns.firewall.clone(),
            protocols: ns.protocols,
        }
    }
}

impl From<WireNamespace> for Namespace {
    fn from(w: WireNamespace) -> Self {
        Namespace {
            owner: w.owner,
            role: w.role,
            stray: w.stray,
            links: w.links,
            addresses: w.addresses.into_iter().collect(),
            routes: w.routes.into_iter().collect(),
            rules: w.rules.into_iter().collect(),
            sysctls: w.sysctls,
            firewall: w.firewall,
            protocols: w.protocols,
        }
    }
}

/// A state in the saved file.
pub fn wire_state(state: &NetState) -> BTreeMap<String, WireNamespace> {
    state
        .namespaces
        .iter()
        .map(|(n, ns)| (n.clone(), ns.into()))
        .collect()
}

/// A state read back from the saved file.
pub fn unwire_state(wire: BTreeMap<String, WireNamespace>) -> NetState {
    NetState {
        namespaces: wire.into_iter().map(|(n, w)| (n, w.into())).collect(),
    }
}

/// What was seen under a name, in the saved file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum WireSeen {
    Absent,
    Namespace(WireNamespace),
    Other { what: String },
}

impl From<&Seen> for WireSeen {
    fn from(s: &Seen) -> Self {
        match s {
            Seen::Absent => WireSeen::Absent,
            Seen::Namespace(ns) => WireSeen::Namespace((&**ns).into()),
            Seen::Other(what) => WireSeen::Other { what: what.clone() },
        }
    }
}

impl From<WireSeen> for Seen {
    fn from(w: WireSeen) -> Self {
        match w {
            WireSeen::Absent => Seen::Absent,
            WireSeen::Namespace(ns) => Seen::Namespace(Box::new(ns.into())),
            WireSeen::Other { what } => Seen::Other(what),
        }
    }
}

/// A pinned state in the saved file.
pub fn wire_pinned(pinned: &Pinned) -> BTreeMap<String, WireSeen> {
    pinned.iter().map(|(n, s)| (n.clone(), s.into())).collect()
}

/// A pinned state read back from the saved file.
pub fn unwire_pinned(wire: BTreeMap<String, WireSeen>) -> Pinned {
    wire.into_iter().map(|(n, w)| (n, w.into())).collect()
}
