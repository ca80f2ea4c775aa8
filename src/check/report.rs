//! What the checks found: one result per check, the report `nshost check --output json`
//! prints, and its table for people.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Serialize;

use super::spec::{Check, Probe};
use crate::topology::{Expect, ServiceProto};

/// The report of a run of checks.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Report {
    pub lab: String,
    /// The checks were derived from the topology (the file declares none).
    pub defaults: bool,
    /// Each attempt's wait for a reply.
    pub timeout_ms: u64,
    /// Attempts after the first.
    pub retries: u32,
    pub passed: usize,
    pub failed: usize,
    /// Wall time of the whole run.
    pub elapsed_ms: f64,
    /// With `--wait`: the rounds run, and how long it took until every expectation held
    /// (`None`: they did not within the wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited: Option<Waited>,
    pub checks: Vec<CheckResult>,
}

/// How a `--wait` went.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Waited {
    pub rounds: u32,
    /// From the first round to the one in which every expectation held.
    pub converged_ms: Option<f64>,
}

impl Report {
    pub fn new(
        lab: &str,
        defaults: bool,
        opts: &super::Options,
        checks: Vec<CheckResult>,
        elapsed_ms: f64,
    ) -> Self {
        let passed = checks.iter().filter(|c| c.passed).count();
        Report {
            lab: lab.to_string(),
            defaults,
            timeout_ms: opts.timeout.as_millis() as u64,
            retries: opts.retries,
            passed,
            failed: checks.len() - passed,
            elapsed_ms,
            waited: None,
            checks,
        }
    }

    /// Whether every expectation held.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

/// One check and how it went.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CheckResult {
    /// The node it was sent from.
    pub from: String,
    /// The source address the kernel chose (none when it has no route).
    pub source: Option<IpAddr>,
    /// The target as written: a node or an address.
    pub to: String,
    pub destination: IpAddr,
    /// What was sent: `icmp` (an echo request), `tcp` or `udp` (a probe of `port`).
    pub probe: ProbeKind,
    /// The port probed (`tcp` and `udp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub expect: Expect,
    pub outcome: Outcome,
    /// Echo requests (or datagrams, or connections) sent.
    pub attempts: u32,
    /// The expectation held.
    pub passed: bool,
    #[serde(skip)]
    to_node: bool,
}

impl CheckResult {
    pub fn new(check: &Check, source: Option<IpAddr>, outcome: Outcome, attempts: u32) -> Self {
        let reached = outcome.reached();
        let (probe, port) = match check.probe {
            Probe::Icmp => (ProbeKind::Icmp, None),
            Probe::Port {
                proto: ServiceProto::Tcp,
                port,
            } => (ProbeKind::Tcp, Some(port)),
            Probe::Port {
                proto: ServiceProto::Udp,
                port,
            } => (ProbeKind::Udp, Some(port)),
        };
        CheckResult {
            from: check.from.clone(),
            source,
            to: check.to.clone(),
            destination: check.dst,
            probe,
            port,
            expect: check.expect,
            passed: reached == check.expect.positive(),
            outcome,
            attempts,
            to_node: check.to_node,
        }
    }

    /// The target for the table: `pc2 (10.2.2.10)`, or the address; with the port of
    /// a port probe: `pc2 (10.2.2.10) tcp/80`.
    pub fn target(&self) -> String {
        let to = if self.to_node {
            format!("{} ({})", self.to, self.destination)
        } else {
            self.to.clone()
        };
        match (self.probe, self.port) {
            (ProbeKind::Tcp, Some(p)) => format!("{to} tcp/{p}"),
            (ProbeKind::Udp, Some(p)) => format!("{to} udp/{p}"),
            _ => to,
        }
    }
}

/// What a check sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Icmp,
    Tcp,
    Udp,
}

