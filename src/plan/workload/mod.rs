//! The nodes' files and processes as a plan sees them: what the file wants
//! ([`desired`]), what the nodes have (the live set `crate::workload::observe` reads),
//! and the pure [`diff`] between them; `crate::workload` carries the changes out.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lab::{Lab, NodeFile, NodeProcess};
use crate::plan::{Action, Change};

/// What one node runs, keyed by the node's namespace in [`WorkSet`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeWork {
    /// The node's name (its processes' logs are kept under it).
    pub node: String,
    pub files: Vec<NodeFile>,
    pub run: Vec<NodeProcess>,
}

/// Workloads by namespace (nodes without any left out).
pub type WorkSet = BTreeMap<String, NodeWork>;

/// The workloads a lab declares.
pub fn desired(lab: &Lab) -> WorkSet {
    lab.nodes
        .iter()
        .filter(|(_, n)| !n.workload.is_empty())
        .map(|(name, n)| {
            (
                n.ns.clone(),
                NodeWork {
                    node: name.clone(),
                    files: n.workload.files.clone(),
                    run: n.workload.run.clone(),
                },
            )
        })
        .collect()
}

/// What a supervisor reports of one of its processes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcState {
    /// Running since `since`.
    Running,
    /// Exited; started again after a delay.
    Backoff,
    /// Exited too often in a row: not started again until an apply restarts it.
    Failed,
}

impl ProcState {
    /// As `status` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            ProcState::Running => "running",
            ProcState::Backoff => "backoff",
            ProcState::Failed => "failed",
        }
    }
}

/// One process as its node's supervisor last reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LiveProcess {
    pub name: String,
    /// The program and its arguments it was started with.
    pub argv: Vec<String>,
    pub state: ProcState,
    /// Its pid in the node's pid namespace (the supervisor is 1), while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How many times it was started again after it exited.
    pub restarts: u32,
    /// When it was last started (or, failed, when it last exited), in ms since the epoch.
    pub since_ms: u64,
    /// How it last exited (`exit 1`, `signal 9`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
}

/// What a node has: its supervisor's pid (in this pid namespace) and what it reports,
/// and its files as the node sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveNode {
    /// The node's name (from its spec).
    pub node: String,
    pub supervisor: Option<u32>,
    pub processes: Vec<LiveProcess>,
    /// Each declared path's content and mode in the node (absent: not there).
    pub files: BTreeMap<String, (Vec<u8>, u32)>,
}

/// Live workloads by namespace.
pub type LiveSet = BTreeMap<String, LiveNode>;

/// A plan's workloads: what the lab wants and what was found.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub desired: WorkSet,
    pub live: LiveSet,
}

/// What a plan does to one file or process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum WorkItem {
    /// A file, by path.
    File { path: String },
    /// A process, by name; `reason` says why a running one is restarted.
    Process {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// A file or process a plan puts in place, changes, or takes away.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkChange {
    /// The node's namespace.
    pub ns: String,
    /// The node's name.
    pub node: String,
    pub action: Action,
    pub item: WorkItem,
}

impl WorkChange {
    /// The change as a plan line's text, without its sign.
    pub fn text(&self) -> String {
        match &self.item {
            WorkItem::File { path } => format!("file {path}"),
            WorkItem::Process { name, reason: None } => format!("process {name}"),
            WorkItem::Process {
                name,
                reason: Some(r),
            } => format!("process {name} (restart: {r})"),
        }
    }
}

/// The paths of `files` that `process` depends on: those its command names, or every
/// file of the node when no process of it names any (a daemon reading its default
/// configuration path).
pub fn depends_on<'a>(
    process: &NodeProcess,
    all: &'a [NodeProcess],
    files: &'a [NodeFile],
) -> Vec<&'a str> {
    let names =
        |p: &NodeProcess, f: &NodeFile| p.command.argv().iter().any(|a| a.contains(&f.path));
    let named: Vec<&str> = files
        .iter()
        .filter(|f| names(process, f))
        .map(|f| f.path.as_str())
        .collect();
    if !named.is_empty() {
        return named;
    }
    let any_named = all.iter().any(|p| files.iter().any(|f| names(p, f)));
    if any_named {
        Vec::new()
    } else {
        files.iter().map(|f| f.path.as_str()).collect()
    }
}

