//! An error as JSON: its code, message and help, and each problem with its places in
//! the lab file (line, column, byte span). The shape every command's `--output json`
//! error and a watcher's error events share.

use miette::{Diagnostic, Severity as MietteSeverity};
use schemars::JsonSchema;
use serde::Serialize;

use crate::problem::Problem;

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

impl ErrorBody {
    /// The body of any error: its parts (related diagnostics or labels).
    pub fn of_diagnostic(err: &dyn Diagnostic) -> Self {
        Self::with_problems(err, parts(err))
    }

    /// The body of `err`, made of `problems`.
    pub fn with_problems(err: &dyn Diagnostic, problems: Vec<ProblemReport>) -> Self {
        ErrorBody {
            code: err.code().map(|c| c.to_string()),
            message: message(err),
            help: err.help().map(|h| h.to_string()),
            problems,
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
