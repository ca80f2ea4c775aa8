//! What every command of the command line shares: the output format and verbosity,
//! the lock wait, the plan's view, argument parsers, the JSON printer and the exit
//! codes.
//!
//! With `--output json`, stdout gets one JSON document, the command's report or, when
//! it fails, an error report (`nshost::report`), and stderr stays quiet: warnings and
//! notes are in the document. Only clap's usage errors (exit 2), before anything runs,
//! and the `-v` log are printed on stderr. Commands whose output is no report (`exec`,
//! `shell`, `completions`, `man`...) refuse `--output json` as such an error (`main.rs`).

pub mod apply;
pub mod check;
pub mod destroy;
pub mod docs;
pub mod error;
pub mod exec;
pub mod generate;
pub mod graph;
pub mod import;
pub mod logs;
pub mod plan;
pub mod pool;
pub mod progress;
pub mod schema;
pub mod serve;
pub mod session;
pub mod status;
pub mod try_lab;
pub mod validate;
pub mod watch;

use std::time::Duration;

pub use self::error::Error;

use clap::{ArgAction, Args, ValueEnum};
use nshost::plan::render;
use nshost::report::ProblemReport;
use nshost::workflow;
use nshost::{errln, outln};

/// Exit code of an error (see the binary's docs).
pub const EXIT_ERROR: u8 = 1;
/// Exit code of `plan --detailed-exitcode` when there are changes.
pub const EXIT_CHANGES: u8 = 2;

/// The version of every JSON document the command line prints.
pub const FORMAT_VERSION: u32 = nshost::report::FORMAT_VERSION;

/// How a command reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Human,
    Json,
}

/// The options every command takes, before or after its name.
#[derive(Args, Debug)]
pub struct Global {
    /// Output format: for people, or one JSON document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Print only the result, without notes, warnings or tables: a plan's counts,
    /// `Apply complete! ...`, a lab's health, a check's tally; for `import`, only its
    /// warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log on stderr where the time goes: -v each phase, -vv each stage and step of an
    /// apply too. NSHOST_TRACE=1 is -v, NSHOST_TRACE=2 -vv.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    /// Whether the human report is printed in full (not `-q`, not JSON).
    pub fn chatty(&self) -> bool {
        self.output == Output::Human && !self.quiet
    }
}

/// How much of a plan to print.
#[derive(Args, Debug)]
pub struct PlanView {
    /// Print every line of the plan. By default a plan longer than the terminal (or
    /// than 40 lines when stdout is not a terminal) is summarised: one line per group
    /// of alike namespaces.
    #[arg(long)]
    pub full: bool,
}

/// Lines a plan may take before it is summarised, when stdout is not a terminal.
pub const PLAN_LINES: usize = 40;

/// The lines a long report (a plan, a table of checks) may take before it is
/// shortened: the terminal's height less the prompt and the closing line, or
/// [`PLAN_LINES`] when stdout is not a terminal.
pub fn fitting_lines() -> usize {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        let rows = console::Term::stdout()
            .size_checked()
            .map_or(PLAN_LINES, |s| s.0 as usize);
        rows.saturating_sub(2).max(10)
    } else {
        PLAN_LINES
    }
}

/// The lines a report may take: all with `--full`, else [`fitting_lines`].
pub fn lines_for(full: bool) -> usize {
    if full { usize::MAX } else { fitting_lines() }
}

impl PlanView {
    /// The lines a report may take: all with `--full`, else [`fitting_lines`].
    pub fn lines(&self) -> usize {
        if self.full {
            usize::MAX
        } else {
            fitting_lines()
        }
    }

    /// The plan's text, in full or summarised (see [`PlanView::full`]).
    pub fn text(&self, planned: &workflow::Planned) -> String {
        let detail = if self.full {
            render::Detail::Full
        } else {
            render::Detail::Fit(fitting_lines())
        };
        let t = std::time::Instant::now();
        let text = render::human_with(&planned.plan, &planned.desired, &planned.live, detail);
        nshost::trace::phase("render", t);
        text
    }
}

/// Which machine this is, for a lab spread over several (`sites`).
#[derive(Args, Debug)]
pub struct SiteArg {
    /// The site (machine) this is, for a lab with `sites`: only what is placed on it
    /// (its nodes, and its ends of the networks stretched to other sites) is reconciled.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,
}

impl SiteArg {
    /// The lab file, loaded and narrowed to this site.
    pub fn load(
        &self,
        file: &std::path::Path,
    ) -> Result<nshost::workflow::Loaded, nshost::workflow::Error> {
        nshost::workflow::load_site(file, self.site.as_deref())
    }

