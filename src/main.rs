//! The `nshost` command line: a thin layer over the library's workflow, with one
//! printer for human and JSON output ([`nshost::output`]) and exit codes scripts can
//! rely on:
//!
//! - **0**: success; for `plan --detailed-exitcode`, success and no changes.
//! - **1**: an error, reported on stderr (with `--output json`, as a JSON document on
//!   stdout, and nothing on stderr): a lab file that cannot be read or is invalid,
//!   a conflict with objects nshost does not own, a busy or unusable lock, a failed or
//!   unverified apply or destroy, a setuid start, a bug; a reachability check whose
//!   expectation does not hold (`check`, `apply --check`, `try`). `plan --detailed-exitcode`
//!   exits 1 on an error too.
//! - **2**: a usage error (an unknown command or option, a missing file, a bad `--lab` or
//!   `--lock-timeout`, `--output json` on a command whose output is no report), reported
//!   by clap before anything runs; and for
//!   `plan --detailed-exitcode`, a plan with changes.
//! - `exec` and `shell` exit with their command's own code (nshost is replaced by it);
//!   127 when the command is not found, 126 when it cannot be run, as a shell does, and
//!   1 for a node that cannot be found or entered. `try --shell` exits with its shell's.
//!
//! Output nobody reads (a closed pipe) changes none of these: the command runs to its
//! end either way.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use cli::Error;
use nshost::errln;

use cli::EXIT_ERROR;

/// Network labs of Linux namespaces: described in YAML, planned against the live
/// kernel, applied in batched netlink.
#[derive(Parser, Debug)]
#[command(name = "nshost", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: cli::Global,
    #[command(subcommand)]
    command: Command,
}

// Each command's arguments and its run live in a file of `cli/` of their own.
#[derive(Subcommand, Debug)]
enum Command {
    Validate(cli::validate::ValidateArgs),
    Plan(cli::plan::PlanArgs),
    Apply(cli::apply::ApplyArgs),
    Destroy(cli::destroy::DestroyArgs),
    Watch(cli::watch::WatchArgs),
    Graph(cli::graph::GraphArgs),
    Status(cli::status::StatusArgs),
    Check(cli::check::CheckArgs),
    Import(cli::import::ImportArgs),
    Exec(cli::exec::ExecArgs),
    Shell(cli::exec::ShellArgs),
    Try(cli::try_lab::TryArgs),
    Schema(cli::schema::SchemaArgs),
    Completions(cli::generate::CompletionsArgs),
    Man(cli::generate::ManArgs),
    Logs(cli::logs::LogsArgs),
    Pool(cli::pool::PoolArgs),
    Session(cli::session::SessionArgs),
    #[command(name = "__serve", hide = true)]
    Serve(cli::serve::ServeArgs),
    #[command(name = "__node", hide = true)]
    Node(cli::serve::NodeArgs),
    /// List node or lab names for the shell completions.
    #[command(name = "__complete", hide = true)]
    Complete(cli::generate::CompleteArgs),
    /// Write the book's generated pages.
    #[command(name = "__docs", hide = true)]
    Docs(cli::docs::DocsArgs),
}

/// Why `--output json` is refused for `command`, as a usage error: what these print is
/// not a report (a command's own output, a shell, a script, a manual page).
fn refusal(command: &Command, global: &cli::Global) -> Option<(&'static str, &'static str)> {
    if global.output != cli::Output::Json {
        return None;
    }
    Some(match command {
        Command::Exec(_) => ("exec", "what it prints is the command's own"),
        Command::Logs(_) => ("logs", "what it prints is the processes' own"),
        Command::Session(_) => ("session", "it speaks its own protocol, JSON lines"),
        Command::Shell(_) => ("shell", "it opens an interactive shell"),
        Command::Try(args) if args.shell => ("try", "`--shell` opens an interactive shell"),
        Command::Completions(_) => ("completions", "it prints a shell script"),
        Command::Man(_) => ("man", "it prints manual pages, in roff"),
        Command::Complete(_) => ("__complete", "it prints names for a shell, one a line"),
        _ => return None,
    })
}

fn main() -> ExitCode {
    // First, before anything reads the environment (clap, miette, NSHOST_*).
    if let Err(err) = nshost::process::start() {
        errln!("{:?}", miette::Report::new(err));
        return ExitCode::from(EXIT_ERROR);
    }
    let started = std::time::Instant::now();
    // Usage errors exit 2 here, --help and --version 0.
    let cli = Cli::parse();
    if let Some((name, why)) = refusal(&cli.command, &cli.global) {
        let mut cmd = Cli::command();
        cmd.build();
        let sub = cmd.find_subcommand_mut(name).expect("a command of nshost");
        sub.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!("`--output json` is not for `nshost {name}`: {why}"),
        )
        .exit();
    }
    nshost::trace::init(cli.global.verbose);
    // A panic is a bug, and still an error: 1, not the runtime's 101 (the panic hook
    // has printed where it happened).
    let result = std::panic::catch_unwind(|| run(cli.command, &cli.global));
    nshost::trace::phase("command", started);
    match result {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            if cli.global.output == cli::Output::Json {
                cli::print_report(&err.report());
            } else {
                errln!("{:?}", miette::Report::new(err));
            }
            ExitCode::from(EXIT_ERROR)
        }
        Err(_) => ExitCode::from(EXIT_ERROR),
    }
}

fn run(command: Command, global: &cli::Global) -> Result<ExitCode, Error> {
    match command {
        Command::Validate(args) => Ok(cli::validate::run(args, global)?),
        Command::Plan(args) => Ok(cli::plan::run(args, global)?),
        Command::Apply(args) => Ok(cli::apply::run(args, global)?),
        Command::Destroy(args) => Ok(cli::destroy::run(args, global)?),
        Command::Watch(args) => Ok(cli::watch::run(args, global)?),
        Command::Graph(args) => Ok(cli::graph::run(args, global)?),
        Command::Status(args) => Ok(cli::status::run(args, global)?),
        Command::Check(args) => Ok(cli::check::run(args, global)?),
        Command::Import(args) => Ok(cli::import::run(args, global)?),
        Command::Exec(args) => Ok(cli::exec::run(args, global)?),
        Command::Shell(args) => Ok(cli::exec::run_shell(args, global)?),
        Command::Try(args) => Ok(cli::try_lab::run(args, global)?),
        Command::Schema(args) => Ok(cli::schema::run(args)?),
        Command::Completions(args) => Ok(cli::generate::completions(args, Cli::command())?),
        Command::Man(args) => Ok(cli::generate::man(args, Cli::command())?),
        Command::Logs(args) => Ok(cli::logs::run(args, global)?),
        Command::Pool(args) => Ok(cli::pool::run(args, global)?),
        Command::Session(args) => Ok(cli::session::run(args, global)?),
        Command::Serve(args) => Ok(cli::serve::run(args)?),
        Command::Node(args) => Ok(cli::serve::run_node(args)?),
        Command::Complete(args) => Ok(cli::generate::complete(args)?),
        Command::Docs(args) => Ok(cli::docs::run(args, Cli::command())?),
    }
}
