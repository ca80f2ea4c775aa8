//! The verification of an apply: re-reads what the plan touched and says what, if
//! anything, is still to do, a slice of namespaces at a time.
//!
//! A slice is compared and dropped before the next is read, so that the re-read state
//! (and the list of what to read in it) never holds more than [`SLICE`] namespaces
//! beside the desired state: at 10,000 hosts a whole re-read was the largest structure
//! of an apply. Each slice reads the fabric too, which resolves its veths' peers.

use std::collections::{BTreeMap, BTreeSet};

use crate::kernel::{self, ObserveSpec};
use crate::plan::{self, render};
use crate::state::{Link, LinkKind, NetState};
use crate::workflow::errors::Error;
use crate::workflow::{Planned, settle};

/// The most namespaces (besides the fabric) one slice re-reads. A lab of up to this
/// many is verified in one read, as before slices; past it, each further slice reads
/// the fabric once more.
pub const SLICE: usize = 1024;

/// What a verification found.
#[derive(Debug, Default)]
pub struct Verified {
    /// What is still to do, as plan text, if anything.
    pub rest: Option<String>,
    /// The veth ends the lab wants up that do not pass frames yet, by namespace.
    pub waiting: BTreeMap<String, BTreeSet<String>>,
}

/// Re-reads what the plan touched, slice by slice, and compares it with the desired
/// state.
pub fn verify(planned: &mut Planned) -> Result<Verified, Error> {
    // The state the plan was made against is stale now; free it before re-reading.
    planned.live = NetState::default();
    let fabric = planned.desired.fabric().map(str::to_string);
    let touched = planned.plan.touched_namespaces();
    let nodes: Vec<&String> = touched
        .iter()
        .filter(|n| fabric.as_ref() != Some(*n))
        .collect();
    let mut slices: Vec<BTreeSet<String>> = nodes
        .chunks(SLICE)
        .map(|c| c.iter().map(|n| n.to_string()).collect())
        .collect();
    if slices.is_empty() {
        slices.push(BTreeSet::new());
    }
    let mut verified = Verified::default();
    let mut rest = Vec::new();
    let count = slices.len();
    for (i, mut slice) in slices.into_iter().enumerate() {
        let t = std::time::Instant::now();
        let nodes = slice.len();
        slice.extend(fabric.clone());
        let part = verify_slice(planned, &fabric, &slice)?;
        if crate::trace::details_on() {
            let what = format!("verify: slice {} of {count} ({nodes} namespaces)", i + 1);
            crate::trace::detail(&what, t);
        }
        rest.extend(part.rest);
        verified.waiting.extend(part.waiting);
    }
    verified.rest = (!rest.is_empty()).then(|| rest.join("\n"));
    Ok(verified)
}

/// The comparison of one slice: its namespaces are moved out of the desired state for
/// it and back after it (a copy would double the largest structure an apply holds).
fn verify_slice(
    planned: &mut Planned,
    fabric: &Option<String>,
    slice: &BTreeSet<String>,
) -> Result<Verified, Error> {
    let mut desired = NetState::default();
    for name in slice {
        if let Some((k, ns)) = planned.desired.namespaces.remove_entry(name) {
            desired.namespaces.insert(k, ns);
        }
    }
    let mut aside = Vec::new();
    let outcome = compare(planned, fabric, slice, &mut desired, &mut aside);
    // The fabric ports left out of the comparison go back too.
    if let Some(ns) = fabric.as_ref().and_then(|f| desired.namespaces.get_mut(f)) {
        ns.links.extend(aside);
    }
    planned.desired.namespaces.append(&mut desired.namespaces);
    outcome
}

/// [`verify_slice`] once the slice's part of the desired state is `desired`.
fn compare(
    planned: &Planned,
    fabric: &Option<String>,
    slice: &BTreeSet<String>,
    desired: &mut NetState,
    aside: &mut Vec<(String, Box<Link>)>,
) -> Result<Verified, Error> {
    let mut spec = ObserveSpec::for_desired(&planned.lab, desired);
    spec.fabric = fabric.clone();
    spec.only = Some(slice.clone());
    let mut live = kernel::observe(&spec).map_err(Error::from_kernel)?.state;
    drop(spec);
    if let Some(fabric) = &fabric {
        *aside = narrow_fabric(fabric, slice, desired, &mut live);
    }
    let remaining = plan::diff(&planned.lab, desired, &live).map_err(Error::Conflicts)?;
    let text = (!remaining.is_empty()).then(|| {
        let rest = plan::order(&planned.lab, remaining, desired);
        render::human(&rest, desired, &live)
    });
    Ok(Verified {
        rest: text,
        waiting: settle::waiting(desired, &live),
    })
}

/// Leaves out of a verification the fabric ports of namespaces it did not re-read:
/// their peers cannot be resolved without those namespaces, and the plan did not touch
/// them (or another slice compares them).
fn narrow_fabric(
    fabric: &str,
    slice: &BTreeSet<String>,
    desired: &mut NetState,
    live: &mut NetState,
) -> Vec<(String, Box<Link>)> {
    let Some(want) = desired.namespaces.get_mut(fabric) else {
        return Vec::new();
    };
    let elsewhere: BTreeSet<String> = want
        .links
        .iter()
        .filter(
            |(_, l)| matches!(&l.kind, LinkKind::Veth { peer: Some(p) } if !slice.contains(&p.ns)),
        )
        .map(|(name, _)| name.clone())
        .collect();
    let aside = elsewhere
        .iter()
        .filter_map(|name| want.links.remove_entry(name))
        .collect();
    if let Some(have) = live.namespaces.get_mut(fabric) {
        have.links.retain(|name, _| !elsewhere.contains(name));
    }
    aside
}
