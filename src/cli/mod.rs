//! What every command of the command line shares: the output format, the lock wait,
//! argument parsers, the JSON printer and the exit codes.

pub mod apply;
pub mod check;
pub mod destroy;
pub mod plan;
pub mod schema;
pub mod validate;

use std::time::Duration;

use clap::{Args, ValueEnum};
use nshost::workflow;
use nshost::{errln, outln};

/// Exit code of an error (see the binary's docs).
pub const EXIT_ERROR: u8 = 1;
/// Exit code of `plan --detailed-exitcode` when there are changes.
pub const EXIT_CHANGES: u8 = 2;

/// The version of every JSON document the command line prints: bumped when a field is
/// removed or changes meaning (adding fields does not bump it).
pub const FORMAT_VERSION: u32 = 1;

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

/// The lab's warnings (allowed, but probably not meant), on stderr; they never change
/// the exit code.
pub fn warnings(loaded: &workflow::Loaded) {
    if let Some(w) = nshost::validate::Warnings::new(&loaded.source, &loaded.lab.warnings) {
        errln!("{:?}", miette::Report::new(w));
    }
}

/// Entries under `/run/netns` that were skipped, one line each on stderr.
pub fn notes(planned: &workflow::Planned) {
    for s in &planned.strays {
        errln!(
            "note: skipped {}/{}: it is {}, not a namespace",
            nshost::kernel::netns::run_dir().display(),
            s.name,
            s.what
        );
    }
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
