//! The `nshost` command line: a thin layer over the library's workflow, with one
//! printer for human and JSON output ([`nshost::output`]) and exit codes scripts can
//! rely on:
//!
//! - **0**: success; for `plan --detailed-exitcode`, success and no changes.
//! - **1**: an error, reported on stderr: a lab file that cannot be read or is invalid,
//!   a conflict with objects nshost does not own, a busy or unusable lock, a failed or
//!   unverified apply or destroy, a setuid start, a bug. `plan --detailed-exitcode`
//!   exits 1 on an error too.
//! - **2**: a usage error (an unknown command or option, a missing file, a bad `--lab` or
//!   `--lock-timeout`), reported by clap before anything runs; and for
//!   `plan --detailed-exitcode`, a plan with changes.
//!
//! Output nobody reads (a closed pipe) changes none of these: the command runs to its
//! end either way.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use nshost::plan::{Plan, render};
use nshost::workflow::{self, Error};
use nshost::{errln, out, outln};

/// Network labs of Linux namespaces: described in YAML, planned against the live
/// kernel, applied in batched netlink.
#[derive(Parser, Debug)]
#[command(name = "nshost", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check a lab file, touching no kernel state.
    Validate {
        /// The lab file (YAML).
        file: PathBuf,
    },
    /// Show what apply would change: the live kernel against the lab file.
    Plan {
        /// The lab file (YAML).
        file: PathBuf,
        /// Also print a unified diff of each changed namespace, live against desired.
        #[arg(long)]
        diff: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Human)]
        output: Output,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        #[command(flatten)]
        lock: LockWait,
    },
    /// Make the kernel match the lab file, then verify that it does.
    Apply {
        /// The lab file (YAML).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Human)]
        output: Output,
        #[command(flatten)]
        lock: LockWait,
        /// Keep what was done when the apply fails, instead of undoing it.
        #[arg(long)]
        no_rollback: bool,
    },
    /// Remove every object the lab owns, and nothing else.
    // One of the file or --lab, and the usage line says so: `<FILE|--lab <LAB>>`.
    #[command(group(ArgGroup::new("lab_source").required(true).args(["file", "lab"])))]
    Destroy {
        /// The lab file (YAML); or name the lab with --lab.
        file: Option<PathBuf>,
        /// The lab's name, when there is no file.
        #[arg(long, value_parser = lab_name)]
        lab: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Human)]
        output: Output,
        #[command(flatten)]
        lock: LockWait,
    },
    /// Print the JSON Schema of the lab file format.
    Schema,
}

/// How long to wait for the lab's lock.
#[derive(Args, Debug)]
struct LockWait {
    /// Seconds to wait for another nshost on the same lab (an apply or a destroy; plans
    /// wait only for those).
    #[arg(
        long,
        default_value = "30",
        value_name = "SECONDS",
        value_parser = seconds,
        allow_negative_numbers = true
    )]
    lock_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Human,
    Json,
}

/// Exit code of an error (see the module docs).
const EXIT_ERROR: u8 = 1;
/// Exit code of `plan --detailed-exitcode` when there are changes.
const EXIT_CHANGES: u8 = 2;

fn main() -> ExitCode {
    // First, before anything reads the environment (clap, miette, NSHOST_*).
    if let Err(err) = nshost::process::start() {
        errln!("{:?}", miette::Report::new(err));
        return ExitCode::from(EXIT_ERROR);
    }
    let started = std::time::Instant::now();
    // Usage errors exit 2 here, --help and --version 0.
    let cli = Cli::parse();
    // A panic is a bug, and still an error: 1, not the runtime's 101 (the panic hook
    // has printed where it happened).
    let result = std::panic::catch_unwind(|| run(cli.command));
    nshost::trace::phase("command", started);
    match result {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            errln!("{:?}", miette::Report::new(err));
            ExitCode::from(EXIT_ERROR)
        }
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}

