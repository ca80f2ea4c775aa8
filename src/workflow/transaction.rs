//! An apply as a transaction: run the plan, re-read the kernel and check that nothing is
//! left to do, and if a change fails or the kernel does not converge, undo what this
//! apply did: the inverse plan, computed from the live state against the state observed
//! at the start (nmstate's checkpoint, without NetworkManager), so the kernel ends as it
//! was, object for object.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use miette::LabeledSpan;
use serde::Serialize;

use crate::kernel::{self, ApplyStats, ChangeError, KernelError, ObserveSpec};
use crate::plan::{self, render};
use crate::state::{LinkKind, NetState};
use crate::workflow::errors::{ApplyFailure, Error, Leftover, RollbackOutcome};
use crate::workflow::record::{self, Managed};
use crate::workflow::{Planned, ms, settle};

/// How to apply.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Undo what was done when the apply fails (`--no-rollback` turns it off).
    pub rollback: bool,
    /// The lab's record of settings already holds exactly what the desired state sets
    /// (a watcher's repair: its desired state is the one its last apply recorded), so
    /// it is neither read nor written: at 10,000 hosts that is a file of 10,000
    /// namespaces, twice, for a repair of one.
    pub recorded: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            rollback: true,
            recorded: false,
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Applied {
    pub stats: ApplyStats,
    pub timings: crate::workflow::Timings,
    /// Netlink write requests sent over the whole command.
    pub netlink_writes: usize,
    /// Veth ends (`namespace/link`) that still did not pass frames when the apply
    /// stopped waiting for their carrier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links_not_up: Vec<String>,
    /// Processes that ran in namespaces the plan deletes (a daemon started with
    /// `nshost exec`, a shell), stopped before their namespace went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<kernel::procs::StoppedProcess>,
}

/// The namespaces `plan` deletes (not the empty mount points it removes).
fn deleted_namespaces(plan: &plan::Plan) -> impl Iterator<Item = &str> {
    plan.changes.iter().filter_map(|c| match c {
        plan::Change::DeleteNamespace {
            ns, stray: false, ..
        } => Some(ns.as_str()),
        _ => None,
    })
}

/// Applies a plan, then re-reads the kernel and checks that nothing is left to do; on
/// failure, rolls back (unless told not to) and returns `Error::ApplyFailed`.
pub fn apply(planned: &mut Planned, opts: ApplyOptions) -> Result<Applied, Error> {
    apply_observed(planned, opts, &kernel::Unobserved)
}

