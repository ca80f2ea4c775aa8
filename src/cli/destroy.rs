//! `nshost destroy`: remove every object the lab owns, and nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use nshost::out;
use nshost::workflow::{self, Error};

use super::{Global, LockWait};

/// Remove every object the lab owns, and nothing else.
// One of the file or --lab, and the usage line says so: `<FILE|--lab <LAB>>`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("lab_source").required(true).args(["file", "lab"])))]
#[command(after_help = DESTROY_EXAMPLES)]
pub struct DestroyArgs {
    /// The lab file (YAML; `-` reads it from standard input); or name the lab with --lab.
    pub file: Option<PathBuf>,
    /// The lab's name, when there is no file.
    #[arg(long, value_parser = super::lab_name)]
    pub lab: Option<String>,
    #[command(flatten)]
    pub site: super::SiteArg,
    #[command(flatten)]
    pub lock: LockWait,
    #[command(flatten)]
    pub view: super::PlanView,
}

pub fn run(args: DestroyArgs, global: &Global) -> Result<ExitCode, Error> {
    let mut warnings = Vec::new();
    let (lab, named) = match (args.file, args.lab) {
        (Some(file), _) => {
            // Each site's machine holds only its own part: destroying it there leaves
            // the other sites running. The nodes' source files are not read: a lab
            // whose `bird.conf` is gone is still destroyed.
            let loaded = args.site.load_unread(&file)?;
            warnings = super::warning_reports(&loaded);
            (loaded.lab.name, false)
        }
        (None, Some(lab)) => (lab, true),
        (None, None) => unreachable!("clap requires a file or --lab"),
    };
    let _lock = workflow::lock(&lab, args.lock.lock_timeout)?;
    let mut planned = workflow::plan_destroy(&lab, named)?;
    super::notes(&planned, global);
    if global.chatty() {
        out!("{}", args.view.text(&planned));
    }
    let applied = super::progress::apply(&mut planned, workflow::ApplyOptions::default(), global)?;
    super::apply::report(&planned, &applied, global, "Destroy", warnings, None);
    super::leave(planned);
    Ok(ExitCode::SUCCESS)
}

/// The examples `nshost destroy --help` shows (and its page in the book).
const DESTROY_EXAMPLES: &str = "\
Examples:
  nshost destroy lab.yaml
  nshost destroy --lab small               # without the file
  nshost destroy --site b two-sites.yaml   # only what is placed on this machine";
