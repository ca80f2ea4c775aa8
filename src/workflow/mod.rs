//! The library's front door: load a lab file, plan it against the live kernel, apply
//! it as a transaction (verified, and undone if anything fails), destroy. The CLI is a
//! thin layer over these functions.

mod checks;
mod early;
mod errors;
mod firewalls;
mod record;
pub mod saved;
mod settle;
mod transaction;
pub mod watch;

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use early::{Early, EarlyRead};
pub use errors::{ApplyFailure, Error, Leftover, RollbackOutcome};
pub use transaction::{Applied, ApplyOptions, apply, apply_observed};

use crate::kernel::{self, ObserveSpec, Stray};
use crate::lab::Lab;
use crate::lock::{LabLock, LockError};
use crate::plan::{self, Plan};
use crate::state::NetState;
use crate::topology::{self, SourceFile};
use crate::validate;

/// A parsed, validated and lowered lab file.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub source: SourceFile,
    pub lab: Lab,
    pub desired: NetState,
}

/// Reads, parses, validates and lowers a lab file (`-`: standard input).
pub fn load(path: &Path) -> Result<Loaded, Error> {
    load_source(read(path)?)
}

/// [`load_site`] without reading the files the nodes are given (`files:` sources, whose
/// content is left empty): for `destroy`, which needs only what the lab is, so that a
/// source removed since the apply does not stop it.
pub fn load_site_unread(path: &Path, site: Option<&str>) -> Result<Loaded, Error> {
    select_site(load_source_with(read(path)?, &validate::NoReader)?, site)
}

/// The lab file's text (`-`: standard input).
pub fn read(path: &Path) -> Result<SourceFile, Error> {
    SourceFile::read_arg(path).map_err(|source| Error::Read {
        path: if path == Path::new("-") {
            SourceFile::STDIN.to_string()
        } else {
            path.display().to_string()
        },
        source,
    })
}

/// [`load`], then only what is placed on `site`, for a lab spread over several machines
/// (see [`crate::sites`]). A lab with sites needs one; a lab without takes none.
pub fn load_site(path: &Path, site: Option<&str>) -> Result<Loaded, Error> {
    select_site(load(path)?, site)
}

/// [`load_site`] of lab text already read ([`read`]).
pub fn load_site_source(source: SourceFile, site: Option<&str>) -> Result<Loaded, Error> {
    select_site(load_source(source)?, site)
}

/// Narrows a loaded lab to what is placed on `site` (see [`crate::sites::select`]).
fn select_site(mut loaded: Loaded, site: Option<&str>) -> Result<Loaded, Error> {
    crate::sites::select(&mut loaded.lab, &mut loaded.desired, site)?;
    Ok(loaded)
}

/// Parses, validates and lowers lab text already in memory, reading its nodes' files
/// beside it ([`validate::DirReader::beside`]).
pub fn load_source(source: SourceFile) -> Result<Loaded, Error> {
    let reader = validate::DirReader::beside(&source);
    load_source_with(source, &reader)
}

/// [`load_source`], reading the nodes' files through `reader`.
pub fn load_source_with(
    source: SourceFile,
    reader: &dyn validate::SourceReader,
) -> Result<Loaded, Error> {
    if saved::looks_like_plan(source.text.as_bytes()) {
        return Err(saved::SavedError::NotALabFile { path: source.name }.into());
    }
    let t = Instant::now();
    let topo = topology::parse(&source)?;
    crate::trace::phase("parse", t);
    let t = Instant::now();
    let lab = validate::validate_with(&source, &topo, reader)?;
    // Not needed past validation: the lab holds all of it (at 10,000 hosts, 12 MB).
    drop(topo);
    crate::trace::phase("validate", t);
    let t = Instant::now();
    let desired = crate::lower::lower(&lab);
    crate::trace::phase("lower", t);
    Ok(Loaded {
        source,
        lab,
        desired,
    })
}

/// Where each object of a lab file is written, for locating a failure in it: the file
/// is parsed and validated again (only failures need this; see
/// [`validate::object_origins`]).
pub(crate) fn object_origins(
    source: &SourceFile,
) -> std::collections::HashMap<crate::state::ObjectId, crate::lab::Span> {
    topology::parse(source)
        .ok()
        .and_then(|topo| validate::object_origins(source, &topo))
        .unwrap_or_default()
}

/// The objects an apply of the lab adds on a machine that has none of it: the plan's
/// `N to add` there, made by the same diff and counted by the same
/// [`plan::Summary::of`] (a veth pair is two links; a fresh namespace's loopback is
/// not added, it comes with the namespace). `validate` reports it, so that its count
/// and `plan`'s on an empty kernel agree.
pub fn object_count(loaded: &Loaded) -> usize {
    let lab = &loaded.lab.name;
    let changes = plan::diff(lab, &loaded.desired, &NetState::default())
        .expect("an empty kernel has nothing to conflict with");
    let mut plan = plan::order(lab, changes, &loaded.desired);
    let services = crate::services::desired(&loaded.lab);
    plan.services = crate::services::diff(&services, &Default::default(), &plan.changes);
    let work = crate::workload::desired(&loaded.lab);
    plan.workload = crate::workload::diff(&work, &Default::default(), &plan.changes);
    plan::Summary::of(&plan).add
}

