//! Reachability checks: ICMP echo between the lab's own namespaces, sent natively
//! from inside each source namespace (raw sockets made on short-lived threads that
//! entered it; no `ping`, no subprocess).
//!
//! A lab file's `checks` (resolved by `validate` with [`spec`]) or, when it declares
//! none, the checks [`defaults`] derives from its topology, make a [`Suite`];
//! [`run_suite`] refuses a lab that is not applied, and checks each source
//! namespace's mark before anything is sent; [`run`] is the engine, [`icmp`] the
//! packets and sockets, [`report`] what comes out.

pub mod broadcast;
pub mod defaults;
pub mod icmp;
pub mod junit;
pub mod ports;
pub mod report;
pub mod run;
pub mod source;
pub use crate::lab::check as spec;

use std::collections::HashSet;
use std::io;
use std::time::Instant;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;

pub use self::report::{CheckResult, Outcome, Report, Waited};
pub use self::source::Options;
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
        probe: spec::Probe,
    ) -> Result<Suite, CheckError> {
        let check = spec::Index::new(lab)
            .resolve(from, to, family, expect, probe)
            .map_err(CheckError::Unresolved)?;
        Ok(Suite {
            lab: lab.name.clone(),
            namespaces: namespaces(lab),
            checks: vec![check],
            defaults: false,
        })
    }
}

/// The kernel's default `net.ipv4.neigh.default.gc_thresh3`, used where the value
/// cannot be read (it exists only in the initial network namespace).
const DEFAULT_NEIGH_LIMIT: usize = 1024;

/// A warning when the suite needs more neighbour (ARP, NDP) entries at once than the
/// kernel keeps: its neighbour tables are one per machine, shared by every namespace,
/// and refuse new entries past `gc_thresh3`; each source talking through its gateway
/// takes about two (its own for the gateway, the gateway's for it).
pub fn neighbour_warning(suite: &Suite) -> Option<String> {
    let read = |family: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/{family}/neigh/default/gc_thresh3"))
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
    };
    let mut sources: [std::collections::BTreeSet<&str>; 2] = Default::default();
    for c in &suite.checks {
        sources[usize::from(c.dst.is_ipv6())].insert(c.ns.as_str());
    }
    let mut said = Vec::new();
    for (i, (family, name)) in [("ipv4", "IPv4"), ("ipv6", "IPv6")].iter().enumerate() {
        let needed = sources[i].len() * 2;
        let (limit, known) = match read(family) {
            Some(limit) => (limit, true),
            None => (DEFAULT_NEIGH_LIMIT, false),
        };
        if needed > limit {
            said.push(format!(
                "{} {name} sources need about {needed} neighbour entries at once, more than \
                 the kernel's table keeps for the whole machine (net.{family}.neigh.default.\
                 gc_thresh3 = {limit}{}); checks past it time out. Raise it as root on the \
                 host: sysctl -w net.{family}.neigh.default.gc_thresh3={} \
                 net.{family}.neigh.default.gc_thresh2={}",
                sources[i].len(),
                if known {
                    ""
                } else {
                    ", its default; it cannot be read from this network namespace"
                },
                (needed * 2).next_power_of_two(),
                needed.next_power_of_two(),
            ));
        }
    }
    (!said.is_empty()).then(|| said.join("\n"))
}

fn namespaces(lab: &Lab) -> Vec<String> {
    let mut all: Vec<String> = lab.nodes.values().map(|n| n.ns.clone()).collect();
    if !lab.networks.is_empty() {
        all.push(lab.fabric_ns.clone());
    }
    all
}

/// Runs a suite: refuses a lab whose namespaces are not all there, then runs every
/// check from namespaces that carry the lab's mark. The caller checks that it may enter
/// namespaces (`workflow::run_checks`).
pub fn run_suite(suite: &Suite, opts: &Options) -> Result<Report, CheckError> {
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
        });
    }
    let (results, waited) = match opts.wait {
        None => (run::run(&suite.checks, Some(&suite.lab), opts)?, None),
        Some(wait) => {
            let (results, waited) = run_until_held(suite, opts, wait)?;
            (results, Some(waited))
        }
    };
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    crate::trace::phase("checks", started);
    let mut report = Report::new(&suite.lab, suite.defaults, opts, results, elapsed);
    report.waited = waited;
    Ok(report)
}

/// Pause between two rounds of `--wait`.
const ROUND_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs the checks, then again the failing ones, until every expectation holds or
/// `wait` is over. A check that must not reach which passed early is run again at the
/// end: it must still hold once the rest has converged.
fn run_until_held(
    suite: &Suite,
    opts: &Options,
    wait: std::time::Duration,
) -> Result<(Vec<report::CheckResult>, report::Waited), CheckError> {
    let started = Instant::now();
    let mut results = run::run(&suite.checks, Some(&suite.lab), opts)?;
    let mut rounds = 1;
    let mut converged = None;
    loop {
        if results.iter().all(|r| r.passed) {
            converged = Some(started.elapsed().as_secs_f64() * 1e3);
            break;
        }
        if started.elapsed() + ROUND_PAUSE >= wait {
            break;
        }
        std::thread::sleep(ROUND_PAUSE);
        let failing: Vec<usize> = (0..results.len()).filter(|&i| !results[i].passed).collect();
        rerun(suite, opts, &failing, &mut results)?;
        rounds += 1;
    }
    let must_not: Vec<usize> = (0..suite.checks.len())
        .filter(|&i| {
            matches!(
                suite.checks[i].expect,
                Expect::Unreachable | Expect::Blocked
            )
        })
        .collect();
    if rounds > 1 && !must_not.is_empty() {
        rerun(suite, opts, &must_not, &mut results)?;
        if converged.is_some() && !results.iter().all(|r| r.passed) {
            converged = None;
        }
    }
    Ok((
        results,
        report::Waited {
            rounds,
            converged_ms: converged,
        },
    ))
}

/// Runs the checks `which` of the suite again, their results replacing the old ones.
fn rerun(
    suite: &Suite,
    opts: &Options,
    which: &[usize],
    results: &mut [report::CheckResult],
) -> Result<(), CheckError> {
    let checks: Vec<Check> = which.iter().map(|&i| suite.checks[i].clone()).collect();
    for (&i, r) in which.iter().zip(run::run(&checks, Some(&suite.lab), opts)?) {
        results[i] = r;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::Expect;

    fn suite(sources: usize) -> Suite {
        let checks = (0..sources)
            .map(|i| Check {
                from: format!("h{i}"),
                ns: format!("h{i}"),
                to: "r1".into(),
                to_node: true,
                dst: "10.0.0.1".parse().unwrap(),
                expect: Expect::Reachable,
                probe: spec::Probe::Icmp,
            })
            .collect();
        Suite {
            lab: "big".into(),
            namespaces: Vec::new(),
            checks,
            defaults: true,
        }
    }

    #[test]
    fn a_suite_past_the_neighbour_table_is_warned_about() {
        assert_eq!(neighbour_warning(&suite(10)), None);
        let said = neighbour_warning(&suite(200_000)).expect("a warning");
        assert!(
            said.starts_with("200000 IPv4 sources need about 400000"),
            "{said}"
        );
        assert!(
            said.contains("sysctl -w net.ipv4.neigh.default.gc_thresh3="),
            "{said}"
        );
        assert!(!said.contains("IPv6"), "{said}");
    }
}
