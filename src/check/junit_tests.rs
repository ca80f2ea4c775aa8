//! The JUnit rendering of checks: a report with passes and failures, `try`'s apply,
//! an error, and names and messages that need escaping.

use super::*;
use crate::check::Options;
use crate::check::report::Outcome;
use crate::problem::json::{ProblemReport, Severity};
use crate::topology::Expect;

fn check(from: &str, to: &str, to_node: bool, dst: &str, expect: Expect) -> Check {
    Check {
        from: from.into(),
        ns: from.into(),
        to: to.into(),
        to_node,
        dst: dst.parse().unwrap(),
        expect,
        probe: Probe::Icmp,
    }
}

fn tcp(port: u16, c: Check) -> Check {
    Check {
        probe: Probe::Port {
            proto: ServiceProto::Tcp,
            port,
        },
        ..c
    }
}

/// Four checks: two that hold, two that do not (one without an answer).
fn checks() -> Vec<Check> {
    vec![
        check("web1", "pc2", true, "10.2.2.10", Expect::Reachable),
        check("web1", "10.1.1.99", false, "10.1.1.99", Expect::Reachable),
        tcp(22, check("pc1", "web1", true, "10.1.1.10", Expect::Blocked)),
        tcp(80, check("pc1", "web1", true, "10.1.1.10", Expect::Open)),
    ]
}

fn report() -> Report {
    let src = Some("10.1.1.10".parse().unwrap());
    let pc1 = Some("10.2.1.10".parse().unwrap());
    let c = checks();
    let results = vec![
        CheckResult::new(
            &c[0],
            src,
            Outcome::Reply {
                from: "10.2.2.10".parse().unwrap(),
                ms: 0.0814,
            },
            1,
        ),
        CheckResult::new(
            &c[1],
            src,
            Outcome::IcmpError {
                from: "10.1.1.10".parse().unwrap(),
                error: "destination unreachable (host unreachable)".into(),
            },
            3,
        ),
        CheckResult::new(
            &c[2],
            pc1,
            Outcome::Refused {
                error: "connection refused".into(),
            },
            1,
        ),
        CheckResult::new(&c[3], pc1, Outcome::Timeout, 3),
    ];
    Report::new("small", false, &Options::default(), results, 3012.4)
}

#[test]
fn a_check_report_with_passes_and_failures() {
    let report = report();
    assert_eq!((report.passed, report.failed), (2, 2));
    insta::assert_snapshot!(check_document(&report));
}

/// A check's test case has the same name run or not (skipped when `try`'s apply
/// failed), so CI systems follow it from run to run.
#[test]
fn a_check_is_named_alike_run_or_skipped() {
    let report = report();
    let ran: Vec<String> = check_cases(&report).into_iter().map(|c| c.name).collect();
    let skipped: Vec<String> = skipped_cases("small", &checks(), "not run")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(ran, skipped);
    assert_eq!(ran[3], "pc1 -> web1 (10.1.1.10) tcp/80 (open)");
}

#[test]
fn try_gets_a_test_case_for_its_apply() {
    let report = report();
    let apply = step_case("small", "apply", 0.0421, None);
    insta::assert_snapshot!("try_applied", try_document(apply, Some(&report), &[]));
    let failed = ErrorBody {
        code: Some("nshost::apply_failed".into()),
        message: "the apply failed at step 3 of 12: creating veth".into(),
        help: Some("nothing of it is left: the steps done were undone".into()),
        problems: Vec::new(),
    };
    let apply = step_case("small", "apply", 0.01, Some(&failed));
    insta::assert_snapshot!(
        "try_apply_failed",
        try_document(apply, None, &checks()[..2])
    );
}

#[test]
fn an_error_is_one_test_case_in_error() {
    let body = ErrorBody {
        code: Some("nshost::invalid".into()),
        message: "lab.yaml is invalid: 1 problem".into(),
        help: None,
        problems: vec![ProblemReport {
            code: Some("nshost::unknown_field".into()),
            message: "unknown field `adress`".into(),
            severity: Severity::Error,
            help: Some("did you mean `address`?".into()),
            file: Some("lab.yaml".into()),
            line: Some(4),
            column: Some(9),
            label: Some("not a field of a host".into()),
            labels: Vec::new(),
            because: None,
        }],
    };
    insta::assert_snapshot!(error_document(
        "nshost check lab.yaml",
        "nshost",
        "check lab.yaml",
        &body
    ));
}

/// Names and messages with XML's special characters, line breaks and characters XML
/// cannot hold: escaped so that the document stays well-formed and says the same.
#[test]
fn names_and_messages_are_escaped() {
    assert_eq!(
        attr(r#"a<b>&"c" 'd'"#),
        "a&lt;b>&amp;&quot;c&quot; &apos;d&apos;"
    );
    assert_eq!(attr("one\ntwo\tthree\r"), "one&#10;two&#9;three&#13;");
    assert_eq!(text("one\ntwo\t<&>\"'"), "one\ntwo\t&lt;&amp;&gt;\"'");
    assert_eq!(
        text("nul\u{0}bell\u{7}\u{FFFE}"),
        "nul\u{FFFD}bell\u{FFFD}\u{FFFD}"
    );
    assert_eq!(text("ünï ✓ 🦀"), "ünï ✓ 🦀");
    let suite = TestSuite {
        name: "nshost check <lab & \"co\">".into(),
        time: 0.5,
        cases: vec![
            TestCase {
                classname: "l&b".into(),
                name: "a -> <b> (reachable)".into(),
                time: 0.25,
                result: CaseResult::Failed {
                    message: "expected \"reachable\",\ngot: </failure>".into(),
                    detail: "]]> & <![CDATA[ \u{1b}[31m".into(),
                },
            },
            TestCase {
                classname: "l&b".into(),
                name: "skipped 'one'".into(),
                time: 0.0,
                result: CaseResult::Skipped {
                    message: "because <x>".into(),
                },
            },
        ],
        out: Some("a & b".into()),
    };
    insta::assert_snapshot!(render(&[suite]));
}
