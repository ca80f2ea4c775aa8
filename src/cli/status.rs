//! `nshost status`: every lab on the machine, or one lab node by node.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use nshost::status::{self, Target, render};
use nshost::workflow::{self, Error};
use nshost::{errln, out};

use super::{Global, LockWait, Output};

/// Show the labs on this machine, or one lab node by node.
///
/// With a lab file, each node is compared with it and the ones that differ are marked.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("lab_source").args(["file", "lab"])))]
#[command(after_help = STATUS_EXAMPLES)]
pub struct StatusArgs {
    /// A lab file (YAML): show that lab, and mark the nodes that differ from the file.
    pub file: Option<PathBuf>,
    /// Show the lab of this name, as the kernel has it.
    #[arg(long, value_parser = super::lab_name)]
    pub lab: Option<String>,
    /// What to show of one lab.
    #[arg(long, value_enum, default_value_t = Show::Summary)]
    pub show: Show,
    /// Only the nodes whose name matches this glob (`web*`, `?c[12]`); repeatable.
    #[arg(long, value_name = "GLOB", value_parser = glob_pattern)]
    pub limit: Vec<glob::Pattern>,
    #[command(flatten)]
    pub site: super::SiteArg,
    #[command(flatten)]
    pub lock: LockWait,
}

/// The views of one lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Show {
    /// One row per node and interface, with route and rule counts.
    Summary,
    Interfaces,
    Routes,
    Rules,
    /// Every view, and the networks.
    All,
}

fn glob_pattern(text: &str) -> Result<glob::Pattern, String> {
    glob::Pattern::new(text).map_err(|e| e.to_string())
}

pub fn run(args: StatusArgs, global: &Global) -> Result<ExitCode, Error> {
    let target = match (args.file, args.lab) {
        (Some(file), _) => {
            let loaded = args.site.load(&file)?;
            super::warnings(&loaded, global);
            Target::File(Box::new(loaded))
        }
        (None, Some(lab)) => Target::Name(lab),
        (None, None) => {
            if (!args.limit.is_empty() || args.show != Show::Summary) && global.chatty() {
                errln!("note: --show and --limit are for one lab (a FILE or --lab NAME)");
            }
            return machine(global);
        }
    };
    // Shared, as for a plan: never an apply half done.
    let _lock = workflow::lock_shared(target.lab(), args.lock.lock_timeout)?;
    let mut report = status::lab(target)?;
    report.limit(&args.limit);
    match global.output {
        Output::Human if global.quiet => out!("{}", render::header(&report)),
        Output::Human => out!("{}", render::lab(&report, view(args.show))),
        Output::Json => super::print_report(&nshost::report::LabStatusReport { status: report }),
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn machine(global: &Global) -> Result<ExitCode, Error> {
    let report = status::labs()?;
    for s in report.skipped.iter().filter(|_| global.chatty()) {
        errln!(
            "note: skipped {}/{}: it is {}, not a namespace",
            nshost::kernel::netns::run_dir().display(),
            s.name,
            s.what
        );
    }
    match global.output {
        Output::Human if global.quiet => out!("{}", render::machine_quiet(&report)),
        Output::Human => out!("{}", render::machine(&report)),
        Output::Json => {
            super::print_report(&nshost::report::MachineStatusReport { status: report })
        }
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn view(show: Show) -> render::View {
    match show {
        Show::Summary => render::View::Summary,
        Show::Interfaces => render::View::Interfaces,
        Show::Routes => render::View::Routes,
        Show::Rules => render::View::Rules,
        Show::All => render::View::All,
    }
}

/// The examples `nshost status --help` shows (and its page in the book).
const STATUS_EXAMPLES: &str = "\
Examples:
  nshost status                                           # every lab on this machine
  nshost status topologies/small.yaml                     # one lab, node by node, with its drift
  nshost status --lab small --show routes --limit 'pc*'";
