//! `nshost watch FILE`: a persistent reconciler. It converges the lab once, as `apply`
//! does, then keeps the desired state (the lowered file) and the live state in memory
//! and reacts to two sources: the file (and the nodes' `files:` sources) changing, and
//! the kernel's notifications for the lab's namespaces ([`crate::kernel::events`]).
//!
//! A file change is loaded and diffed against the live state in memory (no kernel
//! read), and only the difference is applied and verified. Notifications are collected
//! for a debounce window; only the namespaces they name are read again, and what
//! differs from the desired state is drift: repaired, or only reported. Objects that are
//! not the lab's (a routing daemon's routes) are left alone by [`plan::diff`] as
//! everywhere. Lost notifications mean reading the whole lab again (a resync). Every
//! change goes through the apply's transaction under the lab's lock, taken only while
//! it applies. Nothing is printed here: each [`Event`] goes to the caller.

mod claim;
mod delta;
mod drift;
mod files;
mod memory;
mod notices;
pub mod report;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

pub use claim::{Claim, WatchError, WatcherInfo, watcher_of};
pub use report::{Action, AppliedMs, Counts, DriftMs, Event};

use crate::kernel::events::{self, Listener, Notice};
use crate::plan::{self, Change, Plan};
use crate::state::NetState;
use crate::workflow::{ApplyOptions, Error, FileOrigins, Loaded, Planned, Timings, ms, record};

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub file: PathBuf,
    pub site: Option<String>,
    /// Repair drift (the default), or only report it.
    pub repair: bool,
    /// How long notifications are collected before the namespaces they name are read.
    pub debounce: Duration,
    /// How long to wait for the lab's lock before an apply.
    pub lock_timeout: Duration,
}

/// What the watcher's threads hand to its loop.
#[derive(Debug)]
enum Input {
    Notice(Notice),
    File,
    Stop,
}

/// Stops a running [`Watch`] (from a signal handler's thread, say).
#[derive(Debug, Clone)]
pub struct Stopper(Sender<Input>);

impl Stopper {
    pub fn stop(&self) {
        let _ = self.0.send(Input::Stop);
    }
}

/// A running watcher.
#[derive(Debug)]
pub struct Watch {
    opts: WatchOptions,
    lab: String,
    /// The file the desired state comes from (for locating failures).
    file: Option<Box<FileOrigins>>,
    desired: NetState,
    live: NetState,
    tracked: BTreeSet<String>,
    resyncs: u64,
    /// After a repair failed: when to read the whole lab again, and the wait after
    /// that one if it fails too.
    retry: Option<(Instant, Duration)>,
    listener: Listener,
    files: files::FileWatch,
    tx: Sender<Input>,
    rx: Receiver<Input>,
    _claim: Claim,
}

/// What arrived within one debounce window.
#[derive(Default)]
struct Batch {
    file: bool,
    notices: Vec<Notice>,
    overflow: bool,
    stop: bool,
}

impl Batch {
    fn add(&mut self, input: Input) {
        match input {
            Input::Stop => self.stop = true,
            Input::File => self.file = true,
            Input::Notice(Notice::Overflow { .. }) => self.overflow = true,
            Input::Notice(n) => self.notices.push(n),
        }
    }
}

/// The file loaded, with the `files:` sources it read.
fn load(opts: &WatchOptions) -> Result<(Loaded, Vec<PathBuf>), Error> {
    let source = super::read(&opts.file)?;
    let reader = files::Recording::beside(&source);
    let loaded = super::load_source_with(source, &reader)?;
    let loaded = super::select_site(loaded, opts.site.as_deref())?;
    let mut watched = vec![opts.file.clone()];
    watched.extend(reader.read.into_inner());
    Ok((loaded, watched))
}

fn since(t: Instant) -> f64 {
    ms(t.elapsed())
}

fn error_event(e: &Error) -> Event {
    Event::Error { error: e.body() }
}

