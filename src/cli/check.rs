//! `nshost check`: the lab's reachability checks, sent from inside its namespaces.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nshost::check::spec::Probe;
use nshost::check::{self, Options, Report, Suite};
use nshost::topology::{Expect, Family, ServiceProto};
use nshost::workflow::{self, Error};
use nshost::{errln, out};

use super::{EXIT_ERROR, Global, LockWait, Output};

/// Run the lab's reachability checks: ICMP echo between its namespaces.
///
/// The checks the file declares under `checks`, or, without any, every host to its
/// gateway and to one host behind every other router. Exits 1 when an expectation does
/// not hold.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("lab_source").required(true).args(["file", "lab"])))]
#[command(after_help = CHECK_EXAMPLES)]
pub struct CheckArgs {
    /// The lab file (YAML); or name the lab with --lab.
    pub file: Option<PathBuf>,
    /// The lab of this name, as the kernel has it, without its file: its default
    /// checks (every host to its gateway and to one host behind every other router),
    /// derived from what is there.
    #[arg(long, value_parser = super::lab_name, conflicts_with_all = ["from", "site"])]
    pub lab: Option<String>,
    /// Run one check instead of the file's, from this node (with --to).
    #[arg(long, requires = "to", value_name = "NODE")]
    pub from: Option<String>,
    /// The one check's target: a node, or an address in one of the lab's subnets.
    #[arg(long, requires = "from", value_name = "NODE|ADDRESS")]
    pub to: Option<String>,
    /// The one check's expectation (`open`/`blocked` for a port probe, where
    /// `reachable`/`unreachable` mean the same).
    #[arg(long, requires = "from", value_parser = ["reachable", "unreachable", "open", "blocked"])]
    pub expect: Option<String>,
    /// Probe this TCP port of the target instead of sending an ICMP echo.
    #[arg(long, requires = "from", conflicts_with = "udp", value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub tcp: Option<u16>,
    /// Probe this UDP port of the target: a datagram must come back.
    #[arg(long, requires = "from", value_name = "PORT",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub udp: Option<u16>,
    /// The one check's family, when --to is a node with both.
    #[arg(long, requires = "from", value_parser = ["ipv4", "ipv6"])]
    pub family: Option<String>,
    #[command(flatten)]
    pub site: super::SiteArg,
    #[command(flatten)]
    pub tuning: Tuning,
    /// Show every check. By default a table longer than the terminal (or than 40 rows
    /// when stdout is not a terminal) shows only the failed checks, and counts the rest.
    #[arg(long)]
    pub full: bool,
    #[command(flatten)]
    pub lock: LockWait,
}

/// How long and how often each check tries.
#[derive(Args, Debug)]
pub struct Tuning {
    /// Seconds each attempt waits for its reply.
    #[arg(long, default_value = "1", value_name = "SECONDS", value_parser = timeout)]
    pub timeout: Duration,
    /// Attempts after the first, for a check without a reply.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,
    /// Retry the failing checks until every expectation holds, for at most this long
    /// (`30`, `30s`, `2m`, `500ms`): for labs whose routing daemons are still converging.
    /// A must-not-reach check that held early is run again at the end.
    #[arg(long, value_name = "DURATION", value_parser = super::duration)]
    pub wait: Option<Duration>,
}

impl Tuning {
    pub fn options(&self) -> Options {
        Options {
            timeout: self.timeout,
            retries: self.retries,
            wait: self.wait,
            ..Options::default()
        }
    }
}

/// A `--timeout`: seconds, more than zero.
fn timeout(text: &str) -> Result<Duration, String> {
    let d = super::seconds(text)?;
    if d < Duration::from_millis(1) {
        return Err("an attempt needs at least a millisecond".to_string());
    }
    Ok(d)
}

pub fn run(args: CheckArgs, global: &Global) -> Result<ExitCode, Error> {
    let file = match (&args.file, &args.lab) {
        (Some(file), _) => file,
        (None, Some(lab)) => {
            // Shared, like a plan: never an apply half done.
            let _lock = workflow::lock_shared(lab, args.lock.lock_timeout)?;
            let status = nshost::status::lab(nshost::status::Target::Name(lab.clone()))?;
            let suite = nshost::status::default_suite(&status);
            let report = workflow::run_checks(&suite, &args.tuning.options())?;
            return Ok(print(&report, &args, global));
        }
        (None, None) => unreachable!("clap requires a file or --lab"),
    };
    let loaded = args.site.load(file)?;
    super::warnings(&loaded, global);
    let suite = match (&args.from, &args.to) {
        (Some(from), Some(to)) => {
            let expect = match args.expect.as_deref() {
                Some("unreachable" | "blocked") => Expect::Unreachable,
                _ => Expect::Reachable,
            };
            let probe = match (args.tcp, args.udp) {
                (Some(port), _) => Probe::Port {
                    proto: ServiceProto::Tcp,
                    port,
                },
                (None, Some(port)) => Probe::Port {
                    proto: ServiceProto::Udp,
                    port,
                },
                (None, None) => Probe::Icmp,
            };
            let family = args.family.as_deref().map(|f| match f {
                "ipv6" => Family::Ipv6,
                _ => Family::Ipv4,
            });
            Suite::one(&loaded.lab, from, to, family, expect, probe)?
        }
        _ => Suite::of(&loaded.lab),
    };
    // Checks from this site's nodes only; those to other sites cross the tunnels.
    let suite = nshost::sites::suite_here(&loaded.lab, suite);
    // Shared, like a plan: checks never run while an apply of the lab is half done.
    let _lock = workflow::lock_shared(&loaded.lab.name, args.lock.lock_timeout)?;
    if let Some(warning) = check::neighbour_warning(&suite).filter(|_| global.chatty()) {
        errln!("warning: {warning}");
    }
    if let Some(warning) = check::broadcast::warning(&loaded.lab).filter(|_| global.chatty()) {
        errln!("warning: {warning}");
    }
    let report = workflow::run_checks(&suite, &args.tuning.options())?;
    Ok(print(&report, &args, global))
}

/// Prints the checks' report as the options ask; the exit code it means.
fn print(report: &Report, args: &CheckArgs, global: &Global) -> ExitCode {
    match global.output {
        Output::Human if global.quiet => out!("{}", check::report::closing(report)),
        Output::Human => out!(
            "{}",
            check::report::human_within(report, super::lines_for(args.full))
        ),
        Output::Json => super::print_report(report),
        Output::Junit => out!("{}", check::junit::check_document(report)),
    }
    exit_code(report)
}

/// 0 when every expectation held, else 1.
pub fn exit_code(report: &Report) -> ExitCode {
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    }
}

/// The examples `nshost check --help` shows (and its page in the book).
const CHECK_EXAMPLES: &str = "\
Examples:
  nshost check topologies/small.yaml
  nshost check lab.yaml --from pc1 --to web1 --tcp 80   # one port check instead of the file's
  nshost check topologies/ospf.yaml --wait 30s          # until a routing daemon has converged";
