//! `nshost exec` and `nshost shell`: a command, or a shell, inside a node's namespace,
//! in place of nshost (its exit code is the command's).

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;
use nshost::errln;
use nshost::kernel::enter;
use nshost::status;

use crate::cli::Error;
use nshost::workflow;

use super::Global;

/// Run a command inside a node's network namespace, as `ip netns exec` does.
#[derive(Args, Debug)]
#[command(after_help = EXEC_EXAMPLES)]
pub struct ExecArgs {
    /// The node (a router or host name; its namespace's name works too).
    pub node: String,
    /// The node's lab, when several labs have a node of that name.
    #[arg(long, value_parser = super::lab_name)]
    pub lab: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// Open a shell ($SHELL, else /bin/sh) inside a node's network namespace.
#[derive(Args, Debug)]
#[command(after_help = SHELL_EXAMPLES)]
pub struct ShellArgs {
    /// The node (a router or host name; its namespace's name works too).
    pub node: String,
    /// The node's lab, when several labs have a node of that name.
    #[arg(long, value_parser = super::lab_name)]
    pub lab: Option<String>,
}

pub fn run(args: ExecArgs, global: &Global) -> Result<ExitCode, Error> {
    let located = status::locate(&args.node, args.lab.as_deref())?;
    into(&located, &args.command, global)
}

pub fn run_shell(args: ShellArgs, global: &Global) -> Result<ExitCode, Error> {
    let located = status::locate(&args.node, args.lab.as_deref())?;
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    // SAFETY: nshost has one thread here (`enter_for_good` checks it again), so nothing
    // reads the environment while it changes.
    unsafe {
        std::env::set_var("NSHOST_NODE", &located.node);
        std::env::set_var("NSHOST_LAB", &located.lab);
        // A hint for shells that take the prompt from the environment (sh, dash); a
        // shell's rc file may set its own.
        std::env::set_var("PS1", format!("[{}] \\$ ", located.node));
    }
    into(&located, &[shell], global)
}

/// Enters the node's namespace and executes `command`; returns only if that failed.
/// Its notes are left out with `-q`; `--output json` is refused before this (what
/// the command prints is its own).
fn into(
    located: &status::Located,
    command: &[OsString],
    global: &Global,
) -> Result<ExitCode, Error> {
    // A node with files or processes has a supervisor: the command runs in its mount
    // and pid namespaces too (its /run, its files; stopped when the lab goes).
    if let Some(pid) = nshost::workload::control::find(&located.lab, &located.node) {
        match enter::enter_supervised(&located.ns, pid).map_err(workflow::Error::from)? {
            enter::Entered::Exited(code) => return Ok(ExitCode::from(code)),
            enter::Entered::Child => {}
        }
    } else {
        for note in enter::enter_for_good(&located.ns).map_err(workflow::Error::from)? {
            if !global.quiet {
                errln!("note: {note}");
            }
        }
    }
    nshost::process::restore_limits();
    let err = enter::exec(&command[0], command);
    let code = err.exit_code();
    errln!("{:?}", miette::Report::new(err));
    Ok(ExitCode::from(code))
}

/// The examples `nshost exec --help` shows (and its page in the book).
const EXEC_EXAMPLES: &str = "\
Examples:
  nshost exec web1 -- ip -br addr
  nshost exec hq-gw --lab small -- ping -c1 10.2.2.10   # a node of one of several labs
  nshost exec r1 -- birdc show ospf neighbors";

/// The examples `nshost shell --help` shows (and its page in the book).
const SHELL_EXAMPLES: &str = "\
Examples:
  nshost shell web1
  nshost shell r1 --lab ospf";
