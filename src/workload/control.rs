//! Nodes' supervisors from the outside: finding them (in the kernel's process table),
//! starting one (a re-exec of nshost as pid 1 of a new pid namespace, from a
//! short-lived thread, in the node's network namespace), telling one to reload its
//! spec and waiting until it has, stopping one; and carrying out a plan's workload
//! changes, or putting the previous specs back on rollback.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::layout::{self, Spec, SpecFile, SpecProcess};
use super::supervisor::SUBCOMMAND;
use super::{NodeWork, WorkChange, WorkItem, WorkSet};
use crate::plan::Action;

/// How long a supervisor may take to make its node ready, or to carry out a new spec.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a node's workload could not be put in place.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WorkloadError {
    #[error("node {node}: {what}: {cause}")]
    #[diagnostic(code(nshost::workload))]
    Io {
        node: String,
        what: &'static str,
        cause: io::Error,
    },
    #[error("node {node}: {reason}")]
    #[diagnostic(code(nshost::workload), help("the node's logs are under {dir}"))]
    Supervisor {
        node: String,
        reason: String,
        dir: String,
    },
    #[error("node {node} has no process{}", .name.as_ref().map(|n| format!(" named `{n}`")).unwrap_or_default())]
    #[diagnostic(code(nshost::no_such_process), help("{}", if .known.is_empty() { "the node declares no `run:`".to_string() } else { format!("its processes: {}", .known.join(", ")) }))]
    NoProcess {
        node: String,
        name: Option<String>,
        known: Vec<String>,
    },
}

/// The supervisors of `lab` that run, by node name: processes whose command line is
/// nshost's `__node --lab LAB --node NODE` and that are pid 1 of their pid namespace.
pub fn find_all(lab: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(node) = node_of(pid, lab) {
            out.insert(node, pid);
        }
    }
    out
}

/// The node `pid` supervises, if it is a live supervisor of `lab`.
fn node_of(pid: u32, lab: &str) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let at = args.iter().position(|a| *a == SUBCOMMAND.as_bytes())?;
    let rest = &args[at + 1..];
    if rest.len() < 4 || rest[0] != b"--lab" || rest[1] != lab.as_bytes() || rest[2] != b"--node" {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let pid_line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    let zombie = status
        .lines()
        .find(|l| l.starts_with("State:"))
        .is_some_and(|l| l.contains('Z'));
    (pid_line.split_whitespace().last() == Some("1") && !zombie)
        .then(|| String::from_utf8_lossy(rest[3]).into_owned())
}

/// The supervisor of `node`, if it runs.
pub fn find(lab: &str, node: &str) -> Option<u32> {
    find_all(lab).remove(node)
}

/// Starts the supervisor of `spec`'s node (whose spec is written) and waits until it
/// is ready; returns its pid.
fn start(spec: &Spec) -> Result<u32, WorkloadError> {
    let node = spec.node.clone();
    let io_err = |what: &'static str| {
        let node = node.clone();
        move |cause: io::Error| WorkloadError::Io { node, what, cause }
    };
    let dir = layout::node_dir(&spec.lab, &spec.node);
    let log = crate::safe_file::open_append(&dir.join("supervisor.log"), 0o600)
        .map_err(io_err("opening the supervisor's log"))?;
    let netns = crate::kernel::netns::open_fd(&spec.ns).map_err(io_err("opening the namespace"))?;
    let exe = std::fs::read_link("/proc/self/exe").map_err(io_err("finding nshost itself"))?;
    let mut cmd = Command::new(exe);
    cmd.args([SUBCOMMAND, "--lab", &spec.lab, "--node", &spec.node])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    // SAFETY: setns and setsid are async-signal-safe; nothing else runs between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            setns(&netns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            nix::unistd::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    // The pid namespace is the thread's children's: a short-lived thread of its own
    // unshares it, so that the child it forks is its pid 1.
    let mut child = std::thread::scope(|s| {
        s.spawn(|| {
            unshare(CloneFlags::CLONE_NEWPID).map_err(io::Error::from)?;
            cmd.spawn()
        })
        .join()
        .expect("the starting thread does not panic")
    })
    .map_err(io_err("starting the supervisor"))?;
    let pid = child.id();
    let fail = |reason: String| WorkloadError::Supervisor {
        node: spec.node.clone(),
        reason,
        dir: dir.display().to_string(),
    };
    let line = crate::process::first_line(&mut child, TIMEOUT).unwrap_or_default();
    let line = line.trim();
    if line == "ready" {
        // Left to run: dropping the handle neither kills nor waits for it.
        drop(child);
        return Ok(pid);
    }
    stop_pid(pid);
    let _ = child.wait();
    Err(fail(match line.strip_prefix("error: ") {
        Some(why) => format!("its supervisor could not start: {why}"),
        None => "its supervisor exited before it was ready".to_string(),
    }))
}

