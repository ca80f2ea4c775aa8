//! `nshost __serve --lab LAB` (hidden): the lab's services daemon, started by `apply`
//! (see `nshost::services`); not for people to run.

use std::process::ExitCode;

use clap::Args;
use nshost::workflow::Error;

use super::EXIT_ERROR;

/// Serve a lab's services (started by apply; not for direct use).
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The lab whose run directory says what to serve.
    #[arg(long, value_parser = super::lab_name)]
    pub lab: String,
}

pub fn run(args: ServeArgs) -> Result<ExitCode, Error> {
    match nshost::services::daemon::run(&args.lab) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // Already said on stdout, for the starter, and in the log by the caller's view.
        Err(e) => {
            nshost::errln!("nshost {}: {e}", nshost::services::control::SUBCOMMAND);
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}

/// Supervise a node's files and processes (started by apply; not for direct use).
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// The lab whose run directory holds the node's spec.
    #[arg(long, value_parser = super::lab_name)]
    pub lab: String,
    /// The node.
    #[arg(long)]
    pub node: String,
}

pub fn run_node(args: NodeArgs) -> Result<ExitCode, Error> {
    match nshost::workload::supervisor::run(&args.lab, &args.node) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            nshost::errln!("nshost {}: {e}", nshost::workload::supervisor::SUBCOMMAND);
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}
