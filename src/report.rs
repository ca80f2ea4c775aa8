//! The JSON documents the command line prints with `--output json`, one type per
//! document, and their JSON Schemas (committed under `schemas/output/`, printed by
//! `nshost schema --output-of NAME`). Every document starts with `format_version`.
//!
//! A failed command prints an [`ErrorReport`] instead of its own document: the error's
//! code, message and help, and its problems, each located in the lab file.

use miette::{Diagnostic, Severity as MietteSeverity};
use schemars::JsonSchema;
use serde::Serialize;

use crate::plan::{Change, Plan, Summary};
use crate::problem::Problem;
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

/// A command that failed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorReport {
    pub error: ErrorBody,
}

/// The error, as its diagnostic says it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorBody {
    /// A stable code, `nshost::invalid`, `nshost::conflict`...
    pub code: Option<String>,
    /// The message, with its causes after `: `.
    pub message: String,
    pub help: Option<String>,
    /// What the error is made of: each problem of an invalid lab file, each place in
    /// the file of a failed apply. Empty when the error has no parts.
    pub problems: Vec<ProblemReport>,
}

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Advice,
}

/// One problem, at its place in the lab file when it has one.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProblemReport {
    pub code: Option<String>,
    pub message: String,
    pub severity: Severity,
    pub help: Option<String>,
    /// The file it is in (`<stdin>` for a lab read from standard input).
    pub file: Option<String>,
    /// 1-based line and column of its first label.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The text of its first label.
    pub label: Option<String>,
    /// Every label, the first included.
    pub labels: Vec<LabelReport>,
    /// The message of the problem this one follows from (reported too), when it
    /// follows from one: a human rendering folds such problems into one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
}

/// One place a problem points at.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LabelReport {
    pub label: Option<String>,
    pub line: usize,
    pub column: usize,
    /// Byte offset and length in the file.
    pub offset: usize,
    pub length: usize,
}

impl ErrorReport {
    /// The report of a command's error: every problem of an invalid lab (not only the
    /// first ones a rendering shows), the parts of any other error.
    pub fn of(err: &workflow::Error) -> Self {
        match err {
            workflow::Error::Invalid(inv) => {
                Self::with_problems(err, ProblemReport::all(&inv.problems))
            }
            other => Self::of_diagnostic(other),
        }
    }

    /// The report of any other error: its parts (related diagnostics or labels).
    pub fn of_diagnostic(err: &dyn Diagnostic) -> Self {
        Self::with_problems(err, parts(err))
    }

    fn with_problems(err: &dyn Diagnostic, problems: Vec<ProblemReport>) -> Self {
        ErrorReport {
            error: ErrorBody {
                code: err.code().map(|c| c.to_string()),
                message: message(err),
                help: err.help().map(|h| h.to_string()),
                problems,
            },
        }
    }
}

/// The related diagnostics of `d`; or, without any, its labels as problems of its own.
fn parts(d: &dyn Diagnostic) -> Vec<ProblemReport> {
    let related: Vec<ProblemReport> = d
        .related()
        .into_iter()
        .flatten()
        .map(ProblemReport::of)
        .collect();
    if !related.is_empty() {
        return related;
    }
    let labels = labels(d, d);
    labels
        .into_iter()
        .map(|l| ProblemReport {
            code: d.code().map(|c| c.to_string()),
            message: l.label.clone().unwrap_or_else(|| d.to_string()),
            severity: severity(d),
            help: None,
            file: file_of(d),
            line: Some(l.line),
            column: Some(l.column),
            label: l.label.clone(),
            labels: vec![l],
            because: None,
        })
        .collect()
}

/// The message of an error and its causes, `cannot read lab.yaml: No such file...`.
fn message(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

fn severity(d: &dyn Diagnostic) -> Severity {
    match d.severity() {
        Some(MietteSeverity::Warning) => Severity::Warning,
        Some(MietteSeverity::Advice) => Severity::Advice,
        _ => Severity::Error,
    }
}

/// The name of the file `d`'s source code is, if it has one.
fn file_of(d: &dyn Diagnostic) -> Option<String> {
    let src = d.source_code()?;
    let span = src.read_span(&(0, 0).into(), 0, 0).ok()?;
    span.name().map(str::to_string)
}

/// The labels of `d`, located in the source code of `at`.
fn labels(d: &dyn Diagnostic, at: &dyn Diagnostic) -> Vec<LabelReport> {
    let Some(src) = at.source_code() else {
        return Vec::new();
    };
    located(d.labels().into_iter().flatten(), src)
}

/// `labels`, located in `src`.
fn located(
    labels: impl Iterator<Item = miette::LabeledSpan>,
    src: &dyn miette::SourceCode,
) -> Vec<LabelReport> {
    labels
        .filter_map(|l| {
            let place = src.read_span(l.inner(), 0, 0).ok()?;
            Some(LabelReport {
                label: l.label().map(str::to_string),
                line: place.line() + 1,
                column: place.column() + 1,
                offset: l.offset(),
                length: l.len(),
            })
        })
        .collect()
}

impl ProblemReport {
    /// One diagnostic (a problem of a lab file, a warning) as a report.
    pub fn of(d: &dyn Diagnostic) -> Self {
        Self::with_labels(d, labels(d, d))
    }

    /// `d` as a report, with its labels located.
    fn with_labels(d: &dyn Diagnostic, labels: Vec<LabelReport>) -> Self {
        let first = labels.first();
        ProblemReport {
            code: d.code().map(|c| c.to_string()),
            message: d.to_string(),
            severity: severity(d),
            help: d.help().map(|h| h.to_string()),
            file: file_of(d),
            line: first.map(|l| l.line),
            column: first.map(|l| l.column),
            label: first.and_then(|l| l.label.clone()),
            labels,
            because: None,
        }
    }

    /// The reports of a lab's problems or warnings: their labels whole, where a
    /// rendering cuts those on long lines.
    pub fn all(problems: &[Problem]) -> Vec<Self> {
        problems
            .iter()
            .map(|p| ProblemReport {
                because: p.because.clone(),
                ..Self::with_labels(p, located(p.labels.iter().cloned(), p.source()))
            })
            .collect()
    }
}
