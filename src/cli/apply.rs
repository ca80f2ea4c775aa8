//! `nshost apply`: make the kernel match the lab file, then verify that it does; and
//! the report of an apply or a destroy.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::check;
use nshost::plan::{Plan, render};
use nshost::workflow::{self, Error};
use nshost::{out, outln};

use super::{Global, LockWait, Output};

/// Make the kernel match the lab file, then verify that it does.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// The lab file (YAML).
    pub file: PathBuf,
    #[command(flatten)]
    pub lock: LockWait,
    /// Keep what was done when the apply fails, instead of undoing it.
    #[arg(long)]
    pub no_rollback: bool,
    /// Then run the lab's reachability checks (as `nshost check` does), and exit 1 if
    /// an expectation does not hold.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: ApplyArgs, global: &Global) -> Result<ExitCode, Error> {
    let loaded = workflow::load(&args.file)?;
    super::warnings(&loaded);
    let suite = args.check.then(|| check::Suite::of(&loaded.lab));
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
    let Some(suite) = suite else {
        report(&planned.plan, &applied, global.output, "Apply");
        return Ok(ExitCode::SUCCESS);
    };
    if global.output == Output::Human {
        report(&planned.plan, &applied, global.output, "Apply");
        outln!("");
    }
    // Still under the lab's lock: the checks see the lab as applied.
    let checked = check::run_suite(&suite, &check::Options::default())?;
    match global.output {
        Output::Human => out!("{}", check::report::human(&checked)),
        Output::Json => super::print_json(serde_json::json!({
            "plan": render::json(&planned.plan),
            "applied": applied,
            "checks": checked,
        })),
    }
    Ok(super::check::exit_code(&checked))
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
