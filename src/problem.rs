//! Problems and their reports: one `Problem` per mistake (or warning) with labels at the
//! YAML, `Invalid` for the problems that stop a lab, `Warnings` for those that do not.
//! A report shows the first [`Invalid::SHOWN`] problems, then how many more there are.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceSpan};

use crate::output::thousands;
use crate::source::SourceFile;

mod code;
pub mod json;
#[cfg(test)]
mod code_tests;
mod window;
pub use code::{Code, UnknownCode};
pub use window::LONG as LONG_LINE;

/// Every problem found in a lab file. Rendered, it lists each problem with its labels:
/// the first [`Invalid::SHOWN`], then one line saying how many more there are.
#[derive(Debug, thiserror::Error)]
#[error("{} in {}", plural(.problems.len(), "problem"), .file)]
pub struct Invalid {
    /// The lab file's name.
    pub file: String,
    /// The lab file, for the labels of the problems.
    pub source_code: NamedSource<Arc<str>>,
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
    /// What a rendering shows (boxed: the errors holding an `Invalid` stay small).
    shown: Box<Shown>,
}

/// What a rendering of an [`Invalid`] shows.
#[derive(Debug)]
struct Shown {
    /// In order: the problems, those that follow from one cause folded into one line
    /// after the first of them.
    entries: Vec<Entry>,
    /// The line after the problems shown (its count set when rendered).
    omitted: Omitted<false>,
}

/// One item of a rendered [`Invalid`].
#[derive(Debug)]
enum Entry {
    /// `problems[i]`.
    Problem(usize),
    /// The line standing for more problems that follow from one cause.
    Fold(Folded),
}

impl Invalid {
    /// How many problems a rendering shows.
    pub const SHOWN: usize = 50;

    /// The problems found in `src`. Causes come first: a problem that follows from
    /// another (its [`Problem::because`]) comes after every problem that does not,
    /// and a rendering shows the first of those following from one cause, then one
    /// line counting the others (the JSON report lists them all).
    pub fn new(src: &SourceFile, mut problems: Vec<Problem>) -> Self {
        problems.sort_by_key(|p| p.because.is_some());
        let mut entries = Vec::new();
        let mut folds: Vec<(usize, &str, Code)> = Vec::new();
        for (i, p) in problems.iter().enumerate() {
            let Some(cause) = p.because.as_deref() else {
                entries.push(Entry::Problem(i));
                continue;
            };
            match folds
                .iter()
                .find(|(_, c, code)| *c == cause && *code == p.code)
            {
                Some(&(at, _, _)) => match &mut entries[at] {
                    Entry::Fold(f) => f.count += 1,
                    Entry::Problem(_) => unreachable!("folds point at fold lines"),
                },
                None => {
                    entries.push(Entry::Problem(i));
                    folds.push((entries.len(), cause, p.code));
                    entries.push(Entry::Fold(Folded {
                        count: 0,
                        cause: cause.to_string(),
                    }));
                }
            }
        }
        entries.retain(|e| !matches!(e, Entry::Fold(f) if f.count == 0));
        Invalid {
            file: src.name.clone(),
            source_code: src.shared_source(),
            problems,
            shown: Box::new(Shown {
                entries,
                omitted: Omitted::default(),
            }),
        }
    }
}

/// The line standing for `count` problems like the one above it, following from the
/// problem `cause` (its message).
#[derive(Debug, thiserror::Error)]
#[error(
    "... and {} more like it, because of: {}",
    thousands(*.count),
    .cause
)]
struct Folded {
    count: usize,
    cause: String,
}

impl Diagnostic for Folded {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code::FollowOnProblems))
    }

    fn severity(&self) -> Option<Severity> {
        Some(Severity::Advice)
    }
}

impl Diagnostic for Invalid {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code::Invalid))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source_code)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        let entries = self.shown.entries.iter().map(|e| match e {
            Entry::Problem(i) => (&self.problems[*i] as &dyn Diagnostic, 1),
            Entry::Fold(f) => (f as &dyn Diagnostic, f.count),
        });
        Some(capped(entries, &self.shown.omitted))
    }
}

/// The warnings of a valid lab file, as one report: what the kernel accepts but is
/// probably not meant, and restrictions nshost keeps. Each says how to silence it.
/// Print it (to stderr) with `miette::Report::new(warnings)`, like an `Invalid`.
#[derive(Debug, thiserror::Error)]
#[error("{} in {}", plural(.problems.len(), "warning"), .file)]
pub struct Warnings {
    /// The lab file's name.
    pub file: String,
    /// The lab file, for the labels of the warnings.
    pub source_code: NamedSource<Arc<str>>,
    /// The warnings, in file order.
    pub problems: Vec<Problem>,
    omitted: Omitted<true>,
}

