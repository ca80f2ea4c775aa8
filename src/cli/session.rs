//! `nshost session [--sandbox]`: a long-lived nshost driven with JSON lines on its
//! standard input and output (the Rust API and the Python package use it).

use std::process::ExitCode;

use clap::Args;
use nshost::session;

use super::Global;
use crate::cli::EXIT_ERROR;

/// Serve requests (JSON lines) on standard input and output, for programs that drive
/// nshost: the Rust API, the Python package, any language
///
/// The protocol is in the book ("The session protocol"). At the end of input, or on a
/// `shutdown` request, every lab the session applied is destroyed.
#[derive(Args, Debug)]
#[command(after_help = SESSION_EXAMPLES)]
pub struct SessionArgs {
    /// Everything in a throwaway sandbox of the session's own (a user, network, mount
    /// and pid namespace): any user, nothing outside it touched, nothing left when the
    /// session ends, even by `kill -9`.
    #[arg(long)]
    pub sandbox: bool,
    /// The sandbox's first process, started by `--sandbox` (the pid its client sees).
    #[arg(long, hide = true, value_name = "PID")]
    pub sandbox_inner: Option<u32>,
}

pub fn run(args: SessionArgs, _global: &Global) -> Result<ExitCode, nshost::workflow::Error> {
    let options = match args.sandbox_inner {
        Some(pid) => {
            nshost::sandbox::mount_proc()?;
            session::Options { sandbox: true, pid }
        }
        None if args.sandbox => {
            let me = std::process::id().to_string();
            let code = nshost::sandbox::run_in_pid_namespace(&[
                "session".into(),
                "--sandbox-inner".into(),
                me.into(),
            ])?;
            return Ok(ExitCode::from(code));
        }
        None => session::Options {
            sandbox: false,
            pid: std::process::id(),
        },
    };
    Ok(match session::serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(EXIT_ERROR),
    })
}

/// The examples `nshost session --help` shows (and its page in the book).
const SESSION_EXAMPLES: &str = "\
Examples:
  nshost session --sandbox    # any user; then one JSON request a line:
  {\"id\":1,\"op\":\"apply\",\"file\":\"topologies/small.yaml\"}
  {\"id\":2,\"op\":\"exec\",\"node\":\"web1\",\"argv\":[\"ip\",\"-br\",\"addr\"]}
  {\"id\":3,\"op\":\"shutdown\"}";
