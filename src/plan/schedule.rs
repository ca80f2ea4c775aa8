//! The one schedule of a plan: stages of steps, each step a list of operations for one
//! executor. `plan::order` makes it, `kernel::apply` runs exactly it, and the test
//! kit's simulator runs exactly it too, so what is tested is what runs.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use super::change::Part;
use crate::plan::Change;

/// Who carries out a step.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "executor", content = "ns", rename_all = "snake_case")]
pub enum Executor {
    /// The short-lived thread that creates namespace `ns` (unshare, loopback, its
    /// namespace-wide sysctls, then the bind mount that makes it visible).
    Create(String),
    /// One batch of netlink requests on a socket inside `ns`.
    Netlink(String),
    /// One batch of netlink requests on a socket in the namespace nshost runs in (the
    /// machine's underlay), creating links placed in `ns`: the vxlan ends of stretched
    /// networks, whose UDP socket stays where they were created from.
    Underlay(String),
    /// A short-lived thread inside `ns` writing under `/proc/sys`.
    Proc(String),
    /// Unmounting and removing `ns`'s entry under `/run/netns`.
    Delete(String),
    /// A short-lived thread inside `ns` running the kernel's firewall loaders
    /// (`ipset`, `iptables-restore`, `ip6tables-restore`, `nft`).
    Firewall(String),
}

impl Executor {
    /// The namespace the executor works in.
    pub fn ns(&self) -> &str {
        match self {
            Executor::Create(ns)
            | Executor::Netlink(ns)
            | Executor::Underlay(ns)
            | Executor::Proc(ns)
            | Executor::Delete(ns)
            | Executor::Firewall(ns) => ns,
        }
    }
}

/// One operation: a part of the change at index `change` of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub change: usize,
    pub part: Part,
}

/// The operations one executor runs in a stage, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub executor: Executor,
    pub ops: Vec<Op>,
}

/// Steps that run concurrently; a stage starts when the one before it has finished.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub steps: Vec<Step>,
}

/// An ordered change set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub lab: String,
    /// Changes in the order they first run.
    pub changes: Vec<Change>,
    #[serde(skip)]
    pub stages: Vec<Stage>,
    /// The lab's services it starts and stops (carried out by the lab's daemon, not in
    /// the stages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<super::services::ServiceChange>,
    /// The nodes' files and processes it puts in place, changes or takes away (carried
    /// out by the nodes' supervisors, after the stages).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workload: Vec<super::workload::WorkChange>,
}

impl Plan {
    /// A plan that changes nothing.
    pub fn empty(lab: &str) -> Self {
        Plan {
            lab: lab.to_string(),
            changes: Vec::new(),
            stages: Vec::new(),
            services: Vec::new(),
            workload: Vec::new(),
        }
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.services.is_empty() && self.workload.is_empty()
    }

    /// Every namespace an operation of the plan acts in, the far ends of veth pairs
    /// created or deleted included.
    pub fn touched_namespaces(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for c in &self.changes {
            out.insert(c.ns().to_string());
            if let Some(other) = c.other_ns() {
                out.insert(other.to_string());
            }
        }
        out
    }

    /// The changes of stage `k`, each once, in order.
    pub fn stage_changes(&self, k: usize) -> impl Iterator<Item = &Change> {
        let mut seen = BTreeSet::new();
        self.stages[k]
            .steps
            .iter()
            .flat_map(|s| s.ops.iter())
            .filter(move |op| seen.insert(op.change))
            .map(|op| &self.changes[op.change])
    }

    /// Every step of the plan with its stage number.
    pub fn steps(&self) -> impl Iterator<Item = (usize, &Step)> {
        self.stages
            .iter()
            .enumerate()
            .flat_map(|(k, s)| s.steps.iter().map(move |step| (k, step)))
    }
}