/// [`apply`], telling `observer` how far the plan's run is (not the verification's or
/// a rollback's).
pub fn apply_observed(
    planned: &mut Planned,
    opts: ApplyOptions,
    observer: &dyn kernel::Observer,
) -> Result<Applied, Error> {
    let lab = planned.lab.clone();
    let destroying = planned.file.is_none();
    // The daemon goes before anything else changes: its sockets would keep a deleted
    // namespace alive. It starts again, with what the lab wants, once the kernel is done.
    let restart = !planned.plan.services.is_empty();
    let stop = restart || stray_daemon(&planned.services);
    if planned.plan.is_empty() {
        if stop {
            crate::services::control::stop(&lab)?;
        }
        if destroying {
            crate::workload::control::stop_all(&lab);
        }
        if !opts.recorded {
            remember(&lab, destroying, &planned.desired, None);
        }
        return Ok(Applied {
            stats: ApplyStats::default(),
            timings: planned.timings.clone(),
            netlink_writes: 0,
            links_not_up: Vec::new(),
            stopped: Vec::new(),
        });
    }
    // Before anything changes, remember every setting this apply may leave behind.
    let previous = if opts.recorded {
        None
    } else {
        Some(record::read(&lab))
    };
    if let (false, Some(previous)) = (destroying, &previous) {
        // Not written, nothing is changed: a setting this apply leaves behind would be
        // forgotten.
        record::write(
            &lab,
            &previous.clone().union(&Managed::of(&planned.desired)),
        )
        .map_err(|source| Error::Record {
            path: record::path_of(&lab).display().to_string(),
            source,
        })?;
    }
    if stop {
        crate::services::control::stop(&lab)?;
    }
    // Nothing may outlive its namespace: whatever runs in one the plan deletes is
    // stopped first (and is not started again by a rollback).
    // The nodes' supervisors go too (each taking its node's processes); they are the
    // lab's own, not named among what had to be stopped.
    let supervisors: BTreeSet<u32> = planned
        .workload
        .live
        .values()
        .filter_map(|n| n.supervisor)
        .collect();
    let mut stopped = kernel::procs::stop_in(deleted_namespaces(&planned.plan));
    stopped.retain(|p| !supervisors.contains(&p.pid));
    // What the kernel held before, kept to roll back to (the plan's live state itself:
    // verification re-reads what it needs).
    let live = std::mem::take(&mut planned.live);
    // The nodes' specs before this apply changed them, once it has: what a rollback
    // puts back.
    let mut work_before = None;
    let t = Instant::now();
    let outcome = kernel::apply_observed(&lab, &planned.plan, &live, observer);
    let mut before = live;
    before
        .namespaces
        .retain(|_, ns| ns.owned_by(&lab) && !ns.stray);
    planned.timings.apply_ms = ms(t.elapsed());
    crate::trace::phase("apply", t);
    let (stats, failure) = match outcome {
        Ok(stats) => {
            let t = Instant::now();
            let rest = verify(planned);
            let links_not_up = match &rest {
                Ok(None) if !destroying => {
                    let pending = settle::waiting(&planned.desired, &planned.live);
                    settle::wait(&lab, &planned.desired, pending)
                }
                _ => Vec::new(),
            };
            planned.timings.verify_ms = ms(t.elapsed());
            crate::trace::phase("verify", t);
            let rest = match rest {
                // A daemon that does not start is a failed apply, undone like any other.
                Ok(None) if restart => {
                    let t = Instant::now();
                    let started = start_services(&lab, &planned.services);
                    planned.timings.apply_ms += ms(t.elapsed());
                    match started {
                        Ok(()) => Ok(None),
                        Err(e) => Ok(Some(Leftover::Unfinished(e.to_string()))),
                    }
                }
                other => other,
            };
            // The nodes' files and processes go last: their network is up by now.
            let rest = match rest {
                Ok(None) if !planned.plan.workload.is_empty() => {
                    let t = Instant::now();
                    work_before = Some(crate::workload::control::before(
                        &lab,
                        &planned.plan.workload,
                    ));
                    let done = crate::workload::control::carry_out(
                        &lab,
                        &planned.workload.desired,
                        &planned.plan.workload,
                    );
                    planned.timings.apply_ms += ms(t.elapsed());
                    crate::trace::phase("workload", t);
                    match done {
                        Ok(()) => Ok(None),
                        Err(e) => Ok(Some(Leftover::Unfinished(e.to_string()))),
                    }
                }
                other => other,
            };
            if destroying {
                crate::workload::control::stop_all(&lab);
            }
            match rest {
                Ok(None) => {
                    if let Some(previous) = &previous {
                        remember(&lab, destroying, &planned.desired, Some(previous));
                    }
                    return Ok(Applied {
                        netlink_writes: stats.netlink_requests,
                        links_not_up,
                        stats,
                        timings: planned.timings.clone(),
                        stopped,
                    });
                }
                Ok(Some(left)) => (stats, (Vec::new(), Some(left))),
                Err(e) => return Err(e),
            }
        }
        Err(stopped) => match stopped.error {
            KernelError::Changes(failures) => (*stopped.stats, (failures, None)),
            other => (
                *stopped.stats,
                (vec![], Some(Leftover::Unfinished(other.to_string()))),
            ),
        },
    };
    let (failures, not_converged) = failure;
    let rollback = if !opts.rollback {
        RollbackOutcome::Kept
    } else {
        let t = Instant::now();
        let mut outcome = rollback(&lab, &before, planned.desired.fabric());
        if stop {
            let restored = restore_services(&lab, &planned.services.live.services);
            outcome = with_restored(
                outcome,
                restored,
                planned.plan.services.len(),
                "the services daemon could not be started again",
            );
        }
        if let Some(before) = &work_before {
            let restored = crate::workload::control::restore(&lab, before);
            outcome = with_restored(
                outcome,
                restored,
                planned.plan.workload.len(),
                "the nodes' previous files and processes could not be put back",
            );
        }
        planned.timings.rollback_ms = Some(ms(t.elapsed()));
        crate::trace::phase("rollback", t);
        outcome
    };
    let _ = stats;
    Err(Error::ApplyFailed(Box::new(failure_report(
        planned,
        failures,
        not_converged,
        rollback,
    ))))
}

