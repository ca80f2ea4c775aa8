//! The watcher's side of the kernel's notifications: the namespaces they name read
//! again and compared, drift repaired (or reported), and the whole lab read again (a
//! resync) after lost notifications or a failed apply.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{Action, ApplyOptions, DriftMs, Error, Event, Planned, Timings, Watch};
use super::{created, describe, error_event, memory, notices, since};
use crate::kernel::events::Notice;
use crate::kernel::{self, ObserveSpec};
use crate::plan::{self, Plan};
use crate::state::NetState;
use crate::workflow::record;

impl Watch {
    /// Notifications arrived: read the namespaces they name again, and repair (or
    /// report) what differs from the desired state.
    pub(super) fn on_notices(&mut self, notices: &[Notice], report: &mut dyn FnMut(&Event)) {
        let first = notices.iter().filter_map(notices::noticed_at).min();
        let names: BTreeSet<String> = notices
            .iter()
            .filter_map(|n| match n {
                Notice::Changed { namespace, .. } => Some(namespace.clone()),
                Notice::Overflow { .. } => None,
            })
            .filter(|n| self.tracked.contains(n) || self.desired.namespaces.contains_key(n))
            .collect();
        if names.is_empty() {
            return;
        }
        let t0 = Instant::now();
        let lock = match crate::workflow::lock(&self.lab, self.opts.lock_timeout) {
            Ok(l) => l,
            Err(e) => return report(&error_event(&e)),
        };
        // What to read is made from those namespaces' part of the desired state only
        // (the whole lab's spec costs as much as the read, at 1000 hosts); of the
        // fabric, only the links the notices name, when they name links only.
        let fabric = self.desired.fabric().map(str::to_string);
        let ports = fabric
            .as_deref()
            .filter(|f| names.contains(*f))
            .and_then(|f| notices::fabric_ports(notices, f, &self.desired, &self.live));
        if let (Some(f), None) = (&fabric, &ports)
            && names.contains(f)
        {
            tracing::debug!(?notices, "the fabric is read whole");
        }
        let narrow = |state: &NetState| match (&fabric, &ports) {
            (Some(f), Some(ports)) => memory::subset_with_links(state, &names, f, ports),
            _ => memory::subset(state, &names),
        };
        let desired = narrow(&self.desired);
        let partial = fabric.clone().zip(ports.clone());
        let mut observed = match observe(&self.lab, &desired, fabric.clone(), Some(&names), partial)
        {
            Ok(o) => o,
            Err(e) => return report(&error_event(&e)),
        };
        if let (Some(f), Some(ports)) = (&fabric, &ports) {
            memory::carry_links(&mut self.live, &mut observed, f, ports);
        }
        memory::replace(&mut self.live, observed, &names);
        let observe_ms = since(t0);
        let live = narrow(&self.live);
        let changes = match plan::diff(&self.lab, &desired, &live) {
            Ok(c) => c,
            Err(c) => return report(&error_event(&Error::Conflicts(c))),
        };
        if changes.is_empty() {
            // Our own changes, or a change undone before it was read.
            tracing::debug!(?names, "notifications, no drift");
            return;
        }
        let by = notices::who(notices, &names);
        let plan = plan::order(&self.lab, changes, &self.desired);
        let changed = describe(&plan);
        let drifted: Vec<String> = plan.touched_namespaces().into_iter().collect();
        let mut apply_ms = 0.0;
        let action = if self.opts.repair {
            let t = Instant::now();
            let outcome = self.repair(plan);
            drop(lock);
            apply_ms = since(t);
            if let Err(e) = outcome {
                self.retry_later();
                return report(&error_event(&e));
            }
            Action::Repaired
        } else {
            Action::Reported
        };
        report(&Event::Drift {
            namespaces: drifted,
            changes: changed,
            by,
            action,
            ms: DriftMs {
                since_notice: first.map_or(0.0, since),
                observe: observe_ms,
                apply: apply_ms,
                total: since(t0),
            },
        });
    }

