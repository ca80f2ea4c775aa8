//! `diff(lab, desired, live)`: the pure function from two `NetState`s to a change set.
//!
//! Ownership is per namespace: a live namespace marked as the lab's is the lab's with
//! everything in it (the kernel's own objects are not in the live state at all), so
//! anything in it the desired state does not have is removed, and a namespace of the
//! desired state that exists live but is not the lab's is a conflict.
//!
//! The diff runs in passes, so that every decision that depends on another one is taken
//! after it:
//! 1. conflicts: every desired namespace whose name is taken by something the lab does
//!    not own (if there is any, the diff stops there and reports them all);
//! 2. namespaces to add and delete, and the surviving ends of veth pairs into deleted
//!    namespaces;
//! 3. veth pairs, globally, as units;
//! 4. every other link, per namespace, stacked links (macvlan, vxlan on a device) last;
//! 5. addresses, routes, rules and settings, which depend on which links are
//!    (re)created or deleted (their objects vanish with the link).
//!
//! Every attribute the desired state gives is compared; `None` in the desired state
//! means "whatever the kernel chooses" (a route's `dev` when it has a gateway, a MAC
//! address the lab does not set).
//!
//! The result is sorted by namespace and then by the order changes of one namespace
//! run in, which keeps it deterministic and readable.

mod contents;
mod links;
#[cfg(test)]
mod ownership_tests;
#[cfg(test)]
mod qdisc_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::Serialize;

use crate::plan::change::Phase;
use crate::plan::display;
use crate::plan::{Change, Part};
use crate::state::{Link, LinkRef, Namespace, NetState, NsRole};

/// A desired object that something the lab does not own holds: a namespace of the same
/// name, or a route of the same table, destination and metric that another program (a
/// routing daemon) installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub ns: String,
    /// What collides, e.g. `namespace web1`.
    pub object: String,
    /// Who owns the live object: `another lab (x)` or `nobody (not created by nshost)`.
    pub owner: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} already exists, owned by {}", self.object, self.owner)
    }
}

/// Computes the changes that turn `live` into `desired` for `lab`.
///
/// Destroying a lab is `diff(lab, &NetState::default(), live)`.
pub fn diff(lab: &str, desired: &NetState, live: &NetState) -> Result<Vec<Change>, Vec<Conflict>> {
    let conflicts = conflicts(lab, desired, live);
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut d = Differ {
        lab,
        desired,
        live,
        changes: Vec::new(),
        deleted: BTreeSet::new(),
        created: BTreeSet::new(),
    };
    d.namespaces();
    d.veth_pairs();
    for (name, dns) in &desired.namespaces {
        d.links(name, dns);
    }
    for (name, dns) in &desired.namespaces {
        d.contents(name, dns);
    }
    let mut changes = d.changes;
    changes.shrink_to_fit();
    // Sorted stably by index and moved in place: sorting the changes themselves would
    // take a buffer of half of them.
    let mut order: Vec<usize> = (0..changes.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&changes[a], &changes[b]);
        (a.ns(), rank(a)).cmp(&(b.ns(), rank(b)))
    });
    let mut target = vec![0; order.len()];
    for (to, &from) in order.iter().enumerate() {
        target[from] = to;
    }
    super::permute(&mut changes, &mut target);
    Ok(changes)
}

/// The order of a namespace's changes in a sorted change set: the [`Phase`] table's,
/// its links one group.
fn rank(c: &Change) -> Phase {
    Phase::of(c, Part::Main).in_change_set()
}

/// Every desired namespace whose live counterpart the lab does not own, and every
/// desired route whose place another program's route holds.
fn conflicts(lab: &str, desired: &NetState, live: &NetState) -> Vec<Conflict> {
    let mut found = Vec::new();
    for (name, dns) in &desired.namespaces {
        let Some(lns) = live.namespaces.get(name) else {
            continue;
        };
        if !lns.owned_by(lab) {
            found.push(Conflict {
                ns: name.clone(),
                object: format!("namespace {name}"),
                owner: display::owner(lns.owner.as_deref()),
            });
            continue;
        }
        found.extend(route_conflicts(name, dns, lns));
    }
    found
}

