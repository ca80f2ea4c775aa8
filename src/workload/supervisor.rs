//! A node's supervisor (`nshost __node --lab LAB --node NODE`, started by
//! [`super::control::start`] as pid 1 of a new pid namespace, already in the node's
//! network namespace): makes the node's mount namespace ([`super::mounts`]), says
//! `ready` on stdout (or `error: ...` and exits), then starts the node's processes and
//! keeps them running from one loop over a signalfd:
//! - SIGCHLD: a process exited; it is started again after 0.5 s, 1 s, 2 s, 4 s, 8 s;
//!   after [`RESTART_LIMIT`] quick exits in a row (each within [`STEADY`] of its start)
//!   it is `failed` and left alone until an apply restarts it;
//! - SIGHUP: `spec.json` changed: files put in place, processes started, stopped or
//!   restarted as it says;
//! - SIGTERM: every process of the node's pid namespace gets SIGTERM, then SIGKILL
//!   after the grace period, and the supervisor exits (the kernel kills whatever is
//!   left, since it is pid 1).
//!
//! Each process runs in a process group of its own, its output appended to its log;
//! the supervisor writes a line there when it starts, exits or is restarted. After each
//! change it writes `state.json`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::layout::{self, Spec, SpecProcess, State};
use super::mounts::{self, Mounted};
use super::{LiveProcess, ProcState};

/// The hidden subcommand the supervisor runs as.
pub const SUBCOMMAND: &str = "__node";
/// Quick exits in a row after which a process is `failed`.
pub const RESTART_LIMIT: u32 = 5;
/// A process that ran this long before it exited starts its count of quick exits anew.
pub const STEADY: Duration = Duration::from_secs(10);
/// How long processes get to exit after SIGTERM.
const GRACE: Duration = crate::kernel::procs::GRACE;
/// The `PATH` processes get when nshost was given none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One process of the node.
struct Proc {
    spec: SpecProcess,
    pid: Option<Pid>,
    state: ProcState,
    restarts: u32,
    /// Quick exits in a row.
    quick: u32,
    started: Instant,
    since: SystemTime,
    last_exit: Option<String>,
    /// When to start it again (in backoff).
    due: Option<Instant>,
}

/// The supervisor's state.
struct Supervisor {
    lab: String,
    node: String,
    /// The node's directory, through a descriptor kept open (`/run` is covered).
    dir: PathBuf,
    spec: Spec,
    mounted: Mounted,
    procs: Vec<Proc>,
    error: Option<String>,
}

/// Runs the supervisor of `node` of `lab`; returns when it is told to stop, or with an
/// error before it is ready (printed on stdout for the starter).
pub fn run(lab: &str, node: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    let ready = enter_dir(lab, node).and_then(|dir| prepare(lab, node, &dir));
    let mut sup = match ready {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(stdout, "error: {e}");
            return Err(io::Error::other(e));
        }
    };
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
    ] {
        signals.add(s);
    }
    signals.thread_block()?;
    let sfd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    sup.start_due();
    sup.write_state();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);
    crate::services::daemon::detach_stdout()?;
    loop {
        let timeout = sup.next_due().map_or(PollTimeout::NONE, |d| {
            let ms = d.saturating_duration_since(Instant::now()).as_millis();
            PollTimeout::try_from(ms.min(60_000) as u32 + 1).unwrap_or(PollTimeout::MAX)
        });
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut stop = false;
        let mut reload = false;
        while let Ok(Some(info)) = sfd.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGTERM | Signal::SIGINT) => stop = true,
                Ok(Signal::SIGHUP) => reload = true,
                _ => {}
            }
        }
        sup.reap();
        if stop {
            sup.stop_everything();
            return Ok(());
        }
        if reload {
            sup.reload();
        }
        sup.start_due();
        sup.write_state();
    }
}

/// Gives the supervisor its mount namespace, then makes the node's directory its
/// working directory: reached as `.` from then on, even once `/run` is covered, and
/// through a mount of the node's namespace (a bind mount's source must be one).
fn enter_dir(lab: &str, node: &str) -> Result<PathBuf, String> {
    mounts::unshare_mounts()?;
    let dir = crate::safe_file::open_dir(&layout::node_dir(lab, node))
        .map_err(|e| format!("opening the node's directory: {e}"))?;
    nix::unistd::fchdir(&dir).map_err(|e| format!("entering the node's directory: {e}"))?;
    Ok(PathBuf::new())
}

