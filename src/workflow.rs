//! The library's front door: load a lab file, plan it against the live kernel, apply
//! and verify, destroy. The CLI is a thin layer over these functions.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::kernel::{self, ApplyStats, ObserveSpec, Session};
use crate::lab::Lab;
use crate::lock::{LabLock, LockError};
use crate::plan::{self, Conflict, Plan};
use crate::state::{LinkKind, NetState};
use crate::topology::{self, SourceFile};
use crate::validate::{self, Invalid};

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The I/O error is the report's cause, printed under the message.
    #[error("cannot read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The parser's own report: its message here, its labels and source forwarded.
    #[error("{0}")]
    #[diagnostic(transparent)]
    Parse(Box<miette::Report>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] Invalid),
    #[error("{}", conflicts_text(.0))]
    #[diagnostic(
        code(nshost::conflict),
        help(
            "nshost never adopts or deletes objects it did not create: rename the lab's object, or remove the other one yourself"
        )
    )]
    Conflicts(Vec<Conflict>),
    #[error("{}", unsupported_text(.0))]
    #[diagnostic(code(nshost::unsupported_kind))]
    Unsupported(Vec<(String, Vec<String>)>),
    #[error(transparent)]
    #[diagnostic(code(nshost::kernel))]
    Kernel(#[from] kernel::KernelError),
    #[error(transparent)]
    #[diagnostic(code(nshost::busy))]
    Lock(#[from] LockError),
    #[error("{what}: permission denied")]
    #[diagnostic(
        code(nshost::not_permitted),
        help(
            "nshost creates namespaces and mounts them under /run/netns: run it as root, or try \
             it in a throwaway sandbox: unshare --user --map-root-user --net --mount \
             --propagation private sh -c 'mount -t tmpfs tmpfs /run && nshost apply LAB'"
        )
    )]
    NotPermitted { what: String },
    #[error("apply did not converge; the kernel still differs from the lab:\n{0}")]
    #[diagnostic(code(nshost::verify))]
    Verify(String),
}

fn conflicts_text(conflicts: &[Conflict]) -> String {
    plan::render::conflicts(conflicts).trim_end().to_string()
}