impl Warnings {
    /// The warnings `problems` of the lab file `src` (a `Lab`'s `warnings`), or `None`
    /// when there are none.
    pub fn new(src: &SourceFile, problems: &[Problem]) -> Option<Self> {
        (!problems.is_empty()).then(|| Warnings {
            file: src.name.clone(),
            source_code: src.shared_source(),
            problems: problems.to_vec(),
            omitted: Omitted::default(),
        })
    }
}

impl Diagnostic for Warnings {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code::Warnings))
    }

    fn severity(&self) -> Option<Severity> {
        Some(Severity::Warning)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source_code)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        let entries = self.problems.iter().map(|p| (p as &dyn Diagnostic, 1));
        Some(capped(entries, &self.omitted))
    }
}

/// The first [`Invalid::SHOWN`] of `entries` (each with the number of problems it
/// stands for), then the line saying how many more problems there are.
fn capped<'a, const WARNINGS: bool>(
    entries: impl Iterator<Item = (&'a dyn Diagnostic, usize)>,
    omitted: &'a Omitted<WARNINGS>,
) -> Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a> {
    let mut shown = Vec::new();
    let mut more = 0;
    for (d, count) in entries {
        if shown.len() < Invalid::SHOWN {
            shown.push(d);
        } else {
            more += count;
        }
    }
    let shown = shown.into_iter();
    omitted.more.store(more, Ordering::Relaxed);
    let omitted = (more > 0).then_some(omitted as &dyn Diagnostic);
    Box::new(shown.chain(omitted))
}

/// The line that stands for the problems not shown (warnings, with `WARNINGS`).
#[derive(Debug, Default, thiserror::Error)]
#[error(
    "... and {} more {}{} (the first {} are shown)",
    thousands(self.more.load(Ordering::Relaxed)),
    if WARNINGS { "warning" } else { "problem" },
    if self.more.load(Ordering::Relaxed) == 1 { "" } else { "s" },
    Invalid::SHOWN
)]
struct Omitted<const WARNINGS: bool> {
    more: AtomicUsize,
}

impl<const WARNINGS: bool> Diagnostic for Omitted<WARNINGS> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code::MoreProblems))
    }

    fn severity(&self) -> Option<Severity> {
        Some(Severity::Advice)
    }
}

/// One problem in a lab file, with labels pointing at the YAML. An error unless made
/// a warning ([`Problem::severity`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    /// Its stable code, e.g. `nshost::duplicate_address`.
    pub code: Code,
    pub message: String,
    pub labels: Vec<LabeledSpan>,
    pub help: Option<String>,
    /// `Error` (the default) stops the lab; `Warning` does not.
    pub severity: Severity,
    /// The message of the problem this one follows from (reported too), if it follows
    /// from one: a rendering folds those following from one cause into one line.
    pub because: Option<String>,
    source_code: NamedSource<Arc<str>>,
    /// What a rendering shows of the file (long lines cut), made when first rendered.
    view: OnceLock<window::View>,
}

impl Problem {
    /// A problem in the file `source_code` holds, without labels yet.
    pub fn new(code: Code, message: impl Into<String>, source_code: NamedSource<Arc<str>>) -> Self {
        Problem {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            severity: Severity::Error,
            because: None,
            source_code,
            view: OnceLock::new(),
        }
    }

    /// Adds a label at `span` (builder style).
    pub fn label(mut self, span: SourceSpan, text: impl Into<String>) -> Self {
        self.with_label(span, text);
        self
    }

    /// Sets the help text (builder style).
    pub fn help_text(mut self, text: impl Into<String>) -> Self {
        self.with_help(text);
        self
    }

    /// Sets the severity (builder style).
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn with_label(&mut self, span: SourceSpan, text: impl Into<String>) -> &mut Self {
        self.labels
            .push(LabeledSpan::new_with_span(Some(text.into()), span));
        self.view = OnceLock::new();
        self
    }

    /// Marks the problem as following from the problem whose message is `cause`.
    pub fn with_because(&mut self, cause: impl Into<String>) -> &mut Self {
        self.because = Some(cause.into());
        self
    }

    pub fn with_help(&mut self, text: impl Into<String>) -> &mut Self {
        self.help = Some(text.into());
        self
    }

    /// Whether the problem is only a warning.
    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }

    /// The lab file the problem is in (its labels' offsets are into it).
    pub fn source(&self) -> &NamedSource<Arc<str>> {
        &self.source_code
    }

    /// The file as a rendering shows it: see [`window`].
    fn view(&self) -> &window::View {
        self.view.get_or_init(|| {
            window::View::new(&self.source_code, self.labels.iter().map(|l| *l.inner()))
        })
    }

    /// Where the problem is, for putting problems in file order: its first label.
    pub(super) fn position(&self) -> usize {
        self.labels.first().map_or(0, |l| l.offset())
    }
}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    /// The labels as rendered: cut to what the rendering shows of their lines (the
    /// JSON report reads the `labels` field, whole).
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let spans = self.view().spans.iter();
        Some(Box::new(self.labels.iter().zip(spans).map(|(l, span)| {
            LabeledSpan::new_with_span(l.label().map(str::to_string), *span)
        })))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.view())
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
