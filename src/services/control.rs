//! The lab's daemon from the outside: its run directory, starting it (a re-exec of
//! nshost itself, detached in a session of its own), finding it again, stopping it.
//!
//! The run directory `<lock dir>/<lab>/` holds `services.json` (what the daemon serves,
//! written before it starts), `daemon.pid` (written by the daemon itself, first thing,
//! so that a daemon whose starter was killed is still found) and `daemon.log` (its
//! stderr). A pid is only believed when `/proc/<pid>/cmdline` is nshost's hidden
//! `__serve` subcommand for the same lab: a stale file (a daemon killed with `-9`, a
//! reused pid) names nothing.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Service, ServiceSet};

/// The hidden subcommand the daemon runs as.
pub const SUBCOMMAND: &str = "__serve";

/// How long a starting daemon may take to open its sockets.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped daemon may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the daemon could not be started or stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ControlError {
    #[error("services of lab `{lab}`: {what}: {cause}")]
    #[diagnostic(code(nshost::services))]
    Io {
        lab: String,
        what: &'static str,
        cause: io::Error,
    },
    #[error("services of lab `{lab}`: the daemon did not start: {reason}")]
    #[diagnostic(code(nshost::services), help("its log is {log}"))]
    Start {
        lab: String,
        reason: String,
        log: String,
    },
}

/// The lab's run directory.
pub fn run_dir(lab: &str) -> PathBuf {
    crate::lock::lock_dir().join(lab)
}

fn pid_path(lab: &str) -> PathBuf {
    run_dir(lab).join("daemon.pid")
}

fn record_path(lab: &str) -> PathBuf {
    run_dir(lab).join("services.json")
}

/// The daemon's log file.
pub fn log_path(lab: &str) -> PathBuf {
    run_dir(lab).join("daemon.log")
}

/// What a daemon serves, as written in its run directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub lab: String,
    /// Services by namespace.
    pub services: std::collections::BTreeMap<String, Vec<Service>>,
}

impl Record {
    pub fn of(lab: &str, set: &ServiceSet) -> Self {
        Record {
            lab: lab.to_string(),
            services: set
                .iter()
                .map(|(ns, s)| (ns.clone(), s.iter().copied().collect()))
                .collect(),
        }
    }
}

/// The record of what `lab`'s daemon serves (empty when there is none).
pub fn read_record(lab: &str) -> Record {
    crate::safe_file::open_read(&record_path(lab))
        .ok()
        .and_then(|f| serde_json::from_reader(io::BufReader::new(f)).ok())
        .unwrap_or_default()
}

/// Whether the run directory holds any of the daemon's files.
pub fn has_leftovers(lab: &str) -> bool {
    own_files(lab).iter().any(|p| p.symlink_metadata().is_ok())
}

/// Writes the pid file (by the daemon, for itself).
pub fn write_pid(lab: &str, pid: u32) -> io::Result<()> {
    crate::safe_file::write_atomically(&pid_path(lab), format!("{pid}\n").as_bytes(), 0o644)
}

/// Whether `pid` is a live (not zombie) nshost daemon of `lab`.
fn is_daemon_of(pid: u32, lab: &str) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let ours = args
        .windows(3)
        .any(|w| w[0] == SUBCOMMAND.as_bytes() && w[1] == b"--lab" && w[2] == lab.as_bytes());
    ours && !is_zombie(pid)
}

/// Whether `pid` has exited but not been reaped (or is gone).
fn is_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// The pid of `lab`'s running daemon, if there is one.
pub fn find(lab: &str) -> Option<u32> {
    let mut text = String::new();
    io::Read::read_to_string(
        &mut crate::safe_file::open_read(&pid_path(lab)).ok()?,
        &mut text,
    )
    .ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    is_daemon_of(pid, lab).then_some(pid)
}