/// The loaded lab as its explicit lab file (`nshost validate --resolved`).
pub fn resolved_yaml(loaded: &Loaded) -> Result<String, Error> {
    let topo = topology::parse(&loaded.source)?;
    Ok(topology::expand::resolved_yaml(&topo))
}

/// A lab file and where its objects are written in it.
#[derive(Debug)]
pub struct FileOrigins {
    pub source: SourceFile,
    pub origins: crate::lab::Origins,
}

/// A plan with what it was computed from.
#[derive(Debug)]
pub struct Planned {
    pub lab: String,
    /// The file it comes from, when there is one (for locations in errors).
    pub file: Option<Box<FileOrigins>>,
    /// What the kernel must end up with: the lowered lab, plus the settings the lab set
    /// before and no longer does, at their value in a fresh namespace.
    pub desired: NetState,
    /// The live state the plan was made against (the lab's namespaces in full, the
    /// others by owner only).
    pub live: NetState,
    /// Entries under `/run/netns` that hold no namespace and are not this lab's: skipped.
    pub strays: Vec<Stray>,
    pub plan: Plan,
    pub timings: Timings,
    /// The lab's services, wanted and found (the plan's `services` are the difference).
    pub services: crate::services::Planned,
    /// The nodes' files and processes, wanted and found (the plan's `workload` is the
    /// difference).
    pub workload: crate::workload::Planned,
}