/// A kernel rollback's outcome, with `undone` more changes of a part the kernel's
/// rollback does not cover (services, workloads) put back, or failed for `failure`.
fn with_restored(
    outcome: RollbackOutcome,
    restored: bool,
    undone: usize,
    failure: &str,
) -> RollbackOutcome {
    match (outcome, restored) {
        (_, false) => RollbackOutcome::Failed {
            reason: failure.into(),
        },
        (RollbackOutcome::NothingToUndo, true) => RollbackOutcome::RolledBack { undone },
        (RollbackOutcome::RolledBack { undone: before }, true) => RollbackOutcome::RolledBack {
            undone: before + undone,
        },
        (other, true) => other,
    }
}

/// Whether the lab wants no services but a daemon of it runs, or its run directory
/// holds something (a daemon killed with its files left): stopped and removed.
fn stray_daemon(services: &crate::services::Planned) -> bool {
    services.desired.is_empty() && (services.live.daemon.is_some() || services.live.leftovers)
}

/// Starts the lab's daemon with the services it wants, if any, and checks in the
/// kernel that each listens. An error is what is still to do, in words.
fn start_services(lab: &str, services: &crate::services::Planned) -> Result<(), Error> {
    use crate::services::{self, control, observe};
    if services.desired.is_empty() {
        return Ok(());
    }
    let t = Instant::now();
    control::start(lab, &services.desired)?;
    let namespaces = services.desired.keys().cloned().collect();
    let live = observe::observe(lab, &namespaces);
    crate::trace::phase("services", t);
    let rest = services::diff(&services.desired, &live.services, &[]);
    if rest.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = rest
        .iter()
        .map(|c| format!("  service {} in {}", c.service, c.ns))
        .collect();
    Err(Error::Services(control::ControlError::Start {
        lab: lab.to_string(),
        reason: format!("not listening after it started:\n{}", lines.join("\n")),
        log: control::log_path(lab).display().to_string(),
    }))
}

/// After a rollback: the daemon serves again what it served before the apply. Returns
/// whether it does.
fn restore_services(lab: &str, before: &crate::services::ServiceSet) -> bool {
    let stopped = crate::services::control::stop(lab).is_ok();
    stopped && (before.is_empty() || crate::services::control::start(lab, before).is_ok())
}

/// Writes the lab's record of managed settings after an apply that converged.
fn remember(lab: &str, destroying: bool, desired: &NetState, previous: Option<&Managed>) {
    if destroying {
        record::remove(lab);
    } else if previous.is_none_or(|p| *p != Managed::of(desired)) {
        let _ = record::write(lab, &Managed::of(desired));
    }
}

/// Re-reads what the plan touched (and the fabric, which resolves veth peers) and
/// returns what is still to do, if anything.
fn verify(planned: &mut Planned) -> Result<Option<Leftover>, Error> {
    // The state the plan was made against is stale now; free it before re-reading
    // (and give the memory back when it was a large one: trimming walks the whole
    // heap, a cost a repair of one namespace by a watcher of 10,000 should not pay).
    let large = planned.live.namespaces.len() > 256;
    planned.live = NetState::default();
    if large {
        crate::process::trim_heap();
    }
    let fabric = planned.desired.fabric().map(str::to_string);
    let mut touched = planned.plan.touched_namespaces();
    touched.extend(fabric.clone());
    // The touched namespaces are moved out of the desired state for the comparison and
    // back after it (a copy would double the largest structure an apply holds).
    let (namespaces, untouched): (BTreeMap<_, _>, BTreeMap<_, _>) =
        std::mem::take(&mut planned.desired.namespaces)
            .into_iter()
            .partition(|(name, _)| touched.contains(name));
    let mut desired = NetState { namespaces };
    let mut aside = Vec::new();
    let outcome = verify_against(planned, &fabric, &touched, &mut desired, &mut aside);
    // The fabric ports left out of the comparison go back too.
    if let Some(ns) = fabric.as_ref().and_then(|f| desired.namespaces.get_mut(f)) {
        ns.links.extend(aside);
    }
    desired.namespaces.extend(untouched);
    planned.desired = desired;
    outcome
}

