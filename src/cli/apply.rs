//! `nshost apply`: make the kernel match the lab file, then verify that it does; and
//! the report of an apply or a destroy.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::check;
use nshost::plan::render;
use nshost::report::{ApplyReport, PlanJson, ProblemReport};
use nshost::workflow::{self, Error};
use nshost::{errln, out, outln};

use super::{Global, LockWait, Output};

/// Make the kernel match the lab file, then verify that it does.
#[derive(Args, Debug)]
#[command(after_help = APPLY_EXAMPLES)]
pub struct ApplyArgs {
    /// The lab file (YAML; `-` reads it from standard input), or a plan saved by
    /// `nshost plan -o`, applied only if the kernel still holds what it was made
    /// against.
    ///
    /// A plan is as trusted as the person who hands it to you: its checksum catches
    /// accidents, not edits. Whatever it says, it acts only on namespaces marked as its
    /// lab's and on those it creates, under names a lab file could hold.
    pub file: PathBuf,
    #[command(flatten)]
    pub site: super::SiteArg,
    #[command(flatten)]
    pub lock: LockWait,
    /// Keep what was done when the apply fails, instead of undoing it.
    #[arg(long)]
    pub no_rollback: bool,
    #[command(flatten)]
    pub view: super::PlanView,
    /// Then run the lab's reachability checks (as `nshost check` does), and exit 1 if
    /// an expectation does not hold.
    #[arg(long)]
    pub check: bool,
    /// With --check: retry the failing checks until every expectation holds, for at
    /// most this long (`30s`, `2m`), as `check --wait` does.
    #[arg(long, value_name = "DURATION", requires = "check", value_parser = super::duration)]
    pub wait: Option<std::time::Duration>,
}

pub fn run(args: ApplyArgs, global: &Global) -> Result<ExitCode, Error> {
    if workflow::saved::is_saved_plan(&args.file) {
        return run_saved(args, global);
    }
    let source = workflow::read(&args.file)?;
    // The kernel is read while the file is loaded, where it can be.
    let early = workflow::Early::start(&source, nshost::lock::LockMode::Exclusive);
    let loaded = args.site.load_source(source)?;
    super::warnings(&loaded, global);
    // The kernel's limit a big segment runs into: said before the apply, not after.
    if let Some(warning) = check::broadcast::warning(&loaded.lab).filter(|_| global.chatty()) {
        errln!("warning: {warning}");
    }
    let warnings = super::warning_reports(&loaded);
    let suite = args
        .check
        .then(|| nshost::sites::suite_here(&loaded.lab, check::Suite::of(&loaded.lab)));
    let (_lock, early) = match early.and_then(|e| e.take(&loaded.lab.name)) {
        Some((lock, read)) => (lock, Some(read)),
        None => (
            workflow::lock(&loaded.lab.name, args.lock.lock_timeout)?,
            None,
        ),
    };
    let mut planned = workflow::plan_loaded_early(loaded, early)?;
    let applied = carry_out(&mut planned, &args, global)?;
    let Some(suite) = suite else {
        report(&planned, &applied, global, "Apply", warnings, None);
        super::leave(planned);
        return Ok(ExitCode::SUCCESS);
    };
    if global.output == Output::Human {
        report(&planned, &applied, global, "Apply", Vec::new(), None);
        if !global.quiet {
            outln!("");
        }
    }
    // Still under the lab's lock: the checks see the lab as applied.
    if let Some(warning) = check::neighbour_warning(&suite).filter(|_| global.chatty()) {
        errln!("warning: {warning}");
    }
    let options = check::Options {
        wait: args.wait,
        ..check::Options::default()
    };
    let checked = workflow::run_checks(&suite, &options)?;
    let code = super::check::exit_code(&checked);
    match global.output {
        Output::Human if global.quiet => out!("{}", check::report::closing(&checked)),
        Output::Human => out!(
            "{}",
            check::report::human_within(&checked, args.view.lines())
        ),
        Output::Json => report(&planned, &applied, global, "Apply", warnings, Some(checked)),
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    Ok(code)
}

/// Shows the plan (as the options ask) and carries it out, transactionally.
fn carry_out(
    planned: &mut workflow::Planned,
    args: &ApplyArgs,
    global: &Global,
) -> Result<workflow::Applied, Error> {
    super::notes(planned, global);
    if global.chatty() {
        out!("{}", args.view.text(planned));
    }
    let opts = workflow::ApplyOptions {
        rollback: !args.no_rollback,
        ..Default::default()
    };
    super::progress::apply(planned, opts, global)
}

/// `apply FILE.plan`: exactly the saved plan, if the kernel still holds what it was
/// made against.
fn run_saved(args: ApplyArgs, global: &Global) -> Result<ExitCode, Error> {
    let saved = workflow::saved::read(&args.file)?;
    let _lock = workflow::lock(saved.lab(), args.lock.lock_timeout)?;
    let mut planned = workflow::saved::recheck(saved)?;
    let applied = carry_out(&mut planned, &args, global)?;
    report(&planned, &applied, global, "Apply", Vec::new(), None);
    Ok(ExitCode::SUCCESS)
}

/// The closing report of an apply or a destroy (`verb`).
pub fn report(
    planned: &workflow::Planned,
    applied: &workflow::Applied,
    global: &Global,
    verb: &str,
    warnings: Vec<ProblemReport>,
    checks: Option<check::report::Report>,
) {
    let plan = &planned.plan;
    match global.output {
        Output::Human => {
            let summary = render::Summary::of(plan);
            outln!(
                "{}{verb} complete! Resources: {} added, {} changed, {} destroyed. \
                 ({:.0} ms, {} netlink requests)",
                if global.quiet { "" } else { "\n" },
                summary.add,
                summary.change,
                summary.destroy,
                applied.timings.apply_ms + applied.timings.verify_ms,
                applied.stats.netlink_requests,
            );
            if !applied.stopped.is_empty() {
                let names: Vec<String> = applied.stopped.iter().map(ToString::to_string).collect();
                outln!(
                    "Stopped {} process(es) that ran in the lab's deleted namespaces: {}",
                    applied.stopped.len(),
                    names.join(", ")
                );
            }
            if !applied.links_not_up.is_empty() {
                errln!(
                    "warning: the kernel has not turned on the carrier of {} link(s) yet \
                     (they drop frames until it does): {}",
                    applied.links_not_up.len(),
                    applied.links_not_up.join(", ")
                );
            }
        }
        Output::Json => super::print_report(&ApplyReport {
            plan: PlanJson::of(plan),
            applied: applied.clone(),
            warnings,
            notes: super::note_lines(planned),
            checks,
        }),
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
}

/// The examples `nshost apply --help` shows (and its page in the book).
const APPLY_EXAMPLES: &str = "\
Examples:
  nshost apply lab.yaml
  nshost apply --check --wait 30s topologies/ospf.yaml   # then the checks, until they hold
  nshost apply lab.plan                                  # exactly a saved plan, or nothing";
