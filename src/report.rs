//! The JSON documents the command line prints with `--output json`, one type per
//! document, and their JSON Schemas (committed under `schemas/output/`, printed by
//! `nshost schema --output-of NAME`). Every document starts with `format_version`.
//!
//! A failed command prints an [`ErrorReport`] instead of its own document: the error's
//! code, message and help, and its problems, each located in the lab file.

use miette::Diagnostic;
use schemars::JsonSchema;
use serde::Serialize;

use crate::plan::{Change, Plan, Summary};
pub use crate::problem::json::{ErrorBody, LabelReport, ProblemReport, Severity};
use crate::workflow::{self, Applied, Timings};

/// The version of every JSON document the command line prints: bumped when a field is
/// removed or changes meaning (adding fields does not bump it).
pub const FORMAT_VERSION: u32 = 1;

/// Makes a document's schema.
pub type SchemaFn = fn() -> schemars::Schema;

/// Every document's schema by the name `schema --output-of` takes. A new report is one
/// line here (and its committed file, which the tests check).
pub const SCHEMAS: &[(&str, SchemaFn)] = &[
    ("validate", schema_of::<ValidateReport>),
    ("plan", schema_of::<PlanReport>),
    ("apply", schema_of::<ApplyReport>),
    ("destroy", schema_of::<ApplyReport>),
    ("error", schema_of::<ErrorReport>),
    ("status", schema_of::<MachineStatusReport>),
    ("status-lab", schema_of::<LabStatusReport>),
    ("graph", schema_of::<crate::graph::Graph>),
    ("check", schema_of::<crate::check::report::Report>),
    ("try", schema_of::<TryReport>),
    ("import", schema_of::<crate::import::ImportReport>),
];

/// `nshost try`: the lab built in the sandbox, its status, and its checks (none with
/// `--shell`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct TryReport {
    pub lab: String,
    pub applied: Applied,
    pub status: crate::status::LabStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<crate::check::report::Report>,
}

/// `nshost status`: every lab on the machine.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MachineStatusReport {
    pub status: crate::status::MachineStatus,
}

/// `nshost status FILE | --lab NAME`: one lab, node by node.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LabStatusReport {
    pub status: crate::status::LabStatus,
}

/// A document as printed: `format_version` first, then the report's own fields.
#[derive(Serialize, JsonSchema)]
pub struct Versioned<T> {
    /// The version of the document's format (see [`FORMAT_VERSION`]).
    pub format_version: u32,
    #[serde(flatten)]
    pub report: T,
}

/// The JSON Schema of document `T` as printed (with `format_version`).
pub fn schema_of<T: JsonSchema>() -> schemars::Schema {
    // What is printed, so the serializing side: a field left out when empty is not
    // required, an `Option` printed as null is.
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.contract = schemars::generate::Contract::Serialize;
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<Versioned<T>>();
    // ipnet's schema of an `IpNet` is one of IPv4 or IPv6, but its IPv6 pattern also
    // matches IPv4 text (`10.0.0.1/24`): any of them.
    if let Some(net) = schema
        .get_mut("definitions")
        .and_then(|d| d.get_mut("IpNet"))
        .and_then(|n| n.as_object_mut())
        && let Some(one_of) = net.remove("oneOf")
    {
        net.insert("anyOf".into(), one_of);
    }
    schema
}

/// The schema named `name` in [`SCHEMAS`], titled for its command.
pub fn schema_named(name: &str) -> Option<schemars::Schema> {
    let (_, make) = SCHEMAS.iter().find(|(n, _)| *n == name)?;
    let mut schema = make();
    let title = match name {
        "error" => "nshost --output json of any command that fails".to_string(),
        command => format!("nshost {command} --output json"),
    };
    schema.insert("title".into(), title.into());
    Some(schema)
}

/// `nshost validate`: the lab file is valid.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidateReport {
    /// The lab file as named on the command line (`<stdin>` for `-`).
    pub file: String,
    pub lab: String,
    pub valid: bool,
    /// Namespaces the lab makes (its nodes and the fabric).
    pub namespaces: usize,
    /// Objects an apply of the lab adds on a machine without it, namespaces included:
    /// `plan`'s count to add there.
    pub objects: usize,
    pub warnings: Vec<ProblemReport>,
    /// With `--resolved`: the lab with its ranges, defaults, groups, links and
    /// automatic addresses written out, as a lab file would hold it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
}

/// A plan: its changes in order, and how many objects it adds, changes, destroys.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanJson {
    pub lab: String,
    pub changes: Vec<Change>,
    /// The services the plan starts and stops.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<crate::services::ServiceChange>,
    pub summary: Summary,
}

impl PlanJson {
    pub fn of(plan: &Plan) -> Self {
        PlanJson {
            lab: plan.lab.clone(),
            changes: plan.changes.clone(),
            services: plan.services.clone(),
            summary: Summary::of(plan),
        }
    }
}

/// `nshost plan`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanReport {
    pub plan: PlanJson,
    pub timings: Timings,
    pub warnings: Vec<ProblemReport>,
    /// Entries under /run/netns that were skipped (not namespaces).
    pub notes: Vec<String>,
    /// Where `plan -o` saved the plan, and what it is pinned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved: Option<crate::workflow::saved::SaveReport>,
}

/// `nshost apply` and `nshost destroy`: the plan that was run and what it took.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApplyReport {
    pub plan: PlanJson,
    pub applied: Applied,
    pub warnings: Vec<ProblemReport>,
    pub notes: Vec<String>,
    /// With `apply --check`: the checks run after the apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<crate::check::report::Report>,
}

/// The entries under the namespace directory a plan skipped (not namespaces), one
/// line each: a report's `notes`.
pub fn notes(planned: &workflow::Planned) -> Vec<String> {
    planned
        .strays
        .iter()
        .map(|s| {
            format!(
                "skipped {}/{}: it is {}, not a namespace",
                crate::kernel::netns::run_dir().display(),
                s.name,
                s.what
            )
        })
        .collect()
}

/// A command that failed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorReport {
    pub error: ErrorBody,
}

impl ErrorReport {
    /// The report of a command's error: every problem of an invalid lab (not only the
    /// first ones a rendering shows), the parts of any other error.
    pub fn of(err: &workflow::Error) -> Self {
        ErrorReport { error: err.body() }
    }

    /// The report of any other error: its parts (related diagnostics or labels).
    pub fn of_diagnostic(err: &dyn Diagnostic) -> Self {
        ErrorReport {
            error: ErrorBody::of_diagnostic(err),
        }
    }
}