/// Stops a supervisor (and with it everything in its node): SIGTERM, then SIGKILL when
/// it has not exited after its own grace period and a margin.
pub fn stop_pid(pid: u32) {
    let p = Pid::from_raw(pid as i32);
    let _ = kill(p, Signal::SIGTERM);
    let deadline = Instant::now() + crate::kernel::procs::GRACE + Duration::from_secs(2);
    while crate::kernel::procs::alive(pid) {
        if Instant::now() >= deadline {
            let _ = kill(p, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Tells supervisor `pid` to carry out `spec` (written) and waits until it reports it.
fn reload(pid: u32, spec: &Spec) -> Result<(), WorkloadError> {
    let dir = layout::node_dir(&spec.lab, &spec.node);
    let fail = |reason: String| WorkloadError::Supervisor {
        node: spec.node.clone(),
        reason,
        dir: dir.display().to_string(),
    };
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGHUP);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(state) = layout::read_state(&spec.lab, &spec.node)
            && state.generation >= spec.generation
        {
            return match state.error {
                None => Ok(()),
                Some(e) => Err(fail(e)),
            };
        }
        if !crate::kernel::procs::alive(pid) {
            return Err(fail("its supervisor exited".into()));
        }
        if Instant::now() >= deadline {
            return Err(fail("its supervisor did not take the new spec".into()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The spec for `work`: content files reused from `previous` where unchanged, new ones
/// written (named by generation and position) where not.
fn write_spec(
    lab: &str,
    ns: &str,
    work: &NodeWork,
    previous: Option<&Spec>,
    restart: Vec<String>,
) -> Result<Spec, WorkloadError> {
    let node = &work.node;
    let io_err = |what: &'static str| {
        let node = node.clone();
        move |cause: io::Error| WorkloadError::Io { node, what, cause }
    };
    let dir = layout::node_dir(lab, node);
    let generation = previous.map_or(0, |p| p.generation) + 1;
    crate::safe_file::open_dir(&dir.join("files")).map_err(io_err("making its directory"))?;
    let mut files = Vec::new();
    for (k, f) in work.files.iter().enumerate() {
        let kept = previous
            .and_then(|p| p.files.iter().find(|s| s.path == f.path))
            .filter(|s| {
                std::fs::read(dir.join("files").join(&s.content)).is_ok_and(|c| c == f.content)
            });
        let content = match kept {
            Some(s) => s.content.clone(),
            None => {
                let name = format!("{generation}-{k}");
                crate::safe_file::write_atomically(
                    &dir.join("files").join(&name),
                    &f.content,
                    f.mode,
                )
                .map_err(io_err("writing a file's content"))?;
                name
            }
        };
        files.push(SpecFile {
            path: f.path.clone(),
            mode: f.mode,
            content,
        });
    }
    let spec = Spec {
        generation,
        lab: lab.to_string(),
        node: node.clone(),
        ns: ns.to_string(),
        files,
        run: work
            .run
            .iter()
            .map(|p| SpecProcess {
                name: p.name.clone(),
                argv: p.command.argv(),
            })
            .collect(),
        restart,
    };
    layout::write_json(&dir.join("spec.json"), &spec).map_err(io_err("writing spec.json"))?;
    Ok(spec)
}

/// Removes content files no spec names any more.
fn prune_files(lab: &str, spec: &Spec) {
    let dir = layout::node_dir(lab, &spec.node).join("files");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !spec.files.iter().any(|f| name == f.content.as_str()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Carries out `changes` (a plan's workload changes) so that each node runs what
/// `desired` says (the specs before it are taken by [`before`], for a rollback). Only
/// supervisors found running now are signalled: a pid of the plan's live state may
/// have been reused since its namespace went.
pub fn carry_out(
    lab: &str,
    desired: &WorkSet,
    changes: &[WorkChange],
) -> Result<(), WorkloadError> {
    let running = find_all(lab);
    let mut nodes: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for c in changes {
        let entry = nodes.entry(c.ns.as_str()).or_insert((&c.node, Vec::new()));
        if let (
            Action::Change,
            WorkItem::Process {
                name,
                reason: Some(_),
            },
        ) = (&c.action, &c.item)
        {
            entry.1.push(name.clone());
        }
    }
    for (ns, (node, restart)) in nodes {
        let supervisor = running.get(node).copied();
        let Some(work) = desired.get(ns) else {
            if let Some(pid) = supervisor {
                stop_pid(pid);
            }
            let _ = std::fs::remove_dir_all(layout::node_dir(lab, node));
            tidy(lab);
            continue;
        };
        let previous = layout::read_spec(lab, node);
        let spec = write_spec(lab, ns, work, previous.as_ref(), restart)?;
        match supervisor {
            Some(pid) => reload(pid, &spec)?,
            None => {
                start(&spec)?;
            }
        }
        prune_files(lab, &spec);
    }
    Ok(())
}

/// Stops every supervisor of `lab` and removes the nodes' directories (destroy).
pub fn stop_all(lab: &str) {
    for pid in find_all(lab).into_values() {
        stop_pid(pid);
    }
    let _ = std::fs::remove_dir_all(layout::nodes_dir(lab));
    tidy(lab);
}

/// Removes the nodes' directory, and the lab's run directory, when they hold nothing.
fn tidy(lab: &str) {
    let _ = std::fs::remove_dir(layout::nodes_dir(lab));
    let _ = std::fs::remove_dir(crate::services::control::run_dir(lab));
}

/// The specs of the nodes `changes` touch, as they were before: what a rollback puts
/// back.
pub fn before(lab: &str, changes: &[WorkChange]) -> BTreeMap<String, (String, Option<Spec>)> {
    changes
        .iter()
        .map(|c| {
            (
                c.node.clone(),
                (c.ns.clone(), layout::read_spec(lab, &c.node)),
            )
        })
        .collect()
}

/// Puts the specs of `before` back: each node's supervisor reloads the old one (or is
/// started with it, or stopped where there was none). Returns whether all of it worked.
pub fn restore(lab: &str, before: &BTreeMap<String, (String, Option<Spec>)>) -> bool {
    let running = find_all(lab);
    let mut ok = true;
    for (node, (_, spec)) in before {
        let supervisor = running.get(node).copied();
        let Some(old) = spec else {
            if let Some(pid) = supervisor {
                stop_pid(pid);
            }
            let _ = std::fs::remove_dir_all(layout::node_dir(lab, node));
            continue;
        };
        let mut spec = old.clone();
        spec.generation = layout::read_spec(lab, node).map_or(0, |s| s.generation) + 1;
        spec.restart = Vec::new();
        let dir = layout::node_dir(lab, node);
        let put = layout::write_json(&dir.join("spec.json"), &spec).is_ok()
            && match supervisor {
                Some(pid) => reload(pid, &spec).is_ok(),
                None => start(&spec).is_ok(),
            };
        ok &= put;
    }
    ok
}