/// [`verify`] once the touched part of the desired state is `desired`.
fn verify_against(
    planned: &mut Planned,
    fabric: &Option<String>,
    touched: &BTreeSet<String>,
    desired: &mut NetState,
    aside: &mut Vec<(String, Box<crate::state::Link>)>,
) -> Result<Option<Leftover>, Error> {
    let mut spec = ObserveSpec::for_desired(&planned.lab, desired);
    spec.fabric = fabric.clone();
    spec.only = Some(touched.clone());
    let ports = fabric
        .as_deref()
        .and_then(|f| fabric_ports(&planned.plan.changes, f, touched, desired));
    if let (Some(f), Some(ports)) = (&fabric, &ports) {
        spec.partial_links.insert(f.clone(), ports.clone());
    }
    let mut live = kernel::observe(&spec).map_err(Error::from_kernel)?.state;
    if let Some(fabric) = &fabric {
        *aside = match &ports {
            Some(ports) => keep_ports(fabric, ports, desired),
            None => narrow_fabric(fabric, touched, desired, &mut live),
        };
    }
    let remaining = plan::diff(&planned.lab, desired, &live).map_err(Error::Conflicts)?;
    // What is left keeps the states it was found between, to be shown as a plan.
    let left = (!remaining.is_empty()).then(|| Leftover::Changes {
        plan: Box::new(plan::order(&planned.lab, remaining, desired)),
        desired: Box::new(desired.clone()),
        live: Box::new(live.clone()),
    });
    planned.live = live;
    Ok(left)
}

/// The fabric's links a verification reads one by one instead of dumping them all,
/// when the plan changed only links there: the fabric's bridges and other non-veth
/// links, the ports whose peers are re-read, and the links the plan changed there
/// (those with a peer that is not re-read left out, as [`narrow_fabric`] does). `None`
/// (dump it all) when the plan changed more of the fabric, or when the ports are a good
/// part of it anyway.
fn fabric_ports(
    changes: &[crate::plan::Change],
    fabric: &str,
    touched: &BTreeSet<String>,
    desired: &NetState,
) -> Option<BTreeSet<String>> {
    use crate::plan::Change;
    let want = desired.namespaces.get(fabric)?;
    let peer_read = |link: &crate::state::Link| match &link.kind {
        LinkKind::Veth { peer: Some(p) } => touched.contains(&p.ns),
        _ => true,
    };
    let mut ports: BTreeSet<String> = want
        .links
        .iter()
        .filter(|(_, l)| peer_read(l))
        .map(|(name, _)| name.clone())
        .collect();
    for c in changes {
        let named = match c {
            Change::AddLink { ns, name, .. }
            | Change::UpdateLink { ns, name, .. }
            | Change::DeleteLink { ns, name, .. }
                if ns == fabric =>
            {
                Some(name)
            }
            Change::AddLink { peer: Some(p), .. } if p.at.ns == fabric => Some(&p.at.name),
            Change::DeleteLink { link, .. } => {
                link.kind.peer().filter(|p| p.ns == fabric).map(|p| &p.name)
            }
            c if c.ns() == fabric => return None,
            _ => None,
        };
        if let Some(name) = named
            && want.links.get(name).is_none_or(|l| peer_read(l))
        {
            ports.insert(name.clone());
        }
    }
    (ports.len() * 4 < want.links.len()).then_some(ports)
}