/// The workload changes that turn `live` into `desired`, given the kernel changes of the
/// same plan: a namespace the plan deletes takes its supervisor and everything it ran
/// with it, so one it deletes and makes again has everything started again.
pub fn diff(desired: &WorkSet, live: &LiveSet, kernel: &[Change]) -> Vec<WorkChange> {
    let deleted = crate::plan::change::deleted_namespaces(kernel);
    let empty_live = LiveNode::default();
    let names: BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
    let mut out = Vec::new();
    for ns in names {
        let want = desired.get(ns);
        // Made again: everything starts over. Deleted for good: what ran is shown going.
        let recreated = want.is_some() && deleted.contains(ns.as_str());
        let have = match live.get(ns) {
            Some(l) if !recreated => l,
            _ => &empty_live,
        };
        let node = want
            .map(|w| w.node.clone())
            .or_else(|| live.get(ns).map(|l| l.node.clone()))
            .unwrap_or_else(|| ns.to_string());
        let mut push = |action, item| {
            out.push(WorkChange {
                ns: ns.clone(),
                node: node.clone(),
                action,
                item,
            })
        };
        let empty = NodeWork::default();
        let want = want.unwrap_or(&empty);
        // Files first: a process restarted for a file needs the new one.
        let mut changed_files = BTreeSet::new();
        for f in &want.files {
            match have.files.get(&f.path) {
                None => push(
                    Action::Add,
                    WorkItem::File {
                        path: f.path.clone(),
                    },
                ),
                Some((content, mode)) if *content != f.content || *mode != f.mode => {
                    changed_files.insert(f.path.as_str());
                    push(
                        Action::Change,
                        WorkItem::File {
                            path: f.path.clone(),
                        },
                    );
                }
                Some(_) => {}
            }
        }
        for path in have.files.keys() {
            if !want.files.iter().any(|f| &f.path == path) {
                push(Action::Destroy, WorkItem::File { path: path.clone() });
            }
        }
        for p in &want.run {
            let item = |reason| WorkItem::Process {
                name: p.name.clone(),
                reason,
            };
            let Some(running) = have.processes.iter().find(|l| l.name == p.name) else {
                push(Action::Add, item(None));
                continue;
            };
            if let Some(reason) = restart_reason(p, running, &want.run, &want.files, &changed_files)
            {
                push(Action::Change, item(Some(reason)));
            }
        }
        for l in &have.processes {
            if !want.run.iter().any(|p| p.name == l.name) {
                push(
                    Action::Destroy,
                    WorkItem::Process {
                        name: l.name.clone(),
                        reason: None,
                    },
                );
            }
        }
    }
    out
}

/// Why a running process must be started again, if it must.
fn restart_reason(
    p: &NodeProcess,
    running: &LiveProcess,
    all: &[NodeProcess],
    files: &[NodeFile],
    changed: &BTreeSet<&str>,
) -> Option<String> {
    if running.argv != p.command.argv() {
        return Some("command changed".into());
    }
    let touched: Vec<&str> = depends_on(p, all, files)
        .into_iter()
        .filter(|f| changed.contains(f))
        .collect();
    if !touched.is_empty() {
        return Some(format!("{} changed", touched.join(", ")));
    }
    match running.state {
        ProcState::Failed => Some(format!(
            "failed after {} restarts{}",
            running.restarts,
            running
                .last_exit
                .as_deref()
                .map(|e| format!(", last {e}"))
                .unwrap_or_default()
        )),
        ProcState::Running | ProcState::Backoff => None,
    }
}

#[cfg(test)]
mod tests;