/// Reads the spec and makes the node's mounts.
fn prepare(lab: &str, node: &str, dir: &Path) -> Result<Supervisor, String> {
    if std::process::id() != 1 {
        return Err("a node's supervisor must be pid 1 of its pid namespace".into());
    }
    let spec: Spec =
        layout::read_json(&dir.join("spec.json")).ok_or("spec.json is missing or unreadable")?;
    let mounted = mounts::setup(&spec, dir)?;
    let procs = spec.run.iter().cloned().map(Proc::new).collect();
    Ok(Supervisor {
        lab: lab.to_string(),
        node: node.to_string(),
        dir: dir.to_path_buf(),
        spec,
        mounted,
        procs,
        error: None,
    })
}

impl Proc {
    fn new(spec: SpecProcess) -> Self {
        Proc {
            spec,
            pid: None,
            state: ProcState::Backoff,
            restarts: 0,
            quick: 0,
            started: Instant::now(),
            since: SystemTime::now(),
            last_exit: None,
            due: Some(Instant::now()),
        }
    }
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How a wait status reads in a log and in `status`.
fn exit_text(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("signal {}", *sig as i32),
        other => format!("{other:?}"),
    }
}

impl Supervisor {
    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(layout::log_file(name))
    }

    /// Appends a line of the supervisor's own to a process's log.
    fn note(&self, name: &str, text: &str) {
        let _ = std::fs::create_dir_all(self.dir.join("logs"));
        if let Ok(mut f) = crate::safe_file::open_append(&self.log_path(name), 0o600) {
            let _ = writeln!(f, "[nshost] {text}");
        }
    }

    /// Starts process `k` now.
    fn start(&mut self, k: usize) {
        let name = self.procs[k].spec.name.clone();
        let argv = self.procs[k].spec.argv.clone();
        self.note(&name, &format!("starting: {}", argv.join(" ")));
        let spawned = self.spawn(&name, &argv);
        let p = &mut self.procs[k];
        p.started = Instant::now();
        p.since = SystemTime::now();
        p.due = None;
        match spawned {
            Ok(pid) => {
                p.pid = Some(pid);
                p.state = ProcState::Running;
            }
            Err(e) => {
                let text = format!("could not start: {e}");
                p.last_exit = Some(text.clone());
                self.note(&name, &text);
                self.exited(k);
            }
        }
    }

    fn spawn(&self, name: &str, argv: &[String]) -> io::Result<Pid> {
        let _ = std::fs::create_dir_all(self.dir.join("logs"));
        let log = crate::safe_file::open_append(&self.log_path(name), 0o600)?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .current_dir("/")
            .env("NSHOST_LAB", &self.lab)
            .env("NSHOST_NODE", &self.node)
            .process_group(0);
        if std::env::var_os("PATH").is_none() {
            cmd.env("PATH", DEFAULT_PATH);
        }
        // The signals this supervisor reads from its signalfd are blocked in it; a
        // child must not keep that mask (a daemon would never see SIGTERM or SIGHUP).
        // SAFETY: between fork and exec, only the async-signal-safe sigprocmask.
        unsafe {
            cmd.pre_exec(|| SigSet::empty().thread_set_mask().map_err(io::Error::from));
        }
        let child = cmd.spawn()?;
        Ok(Pid::from_raw(child.id() as i32))
    }

    /// Process `k` exited (or could not start): schedules its restart, or fails it.
    fn exited(&mut self, k: usize) {
        let p = &mut self.procs[k];
        p.pid = None;
        p.since = SystemTime::now();
        if p.started.elapsed() >= STEADY {
            p.quick = 0;
        }
        p.quick += 1;
        let name = p.spec.name.clone();
        if p.quick >= RESTART_LIMIT {
            p.state = ProcState::Failed;
            p.due = None;
            let text = format!("failed: {} quick exits in a row, not restarted", p.quick);
            self.note(&name, &text);
            return;
        }
        let delay = Duration::from_millis(500 << (p.quick - 1).min(4));
        p.state = ProcState::Backoff;
        p.due = Some(Instant::now() + delay);
        let text = format!("restarting in {} ms", delay.as_millis());
        self.note(&name, &text);
    }

    /// Reaps every child that exited; those of the node's processes are rescheduled.
    fn reap(&mut self) {
        loop {
            let status = match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(s) => s,
            };
            let Some(pid) = status.pid() else { return };
            if let Some(k) = self.procs.iter().position(|p| p.pid == Some(pid)) {
                let text = exit_text(&status);
                self.note(&self.procs[k].spec.name.clone(), &format!("exited: {text}"));
                self.procs[k].last_exit = Some(text);
                self.procs[k].restarts += 1;
                self.exited(k);
            }
        }
    }

    /// Starts every process whose time has come, in order.
    fn start_due(&mut self) {
        let now = Instant::now();
        for k in 0..self.procs.len() {
            if self.procs[k].due.is_some_and(|d| d <= now) {
                self.start(k);
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.procs.iter().filter_map(|p| p.due).min()
    }

    /// Stops process `p`, taken out of the table (SIGTERM to its group, SIGKILL after
    /// the grace period).
    fn stop(&self, p: &mut Proc) {
        p.due = None;
        let Some(pid) = p.pid.take() else {
            return;
        };
        self.note(&p.spec.name, "stopping");
        let group = Pid::from_raw(-pid.as_raw());
        let _ = kill(group, Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while let Ok(WaitStatus::StillAlive) = waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            if Instant::now() >= deadline {
                let _ = kill(group, Signal::SIGKILL);
                let _ = waitpid(pid, None);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Carries out a new spec: files, then processes stopped, restarted, started.
    fn reload(&mut self) {
        let Some(spec) = layout::read_json::<Spec>(&self.dir.join("spec.json")) else {
            self.error = Some("spec.json is missing or unreadable".into());
            return;
        };
        self.error = self.mounted.update(&spec, &self.dir).err();
        let mut old: BTreeMap<String, Proc> = self
            .procs
            .drain(..)
            .map(|p| (p.spec.name.clone(), p))
            .collect();
        let mut procs = Vec::new();
        for s in &spec.run {
            match old.remove(&s.name) {
                Some(p) if p.spec == *s && !spec.restart.contains(&s.name) => procs.push(p),
                Some(mut p) => {
                    self.stop(&mut p);
                    p.spec = s.clone();
                    p.due = Some(Instant::now());
                    p.quick = 0;
                    p.state = ProcState::Backoff;
                    procs.push(p);
                }
                None => procs.push(Proc::new(s.clone())),
            }
        }
        for mut gone in old.into_values() {
            self.stop(&mut gone);
        }
        self.procs = procs;
        self.spec = spec;
        self.start_due();
    }

    /// Stops everything in the node's pid namespace and exits.
    fn stop_everything(&mut self) {
        for p in &self.procs {
            if p.pid.is_some() {
                self.note(&p.spec.name, "stopping: the node's supervisor stops");
            }
        }
        // Pid 1's kill(-1) reaches every other process of its pid namespace.
        let everyone = Pid::from_raw(-1);
        let _ = kill(everyone, Signal::SIGTERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Err(Errno::ECHILD) => return,
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(10)),
                _ => {}
            }
        }
        let _ = kill(everyone, Signal::SIGKILL);
    }

    /// Writes what runs to `state.json`.
    fn write_state(&self) {
        let state = State {
            generation: self.spec.generation,
            processes: self
                .procs
                .iter()
                .map(|p| LiveProcess {
                    name: p.spec.name.clone(),
                    argv: p.spec.argv.clone(),
                    state: p.state.clone(),
                    pid: p.pid.map(|p| p.as_raw() as u32),
                    restarts: p.restarts,
                    since_ms: epoch_ms(p.since),
                    last_exit: p.last_exit.clone(),
                })
                .collect(),
            error: self.error.clone(),
        };
        let _ = layout::write_json(&self.dir.join("state.json"), &state);
    }
}
