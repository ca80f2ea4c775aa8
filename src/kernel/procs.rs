//! The processes that run in a lab's namespaces, whoever started them (a routing daemon
//! started by `nshost exec`, a user's shell): found by the network namespace each
//! process is in (`/proc/PID/ns/net`, as `ip netns pids` does), and stopped before their
//! namespace goes, so that nothing outlives the lab and no process keeps a deleted
//! namespace alive.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

use crate::kernel::netns;

/// How long processes get to exit after SIGTERM before they are killed.
pub const GRACE: Duration = Duration::from_secs(3);

/// A process that was stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StoppedProcess {
    /// The namespace it ran in.
    pub ns: String,
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
    /// It did not exit within the grace period after SIGTERM and was killed.
    pub killed: bool,
}

impl std::fmt::Display for StoppedProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {}) in {}", self.name, self.pid, self.ns)?;
        if self.killed {
            write!(f, ", killed after {}s", GRACE.as_secs())?;
        }
        Ok(())
    }
}

/// A namespace's identity: the device and inode of its nsfs file.
type NsId = (u64, u64);

/// The identities of the namespaces bound under the namespace directory as `names`
/// (those that are not there, or hold no namespace, are left out).
fn identities<'a>(names: impl IntoIterator<Item = &'a str>) -> HashMap<NsId, String> {
    let dir = netns::run_dir();
    // An empty mount point is a file of the directory's own file system.
    let Ok(root) = std::fs::metadata(&dir) else {
        return HashMap::new();
    };
    names
        .into_iter()
        .filter_map(|name| {
            let m = std::fs::metadata(dir.join(name)).ok()?;
            (m.dev() != root.dev()).then(|| ((m.dev(), m.ino()), name.to_string()))
        })
        .collect()
}

/// Every process (but this one) whose network namespace is one of `wanted`, by pid.
fn find(wanted: &HashMap<NsId, String>) -> BTreeMap<u32, String> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let m = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
            let ns = wanted.get(&(m.dev(), m.ino()))?;
            Some((pid, ns.clone()))
        })
        .collect()
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// Whether `pid` still runs (a zombie has exited).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        !matches!(state, Some('Z' | 'X'))
    })
}

/// Stops every process that runs in one of the namespaces `names`: SIGTERM to all,
/// up to [`GRACE`] for them to exit, then SIGKILL to the rest. Returns them, in pid
/// order. Processes that start in the meantime are found by a second look.
pub fn stop_in<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<StoppedProcess> {
    stop(identities(names))
}

/// Stops every other process in this process's own network namespace (`nshost try`'s
/// sandbox, at its end), named `label` in the result.
pub fn stop_beside_me(label: &str) -> Vec<StoppedProcess> {
    let Ok(m) = std::fs::metadata("/proc/self/ns/net") else {
        return Vec::new();
    };
    stop(HashMap::from([((m.dev(), m.ino()), label.to_string())]))
}

fn stop(wanted: HashMap<NsId, String>) -> Vec<StoppedProcess> {
    if wanted.is_empty() {
        return Vec::new();
    }
    let mut stopped: BTreeMap<u32, StoppedProcess> = BTreeMap::new();
    for _ in 0..2 {
        let found = find(&wanted);
        if found.is_empty() {
            break;
        }
        for (pid, ns) in found {
            let name = comm(pid);
            if kill(Pid::from_raw(pid as i32), Signal::SIGTERM).is_ok() {
                stopped.entry(pid).or_insert(StoppedProcess {
                    ns,
                    pid,
                    name,
                    killed: false,
                });
            }
        }
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline && stopped.values().any(|p| !p.killed && alive(p.pid)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for p in stopped.values_mut() {
            if alive(p.pid) && kill(Pid::from_raw(p.pid as i32), Signal::SIGKILL).is_ok() {
                p.killed = true;
            }
        }
    }
    stopped.into_values().collect()
}