/// Leaves out of a verification that read only `ports` of the fabric the desired
/// fabric links it did not read, and returns them.
fn keep_ports(
    fabric: &str,
    ports: &BTreeSet<String>,
    desired: &mut NetState,
) -> Vec<(String, Box<crate::state::Link>)> {
    let Some(want) = desired.namespaces.get_mut(fabric) else {
        return Vec::new();
    };
    let (kept, aside) = std::mem::take(&mut want.links)
        .into_iter()
        .partition(|(name, _)| ports.contains(name));
    want.links = kept;
    aside.into_iter().collect()
}

/// Leaves out of a verification the fabric ports of namespaces it did not re-read:
/// their peers cannot be resolved without those namespaces, and the plan did not touch
/// them.
fn narrow_fabric(
    fabric: &str,
    touched: &BTreeSet<String>,
    desired: &mut NetState,
    live: &mut NetState,
) -> Vec<(String, Box<crate::state::Link>)> {
    let Some(want) = desired.namespaces.get_mut(fabric) else {
        return Vec::new();
    };
    let untouched: BTreeSet<String> = want
        .links
        .iter()
        .filter(|(_, l)| matches!(&l.kind, LinkKind::Veth { peer: Some(p) } if !touched.contains(&p.ns)))
        .map(|(name, _)| name.clone())
        .collect();
    let aside = untouched
        .iter()
        .filter_map(|name| want.links.remove_entry(name))
        .collect();
    if let Some(have) = live.namespaces.get_mut(fabric) {
        have.links.retain(|name, _| !untouched.contains(name));
    }
    aside
}

/// Puts the kernel back to `before` (the lab's namespaces as observed before the
/// apply): plans `before` against what is live now, applies that, and checks it.
fn rollback(lab: &str, before: &NetState, fabric: Option<&str>) -> RollbackOutcome {
    let fail = |reason: String| RollbackOutcome::Failed { reason };
    let mut spec = ObserveSpec::for_desired(lab, before);
    if spec.fabric.is_none() {
        spec.fabric = fabric.map(str::to_string);
    }
    let now = match kernel::observe(&spec) {
        Ok(o) => o.state,
        Err(e) => return fail(e.to_string()),
    };
    let changes = match plan::diff(lab, before, &now) {
        Ok(c) => c,
        Err(c) => return fail(render::conflicts(&c)),
    };
    if changes.is_empty() {
        return RollbackOutcome::NothingToUndo;
    }
    let undo = plan::order(lab, changes, before);
    if let Err(stopped) = kernel::apply(lab, &undo, &now) {
        return fail(stopped.error.to_string());
    }
    match kernel::observe(&spec) {
        Ok(after) => match plan::diff(lab, before, &after.state) {
            Ok(rest) if rest.is_empty() => RollbackOutcome::RolledBack {
                undone: undo.changes.len(),
            },
            Ok(rest) => fail(format!("{} change(s) could not be undone", rest.len())),
            Err(c) => fail(render::conflicts(&c)),
        },
        Err(e) => fail(e.to_string()),
    }
}

/// The report of a failed apply, with the failed objects located in the lab file.
fn failure_report(
    planned: &Planned,
    failures: Vec<ChangeError>,
    not_converged: Option<Leftover>,
    rollback: RollbackOutcome,
) -> ApplyFailure {
    let mut labels = Vec::new();
    let mut file = None;
    if let Some(origins) = &planned.file {
        file = Some(
            miette::NamedSource::new(&origins.source.name, origins.source.text.clone())
                .with_language("yaml"),
        );
        let objects = super::object_origins(&origins.source);
        for f in &failures {
            if let Some(span) = objects.get(&f.object) {
                labels.push(LabeledSpan::new_with_span(
                    Some(format!("{}: {}", f.change, f.reason())),
                    miette::SourceSpan::from(*span),
                ));
            }
        }
    }
    ApplyFailure {
        lab: planned.lab.clone(),
        failures,
        not_converged,
        rollback,
        file,
        labels,
    }
}
