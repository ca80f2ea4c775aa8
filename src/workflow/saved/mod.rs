//! Saved plans, pinned to the kernel: `nshost plan LAB -o FILE` writes the plan with
//! what it was computed from, and `nshost apply FILE` applies exactly that plan (its
//! changes and its schedule, not a new one), after checking that the kernel still holds,
//! object for object, what the plan was made against.
//!
//! # The file
//!
//! One JSON document, self-contained, whose first field is the magic `nshost_plan`
//! (the format's version, [`FORMAT`]):
//!
//! - `nshost_version`: the nshost that wrote it (only the same version applies it);
//! - `lab`, and `source`: the lab file's name and text (errors still point at its YAML,
//!   and the kernel's own checks of it run again before anything changes);
//! - `desired`: the state the apply must end with (what verification compares);
//! - `plan`: the changes and the stages of steps that carry them out;
//! - `observe`: what the plan read of the kernel (the sysctls and settings it asked for,
//!   the fabric), so that the same is read again;
//! - `pinned`: the digest scope ([`pin`]): every namespace the plan acts in as observed,
//!   and every name it creates a namespace under (free then), with their SHA-256 digest;
//! - `checksum`: SHA-256 of the rest as compact JSON, so that a file damaged by
//!   accident is refused. It is no signature: anyone can compute it again, and a plan is
//!   as trusted as the person who hands it to you; [`trust`] keeps what a forged plan
//!   can do inside its lab.
//!
//! # Telling a plan from a lab file
//!
//! `apply` reads a file as a saved plan when its content begins (after whitespace) with
//! `{` and the key `"nshost_plan"`; a lab file cannot (no such field in the format). A
//! file whose name ends in `.plan` is always read as a plan, so a damaged one is refused
//! as such rather than parsed as YAML. Standard input (`-`) is always a lab file.
//!
//! # Applying
//!
//! Under the lab's exclusive lock, the kernel is observed as the plan observed it (the
//! whole lab: a rollback must know every namespace of it), the pinned names are
//! captured again and their digest compared; any difference refuses the plan
//! (`nshost::stale_plan`), listing each object that changed, before anything is
//! touched. Otherwise the saved plan runs through the same transactional apply,
//! verification and rollback as any other. Changes outside the scope (a namespace of the
//! lab the plan does not act in) do not make it stale; the next plan shows them.

pub mod compare;
pub mod error;
pub mod pin;
#[cfg(test)]
mod tests;
pub mod trust;
#[cfg(test)]
mod trust_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use compare::{Changed, Difference};
pub use error::{SavedError, StalePlan};
pub use pin::{Pinned, Seen};

use crate::kernel::{self, ObserveSpec};
use crate::plan::{Change, Plan, Stage};
use crate::state::settings::DevSetting;
use crate::state::{NetState, SmallMap, SmallSet};
use crate::topology::SourceFile;
use crate::workflow::record::{self, Managed};
use crate::workflow::saved::pin::{WireNamespace, WireSeen};
use crate::workflow::{Error, FileOrigins, Loaded, Planned, Timings, checks, ms};

/// The version of the saved-plan format (the value of its magic field).
pub const FORMAT: u32 = 1;
/// The field every saved plan begins with.
pub const MAGIC: &str = "nshost_plan";
/// The largest saved plan read: 4 times a plan of 10,000 hosts made on an empty kernel
/// (`topologies/big.yaml` with 2,500 hosts per LAN: 40.6 MB, 50,213 changes).
pub const MAX_PLAN_BYTES: u64 = 160 << 20;

/// The file, field by field (see the module docs).
#[derive(Debug, Serialize, Deserialize)]
struct SavedFile {
    nshost_plan: u32,
    nshost_version: String,
    lab: String,
    source: SavedSource,
    desired: BTreeMap<String, WireNamespace>,
    plan: SavedSchedule,
    observe: SavedScope,
    pinned: SavedPin,
    checksum: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedSource {
    name: String,
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedSchedule {
    changes: Vec<Change>,
    stages: Vec<Stage>,
}

/// What the plan read of the kernel beyond links, addresses, routes and rules.
#[derive(Debug, Serialize, Deserialize)]
struct SavedScope {
    fabric: Option<String>,
    sysctls: BTreeMap<String, SmallSet<String>>,
    settings: BTreeMap<String, SmallMap<String, SmallSet<DevSetting>>>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    firewalls: BTreeSet<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedPin {
    digest: String,
    namespaces: BTreeMap<String, WireSeen>,
}

impl SavedFile {
    /// SHA-256 of everything but the checksum, as compact JSON.
    fn checksum(&mut self) -> String {
        let kept = std::mem::take(&mut self.checksum);
        let sum = pin::sha256_of(&serde_json::to_vec(self).expect("a plan serializes"));
        self.checksum = kept;
        sum
    }
}

/// What `save` wrote.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SaveReport {
    pub path: String,
    /// The digest of the live objects the plan is pinned to.
    pub digest: String,
    /// The names under the namespace directory the digest covers.
    pub pinned: Vec<String>,
}

impl std::fmt::Display for SaveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.pinned.len();
        writeln!(
            f,
            "Saved the plan to {}, pinned to {n} namespace{} ({}).",
            self.path,
            if n == 1 { "" } else { "s" },
            short(&self.digest),
        )?;
        writeln!(
            f,
            "To apply exactly this plan, run: nshost apply {}",
            self.path
        )
    }
}