    /// [`SiteArg::load`] of lab text already read.
    pub fn load_source(
        &self,
        source: nshost::topology::SourceFile,
    ) -> Result<nshost::workflow::Loaded, nshost::workflow::Error> {
        nshost::workflow::load_site_source(source, self.site.as_deref())
    }

    /// [`SiteArg::load`] without reading the nodes' source files (for `destroy`).
    pub fn load_unread(
        &self,
        file: &std::path::Path,
    ) -> Result<nshost::workflow::Loaded, nshost::workflow::Error> {
        nshost::workflow::load_site_unread(file, self.site.as_deref())
    }
}

/// How long to wait for the lab's lock.
#[derive(Args, Debug)]
pub struct LockWait {
    /// Seconds to wait for another nshost on the same lab (an apply or a destroy; plans
    /// wait only for those).
    #[arg(
        long,
        default_value = "30",
        value_name = "SECONDS",
        value_parser = seconds,
        allow_negative_numbers = true
    )]
    pub lock_timeout: Duration,
}

/// Prints a report as one JSON document on stdout (see [`print_json`]).
pub fn print_report(report: &impl serde::Serialize) {
    print_json(serde_json::to_value(report).expect("a report serializes"));
}

/// Prints one JSON document on stdout, with `format_version` as its first field.
pub fn print_json(value: serde_json::Value) {
    let value = match value {
        serde_json::Value::Object(fields) => {
            let mut doc = serde_json::Map::new();
            doc.insert("format_version".into(), FORMAT_VERSION.into());
            doc.extend(fields);
            serde_json::Value::Object(doc)
        }
        other => other,
    };
    outln!(
        "{}",
        serde_json::to_string_pretty(&value).expect("JSON serializes")
    );
}

/// The lab's warnings (allowed, but probably not meant), on stderr unless `-q` or
/// JSON (whose report holds them: [`warning_reports`]); they never change the exit code.
pub fn warnings(loaded: &workflow::Loaded, global: &Global) {
    if !global.chatty() {
        return;
    }
    if let Some(w) = nshost::validate::Warnings::new(&loaded.source, &loaded.lab.warnings) {
        errln!("{:?}", miette::Report::new(w));
    }
}

/// The lab's warnings, for a JSON report.
pub fn warning_reports(loaded: &workflow::Loaded) -> Vec<ProblemReport> {
    ProblemReport::all(&loaded.lab.warnings)
}

/// Leaves `planned` to the process's exit, at the end of a command: freeing a big
/// lab's states one allocation at a time (hundreds of thousands at 10,000 hosts) costs
/// milliseconds for memory the kernel takes back at exit anyway.
pub fn leave(planned: workflow::Planned) {
    std::mem::forget(planned);
}

/// Entries under `/run/netns` that were skipped, one line each on stderr (unless `-q`
/// or JSON, whose report holds them: [`note_lines`]).
pub fn notes(planned: &workflow::Planned, global: &Global) {
    if global.chatty() {
        for note in note_lines(planned) {
            errln!("note: {note}");
        }
    }
}

/// The notes of [`notes`], as lines.
pub fn note_lines(planned: &workflow::Planned) -> Vec<String> {
    nshost::report::notes(planned)
}

/// A lab name from the command line, held to the same rule as one in a lab file: it
/// names the lab's lock file, so a name that is a path is a usage error.
pub fn lab_name(name: &str) -> Result<String, String> {
    match nshost::naming::lab_name_problem(name) {
        None => Ok(name.to_string()),
        Some(problem) => Err(match problem.help() {
            Some(help) => format!("{}; {help}", problem.message(name)),
            None => problem.message(name),
        }),
    }
}

/// A `--lock-timeout`: a finite, non-negative number of seconds (`0.5`, `30`, `1e3`).
/// A duration: seconds (`30`, `2.5`), or with a unit: `500ms`, `30s`, `2m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let secs = seconds(number).map_err(|e| format!("{e} (write `30`, `30s`, `2m` or `500ms`)"))?;
    Ok(secs.mul_f64(scale))
}

pub fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| "not a number of seconds".to_string())?;
    if secs.is_nan() || secs.is_infinite() {
        return Err("not a finite number of seconds".to_string());
    }
    if secs < 0.0 {
        return Err("a wait cannot be negative".to_string());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| "too long a wait".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeouts() {
        assert_eq!(seconds("30"), Ok(Duration::from_secs(30)));
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        assert_eq!(seconds("-0"), Ok(Duration::ZERO));
        assert_eq!(seconds("1e3"), Ok(Duration::from_secs(1000)));
        for bad in [
            "inf", "-inf", "infinity", "nan", "NaN", "-1", "-0.5", "1e20", "", "5s", " 5", "x",
        ] {
            assert!(seconds(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
