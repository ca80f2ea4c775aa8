//! Reachability checks: ICMP echo between the lab's own namespaces, sent natively
//! from inside each source namespace (raw sockets made on short-lived threads that
//! entered it; no `ping`, no subprocess).
//!
//! A lab file's `checks` (resolved by `validate` with [`spec`]) or, when it declares
//! none, the checks [`defaults`] derives from its topology, make a [`Suite`];
//! [`run_suite`] refuses a lab that is not applied, and checks each source
//! namespace's mark before anything is sent; [`run`] is the engine, [`icmp`] the
//! packets and sockets, [`report`] what comes out.

pub mod defaults;
pub mod icmp;
pub mod report;
pub mod run;
pub mod spec;

use std::collections::HashSet;
use std::io;
use std::time::Instant;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

pub use self::report::{CheckResult, Outcome, Report};
pub use self::run::Options;
pub use self::spec::{Check, Unresolved};
use crate::kernel::RouteSocket;
use crate::kernel::netns;
use crate::lab::Lab;
use crate::topology::{Expect, Family};

/// Why checks could not run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CheckError {
    #[error("{}", not_applied_text(.lab, .missing, *.total))]
    #[diagnostic(
        code(nshost::not_applied),
        help(
            "apply the lab first (`nshost apply FILE`, or `apply --check`); `nshost plan FILE` shows what is missing"
        )
    )]
    NotApplied {
        lab: String,
        /// The lab's namespaces that are not there.
        missing: Vec<String>,
        /// How many namespaces the lab has (0 when unknown).
        total: usize,
    },
    #[error("namespace `{ns}` is not lab `{lab}`'s ({}): no check is sent from it", owner_text(.owner))]
    #[diagnostic(
        code(nshost::conflict),
        help("checks only send traffic between the lab's own namespaces")
    )]
    NotOwned {
        ns: String,
        lab: String,
        owner: Option<String>,
    },
    #[error("namespace {ns}: {what}: {cause}")]
    #[diagnostic(code(nshost::check))]
    Kernel {
        ns: String,
        what: &'static str,
        cause: io::Error,
    },
    #[error("{}", .0.message())]
    #[diagnostic(code(nshost::bad_check), help("{}", .0.help().unwrap_or_default()))]
    Unresolved(Unresolved),
}

fn not_applied_text(lab: &str, missing: &[String], total: usize) -> String {
    if total > 0 && missing.len() == total {
        return format!("lab `{lab}` is not applied: none of its {total} namespaces exist");
    }
    let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
    let more = if missing.len() > shown.len() {
        format!(" and {} more", missing.len() - shown.len())
    } else {
        String::new()
    };
    format!(
        "lab `{lab}` is not fully applied: namespace{} {}{more} missing",
        if missing.len() == 1 { "" } else { "s" },
        shown.join(", ")
    )
}

fn owner_text(owner: &Option<String>) -> String {
    match owner {
        Some(lab) => format!("it is lab `{lab}`'s"),
        None => "it is no lab's".to_string(),
    }
}

/// The lab that owns the calling thread's namespace, from its loopback's mark.
pub fn mark_here() -> io::Result<Option<String>> {
    let mut sock = RouteSocket::open()?;
    let mut lo = LinkMessage::default();
    lo.header.index = 1;
    let raw = match sock.request(RouteNetlinkMessage::GetLink(lo))? {
        Ok(raw) => raw,
        Err(_) => return Ok(None),
    };
    Ok(crate::kernel::decode::decode_link(&raw, &|_| false)
        .and_then(|l| l.alias)
        .and_then(|a| crate::state::parse_namespace_alias(&a).map(|(lab, _)| lab.to_string())))
}

/// What to check in a lab: its checks and the namespaces it must have.
#[derive(Clone, Debug)]
pub struct Suite {
    pub lab: String,
    /// Every namespace of the lab (nodes and fabric).
    pub namespaces: Vec<String>,
    pub checks: Vec<Check>,
    /// The checks were derived from the topology.
    pub defaults: bool,
}

impl Suite {
    /// The lab's declared checks, or its default ones when it declares none.
    pub fn of(lab: &Lab) -> Suite {
        let defaults = lab.checks.is_empty();
        let checks = if defaults {
            defaults::default_checks(lab)
        } else {
            lab.checks.clone()
        };
        Suite {
            lab: lab.name.clone(),
            namespaces: namespaces(lab),
            checks,
            defaults,
        }
    }

    /// One check given on the command line instead of the file's, resolved like them.
    pub fn one(
        lab: &Lab,
        from: &str,
        to: &str,
        family: Option<Family>,
        expect: Expect,
    ) -> Result<Suite, CheckError> {
        let check = spec::Index::new(lab)
            .resolve(from, to, family, expect)
            .map_err(CheckError::Unresolved)?;
        Ok(Suite {
            lab: lab.name.clone(),
            namespaces: namespaces(lab),
            checks: vec![check],
            defaults: false,
        })
    }
}

fn namespaces(lab: &Lab) -> Vec<String> {
    let mut all: Vec<String> = lab.nodes.values().map(|n| n.ns.clone()).collect();
    if !lab.networks.is_empty() {
        all.push(lab.fabric_ns.clone());
    }
    all
}

/// Runs a suite: refuses a lab whose namespaces are not all there, then runs every
/// check from namespaces that carry the lab's mark.
pub fn run_suite(suite: &Suite, opts: &Options) -> Result<Report, crate::workflow::Error> {
    if !crate::process::may_manage_namespaces() {
        return Err(crate::workflow::Error::NotPermitted {
            what: "entering network namespaces (CAP_SYS_ADMIN)".into(),
        });
    }
    let started = Instant::now();
    let present: HashSet<String> = netns::list()
        .map_err(|cause| CheckError::Kernel {
            ns: netns::run_dir().display().to_string(),
            what: "listing namespaces",
            cause,
        })?
        .into_iter()
        .filter_map(|e| match e {
            netns::Entry::File(name) => Some(name),
            netns::Entry::Other { .. } => None,
        })
        .collect();
    let missing: Vec<String> = suite
        .namespaces
        .iter()
        .filter(|n| !present.contains(*n))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(CheckError::NotApplied {
            lab: suite.lab.clone(),
            missing,
            total: suite.namespaces.len(),
        }
        .into());
    }
    let results = run::run(&suite.checks, Some(&suite.lab), opts)?;
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    crate::trace::phase("checks", started);
    Ok(Report::new(
        &suite.lab,
        suite.defaults,
        opts,
        results,
        elapsed,
    ))
}
