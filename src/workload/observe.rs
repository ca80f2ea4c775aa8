//! What a lab's nodes have of their workloads: each node's supervisor (found in the
//! process table), the processes it reports, and each file as the node sees it, read
//! through the supervisor's root (`/proc/<pid>/root/<path>`), so that a file edited
//! inside the node is drift like any other. A node without a supervisor has nothing.

use std::os::unix::fs::PermissionsExt;

use super::control::find_all;
use super::layout;
use super::{LiveNode, LiveSet, WorkSet};

/// The workloads of `lab`'s nodes that `desired` names or that have a directory.
pub fn observe(lab: &str, desired: &WorkSet) -> LiveSet {
    let running = find_all(lab);
    let mut nodes: Vec<(String, String)> = desired
        .iter()
        .map(|(ns, w)| (ns.clone(), w.node.clone()))
        .collect();
    for node in layout::nodes_with_dirs(lab) {
        if nodes.iter().any(|(_, n)| *n == node) {
            continue;
        }
        if let Some(spec) = layout::read_spec(lab, &node) {
            nodes.push((spec.ns, node));
        }
    }
    let mut out = LiveSet::new();
    for (ns, node) in nodes {
        let Some(&pid) = running.get(&node) else {
            continue;
        };
        let spec = layout::read_spec(lab, &node).unwrap_or_default();
        let state = layout::read_state(lab, &node).unwrap_or_default();
        let mut live = LiveNode {
            node: node.clone(),
            supervisor: Some(pid),
            processes: state.processes,
            ..LiveNode::default()
        };
        let wanted = desired.get(&ns).map(|w| &w.files);
        let paths = spec
            .files
            .iter()
            .map(|f| f.path.clone())
            .chain(wanted.into_iter().flatten().map(|f| f.path.clone()));
        for path in paths {
            let at = format!("/proc/{pid}/root{path}");
            if let (Ok(content), Ok(meta)) = (std::fs::read(&at), std::fs::metadata(&at)) {
                live.files
                    .insert(path, (content, meta.permissions().mode() & 0o7777));
            }
        }
        out.insert(ns, live);
    }
    out
}
