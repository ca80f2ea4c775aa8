//! `nshost plan`: what apply would change, the live kernel against the lab file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::plan::render;
use nshost::report::{PlanJson, PlanReport};
use nshost::workflow::{self, Error};
use nshost::{out, outln};

use super::{EXIT_CHANGES, Global, LockWait, Output};

/// Show what apply would change: the live kernel against the lab file.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("lab_source").required(true).args(["file", "lab"])))]
#[command(after_help = PLAN_EXAMPLES)]
pub struct PlanArgs {
    /// The lab file (YAML); `-` reads it from standard input; or name the lab with --lab.
    pub file: Option<PathBuf>,
    /// The lab of this name, as the kernel has it, without its file: the plan is its
    /// removal, what `nshost destroy --lab NAME` would do.
    #[arg(long, value_parser = super::lab_name, conflicts_with_all = ["out", "site"])]
    pub lab: Option<String>,
    /// Also print a unified diff of each changed namespace, live against desired.
    #[arg(long)]
    pub diff: bool,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also save the plan to this file, pinned to the live objects it was made
    /// against: `nshost apply FILE` applies exactly it, or refuses if they changed.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub site: super::SiteArg,
    #[command(flatten)]
    pub lock: LockWait,
    #[command(flatten)]
    pub view: super::PlanView,
}

pub fn run(args: PlanArgs, global: &Global) -> Result<ExitCode, Error> {
    let (planned, warnings, _lock) = match (&args.file, &args.lab) {
        (Some(file), _) => {
            let source = workflow::read(file)?;
            // The kernel is read while the file is loaded, where it can be.
            let early = workflow::Early::start(&source, nshost::lock::LockMode::Shared);
            let loaded = args.site.load_source(source)?;
            super::warnings(&loaded, global);
            let warnings = super::warning_reports(&loaded);
            // Shared: plans run side by side, but never see an apply half done.
            let (lock, early) = match early.and_then(|e| e.take(&loaded.lab.name)) {
                Some((lock, read)) => (lock, Some(read)),
                None => (
                    workflow::lock_shared(&loaded.lab.name, args.lock.lock_timeout)?,
                    None,
                ),
            };
            (workflow::plan_loaded_early(loaded, early)?, warnings, lock)
        }
        (None, Some(lab)) => {
            let lock = workflow::lock_shared(lab, args.lock.lock_timeout)?;
            (workflow::plan_destroy(lab, true)?, Vec::new(), lock)
        }
        (None, None) => unreachable!("clap requires a file or --lab"),
    };
    super::notes(&planned, global);
    let saved = match &args.out {
        Some(path) => Some(workflow::saved::save(&planned, path)?),
        None => None,
    };
    match global.output {
        Output::Human if global.quiet => outln!("{}", render::Summary::of(&planned.plan)),
        Output::Human => {
            out!("{}", args.view.text(&planned));
            if args.diff && !planned.plan.changes.is_empty() {
                out!(
                    "\n{}",
                    render::state_diff(&planned.plan, &planned.desired, &planned.live)
                );
            }
        }
        Output::Json => super::print_report(&PlanReport {
            plan: PlanJson::of(&planned.plan),
            timings: planned.timings.clone(),
            warnings,
            notes: super::note_lines(&planned),
            saved: saved.clone(),
        }),
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    if let (Some(saved), Output::Human) = (&saved, global.output) {
        out!("\n{saved}");
    }
    let changed = !planned.plan.is_empty();
    super::leave(planned);
    Ok(if args.detailed_exitcode && changed {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// The examples `nshost plan --help` shows (and its page in the book).
const PLAN_EXAMPLES: &str = "\
Examples:
  nshost plan lab.yaml
  nshost plan lab.yaml -o lab.plan   # save it; `nshost apply lab.plan` applies exactly it
  nshost plan --lab small            # what destroying the lab would remove";