/// The socket inodes the process `pid` holds open.
pub fn socket_inodes(pid: u32) -> std::collections::HashSet<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Default::default();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// Stops `lab`'s daemon, if one runs (SIGTERM, then SIGKILL), and empties its run
/// directory. Returns whether a daemon was stopped.
pub fn stop(lab: &str) -> Result<bool, ControlError> {
    let stopped = match find(lab) {
        Some(pid) => {
            kill_and_wait(pid, lab);
            true
        }
        None => false,
    };
    for path in own_files(lab) {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(cause) => {
                return Err(ControlError::Io {
                    lab: lab.to_string(),
                    what: "removing the daemon's files",
                    cause,
                });
            }
        }
    }
    // The directory goes with them when nothing else is kept there (the nodes'
    // workloads are: `crate::workload`).
    let _ = std::fs::remove_dir(run_dir(lab));
    Ok(stopped)
}

/// The daemon's files in the run directory.
fn own_files(lab: &str) -> [PathBuf; 3] {
    [pid_path(lab), record_path(lab), log_path(lab)]
}

fn kill_and_wait(pid: u32, lab: &str) {
    use nix::unistd::Pid;
    let target = Pid::from_raw(pid as i32);
    // SAFETY: kill(2) with a pid and a signal number; no memory is involved.
    let signal = |sig: libc::c_int| unsafe { libc::kill(pid as libc::pid_t, sig) };
    signal(libc::SIGTERM);
    let started = Instant::now();
    let mut killed = false;
    loop {
        // Reaped here when it is this process's own child (a restart within one apply).
        let _ = nix::sys::wait::waitpid(target, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        if !is_daemon_of(pid, lab) {
            return;
        }
        if !killed && started.elapsed() > STOP_TIMEOUT {
            signal(libc::SIGKILL);
            killed = true;
        }
        if started.elapsed() > STOP_TIMEOUT * 2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts `lab`'s daemon serving `set` (which must not be empty) and waits until every
/// socket listens; returns its pid. Any daemon of the lab must be stopped first.
pub fn start(lab: &str, set: &ServiceSet) -> Result<u32, ControlError> {
    let io_err = |what: &'static str| {
        move |cause: io::Error| ControlError::Io {
            lab: lab.to_string(),
            what,
            cause,
        }
    };
    let dir = run_dir(lab);
    crate::safe_file::open_dir(&dir).map_err(io_err("creating the run directory"))?;
    let record = serde_json::to_vec_pretty(&Record::of(lab, set)).expect("a record serializes");
    crate::safe_file::write_atomically(&record_path(lab), &record, 0o600)
        .map_err(io_err("writing services.json"))?;
    let log = crate::safe_file::open_append(&log_path(lab), 0o600)
        .map_err(io_err("opening the daemon's log"))?;
    let exe = std::fs::read_link("/proc/self/exe").map_err(io_err("finding nshost itself"))?;
    let mut cmd = Command::new(exe);
    cmd.args([SUBCOMMAND, "--lab", lab])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io_err("starting the daemon"))?;
    let pid = child.id();
    let fail = |reason: String| ControlError::Start {
        lab: lab.to_string(),
        reason,
        log: log_path(lab).display().to_string(),
    };
    let line = match crate::process::first_line(&mut child, START_TIMEOUT) {
        Some(line) => line,
        None => {
            kill_and_wait(pid, lab);
            let _ = child.wait();
            return Err(fail(format!(
                "it was not listening after {} s",
                START_TIMEOUT.as_secs()
            )));
        }
    };
    let line = line.trim();
    if line == "ready" {
        // The child is left to run (dropping it neither kills nor waits for it).
        drop(child);
        return Ok(pid);
    }
    let _ = child.wait();
    let reason = match line.strip_prefix("error: ") {
        Some(why) => why.to_string(),
        None if line.is_empty() => "it exited before it was ready".to_string(),
        None => line.to_string(),
    };
    Err(fail(reason))
}
