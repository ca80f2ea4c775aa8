//! The graph against the kernel: whether the lab is applied here, the plan that would
//! make the kernel match its file (computed as `nshost plan` does, under the lab's
//! shared lock), and the state of each node, interface and network that plan implies.

use std::collections::HashSet;
use std::time::Duration;

use super::{Graph, State};
use crate::lab::{IfaceKind, Lab};
use crate::plan::{Change, Plan};
use crate::workflow::{self, Loaded};

/// What the kernel said about a lab.
#[derive(Debug)]
pub enum Observed {
    /// None of the lab's namespaces is here: nothing to compare with.
    NotApplied,
    /// What `apply` would change.
    Planned(Box<Plan>),
    /// The kernel could not be read (no privileges, a lock, a conflict...): why.
    Unreadable(String),
}

/// Whether the lab is applied here (one of its namespaces is under `/run/netns`,
/// which needs no privileges to see), and if so what a plan of it would change.
pub fn observe(loaded: Loaded, lock_timeout: Duration) -> Observed {
    let names: HashSet<&String> = loaded.desired.namespaces.keys().collect();
    let present = match crate::kernel::netns::list() {
        Ok(entries) => entries.iter().any(|e| match e {
            crate::kernel::netns::Entry::File(name) => names.contains(name),
            crate::kernel::netns::Entry::Other { .. } => false,
        }),
        Err(e) => {
            return Observed::Unreadable(format!(
                "cannot list {}: {e}",
                crate::kernel::netns::run_dir().display()
            ));
        }
    };
    if !present {
        return Observed::NotApplied;
    }
    let lock = match workflow::lock_shared(&loaded.lab.name, lock_timeout) {
        Ok(lock) => lock,
        Err(e) => return Observed::Unreadable(e.to_string()),
    };
    let planned = workflow::plan_loaded(loaded);
    drop(lock);
    match planned {
        Ok(p) => Observed::Planned(Box::new(p.plan)),
        Err(e) => Observed::Unreadable(e.to_string()),
    }
}

/// A namespace and a link in it.
type LinkAt = (String, String);

/// What a plan says of each namespace and link.
#[derive(Default)]
struct Touched {
    /// Namespaces the plan creates.
    created_ns: HashSet<String>,
    /// Namespaces in which the plan changes anything.
    changed_ns: HashSet<String>,
    /// Links the plan creates (both ends of a veth pair).
    created: HashSet<LinkAt>,
    /// Links the plan deletes (a kind changed is deleted and created again).
    deleted: HashSet<LinkAt>,
    /// Links the plan changes, or whose addresses or settings it changes.
    changed: HashSet<LinkAt>,
}

impl Touched {
    fn of(plan: &Plan) -> Touched {
        let mut t = Touched::default();
        let at = |ns: &str, name: &str| (ns.to_string(), name.to_string());
        for change in &plan.changes {
            t.changed_ns.insert(change.ns().to_string());
            if let Some(other) = change.other_ns() {
                t.changed_ns.insert(other.to_string());
            }
            match change {
                Change::AddNamespace { ns, .. } => {
                    t.created_ns.insert(ns.clone());
                }
                Change::AddLink { ns, name, peer, .. } => {
                    t.created.insert(at(ns, name));
                    if let Some(p) = peer {
                        t.created.insert(at(&p.at.ns, &p.at.name));
                    }
                }
                Change::UpdateLink { ns, name, .. } => {
                    t.changed.insert(at(ns, name));
                }
                Change::DeleteLink { ns, name, link } => {
                    t.deleted.insert(at(ns, name));
                    if let Some(p) = link.kind.peer() {
                        t.deleted.insert(at(&p.ns, &p.name));
                    }
                }
                Change::AddAddress { ns, key, .. } | Change::DeleteAddress { ns, key, .. } => {
                    t.changed.insert(at(ns, &key.ifname));
                }
                Change::SetLinkSetting { ns, link, .. } | Change::SetQdisc { ns, link, .. } => {
                    t.changed.insert(at(ns, link));
                }
                _ => {}
            }
        }
        t
    }

    /// A link's state: missing when the plan creates it (and deletes no link of that
    /// name first), drifted when it changes it or deletes and recreates it, in sync
    /// otherwise.
    fn link(&self, ns: &str, name: &str) -> State {
        let key = (ns.to_string(), name.to_string());
        let (created, deleted) = (self.created.contains(&key), self.deleted.contains(&key));
        if self.created_ns.contains(ns) || (created && !deleted) {
            State::Missing
        } else if created || deleted || self.changed.contains(&key) {
            State::Drifted
        } else {
            State::InSync
        }
    }
}

/// Sets every state of `graph` (built from `lab`) from what `plan` would change.
pub fn colour(graph: &mut Graph, lab: &Lab, plan: &Plan) {
    let t = Touched::of(plan);
    graph.checked = true;
    for node in &mut graph.nodes {
        let Some(lab_node) = lab.nodes.get(&node.name) else {
            continue;
        };
        let ns = &lab_node.ns;
        node.state = if t.created_ns.contains(ns) {
            State::Missing
        } else if t.changed_ns.contains(ns) {
            State::Drifted
        } else {
            State::InSync
        };
        for iface in &mut node.interfaces {
            iface.state = t.link(ns, &iface.name);
        }
    }
    for edge in &mut graph.edges {
        let Some(lab_node) = lab.nodes.get(&edge.node) else {
            continue;
        };
        let here = t.link(&lab_node.ns, &edge.interface);
        let fabric_end = if let Some(IfaceKind::Veth { fabric_name, .. }) =
            lab_node.interfaces.get(&edge.interface).map(|i| &i.kind)
        {
            t.link(&lab.fabric_ns, fabric_name)
        } else {
            State::InSync
        };
        edge.state = worst(here, fabric_end);
    }
    for network in &mut graph.networks {
        network.state = match lab.networks.get(&network.name) {
            Some(n) => t.link(&lab.fabric_ns, &n.bridge),
            None => State::InSync,
        };
    }
}

/// Missing before drifted before in sync.
fn worst(a: State, b: State) -> State {
    let rank = |s: State| match s {
        State::Missing => 3,
        State::Drifted => 2,
        State::InSync => 1,
        State::Unchecked => 0,
    };
    if rank(a) >= rank(b) { a } else { b }
}
