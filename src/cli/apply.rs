//! `nshost apply`: make the kernel match the lab file, then verify that it does; and
//! the report of an apply or a destroy.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::plan::{Plan, render};
use nshost::workflow::{self, Error};
use nshost::{out, outln};

use super::{Global, LockWait, Output};

/// Make the kernel match the lab file, then verify that it does.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The lab file (YAML), or a plan saved by `nshost plan -o`.
    pub file: PathBuf,
    #[command(flatten)]
    pub lock: LockWait,
    /// Keep what was done when the apply fails, instead of undoing it.
    #[arg(long)]
    pub no_rollback: bool,
}

pub fn run(args: ApplyArgs, global: &Global) -> Result<ExitCode, Error> {
    if workflow::saved::is_saved_plan(&args.file) {
        return run_saved(args, global);
    }
    let loaded = workflow::load(&args.file)?;
    super::warnings(&loaded);
    let _lock = workflow::lock(&loaded.lab.name, args.lock.lock_timeout)?;
    let mut planned = workflow::plan_loaded(loaded)?;
    super::notes(&planned);
    if global.output == Output::Human {
        out!(
            "{}",
            render::human(&planned.plan, &planned.desired, &planned.live)
        );
    }
    let opts = workflow::ApplyOptions {
        rollback: !args.no_rollback,
    };
    let applied = workflow::apply(&mut planned, opts)?;
    report(&planned.plan, &applied, global.output, "Apply");
    Ok(ExitCode::SUCCESS)
}

/// `apply FILE.plan`: exactly the saved plan, if the kernel still holds what it was
/// made against.
fn run_saved(args: ApplyArgs, global: &Global) -> Result<ExitCode, Error> {
    let saved = workflow::saved::read(&args.file)?;
    let _lock = workflow::lock(saved.lab(), args.lock.lock_timeout)?;
    let mut planned = workflow::saved::recheck(saved)?;
    super::notes(&planned);
    if global.output == Output::Human {
        out!(
            "{}",
            render::human(&planned.plan, &planned.desired, &planned.live)
        );
    }
    let opts = workflow::ApplyOptions {
        rollback: !args.no_rollback,
    };
    let applied = workflow::apply(&mut planned, opts)?;
    report(&planned.plan, &applied, global.output, "Apply");
    Ok(ExitCode::SUCCESS)
}

/// The closing report of an apply or a destroy (`verb`).
pub fn report(plan: &Plan, applied: &workflow::Applied, output: Output, verb: &str) {
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
        Output::Json => super::print_json(serde_json::json!({
            "plan": render::json(plan),
            "applied": applied,
        })),
    }
}
