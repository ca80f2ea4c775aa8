//! Orders a change set with a petgraph dependency graph and cuts it into stages.

use serde::Serialize;

use crate::plan::Change;

/// An ordered change set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub lab: String,
    /// Changes in a valid execution order.
    pub changes: Vec<Change>,
    /// Indices into `changes`, one vector per stage. Stages run one after another;
    /// within a stage, the changes of each namespace run in order on that namespace's
    /// socket, and different namespaces run concurrently.
    #[serde(skip)]
    pub stages: Vec<Vec<usize>>,
}

/// Orders `changes` by their dependencies.
pub fn order(lab: &str, changes: Vec<Change>) -> Plan {
    let _ = (lab, changes);
    todo!("plan::order")
}