/// The desired routes of `dns` whose table, destination and metric a live route of a
/// protocol the lab does not own holds: applying would replace the daemon's route, and
/// the daemon put it back, a fight that `plan` names instead.
fn route_conflicts(name: &str, dns: &Namespace, lns: &Namespace) -> Vec<Conflict> {
    if lns.routes.is_empty() || dns.routes.is_empty() {
        return Vec::new();
    }
    let wanted: BTreeSet<_> = dns.routes.keys().map(|k| k.group()).collect();
    lns.routes
        .iter()
        .filter(|(key, route)| !dns.protocols.owns(route.proto) && wanted.contains(&key.group()))
        .map(|(key, route)| Conflict {
            ns: name.to_string(),
            object: format!("route {} in {name}", display::route_key_short(key)),
            owner: format!(
                "{} (protocol {}): give the lab's route another metric, leave the prefix \
                 to the daemon, or take the protocol with `owns: {{protocols: [{}]}}`",
                display::proto(route.proto),
                route.proto,
                display::proto(route.proto)
            ),
        })
        .collect()
}

struct Differ<'a> {
    lab: &'a str,
    desired: &'a NetState,
    live: &'a NetState,
    changes: Vec<Change>,
    /// Live links that go away: deleted ones, the other end of every deleted veth pair,
    /// and the links stacked on a deleted link.
    deleted: BTreeSet<LinkRef>,
    /// Desired links that an `AddLink` creates (both ends of a pair).
    created: BTreeSet<LinkRef>,
}

impl<'a> Differ<'a> {
    /// The live namespace, if it is the lab's and holds a namespace.
    fn live_ns(&self, ns: &str) -> Option<&'a Namespace> {
        self.live
            .namespaces
            .get(ns)
            .filter(|n| n.owned_by(self.lab) && !n.stray)
    }

    /// Whether `ns` exists live, is the lab's and stays.
    fn survives(&self, ns: &str) -> bool {
        self.desired.namespaces.contains_key(ns) && self.live_ns(ns).is_some()
    }

    /// The live link at `r`, unless it is already going away.
    fn live_link(&self, r: &LinkRef) -> Option<&'a Link> {
        if self.deleted.contains(r) {
            return None;
        }
        self.live_ns(&r.ns)?.links.get(&r.name).map(Box::as_ref)
    }

    fn role(&self, ns: &str) -> NsRole {
        self.desired
            .namespaces
            .get(ns)
            .or_else(|| self.live.namespaces.get(ns))
            .map_or(NsRole::Unknown, |n| n.role)
    }

    /// Namespace additions and deletions; for a deleted namespace, its veth pairs are
    /// deleted from their surviving ends (rather than by the kernel, asynchronously). A
    /// stray mount point of the lab is removed, and made again if the namespace is
    /// desired.
    fn namespaces(&mut self) {
        let (desired, live) = (self.desired, self.live);
        for (name, dns) in &desired.namespaces {
            match live.namespaces.get(name) {
                None => {}
                Some(l) if l.stray => self.changes.push(Change::DeleteNamespace {
                    ns: name.clone(),
                    role: l.role,
                    contents: Vec::new(),
                    stray: true,
                }),
                Some(_) => continue,
            }
            self.changes.push(Change::AddNamespace {
                ns: name.clone(),
                role: dns.role,
            });
        }
        for (name, lns) in &live.namespaces {
            if !lns.owned_by(self.lab) || desired.namespaces.contains_key(name) {
                continue;
            }
            self.changes.push(Change::DeleteNamespace {
                ns: name.clone(),
                role: lns.role,
                contents: display::contents(lns),
                stray: lns.stray,
            });
            for (ifname, link) in &lns.links {
                if let Some(p) = link.kind.peer()
                    && self.survives(&p.ns)
                    && let Some(pl) = self.live_link(p)
                {
                    self.delete_link(p, pl);
                    self.deleted.insert(LinkRef::new(name, ifname));
                }
            }
        }
    }
}