/// How a check ended: its last attempt's answer.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// An echo reply from `from`, `ms` after its request.
    Reply { from: IpAddr, ms: f64 },
    /// No answer within any attempt.
    Timeout,
    /// An ICMP error from `from` (a router on the way, or the source itself).
    IcmpError { from: IpAddr, error: String },
    /// The source's kernel refused to send ("network unreachable": no route), or a
    /// port probe failed so ("host unreachable").
    SendError { error: String },
    /// A TCP probe's connection was made, `ms` after it was started.
    Connected { ms: f64 },
    /// A UDP probe's datagram came back, `ms` after it was sent.
    Echoed { ms: f64 },
    /// A port probe was refused: a TCP reset ("connection refused"), or ICMP port
    /// unreachable for UDP ("port unreachable").
    Refused { error: String },
}

impl Outcome {
    /// Whether the target answered (a reply, a connection, an echo).
    pub fn reached(&self) -> bool {
        matches!(
            self,
            Outcome::Reply { .. } | Outcome::Connected { .. } | Outcome::Echoed { .. }
        )
    }

    /// In words, for the table's detail column.
    pub fn detail(&self, attempts: u32) -> String {
        match self {
            Outcome::Reply { from, ms } => format!("reply from {from} in {ms:.3} ms"),
            Outcome::Timeout => format!(
                "timeout ({attempts} attempt{})",
                if attempts == 1 { "" } else { "s" }
            ),
            Outcome::IcmpError { from, error } => format!("{error} from {from}"),
            Outcome::SendError { error } | Outcome::Refused { error } => error.clone(),
            Outcome::Connected { ms } => format!("connected in {ms:.3} ms"),
            Outcome::Echoed { ms } => format!("echo in {ms:.3} ms"),
        }
    }
}

/// The closing line of a run: `Checks: 8 passed, 0 failed (12 ms)`.
pub fn closing(report: &Report) -> String {
    let waited = match &report.waited {
        None => String::new(),
        Some(Waited {
            rounds,
            converged_ms: Some(ms),
        }) => format!("; every expectation held after {ms:.0} ms, round {rounds}"),
        Some(Waited { rounds, .. }) => {
            format!("; not every expectation held within the wait ({rounds} rounds)")
        }
    };
    format!(
        "Checks: {} passed, {} failed ({:.0} ms{waited})\n",
        report.passed, report.failed, report.elapsed_ms
    )
}

/// The report as a table, with its closing line.
pub fn human(report: &Report) -> String {
    human_within(report, usize::MAX)
}