/// Where the time went, in milliseconds.
#[derive(Debug, Default, Clone, Serialize, schemars::JsonSchema)]
pub struct Timings {
    pub observe_ms: f64,
    pub diff_ms: f64,
    pub apply_ms: f64,
    pub verify_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_ms: Option<f64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Plans a loaded lab: the kernel's own checks of it (link kinds, sysctls), then the
/// live state, then the diff.
pub fn plan_loaded(loaded: Loaded) -> Result<Planned, Error> {
    plan_loaded_early(loaded, None)
}

/// [`plan_loaded`], with the kernel read early (see [`Early`]) if it was.
pub fn plan_loaded_early(loaded: Loaded, early: Option<EarlyRead>) -> Result<Planned, Error> {
    let managed = record::read(&loaded.lab.name);
    let ready = prepare(loaded, &managed)?;
    plan(
        &ready.name,
        Some(Box::new(ready.file)),
        ready.desired,
        (ready.services, ready.work),
        &managed,
        early,
    )
}

/// A loaded lab made ready to plan: what the kernel must end up with, and what it runs.
pub(crate) struct Prepared {
    pub name: String,
    pub file: FileOrigins,
    pub desired: NetState,
    pub services: crate::services::ServiceSet,
    pub work: crate::workload::WorkSet,
}

/// The kernel's own checks of a loaded lab (link kinds, sysctls), its firewalls in the
/// kernel's canonical form, the settings `managed` records put back where the lab no
/// longer sets them; the rest of the lab dropped, before the live state and the plan
/// are made (at 3000 hosts, 7 MB of a 50 MB peak).
pub(crate) fn prepare(loaded: Loaded, managed: &record::Managed) -> Result<Prepared, Error> {
    let fresh = checks::check(&loaded, managed)?;
    let Loaded {
        source,
        mut lab,
        mut desired,
    } = loaded;
    firewalls::canonical(&source, &lab, &mut desired)?;
    let desired = record::revert_removed(desired, managed, &fresh);
    let services = crate::services::desired(&lab);
    let work = crate::workload::desired(&lab);
    let (name, origins) = (
        std::mem::take(&mut lab.name),
        std::mem::take(&mut lab.origins),
    );
    drop(lab);
    Ok(Prepared {
        name,
        file: FileOrigins { source, origins },
        desired,
        services,
        work,
    })
}

/// The lab's nodes' workloads as they run, against `desired`, given the kernel changes
/// of the plan. Reads nothing for a lab that has none and no node directory.
pub(crate) fn plan_workload(
    lab: &str,
    desired: crate::workload::WorkSet,
    kernel: &[crate::plan::Change],
) -> (crate::workload::Planned, Vec<crate::workload::WorkChange>) {
    use crate::workload;
    if desired.is_empty() && workload::layout::nodes_with_dirs(lab).is_empty() {
        return (workload::Planned::default(), Vec::new());
    }
    let live = workload::observe::observe(lab, &desired);
    let changes = workload::diff(&desired, &live, kernel);
    (workload::Planned { desired, live }, changes)
}

/// The lab's services as the kernel has them, against `desired`, given the kernel
/// changes of the plan. Reads nothing for a lab that has no services and no daemon.
pub(crate) fn plan_services(
    lab: &str,
    desired: crate::services::ServiceSet,
    kernel: &[crate::plan::Change],
) -> (
    crate::services::Planned,
    Vec<crate::services::ServiceChange>,
) {
    use crate::services::{self, control};
    let mut namespaces: std::collections::BTreeSet<String> = desired.keys().cloned().collect();
    namespaces.extend(control::read_record(lab).services.into_keys());
    let live = services::observe::observe(lab, &namespaces);
    let changes = services::diff(&desired, &live.services, kernel);
    (services::Planned { desired, live }, changes)
}

/// Observes the kernel and plans `desired` for `lab`. The settings `managed` records are
/// read too, where they are not desired any more: the live state is what a rollback
/// puts back.
fn plan(
    lab: &str,
    file: Option<Box<FileOrigins>>,
    desired: NetState,
    (services, work): (crate::services::ServiceSet, crate::workload::WorkSet),
    managed: &record::Managed,
    early: Option<EarlyRead>,
) -> Result<Planned, Error> {
    Error::unless_permitted("reading and changing network namespaces")?;
    // What the file and the lab took is freed by now; give it back before the threads
    // that read the kernel allocate in arenas of their own.
    crate::process::trim_heap();
    let spec = observe_spec(lab, &desired, managed);
    let t = Instant::now();
    let observed = match early.and_then(|e| e.complete(&spec)) {
        Some(observed) => observed,
        None => kernel::observe(&spec),
    }
    .map_err(Error::from_kernel)?;
    drop(spec);
    let observe_ms = ms(t.elapsed());
    crate::trace::phase("observe", t);
    let t = Instant::now();
    let taken: Vec<&Stray> = observed
        .strays
        .iter()
        .filter(|s| desired.namespaces.contains_key(&s.name))
        .collect();
    if !taken.is_empty() {
        return Err(Error::StrayEntries(
            taken
                .into_iter()
                .map(|s| (s.name.clone(), s.what.clone()))
                .collect(),
        ));
    }
    let changes = plan::diff(lab, &desired, &observed.state).map_err(Error::Conflicts)?;
    let mut plan = plan::order(lab, changes, &desired);
    let (services, service_changes) = plan_services(lab, services, &plan.changes);
    plan.services = service_changes;
    let (workload, work_changes) = plan_workload(lab, work, &plan.changes);
    plan.workload = work_changes;
    let diff_ms = ms(t.elapsed());
    crate::trace::phase("diff", t);
    Ok(Planned {
        lab: lab.to_string(),
        file,
        desired,
        live: observed.state,
        strays: observed.strays,
        plan,
        timings: Timings {
            observe_ms,
            diff_ms,
            ..Timings::default()
        },
        services,
        workload,
    })
}

/// What a plan reads of the kernel: the settings `desired` sets, and those `managed`
/// records (so that undoing the plan puts them back).
fn observe_spec(lab: &str, desired: &NetState, managed: &record::Managed) -> ObserveSpec {
    let mut spec = ObserveSpec::for_desired(lab, desired);
    managed.observe_too(&mut spec);
    spec
}

/// Plans the removal of everything `lab` owns. With `must_exist` (the lab named on the
/// command line, without a file), a lab that has nothing on this machine is an error.
pub fn plan_destroy(lab: &str, must_exist: bool) -> Result<Planned, Error> {
    let planned = plan(
        lab,
        None,
        NetState::default(),
        Default::default(),
        &record::read(lab),
        None,
    )?;
    let work = &planned.workload.live;
    // A daemon or run directory left after its namespaces went (deleted by hand) is
    // still the lab's: destroying it stops the daemon.
    let services = &planned.services.live;
    if must_exist
        && planned.plan.is_empty()
        && services.daemon.is_none()
        && !services.leftovers
        && work.is_empty()
    {
        return Err(Error::NoSuchLab {
            lab: lab.to_string(),
            labs: planned.live.labs(),
        });
    }
    Ok(planned)
}

/// Takes the lab's lock for an apply or destroy.
pub fn lock(lab: &str, timeout: Duration) -> Result<LabLock, Error> {
    LabLock::acquire(lab, timeout).map_err(lock_error)
}

/// Takes the lab's shared lock for a plan: plans run side by side, never during an
/// apply or destroy of the same lab.
pub fn lock_shared(lab: &str, timeout: Duration) -> Result<LabLock, Error> {
    LabLock::shared(lab, timeout).map_err(lock_error)
}

fn lock_error(e: LockError) -> Error {
    match e {
        LockError::Open { path, cause } if cause.kind() == std::io::ErrorKind::PermissionDenied => {
            Error::NotPermitted {
                what: format!("taking the lab lock {}", path.display()),
            }
        }
        e => Error::Lock(e),
    }
}

/// Runs a lab's reachability checks ([`crate::check::run_suite`]), once it is known that
/// this process may enter network namespaces.
pub fn run_checks(
    suite: &crate::check::Suite,
    opts: &crate::check::Options,
) -> Result<crate::check::Report, Error> {
    Error::unless_permitted("entering network namespaces")?;
    Ok(crate::check::run_suite(suite, opts)?)
}