/// A digest shortened for people: `sha256:1f2e3d4c5b6a`.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

/// Writes `planned` (made from a lab file, under the lab's lock) to `path` as a saved
/// plan, atomically (a new file renamed over the old one).
/// Why a lab with files or processes in its nodes is not saved as a plan.
const NO_WORKLOADS: &str = "its lab declares files or processes in nodes (`files:`, `run:`): \
     a plan file is never trusted to start programs or write files; apply the lab file";

pub fn save(planned: &Planned, path: &Path) -> Result<SaveReport, Error> {
    let shown = path.display().to_string();
    let write_err = |source| SavedError::Write {
        path: shown.clone(),
        source,
    };
    let Some(file) = &planned.file else {
        return Err(write_err(std::io::Error::other(
            "only a plan made from a lab file is saved",
        ))
        .into());
    };
    if !planned.workload.desired.is_empty() {
        return Err(write_err(std::io::Error::other(NO_WORKLOADS)).into());
    }
    if same_file(Path::new(&file.source.name), path) {
        return Err(write_err(std::io::Error::other("that is the lab file itself")).into());
    }
    let spec = super::observe_spec(&planned.lab, &planned.desired, &record::read(&planned.lab));
    let names = pin::scope(&planned.plan);
    let pinned = pin::capture(&names, &planned.live, &planned.strays, &planned.desired);
    let digest = pin::digest(&pinned);
    let mut saved = SavedFile {
        nshost_plan: FORMAT,
        nshost_version: env!("CARGO_PKG_VERSION").to_string(),
        lab: planned.lab.clone(),
        source: SavedSource {
            name: file.source.name.clone(),
            text: file.source.text.to_string(),
        },
        desired: pin::wire_state(&planned.desired),
        plan: SavedSchedule {
            changes: planned.plan.changes.clone(),
            stages: planned.plan.stages.clone(),
        },
        observe: SavedScope {
            fabric: spec.fabric,
            sysctls: spec.sysctls,
            settings: spec.settings,
            firewalls: spec.firewalls,
        },
        pinned: SavedPin {
            digest: digest.clone(),
            namespaces: pin::wire_pinned(&pinned),
        },
        checksum: String::new(),
    };
    saved.checksum = saved.checksum();
    let mut text = serde_json::to_vec_pretty(&saved).expect("a plan serializes");
    text.push(b'\n');
    write_atomically(path, &text).map_err(write_err)?;
    Ok(SaveReport {
        path: shown,
        digest,
        pinned: names.into_iter().collect(),
    })
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    // Unique to this process and call: two saves never share a temporary file.
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tmp_name.push(format!(".tmp.{}.{n}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether text begins like a saved plan: `{`, then the key `"nshost_plan"`, with
/// whitespace anywhere between.
pub fn looks_like_plan(text: &[u8]) -> bool {
    let skip = |t: &[u8]| -> usize { t.iter().take_while(|b| b.is_ascii_whitespace()).count() };
    let rest = &text[skip(text)..];
    let Some(rest) = rest.strip_prefix(b"{") else {
        return false;
    };
    rest[skip(rest)..].starts_with(format!("\"{MAGIC}\"").as_bytes())
}

/// Whether `apply` reads `path` as a saved plan (see the module docs): its first bytes
/// say so, or its name ends in `.plan`. `-` (standard input) never is.
pub fn is_saved_plan(path: &Path) -> bool {
    if path == Path::new("-") {
        return false;
    }
    if path.extension().is_some_and(|e| e == "plan") {
        return true;
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let mut head = Vec::with_capacity(256);
    std::fs::File::open(path)
        .and_then(|f| f.take(256).read_to_end(&mut head))
        .is_ok_and(|_| looks_like_plan(&head))
}

/// A saved plan read back and checked: everything needed to check it against the
/// kernel and apply it.
#[derive(Debug)]
pub struct Saved {
    /// Where it was read from.
    pub path: String,
    /// The lab file, loaded again from the text the plan holds.
    pub loaded: Loaded,
    pub desired: NetState,
    pub plan: Plan,
    /// What to observe, as the plan observed it.
    pub spec: ObserveSpec,
    pub pinned: Pinned,
    pub digest: String,
}

impl Saved {
    /// The lab the plan is for.
    pub fn lab(&self) -> &str {
        &self.plan.lab
    }
}

/// Reads a saved plan from a file (a regular file of at most [`MAX_PLAN_BYTES`]).
pub fn read(path: &Path) -> Result<Saved, Error> {
    let shown = path.display().to_string();
    let corrupt = |reason: String| SavedError::Corrupt {
        path: shown.clone(),
        reason,
    };
    let read_err = |source| Error::Read {
        path: shown.clone(),
        source,
    };
    let too_big = |size: String| {
        corrupt(format!(
            "it is {size}, more than the {} MiB a saved plan may be",
            MAX_PLAN_BYTES >> 20
        ))
    };
    // Its size is that of the file opened, before a byte is read, and no more than the
    // limit is read should it grow meanwhile.
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(corrupt("it is not a regular file".into()).into());
    }
    if meta.len() > MAX_PLAN_BYTES {
        return Err(too_big(format!(
            "{} bytes",
            crate::topology::thousands(meta.len() as usize)
        ))
        .into());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_PLAN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_PLAN_BYTES {
        return Err(too_big("larger (it grew while being read)".into()).into());
    }
    from_bytes(&shown, &bytes)
}

/// Reads a saved plan from its bytes; `path` names it in errors.
pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<Saved, Error> {
    let corrupt = |reason: String| -> Error {
        SavedError::Corrupt {
            path: path.to_string(),
            reason,
        }
        .into()
    };
    if !looks_like_plan(bytes) {
        return Err(corrupt(format!(
            "it does not begin with the `{MAGIC}` field of a saved plan"
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        corrupt(if e.is_eof() {
            format!(
                "it is cut short (truncated at line {}, column {})",
                e.line(),
                e.column()
            )
        } else {
            format!("it is not valid JSON ({e})")
        })
    })?;
    let this = env!("CARGO_PKG_VERSION");
    let version = |made: String| -> Error {
        SavedError::Version {
            path: path.to_string(),
            made,
            this: this.to_string(),
        }
        .into()
    };
    match value.get(MAGIC).and_then(serde_json::Value::as_u64) {
        Some(f) if f == u64::from(FORMAT) => {}
        Some(f) => return Err(version(format!("an nshost writing plan format {f}"))),
        None => return Err(corrupt(format!("its `{MAGIC}` field is not a number"))),
    }
    match value
        .get("nshost_version")
        .and_then(serde_json::Value::as_str)
    {
        Some(v) if v == this => {}
        Some(v) => return Err(version(format!("nshost {v}"))),
        None => return Err(corrupt("it does not say which nshost wrote it".into())),
    }
    let mut file: SavedFile = serde_json::from_value(value)
        .map_err(|e| corrupt(format!("it does not hold a plan ({e})")))?;
    if file.checksum() != file.checksum {
        return Err(corrupt(
            "its checksum does not match its contents (it was changed after it was saved)".into(),
        ));
    }
    let pinned = pin::unwire_pinned(file.pinned.namespaces);
    if pin::digest(&pinned) != file.pinned.digest {
        return Err(corrupt(
            "its pinned objects do not match their digest".into(),
        ));
    }
    let plan = Plan {
        lab: file.lab.clone(),
        changes: file.plan.changes,
        stages: file.plan.stages,
        services: Vec::new(),
        workload: Vec::new(),
    };
    if let Some(problem) = schedule_problem(&plan) {
        return Err(corrupt(problem));
    }
    let desired = pin::unwire_state(file.desired);
    let spec = ObserveSpec {
        lab: file.lab,
        fabric: file.observe.fabric,
        sysctls: file.observe.sysctls,
        settings: file.observe.settings,
        only: None,
        all_labs: false,
        links_only: false,
        firewalls: file.observe.firewalls,
        partial_links: Default::default(),
        early: false,
    };
    let named = trust::Named {
        plan: &plan,
        desired: &desired,
        pinned: &pinned,
        spec: &spec,
    };
    if let Some(bad) = trust::bad_name(&named) {
        return Err(SavedError::BadName {
            path: path.to_string(),
            bad,
        }
        .into());
    }
    if let Some(problem) = trust::misplaced_op(&plan)
        .or_else(|| trust::unpinned(&plan, &spec))
        .or_else(|| trust::not_in_pin(&plan, &pinned))
        .or_else(|| trust::firewall_reads_file(&plan, &desired))
    {
        return Err(corrupt(problem));
    }
    if pin::scope(&plan) != pinned.keys().cloned().collect::<BTreeSet<_>>() {
        return Err(corrupt(
            "its pinned objects are not the namespaces its changes act in".into(),
        ));
    }
    let loaded = super::load_source(SourceFile::from_text(&file.source.name, &file.source.text))?;
    if loaded.lab.nodes.values().any(|n| !n.workload.is_empty()) {
        return Err(corrupt(NO_WORKLOADS.into()));
    }
    if loaded.lab.name != spec.lab {
        return Err(corrupt(format!(
            "it is for lab `{}` but holds the file of lab `{}`",
            spec.lab, loaded.lab.name
        )));
    }
    Ok(Saved {
        path: path.to_string(),
        loaded,
        desired,
        plan,
        spec,
        pinned,
        digest: file.pinned.digest,
    })
}

/// What is wrong with a schedule, if anything: every operation names a change of the
/// plan, and every change is carried out.
fn schedule_problem(plan: &Plan) -> Option<String> {
    let mut run = BTreeSet::new();
    for (_, step) in plan.steps() {
        if step.ops.is_empty() {
            return Some("its schedule has a step that does nothing".into());
        }
        for op in &step.ops {
            if op.change >= plan.changes.len() {
                return Some(format!(
                    "its schedule names change {} of {}",
                    op.change,
                    plan.changes.len()
                ));
            }
            run.insert(op.change);
        }
    }
    (run.len() != plan.changes.len()).then(|| "its schedule leaves changes out".to_string())
}

/// Checks a saved plan against the kernel (under the lab's exclusive lock, which the
/// caller holds): the kernel's own checks of its lab file, then the pinned names
/// observed again and compared. Returns the plan ready for `workflow::apply`, or
/// `nshost::stale_plan` with every difference.
pub fn recheck(saved: Saved) -> Result<Planned, Error> {
    Error::unless_permitted("reading and changing network namespaces")?;
    // The plan may be applied on another kernel than the one it was made on.
    checks::check(&saved.loaded, &Managed::default())?;
    let t = Instant::now();
    let observed = kernel::observe(&saved.spec).map_err(Error::from_kernel)?;
    let observe_ms = ms(t.elapsed());
    let t = Instant::now();
    let names: BTreeSet<String> = saved.pinned.keys().cloned().collect();
    let now = pin::capture(&names, &observed.state, &observed.strays, &saved.desired);
    if pin::digest(&now) != saved.digest {
        return Err(SavedError::Stale(Box::new(StalePlan {
            path: saved.path,
            lab: saved.plan.lab.clone(),
            differences: compare::differences(&saved.plan.lab, &saved.pinned, &now),
        }))
        .into());
    }
    // Ownership is read from the kernel, not from the plan (whose pin anyone can
    // forge): nothing outside the lab is touched, whatever the plan says.
    let outside = trust::outside_lab(&saved.plan, &observed);
    if !outside.is_empty() {
        return Err(SavedError::OutsideLab {
            path: saved.path,
            lab: saved.plan.lab.clone(),
            namespaces: outside,
        }
        .into());
    }
    let compare_ms = ms(t.elapsed());
    let Loaded { source, lab, .. } = saved.loaded;
    let mut plan = saved.plan;
    let (services, service_changes) =
        super::plan_services(&lab.name, crate::services::desired(&lab), &plan.changes);
    plan.services = service_changes;
    let (workload, work_changes) =
        super::plan_workload(&lab.name, Default::default(), &plan.changes);
    plan.workload = work_changes;
    Ok(Planned {
        lab: lab.name,
        file: Some(Box::new(FileOrigins {
            source,
            origins: lab.origins,
        })),
        desired: saved.desired,
        live: observed.state,
        strays: observed.strays,
        plan,
        timings: Timings {
            observe_ms,
            diff_ms: compare_ms,
            ..Timings::default()
        },
        services,
        workload,
    })
}