fn unsupported_text(kinds: &[(String, Vec<String>)]) -> String {
    kinds
        .iter()
        .map(|(kind, users)| {
            format!(
                "this kernel cannot create `{kind}` links (not built in and no module), needed by {}",
                users.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parsed, validated and lowered lab file.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub source: SourceFile,
    pub lab: Lab,
    pub desired: NetState,
}

/// Reads, parses, validates and lowers a lab file.
pub fn load(path: &Path) -> Result<Loaded, Error> {
    let source = SourceFile::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    load_source(source)
}

/// Parses, validates and lowers lab text already in memory.
pub fn load_source(source: SourceFile) -> Result<Loaded, Error> {
    let t = Instant::now();
    let topo = topology::parse(&source)?;
    crate::trace::phase("parse", t);
    let t = Instant::now();
    let lab = validate::validate(&source, &topo)?;
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

/// A plan with what it was computed from, and the open namespaces to apply it with.
#[derive(Debug)]
pub struct Planned {
    pub lab: String,
    pub desired: NetState,
    /// The live state the plan was made against; after `apply`, what verification
    /// re-read (the namespaces the plan touched).
    pub live: NetState,
    pub plan: Plan,
    pub session: Session,
    pub timings: Timings,
}

/// Where the time went, in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Timings {
    pub observe_ms: f64,
    pub diff_ms: f64,
    pub apply_ms: f64,
    pub verify_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Plans `lab` from a loaded file.
pub fn plan_loaded(loaded: Loaded) -> Result<Planned, Error> {
    // The file and the resolved lab are not needed any more: only the desired state.
    let Loaded { lab, desired, .. } = loaded;
    plan(&lab.name, Some(&lab.fabric_ns), desired)
}

/// Observes the kernel and plans `desired` for `lab`. `fabric` names the lab's fabric
/// namespace, used to resolve veth peers.
pub fn plan(lab: &str, fabric: Option<&str>, desired: NetState) -> Result<Planned, Error> {
    let mut session = Session::new();
    let spec = ObserveSpec {
        lab: lab.to_string(),
        fabric: fabric.map(str::to_string),
        sysctls: desired.sysctl_keys(),
        only: None,
    };
    let t = Instant::now();
    let live = kernel::observe(&spec, &mut session)?;
    let observe_ms = ms(t.elapsed());
    let t = Instant::now();
    let changes = plan::diff(lab, &desired, &live).map_err(Error::Conflicts)?;
    let plan = plan::order(lab, changes);
    let diff_ms = ms(t.elapsed());
    crate::trace::phase("diff+order", t);
    check_kinds(&plan)?;
    Ok(Planned {
        lab: lab.to_string(),
        desired,
        live,
        plan,
        session,
        timings: Timings {
            observe_ms,
            diff_ms,
            ..Timings::default()
        },
    })
}

/// Fails with a clear message when the plan creates links of a kind this kernel lacks.
fn check_kinds(plan: &Plan) -> Result<(), Error> {
    let mut users: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for change in &plan.changes {
        if let plan::Change::AddLink { ns, name, link, .. } = change
            && let LinkKind::Other { name: kind } = &link.kind
        {
            users
                .entry(kind.clone())
                .or_default()
                .push(format!("{ns}/{name}"));
        }
    }
    if users.is_empty() {
        return Ok(());
    }
    let kinds: Vec<String> = users.keys().cloned().collect();
    let missing: BTreeSet<String> = kernel::probe::unsupported_kinds(&kinds)
        .map_err(|source| kernel::KernelError::Socket {
            ns: "probe".into(),
            cause: source,
        })?
        .into_iter()
        .collect();
    let unsupported: Vec<(String, Vec<String>)> = users
        .into_iter()
        .filter(|(k, _)| missing.contains(k))
        .collect();
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(Error::Unsupported(unsupported))
    }
}

/// What an apply did and how it ended.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub stats: ApplyStats,
    pub timings: Timings,
    /// Netlink write requests sent over the whole command.
    pub netlink_writes: u64,
}

/// Applies a plan, then re-reads the kernel and checks that nothing is left to do.
pub fn apply(planned: &mut Planned) -> Result<Applied, Error> {
    let t = Instant::now();
    let stats = if planned.plan.changes.is_empty() {
        ApplyStats::default()
    } else {
        kernel::apply(
            &planned.lab,
            &planned.plan,
            &planned.live,
            &mut planned.session,
        )?
    };
    planned.timings.apply_ms = ms(t.elapsed());
    if !planned.plan.changes.is_empty() {
        // The state the plan was made against is stale now; free it before re-reading.
        planned.live = NetState::default();
        let t = Instant::now();
        // Re-read what the plan touched (and the fabric, which resolves veth peers).
        let fabric = fabric_of(&planned.desired);
        let mut touched = planned.plan.touched_namespaces();
        touched.extend(fabric.clone());
        let desired = NetState {
            namespaces: planned
                .desired
                .namespaces
                .iter()
                .filter(|(name, _)| touched.contains(*name))
                .map(|(name, ns)| (name.clone(), ns.clone()))
                .collect(),
        };
        let spec = ObserveSpec {
            lab: planned.lab.clone(),
            fabric,
            sysctls: desired.sysctl_keys(),
            only: Some(touched),
        };
        let mut live = kernel::observe(&spec, &mut planned.session)?;
        let mut desired = desired;
        if let Some(fabric) = &spec.fabric {
            narrow_fabric(
                fabric,
                spec.only.as_ref().expect("set above"),
                &mut desired,
                &mut live,
            );
        }
        let remaining = plan::diff(&planned.lab, &desired, &live).map_err(Error::Conflicts)?;
        planned.timings.verify_ms = ms(t.elapsed());
        if !remaining.is_empty() {
            let rest = plan::order(&planned.lab, remaining);
            return Err(Error::Verify(plan::render::human(&rest, &desired, &live)));
        }
        planned.live = live;
    }
    Ok(Applied {
        stats,
        timings: planned.timings.clone(),
        netlink_writes: planned.session.writes(),
    })
}

/// Leaves out of a verification the fabric ports of namespaces it did not re-read:
/// their peers cannot be resolved without those namespaces, and the plan did not touch
/// them.
fn narrow_fabric(
    fabric: &str,
    touched: &BTreeSet<String>,
    desired: &mut NetState,
    live: &mut NetState,
) {
    let Some(want) = desired.namespaces.get_mut(fabric) else {
        return;
    };
    let untouched: BTreeSet<String> = want
        .links
        .iter()
        .filter(|(_, l)| {
            matches!(&l.kind, LinkKind::Veth { peer: Some(p) } if !touched.contains(&p.ns))
        })
        .map(|(name, _)| name.clone())
        .collect();
    want.links.retain(|name, _| !untouched.contains(name));
    if let Some(have) = live.namespaces.get_mut(fabric) {
        have.links.retain(|name, _| !untouched.contains(name));
    }
}

/// The fabric namespace of a desired state, if it has one.
pub fn fabric_of(desired: &NetState) -> Option<String> {
    desired
        .namespaces
        .iter()
        .find(|(_, ns)| ns.role == crate::state::NsRole::Fabric)
        .map(|(name, _)| name.clone())
}

/// Plans the removal of everything `lab` owns.
pub fn plan_destroy(lab: &str) -> Result<Planned, Error> {
    plan(lab, None, NetState::default())
}

/// Takes the lab's lock for an apply or destroy.
pub fn lock(lab: &str, timeout: Duration) -> Result<LabLock, Error> {
    LabLock::acquire(lab, timeout).map_err(|e| match e {
        LockError::Open { path, cause } if cause.kind() == std::io::ErrorKind::PermissionDenied => {
            Error::NotPermitted {
                what: format!("taking the lab lock {}", path.display()),
            }
        }
        e => Error::Lock(e),
    })
}
