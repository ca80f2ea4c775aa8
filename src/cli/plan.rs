//! `nshost plan`: what apply would change, the live kernel against the lab file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::out;
use nshost::plan::render;
use nshost::workflow::{self, Error};

use super::{EXIT_CHANGES, Global, LockWait, Output};

/// Show what apply would change: the live kernel against the lab file.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The lab file (YAML).
    pub file: PathBuf,
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
    pub lock: LockWait,
}

pub fn run(args: PlanArgs, global: &Global) -> Result<ExitCode, Error> {
    let loaded = workflow::load(&args.file)?;
    super::warnings(&loaded);
    // Shared: plans run side by side, but never see an apply half done.
    let _lock = workflow::lock_shared(&loaded.lab.name, args.lock.lock_timeout)?;
    let planned = workflow::plan_loaded(loaded)?;
    super::notes(&planned);
    let saved = match &args.out {
        Some(path) => Some(workflow::saved::save(&planned, path)?),
        None => None,
    };
    match global.output {
        Output::Human => {
            out!(
                "{}",
                render::human(&planned.plan, &planned.desired, &planned.live)
            );
            if args.diff && !planned.plan.changes.is_empty() {
                out!(
                    "\n{}",
                    render::state_diff(&planned.plan, &planned.desired, &planned.live)
                );
            }
        }
        Output::Json => {
            let mut doc = serde_json::json!({
                "plan": render::json(&planned.plan),
                "timings": planned.timings,
            });
            if let Some(saved) = &saved {
                doc["saved"] = serde_json::json!(saved);
            }
            super::print_json(doc)
        }
    }
    if let (Some(saved), Output::Human) = (&saved, global.output) {
        out!("\n{saved}");
    }
    let changed = !planned.plan.changes.is_empty();
    Ok(if args.detailed_exitcode && changed {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}