/// The report as a table of at most `rows` checks: when there are more, the failed
/// ones (the first `rows` of them) and a line that counts the rest.
pub fn human_within(report: &Report, rows: usize) -> String {
    let header = ["FROM", "SOURCE", "TO", "EXPECTED", "RESULT", "DETAIL"];
    let shown: Vec<&CheckResult> = if report.checks.len() <= rows {
        report.checks.iter().collect()
    } else {
        report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .take(rows)
            .collect()
    };
    let hidden = report.checks.len() - shown.len();
    let hidden_passed = report.passed - shown.iter().filter(|c| c.passed).count();
    let rows: Vec<[String; 6]> = shown
        .into_iter()
        .map(|c| {
            [
                c.from.clone(),
                c.source.map_or("-".to_string(), |s| s.to_string()),
                c.target(),
                c.expect.name().to_string(),
                if c.passed { "pass" } else { "FAIL" }.to_string(),
                c.outcome.detail(c.attempts),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    if hidden > 0 {
        out.push_str(&format!(
            "... and {hidden} more checks: {hidden_passed} passed, {} failed (--full shows \
             every check)\n",
            hidden - hidden_passed
        ));
    }
    out.push('\n');
    out.push_str(&closing(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(to: &str, to_node: bool, dst: &str, expect: Expect) -> Check {
        Check {
            from: "web1".into(),
            ns: "web1".into(),
            to: to.into(),
            to_node,
            dst: dst.parse().unwrap(),
            expect,
            probe: super::super::spec::Probe::Icmp,
        }
    }

    #[test]
    fn a_table_with_a_line_per_check() {
        let src = Some("10.1.1.10".parse().unwrap());
        let results = vec![
            CheckResult::new(
                &check("pc2", true, "10.2.2.10", Expect::Reachable),
                src,
                Outcome::Reply {
                    from: "10.2.2.10".parse().unwrap(),
                    ms: 0.0814,
                },
                1,
            ),
            CheckResult::new(
                &check("10.1.1.99", false, "10.1.1.99", Expect::Reachable),
                src,
                Outcome::IcmpError {
                    from: "10.1.1.10".parse().unwrap(),
                    error: "destination unreachable (host unreachable)".into(),
                },
                3,
            ),
            CheckResult::new(
                &check("db1", true, "10.1.2.10", Expect::Unreachable),
                src,
                Outcome::Timeout,
                3,
            ),
            CheckResult::new(
                &check("fd00::9", false, "fd00::9", Expect::Unreachable),
                None,
                Outcome::SendError {
                    error: "network unreachable".into(),
                },
                0,
            ),
        ];
        let report = Report::new(
            "small",
            false,
            &super::super::Options::default(),
            results,
            3012.4,
        );
        assert_eq!((report.passed, report.failed, report.ok()), (3, 1, false));
        insta::assert_snapshot!(human(&report), @r"
        FROM  SOURCE     TO               EXPECTED     RESULT  DETAIL
        web1  10.1.1.10  pc2 (10.2.2.10)  reachable    pass    reply from 10.2.2.10 in 0.081 ms
        web1  10.1.1.10  10.1.1.99        reachable    FAIL    destination unreachable (host unreachable) from 10.1.1.10
        web1  10.1.1.10  db1 (10.1.2.10)  unreachable  pass    timeout (3 attempts)
        web1  -          fd00::9          unreachable  pass    network unreachable

        Checks: 3 passed, 1 failed (3012 ms)
        ");
        insta::assert_json_snapshot!(report.checks[1], @r#"
        {
          "from": "web1",
          "source": "10.1.1.10",
          "to": "10.1.1.99",
          "destination": "10.1.1.99",
          "probe": "icmp",
          "expect": "reachable",
          "outcome": {
            "result": "icmp_error",
            "from": "10.1.1.10",
            "error": "destination unreachable (host unreachable)"
          },
          "attempts": 3,
          "passed": false
        }
        "#);
    }

    #[test]
    fn port_probes_show_their_port_and_what_answered() {
        let probe = |proto, port, expect| Check {
            probe: Probe::Port { proto, port },
            ..check("pc2", true, "10.2.2.10", expect)
        };
        let src = Some("10.1.1.10".parse().unwrap());
        let results = vec![
            CheckResult::new(
                &probe(ServiceProto::Tcp, 80, Expect::Open),
                src,
                Outcome::Connected { ms: 0.2 },
                1,
            ),
            CheckResult::new(
                &probe(ServiceProto::Udp, 53, Expect::Open),
                src,
                Outcome::Echoed { ms: 0.35 },
                2,
            ),
            CheckResult::new(
                &probe(ServiceProto::Tcp, 22, Expect::Blocked),
                src,
                Outcome::Refused {
                    error: "connection refused".into(),
                },
                1,
            ),
            CheckResult::new(
                &probe(ServiceProto::Udp, 161, Expect::Open),
                src,
                Outcome::Timeout,
                3,
            ),
        ];
        let report = Report::new(
            "small",
            false,
            &super::super::Options::default(),
            results,
            3001.0,
        );
        insta::assert_snapshot!(human(&report), @r"
        FROM  SOURCE     TO                       EXPECTED  RESULT  DETAIL
        web1  10.1.1.10  pc2 (10.2.2.10) tcp/80   open      pass    connected in 0.200 ms
        web1  10.1.1.10  pc2 (10.2.2.10) udp/53   open      pass    echo in 0.350 ms
        web1  10.1.1.10  pc2 (10.2.2.10) tcp/22   blocked   pass    connection refused
        web1  10.1.1.10  pc2 (10.2.2.10) udp/161  open      FAIL    timeout (3 attempts)

        Checks: 3 passed, 1 failed (3001 ms)
        ");
        insta::assert_json_snapshot!(report.checks[0], @r#"
        {
          "from": "web1",
          "source": "10.1.1.10",
          "to": "pc2",
          "destination": "10.2.2.10",
          "probe": "tcp",
          "port": 80,
          "expect": "open",
          "outcome": {
            "result": "connected",
            "ms": 0.2
          },
          "attempts": 1,
          "passed": true
        }
        "#);
    }
}
