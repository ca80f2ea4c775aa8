//! Checks as a JUnit XML report (`--output junit`), the document CI systems (GitHub,
//! GitLab, Jenkins) show natively: one `<testsuite>` per run, one `<testcase>` per
//! check, a `<failure>` with its detail for a check whose expectation did not hold.
//!
//! Pure rendering, with a small escaper of its own (the five entities, and what XML 1.0
//! cannot hold replaced by U+FFFD): a document this size needs no XML crate.

use std::fmt::Write;

use super::report::{CheckResult, Report};
use super::spec::{Check, Probe};
use crate::problem::json::ErrorBody;
use crate::topology::ServiceProto;

/// One test suite: a command's run over one lab.
#[derive(Clone, Debug, PartialEq)]
pub struct TestSuite {
    /// `nshost check LAB`, `nshost try LAB`.
    pub name: String,
    /// Wall time of the run, in seconds.
    pub time: f64,
    pub cases: Vec<TestCase>,
    /// A line for the suite's `<system-out>` (the checks' tally).
    pub out: Option<String>,
}

/// One test case: a check, or a step such as `try`'s apply.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// The lab's name.
    pub classname: String,
    /// `FROM -> TO (EXPECT)`, or the step's name.
    pub name: String,
    /// In seconds.
    pub time: f64,
    pub result: CaseResult,
}

/// How a test case went.
#[derive(Clone, Debug, PartialEq)]
pub enum CaseResult {
    Passed,
    /// An expectation that did not hold: a `<failure>`.
    Failed {
        message: String,
        detail: String,
    },
    /// What could not be run at all (a lab that is not applied...): an `<error>`.
    Errored {
        message: String,
        /// The error's code, `nshost::not_applied`...
        kind: Option<String>,
        detail: String,
    },
    /// Not run, because of `message` (an apply that failed first).
    Skipped {
        message: String,
    },
}

impl TestSuite {
    fn count(&self, f: impl Fn(&CaseResult) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.result)).count()
    }

    fn counts(&self) -> [usize; 4] {
        [
            self.cases.len(),
            self.count(|r| matches!(r, CaseResult::Failed { .. })),
            self.count(|r| matches!(r, CaseResult::Errored { .. })),
            self.count(|r| matches!(r, CaseResult::Skipped { .. })),
        ]
    }
}

/// The name of a check's test case: `web1 -> pc2 (10.2.2.10) tcp/80 (open)`, its
/// target as the check table shows it.
pub fn case_name(result: &CheckResult) -> String {
    format!(
        "{} -> {} ({})",
        result.from,
        result.target(),
        result.expect.name()
    )
}

/// The name of a check not run, as [`case_name`] would give it once run.
fn check_name(check: &Check) -> String {
    let to = if check.to_node {
        format!("{} ({})", check.to, check.dst)
    } else {
        check.to.clone()
    };
    let port = match check.probe {
        Probe::Icmp => String::new(),
        Probe::Port {
            proto: ServiceProto::Tcp,
            port,
        } => format!(" tcp/{port}"),
        Probe::Port {
            proto: ServiceProto::Udp,
            port,
        } => format!(" udp/{port}"),
    };
    format!("{} -> {to}{port} ({})", check.from, check.expect.name())
}

/// A check's test case. Its time is its answer's round trip, or for a check without
/// an answer its attempts' timeouts (`timeout`, in seconds); the checks run together,
/// so these do not add up to the suite's.
fn check_case(lab: &str, c: &CheckResult, timeout: f64) -> TestCase {
    use super::report::Outcome;
    let time = match &c.outcome {
        Outcome::Reply { ms, .. } | Outcome::Connected { ms } | Outcome::Echoed { ms } => ms / 1e3,
        Outcome::Timeout => f64::from(c.attempts) * timeout,
        _ => 0.0,
    };
    let outcome = c.outcome.detail(c.attempts);
    let result = if c.passed {
        CaseResult::Passed
    } else {
        let mut detail = format!(
            "from:     {} (source {})\nto:       {}\nexpected: {}\nresult:   {outcome}\n\
             attempts: {}\n",
            c.from,
            c.source
                .map_or("none: no route".to_string(), |s| s.to_string()),
            c.target(),
            c.expect.name(),
            c.attempts,
        );
        if c.attempts == 0 {
            detail.push_str("(nothing was sent: the source refused at once)\n");
        }
        CaseResult::Failed {
            message: format!("expected {}, got: {outcome}", c.expect.name()),
            detail,
        }
    };
    TestCase {
        classname: lab.to_string(),
        name: case_name(c),
        time,
        result,
    }
}

/// The test cases of a run of checks, one per check, in its order.
pub fn check_cases(report: &Report) -> Vec<TestCase> {
    let timeout = report.timeout_ms as f64 / 1e3;
    report
        .checks
        .iter()
        .map(|c| check_case(&report.lab, c, timeout))
        .collect()
}

/// The test cases of checks that were not run, because of `why`.
pub fn skipped_cases(lab: &str, checks: &[Check], why: &str) -> Vec<TestCase> {
    checks
        .iter()
        .map(|c| TestCase {
            classname: lab.to_string(),
            name: check_name(c),
            time: 0.0,
            result: CaseResult::Skipped {
                message: why.to_string(),
            },
        })
        .collect()
}

/// The suite of a run of checks, named `nshost COMMAND LAB`.
pub fn check_suite(command: &str, report: &Report) -> TestSuite {
    TestSuite {
        name: format!("nshost {command} {}", report.lab),
        time: report.elapsed_ms / 1e3,
        cases: check_cases(report),
        out: Some(super::report::closing(report).trim_end().to_string()),
    }
}

