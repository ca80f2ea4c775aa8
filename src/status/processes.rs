//! The processes of a lab's nodes for `status`: what each node's supervisor reports,
//! with each pid translated to this machine's (the supervisor knows those of its own
//! pid namespace: the kernel's `NSpid` line gives both), and the tail of the log of a
//! process that is not running.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::ProcessStatus;
use crate::workload::{LiveSet, ProcState, layout};

/// Lines of log shown for a process that is not running.
const TAIL: usize = 5;

/// The processes of every node of `live`, by namespace.
pub fn of(lab: &str, live: &LiveSet) -> BTreeMap<String, Vec<ProcessStatus>> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut out = BTreeMap::new();
    let pids = host_pids(live.values().filter_map(|n| n.supervisor));
    for (ns, node) in live {
        let Some(supervisor) = node.supervisor else {
            continue;
        };
        let rows = node
            .processes
            .iter()
            .map(|p| {
                let log = layout::log_path(lab, &node.node, &p.name);
                ProcessStatus {
                    name: p.name.clone(),
                    state: p.state.clone(),
                    pid: p
                        .pid
                        .and_then(|inner| pids.get(&(supervisor, inner)).copied()),
                    restarts: p.restarts,
                    since_s: now.saturating_sub(p.since_ms) / 1000,
                    last_exit: p.last_exit.clone(),
                    log_tail: match p.state {
                        ProcState::Running => Vec::new(),
                        ProcState::Backoff | ProcState::Failed => tail(&log),
                    },
                    log: log.display().to_string(),
                }
            })
            .collect();
        out.insert(ns.clone(), rows);
    }
    out
}

/// This machine's pid of each process in the supervisors' pid namespaces, by
/// (supervisor, pid there): one look at the process table for every node.
fn host_pids(supervisors: impl Iterator<Item = u32>) -> BTreeMap<(u32, u32), u32> {
    let mut out = BTreeMap::new();
    let by_ns: BTreeMap<std::path::PathBuf, u32> = supervisors
        .filter_map(|s| Some((std::fs::read_link(format!("/proc/{s}/ns/pid")).ok()?, s)))
        .collect();
    if by_ns.is_empty() {
        return out;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(&supervisor) = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()
            .and_then(|ns| by_ns.get(&ns))
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let inner = status
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|s| s.parse::<u32>().ok());
        if let Some(inner) = inner {
            out.insert((supervisor, inner), pid);
        }
    }
    out
}

/// The last lines of a log.
fn tail(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}