    /// Applies `plan` (computed against the live state in memory), the lab's lock held
    /// by the caller.
    pub(super) fn repair(&mut self, plan: Plan) -> Result<(), Error> {
        let reach = self.reach(&plan);
        let created = created(&plan);
        let live = memory::subset(&self.live, &reach);
        let mut planned = Planned {
            lab: self.lab.clone(),
            file: self.file.take(),
            desired: std::mem::take(&mut self.desired),
            live,
            strays: Vec::new(),
            plan,
            timings: Timings::default(),
            services: Default::default(),
            workload: Default::default(),
        };
        // The desired state is the one the last apply recorded: a repair changes no
        // setting the record must learn.
        let opts = ApplyOptions {
            recorded: true,
            ..Self::no_rollback()
        };
        let outcome = crate::workflow::apply(&mut planned, opts);
        self.desired = std::mem::take(&mut planned.desired);
        self.file = planned.file.take();
        // Tracked anew even when the apply failed: what it created may be left.
        let tracked = self.retrack(&created);
        outcome?;
        let verified = std::mem::take(&mut planned.live);
        memory::merge(&mut self.live, verified, &reach, self.desired.fabric());
        tracked
    }

    /// A repair failed (a namespace deleted by hand, say, whose links the kernel was
    /// still cleaning up): the whole lab is read again after a wait, doubled at each
    /// failure up to 5 s.
    pub(super) fn retry_later(&mut self) {
        let wait = self.retry.map_or(Duration::from_millis(50), |(_, w)| {
            (w * 2).min(Duration::from_secs(5))
        });
        self.retry = Some((Instant::now() + wait, wait));
    }

    /// Reads the whole lab again and repairs (or reports) what differs.
    pub(super) fn resync(&mut self, reason: &str, report: &mut dyn FnMut(&Event)) {
        let t0 = Instant::now();
        self.resyncs += 1;
        let failed = self.retry.is_some();
        self.retry = None;
        let lock = match crate::workflow::lock(&self.lab, self.opts.lock_timeout) {
            Ok(l) => l,
            Err(e) => return report(&error_event(&e)),
        };
        // Every namespace's nsid again: one made anew since has a new one.
        if failed {
            let all: Vec<String> = self.desired.namespaces.keys().cloned().collect();
            if let Err(e) = self.retrack(&all) {
                report(&error_event(&e));
            }
        }
        match observe(&self.lab, &self.desired, None, None, None) {
            Ok(live) => self.live = live,
            Err(e) => {
                self.retry_later();
                return report(&error_event(&e));
            }
        }
        let changes = match plan::diff(&self.lab, &self.desired, &self.live) {
            Ok(c) => c,
            Err(c) => return report(&error_event(&Error::Conflicts(c))),
        };
        let plan = plan::order(&self.lab, changes, &self.desired);
        let changed = describe(&plan);
        let action = if self.opts.repair && !plan.is_empty() {
            if let Err(e) = self.repair(plan) {
                self.retry_later();
                report(&error_event(&e));
            }
            Action::Repaired
        } else if self.opts.repair {
            Action::Repaired
        } else {
            Action::Reported
        };
        drop(lock);
        report(&Event::Resync {
            reason: reason.to_string(),
            count: self.resyncs,
            changes: changed,
            action,
            ms: since(t0),
        });
    }
}

/// Reads the lab (`only` those namespaces, or all) as a plan does; `fabric` resolves
/// the veth peers of the namespaces read when `desired` lacks it.
pub(super) fn observe(
    lab: &str,
    desired: &NetState,
    fabric: Option<String>,
    only: Option<&BTreeSet<String>>,
    partial: Option<(String, BTreeSet<String>)>,
) -> Result<NetState, Error> {
    // The lab's record adds the settings it no longer sets, to put back on a rollback:
    // a whole read wants them; a few namespaces' desired state already holds them
    // (reverted at the file's load), and reading the record costs at every event.
    let mut spec = match only {
        None => crate::workflow::observe_spec(lab, desired, &record::read(lab)),
        Some(_) => ObserveSpec::for_desired(lab, desired),
    };
    spec.fabric = spec.fabric.or(fabric);
    spec.only = only.cloned();
    spec.partial_links.extend(partial);
    Ok(kernel::observe(&spec as &ObserveSpec)
        .map_err(Error::from_kernel)?
        .state)
}