/// `nshost check --output junit`: the checks' report as a JUnit document.
pub fn check_document(report: &Report) -> String {
    render(&[check_suite("check", report)])
}

/// `nshost try --output junit`: the lab's apply (`apply`, see [`step_case`]), then its
/// checks: as `report` has them, or, without a report (the apply failed), `checks`
/// each skipped.
pub fn try_document(apply: TestCase, report: Option<&Report>, checks: &[Check]) -> String {
    let lab = apply.classname.clone();
    let mut suite = match report {
        Some(report) => check_suite("try", report),
        None => TestSuite {
            name: format!("nshost try {lab}"),
            time: 0.0,
            cases: skipped_cases(&lab, checks, "not run: the lab's apply failed"),
            out: None,
        },
    };
    suite.time += apply.time;
    suite.cases.insert(0, apply);
    render(&[suite])
}

/// A step's test case (`try`'s apply): passed, or failed with `error`.
pub fn step_case(lab: &str, name: &str, time: f64, error: Option<&ErrorBody>) -> TestCase {
    TestCase {
        classname: lab.to_string(),
        name: name.to_string(),
        time,
        result: match error {
            None => CaseResult::Passed,
            Some(e) => CaseResult::Failed {
                message: e.message.clone(),
                detail: error_detail(e),
            },
        },
    }
}

/// A document of one suite with one test case in error: a command that failed before
/// it had anything to report (a lab file that is invalid, a lab that is not applied).
/// `suite` names the suite (`nshost check lab.yaml`), `case` its test case.
pub fn error_document(suite: &str, classname: &str, case: &str, error: &ErrorBody) -> String {
    render(&[TestSuite {
        name: suite.to_string(),
        time: 0.0,
        cases: vec![TestCase {
            classname: classname.to_string(),
            name: case.to_string(),
            time: 0.0,
            result: CaseResult::Errored {
                message: error.message.clone(),
                kind: error.code.clone(),
                detail: error_detail(error),
            },
        }],
        out: None,
    }])
}

/// An error in words, for a failure's or an error's text: its message, each of its
/// problems at their place, its help.
pub fn error_detail(e: &ErrorBody) -> String {
    let mut out = String::new();
    if let Some(code) = &e.code {
        let _ = write!(out, "{code}: ");
    }
    out.push_str(&e.message);
    out.push('\n');
    for p in &e.problems {
        let at = match (&p.file, p.line, p.column) {
            (Some(f), Some(l), Some(c)) => format!("{f}:{l}:{c}: "),
            (Some(f), Some(l), None) => format!("{f}:{l}: "),
            (Some(f), None, _) => format!("{f}: "),
            _ => String::new(),
        };
        let _ = writeln!(out, "  {at}{}", p.message);
        if let Some(label) = &p.label {
            let _ = writeln!(out, "    {label}");
        }
        if let Some(help) = &p.help {
            let _ = writeln!(out, "    help: {help}");
        }
    }
    if let Some(help) = &e.help {
        let _ = writeln!(out, "help: {help}");
    }
    out
}

/// The JUnit document of `suites`.
pub fn render(suites: &[TestSuite]) -> String {
    let mut totals = [0; 4];
    for s in suites {
        for (t, n) in totals.iter_mut().zip(s.counts()) {
            *t += n;
        }
    }
    let time: f64 = suites.iter().map(|s| s.time).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"nshost\" tests=\"{}\" failures=\"{}\" errors=\"{}\" \
         skipped=\"{}\" time=\"{time:.3}\">",
        totals[0], totals[1], totals[2], totals[3]
    );
    for s in suites {
        let [tests, failures, errors, skipped] = s.counts();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" \
             errors=\"{errors}\" skipped=\"{skipped}\" time=\"{:.3}\">",
            attr(&s.name),
            s.time
        );
        for c in &s.cases {
            let open = format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                attr(&c.classname),
                attr(&c.name),
                c.time
            );
            match &c.result {
                CaseResult::Passed => {
                    let _ = writeln!(out, "{open}/>");
                }
                CaseResult::Failed { message, detail } => {
                    let _ = writeln!(
                        out,
                        "{open}>\n      <failure message=\"{}\" type=\"failure\">{}</failure>\n    \
                         </testcase>",
                        attr(message),
                        text(detail)
                    );
                }
                CaseResult::Errored {
                    message,
                    kind,
                    detail,
                } => {
                    let _ = writeln!(
                        out,
                        "{open}>\n      <error message=\"{}\" type=\"{}\">{}</error>\n    \
                         </testcase>",
                        attr(message),
                        attr(kind.as_deref().unwrap_or("error")),
                        text(detail)
                    );
                }
                CaseResult::Skipped { message } => {
                    let _ = writeln!(
                        out,
                        "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                        attr(message)
                    );
                }
            }
        }
        if let Some(line) = &s.out {
            let _ = writeln!(out, "    <system-out>{}</system-out>", text(line));
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `text` for an attribute's value (in double quotes): `&`, `<`, quotes, and line
/// breaks and tabs as character references (a parser would fold them into spaces).
pub fn attr(text: &str) -> String {
    escape(text, true)
}

/// `text` for an element's content.
pub fn text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            // Legal in an attribute, and `->` reads better so; in text, `]]>` needs it.
            '>' if !attribute => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' => out.push(ch),
            // What XML 1.0 cannot hold at all, even as a reference.
            c if allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document (its `Char` production).
fn allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
#[path = "junit_tests.rs"]
mod tests;