fn run(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Validate { file } => {
            let loaded = workflow::load(&file)?;
            warnings(&loaded);
            outln!(
                "{}: lab `{}` is valid ({} namespaces, {} objects)",
                file.display(),
                loaded.lab.name,
                loaded.desired.namespaces.len(),
                loaded.desired.object_count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan {
            file,
            diff,
            output,
            detailed_exitcode,
            lock: LockWait { lock_timeout },
        } => {
            let loaded = workflow::load(&file)?;
            warnings(&loaded);
            // Shared: plans run side by side, but never see an apply half done.
            let _lock = workflow::lock_shared(&loaded.lab.name, lock_timeout)?;
            let planned = workflow::plan_loaded(loaded)?;
            notes(&planned);
            match output {
                Output::Human => {
                    out!(
                        "{}",
                        render::human(&planned.plan, &planned.desired, &planned.live)
                    );
                    if diff && !planned.plan.changes.is_empty() {
                        out!(
                            "\n{}",
                            render::state_diff(&planned.plan, &planned.desired, &planned.live)
                        );
                    }
                }
                Output::Json => print_json(&serde_json::json!({
                    "plan": render::json(&planned.plan),
                    "timings": planned.timings,
                })),
            }
            let changed = !planned.plan.changes.is_empty();
            Ok(if detailed_exitcode && changed {
                ExitCode::from(EXIT_CHANGES)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Apply {
            file,
            output,
            lock: LockWait { lock_timeout },
            no_rollback,
        } => {
            let loaded = workflow::load(&file)?;
            warnings(&loaded);
            let _lock = workflow::lock(&loaded.lab.name, lock_timeout)?;
            let mut planned = workflow::plan_loaded(loaded)?;
            notes(&planned);
            if output == Output::Human {
                out!(
                    "{}",
                    render::human(&planned.plan, &planned.desired, &planned.live)
                );
            }
            let opts = workflow::ApplyOptions {
                rollback: !no_rollback,
            };
            let applied = workflow::apply(&mut planned, opts)?;
            report_applied(&planned.plan, &applied, output, "Apply");
            Ok(ExitCode::SUCCESS)
        }
        Command::Destroy {
            file,
            lab,
            output,
            lock: LockWait { lock_timeout },
        } => {
            let (lab, named) = match (file, lab) {
                (Some(file), _) => (workflow::load(&file)?.lab.name, false),
                (None, Some(lab)) => (lab, true),
                (None, None) => unreachable!("clap requires a file or --lab"),
            };
            let _lock = workflow::lock(&lab, lock_timeout)?;
            let mut planned = workflow::plan_destroy(&lab, named)?;
            notes(&planned);
            if output == Output::Human {
                out!(
                    "{}",
                    render::human(&planned.plan, &planned.desired, &planned.live)
                );
            }
            let applied = workflow::apply(&mut planned, workflow::ApplyOptions::default())?;
            report_applied(&planned.plan, &applied, output, "Destroy");
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            print_json(&nshost::topology::json_schema());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The lab's warnings (allowed, but probably not meant), on stderr; they never change
/// the exit code.
fn warnings(loaded: &workflow::Loaded) {
    if let Some(w) = nshost::validate::Warnings::new(&loaded.source, &loaded.lab.warnings) {
        errln!("{:?}", miette::Report::new(w));
    }
}

/// Entries under `/run/netns` that were skipped, one line each on stderr.
fn notes(planned: &workflow::Planned) {
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
fn lab_name(name: &str) -> Result<String, String> {
    match nshost::naming::lab_name_problem(name) {
        None => Ok(name.to_string()),
        Some(problem) => Err(match problem.help() {
            Some(help) => format!("{}; {help}", problem.message(name)),
            None => problem.message(name),
        }),
    }
}

/// A `--lock-timeout`: a finite, non-negative number of seconds (`0.5`, `30`, `1e3`).
fn seconds(text: &str) -> Result<Duration, String> {
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

fn print_json(value: &serde_json::Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON serializes")
    );
}

fn report_applied(plan: &Plan, applied: &workflow::Applied, output: Output, verb: &str) {
    match output {
        Output::Human => {
            let summary = render::Summary::of(plan);
            outln!(
                "\n{verb} complete! Resources: {} added, {} changed, {} destroyed. \
                 ({:.0} ms, {} netlink requests)",
                summary.add,
                summary.change,
                summary.destroy,
                applied.timings.apply_ms + applied.timings.verify_ms,
                applied.stats.netlink_requests,
            );
        }
        Output::Json => print_json(&serde_json::json!({
            "plan": render::json(plan),
            "applied": applied,
        })),
    }
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
