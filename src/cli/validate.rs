//! `nshost validate`: parse and check a lab file, touching no kernel state.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::outln;
use nshost::workflow::{self, Error};

/// Parse and check a lab file, touching no kernel state.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The lab file (YAML).
    pub file: PathBuf,
}

pub fn run(args: ValidateArgs) -> Result<ExitCode, Error> {
    let loaded = workflow::load(&args.file)?;
    super::warnings(&loaded);
    outln!(
        "{}: lab `{}` is valid ({} namespaces, {} objects)",
        args.file.display(),
        loaded.lab.name,
        loaded.desired.namespaces.len(),
        loaded.desired.object_count()
    );
    Ok(ExitCode::SUCCESS)
}