impl Watch {
    /// Claims the lab, converges it as `apply` does, and starts listening to the file
    /// and the kernel. Reports `ready`.
    pub fn start(opts: WatchOptions, report: &mut dyn FnMut(&Event)) -> Result<Watch, Error> {
        let t0 = Instant::now();
        let (loaded, sources) = load(&opts)?;
        let lab = loaded.lab.name.clone();
        let claim = claim::claim(&lab, &opts.file)?;
        let (tx, rx) = channel();
        let mut planned = {
            let _lock = super::lock(&lab, opts.lock_timeout)?;
            let mut planned = super::plan_loaded(loaded)?;
            if !planned.plan.is_empty() {
                super::apply(&mut planned, ApplyOptions::default())?;
            }
            planned
        };
        let changes = planned.plan.changes.len();
        let desired = std::mem::take(&mut planned.desired);
        // An apply leaves only what it verified: the whole lab is read once more.
        let live = if changes == 0 {
            std::mem::take(&mut planned.live)
        } else {
            drift::observe(&lab, &desired, None, None, None)?
        };
        let netfilter = desired.namespaces.values().any(|n| !n.firewall.is_empty());
        let send = tx.clone();
        let listener = events::listen(
            events::ListenOptions {
                netfilter,
                ..Default::default()
            },
            move |n| {
                let _ = send.send(Input::Notice(n));
            },
        )
        .map_err(Error::from_kernel)?;
        let send = tx.clone();
        let files = files::FileWatch::start(move |_| {
            let _ = send.send(Input::File);
        })?;
        files.watch(&sources)?;
        let mut watch = Watch {
            opts,
            lab,
            file: planned.file.take(),
            desired,
            live,
            tracked: BTreeSet::new(),
            resyncs: 0,
            retry: None,
            listener,
            files,
            tx,
            rx,
            _claim: claim,
        };
        watch.retrack(&[])?;
        report(&Event::Ready {
            lab: watch.lab.clone(),
            file: watch.opts.file.display().to_string(),
            namespaces: watch.desired.namespaces.len(),
            changes,
            ms: since(t0),
        });
        Ok(watch)
    }

    /// What stops [`Watch::run`].
    pub fn stopper(&self) -> Stopper {
        Stopper(self.tx.clone())
    }

    /// The lab's name.
    pub fn lab(&self) -> &str {
        &self.lab
    }

