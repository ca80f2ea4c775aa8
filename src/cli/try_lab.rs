//! `nshost try`: build a lab in a throwaway sandbox (a user + network + mount
//! namespace of this process's own), show it, run its checks, and tear it down; or
//! open a shell in the sandbox with the lab up. Needs no root, only user namespaces.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use nshost::check;
use nshost::report::TryReport;
use nshost::status::{self, Target};
use nshost::topology::SourceFile;
use nshost::workflow::{self, Error};
use nshost::{errln, out, outln};

use super::{Global, Output};

/// The lab `try` builds when it is given no file: `topologies/small.yaml`.
const DEFAULT_LAB: &str = include_str!("../../topologies/small.yaml");
/// The name the default lab's problems and locations are reported under.
const DEFAULT_LAB_NAME: &str = "small.yaml (built in)";

/// Build a lab in a throwaway sandbox, as any user: show, check, tear down
///
/// Exits 0 only if every check of the lab passed.
#[derive(Args, Debug)]
#[command(after_help = TRY_EXAMPLES)]
pub struct TryArgs {
    /// The lab file (YAML); without one, a small lab built into nshost
    /// (topologies/small.yaml).
    pub file: Option<PathBuf>,
    /// Instead of the checks, open a shell in the sandbox with the lab up (nshost
    /// status, nshost exec and ip netns exec work there); the lab vanishes when the
    /// shell exits.
    #[arg(long)]
    pub shell: bool,
    /// How the checks run. A lab whose nodes run processes (`run:`, e.g. routing
    /// daemons) gets `--wait 60s` unless told otherwise: its routes come when its
    /// daemons have converged.
    #[command(flatten)]
    pub tuning: super::check::Tuning,
}

/// How long `try` waits for a lab with processes to converge, unless told.
const DAEMONS_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

pub fn run(args: TryArgs, global: &Global) -> Result<ExitCode, Error> {
    let source = match &args.file {
        Some(path) => SourceFile::read(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?,
        None => SourceFile::from_text(DEFAULT_LAB_NAME, DEFAULT_LAB),
    };
    // An invalid lab is reported before any sandbox is made.
    let loaded = workflow::load_source(source)?;
    super::warnings(&loaded, global);
    let lab = loaded.lab.name.clone();
    let for_status = loaded.clone();
    let suite = check::Suite::of(&loaded.lab);
    let mut options = args.tuning.options();
    if options.wait.is_none()
        && loaded
            .lab
            .nodes
            .values()
            .any(|n| !n.workload.run.is_empty())
    {
        options.wait = Some(DAEMONS_WAIT);
    }
    nshost::sandbox::enter()?;
    let human = global.output == Output::Human;
    if global.chatty() {
        outln!(
            "Building lab `{lab}` in a sandbox (a user, network and mount namespace of its \
             own; nothing outside it is touched)."
        );
    }
    let started = Instant::now();
    let built = workflow::plan_loaded(loaded).and_then(|mut planned| {
        let applied = workflow::apply(&mut planned, workflow::ApplyOptions::default())?;
        Ok((planned, applied))
    });
    let (planned, applied) = match built {
        Ok(built) => built,
        // For CI, a failed apply is a failed test case, its checks skipped.
        Err(err) if global.output == Output::Junit => {
            let apply = check::junit::step_case(
                &lab,
                "apply",
                started.elapsed().as_secs_f64(),
                Some(&err.body()),
            );
            out!("{}", check::junit::try_document(apply, None, &suite.checks));
            errln!("{:?}", miette::Report::new(err));
            return Ok(ExitCode::from(super::EXIT_ERROR));
        }
        Err(err) => return Err(err),
    };
    let apply_time = started.elapsed().as_secs_f64();
    if global.chatty() {
        let summary = nshost::plan::render::Summary::of(&planned.plan);
        outln!(
            "Lab `{lab}` is up: {} objects added in {:.0} ms.\n",
            summary.add,
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    let status = status::lab(Target::File(Box::new(for_status)))?;
    if global.chatty() {
        out!(
            "{}\n",
            status::render::lab(&status, status::render::View::Summary)
        );
    }
    let (code, checks) = if args.shell {
        (shell(&lab, global)?, None)
    } else {
        let checked = workflow::run_checks(&suite, &options)?;
        if global.chatty() {
            out!(
                "{}",
                check::report::human_within(&checked, super::fitting_lines())
            );
        } else if human {
            out!("{}", check::report::closing(&checked));
        }
        (super::check::exit_code(&checked), Some(checked))
    };
    // The sandbox would vanish with the process anyway; destroying it proves destroy.
    let mut teardown = workflow::plan_destroy(&lab, true)?;
    let destroyed = workflow::apply(&mut teardown, workflow::ApplyOptions::default())?;
    // And whatever else was started in the sandbox (a shell's background jobs): nothing
    // outlives it.
    let beside = nshost::kernel::procs::stop_beside_me("the sandbox");
    for (list, what) in [
        (&destroyed.stopped, "that ran in the lab's nodes"),
        (&beside, "still running in the sandbox"),
    ] {
        if human && !list.is_empty() {
            let names: Vec<String> = list.iter().map(ToString::to_string).collect();
            outln!(
                "Stopped {} process(es) {what}: {}",
                list.len(),
                names.join(", ")
            );
        }
    }
    if global.chatty() {
        outln!("\nLab `{lab}` torn down; the sandbox is gone with it.");
    } else if global.output == Output::Json {
        super::print_report(&TryReport {
            lab,
            applied,
            status,
            checks,
        });
    } else if global.output == Output::Junit {
        let apply = check::junit::step_case(&lab, "apply", apply_time, None);
        out!(
            "{}",
            check::junit::try_document(apply, checks.as_ref(), &suite.checks)
        );
    }
    Ok(code)
}

/// Runs the user's shell in the sandbox, with this nshost first on its `PATH`; its exit
/// status is `try`'s.
fn shell(lab: &str, global: &Global) -> Result<ExitCode, Error> {
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    let mut path = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .into_iter()
        .collect::<Vec<_>>();
    if let Some(old) = std::env::var_os("PATH") {
        path.extend(std::env::split_paths(&old));
    }
    if global.chatty() {
        outln!(
            "A shell in the sandbox: `nshost status --lab {lab}`, `nshost exec NODE -- CMD` and \
             `ip netns exec NODE CMD` work here. Exit the shell to tear the lab down."
        );
    }
    let status = std::process::Command::new(&shell)
        .env("PATH", std::env::join_paths(path).unwrap_or_default())
        .env("NSHOST_SANDBOX", lab)
        .status()
        .map_err(|source| Error::Spawn {
            program: shell.to_string_lossy().into_owned(),
            source,
        })?;
    if !status.success() {
        errln!("nshost: the shell exited with {status}");
    }
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

/// The examples `nshost try --help` shows (and its page in the book).
const TRY_EXAMPLES: &str = "\
Examples:
  nshost try                        # the bundled lab, topologies/small.yaml
  nshost try topologies/ospf.yaml   # build, converge, check, tear down
  nshost try lab.yaml --shell       # a shell in the sandbox, the lab up";
