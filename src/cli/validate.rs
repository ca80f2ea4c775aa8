//! `nshost validate`: parse and check a lab file, touching no kernel state.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::report::ValidateReport;
use nshost::workflow::{self, Error};
use nshost::{out, outln};

use super::{Global, Output};

/// Parse and check a lab file, touching no kernel state.
#[derive(Args, Debug)]
#[command(after_help = VALIDATE_EXAMPLES)]
pub struct ValidateArgs {
    /// The lab file (YAML); `-` reads it from standard input.
    pub file: PathBuf,
    /// Print the lab with every inferred value written out (ranges, defaults, groups,
    /// links, subnets from pools, automatic addresses): a lab file that validates to
    /// the same plan.
    #[arg(long)]
    pub resolved: bool,
}

pub fn run(args: ValidateArgs, global: &Global) -> Result<ExitCode, Error> {
    let loaded = workflow::load(&args.file)?;
    super::warnings(&loaded, global);
    let report = ValidateReport {
        file: loaded.source.name.clone(),
        lab: loaded.lab.name.clone(),
        valid: true,
        namespaces: loaded.desired.namespaces.len(),
        objects: workflow::object_count(&loaded),
        warnings: super::warning_reports(&loaded),
        resolved: args
            .resolved
            .then(|| workflow::resolved_yaml(&loaded))
            .transpose()?,
    };
    match global.output {
        Output::Json => super::print_report(&report),
        Output::Human if report.resolved.is_some() => {
            out!("{}", report.resolved.as_deref().unwrap_or_default());
        }
        Output::Human => outln!(
            "{}: lab `{}` is valid ({} namespaces, {} objects)",
            report.file,
            report.lab,
            report.namespaces,
            report.objects
        ),
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The examples `nshost validate --help` shows (and its page in the book).
const VALIDATE_EXAMPLES: &str = "\
Examples:
  nshost validate lab.yaml
  nshost validate --resolved lab.yaml              # the lab with every inferred value written out
  cat lab.yaml | nshost validate - --output json   # from standard input, as JSON";