    /// Handles the file's changes and the kernel's notifications until stopped.
    pub fn run(mut self, report: &mut dyn FnMut(&Event)) {
        loop {
            let first = match self.retry {
                None => self.rx.recv().ok(),
                Some((at, _)) => match self
                    .rx
                    .recv_timeout(at.saturating_duration_since(Instant::now()))
                {
                    Ok(input) => Some(input),
                    Err(RecvTimeoutError::Timeout) => {
                        self.resync("a repair failed: reading the lab again", report);
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some(first) = first else { return };
            let mut batch = Batch::default();
            batch.add(first);
            let deadline = Instant::now() + self.opts.debounce;
            while !batch.stop {
                match self
                    .rx
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                {
                    Ok(input) => batch.add(input),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            if batch.stop {
                return;
            }
            if batch.file {
                self.on_file(report);
            }
            if batch.overflow {
                self.resync("notifications were lost (receive buffer overflow)", report);
            } else if !batch.notices.is_empty() {
                self.on_notices(&batch.notices, report);
            }
        }
    }

    /// Tracks the lab's namespaces with the listener, forgets those it no longer has,
    /// and tracks anew those `created` (a new namespace under an old name has a new
    /// nsid).
    fn retrack(&mut self, created: &[String]) -> Result<(), Error> {
        let wanted: BTreeSet<String> = self.desired.namespaces.keys().cloned().collect();
        let gone: Vec<String> = self
            .tracked
            .difference(&wanted)
            .chain(created.iter().filter(|n| self.tracked.contains(*n)))
            .cloned()
            .collect();
        if !gone.is_empty() {
            self.listener.forget(&gone);
            for name in &gone {
                self.tracked.remove(name);
            }
        }
        let new: Vec<String> = wanted.difference(&self.tracked).cloned().collect();
        if !new.is_empty() {
            self.listener.track(&new).map_err(Error::from_kernel)?;
            self.tracked.extend(new);
        }
        Ok(())
    }

    /// The file changed: load it, diff it against the live state in memory, apply the
    /// difference and verify what it touched.
    fn on_file(&mut self, report: &mut dyn FnMut(&Event)) {
        let t0 = Instant::now();
        let (loaded, sources) = match load(&self.opts) {
            Ok(l) => l,
            Err(e) => {
                report(&Event::Invalid {
                    file: self.opts.file.display().to_string(),
                    error: e.body(),
                    diagnostic: report::Shared(std::sync::Arc::new(e)),
                });
                return;
            }
        };
        let load_ms = since(t0);
        if let Err(e) = self.files.watch(&sources) {
            report(&error_event(&e.into()));
        }
        let t = Instant::now();
        if loaded.lab.name != self.lab {
            let e = Error::Watch(WatchError::Setup {
                what: format!(
                    "{}: the lab is named `{}` now, not `{}` (a watcher keeps its lab)",
                    self.opts.file.display(),
                    loaded.lab.name,
                    self.lab
                ),
                cause: std::io::Error::from(std::io::ErrorKind::InvalidData),
            });
            report(&error_event(&e));
            return;
        }
        let mut planned = match self.plan_file(loaded) {
            Ok(p) => p,
            Err(e) => return report(&error_event(&e)),
        };
        let diff_ms = since(t);
        if planned.plan.is_empty() {
            self.desired = std::mem::take(&mut planned.desired);
            self.file = planned.file.take();
            return;
        }
        let changes = describe(&planned.plan);
        let counts = counts(&planned.plan);
        match self.carry_out(&mut planned) {
            Ok(()) => {
                self.desired = std::mem::take(&mut planned.desired);
                self.file = planned.file.take();
                let created = created(&planned.plan);
                if let Err(e) = self.retrack(&created) {
                    report(&error_event(&e));
                }
                report(&Event::Applied {
                    trigger: "file",
                    counts,
                    changes,
                    ms: AppliedMs {
                        load: load_ms,
                        diff: diff_ms,
                        apply: planned.timings.apply_ms,
                        verify: planned.timings.verify_ms,
                        total: since(t0),
                    },
                });
            }
            // Rolled back: the previous desired state stays in force.
            Err(e) => report(&error_event(&e)),
        }
    }

    /// [`super::plan_loaded`] against the live state in memory instead of the kernel.
    fn plan_file(&self, loaded: Loaded) -> Result<Planned, Error> {
        let managed = record::read(&self.lab);
        let super::Prepared {
            file,
            desired,
            services,
            work,
            ..
        } = super::prepare(loaded, &managed)?;
        // Only what the edit changed is compared, when it changed little of the lab
        // (drift elsewhere is repaired as it comes; with `--report` it is left, and an
        // edit then compares it all, as `apply` would).
        let delta = self
            .opts
            .repair
            .then(|| delta::between(&self.desired, &desired))
            .flatten();
        let changes = match delta {
            Some(d) => plan::diff(&self.lab, &d.part_of(&desired), &d.part_of(&self.live)),
            None => plan::diff(&self.lab, &desired, &self.live),
        }
        .map_err(Error::Conflicts)?;
        let mut plan = plan::order(&self.lab, changes, &desired);
        let (services, service_changes) = super::plan_services(&self.lab, services, &plan.changes);
        plan.services = service_changes;
        let (workload, work_changes) = super::plan_workload(&self.lab, work, &plan.changes);
        plan.workload = work_changes;
        let live = memory::subset(&self.live, &self.reach(&plan));
        Ok(Planned {
            lab: self.lab.clone(),
            file: Some(Box::new(file)),
            desired,
            live,
            strays: Vec::new(),
            plan,
            timings: Timings::default(),
            services,
            workload,
        })
    }

    /// The namespaces an apply of `plan` reads or writes: those it touches and the
    /// fabric.
    fn reach(&self, plan: &Plan) -> BTreeSet<String> {
        let mut names = plan.touched_namespaces();
        names.extend(self.desired.fabric().map(str::to_string));
        names
    }

    /// How the watcher applies after its start: without the transaction's rollback.
    /// The state an apply of the watcher starts from is the part of the lab it reaches,
    /// not the whole lab that a rollback would put back (it would delete the rest); a
    /// failed apply is followed by a resync instead, which converges the kernel to the
    /// desired state in force (the previous one, after a failed edit).
    fn no_rollback() -> ApplyOptions {
        ApplyOptions {
            rollback: false,
            ..ApplyOptions::default()
        }
    }

    /// Applies `planned` under the lab's lock, and puts what the verification read
    /// into the live state.
    fn carry_out(&mut self, planned: &mut Planned) -> Result<(), Error> {
        let _lock = super::lock(&self.lab, self.opts.lock_timeout)?;
        let reach = self.reach(&planned.plan);
        if let Err(e) = super::apply(planned, Self::no_rollback()) {
            // Put back to the previous desired state by a resync, as a repair is.
            self.retry_later();
            return Err(e);
        }
        let verified = std::mem::take(&mut planned.live);
        memory::merge(&mut self.live, verified, &reach, self.desired.fabric());
        Ok(())
    }
}

/// Each change of `plan` in a line, as errors and plans describe it: the kernel's,
/// then the services' and the nodes' files and processes.
fn describe(plan: &Plan) -> Vec<String> {
    let verb = |a: plan::Action| match a {
        plan::Action::Add => "add",
        plan::Action::Change => "change",
        plan::Action::Destroy => "remove",
    };
    let kernel = plan
        .changes
        .iter()
        .map(|c| format!("{}: {}", c.ns(), c.describe()));
    let services = plan
        .services
        .iter()
        .map(|c| format!("{}: {} service {}", c.ns, verb(c.action), c.service));
    let work = plan
        .workload
        .iter()
        .map(|c| format!("{}: {} {}", c.ns, verb(c.action), c.text()));
    kernel.chain(services).chain(work).collect()
}

fn counts(plan: &Plan) -> Counts {
    let s = plan::render::Summary::of(plan);
    Counts {
        add: s.add,
        change: s.change,
        remove: s.destroy,
    }
}

/// The namespaces `plan` creates.
fn created(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            Change::AddNamespace { ns, .. } => Some(ns.clone()),
            _ => None,
        })
        .collect()
}
