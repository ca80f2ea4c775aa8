//! `--output junit`: `nshost check` and `nshost try` print a JUnit XML report that
//! CI systems read, one test case per check, read back here with the tests' minimal
//! XML reader (well-formed, the right counts, a failure with its detail), with the
//! exit codes of the human output.

use crate::ktest::*;
use crate::xml::{self, Element};

/// The checks tests' two routers ([`crate::checks::TWO_SITES`]), named `junit`, with
/// `a -> c` expected reachable: `c` sits behind `r2` on a LAN `r1` has no route to, so
/// that check fails and the others hold.
fn one_failing() -> String {
    let named = edit(crate::checks::TWO_SITES, "name: chk", "name: junit");
    edit(
        &named,
        "{from: a, to: c, expect: unreachable}",
        "{from: a, to: c}",
    )
}

/// The one `<testsuite>` of a report, after checking the totals of `<testsuites>`
/// match it.
fn only_suite(doc: &Element) -> &Element {
    assert_eq!(doc.name, "testsuites");
    let suites = doc.all("testsuite");
    assert_eq!(suites.len(), 1, "{doc:?}");
    for count in ["tests", "failures", "errors", "skipped"] {
        assert_eq!(doc.get(count), suites[0].get(count), "{count}");
    }
    suites[0]
}

fn parse(out: &str) -> Element {
    xml::parse(out).unwrap_or_else(|e| panic!("not well-formed XML ({e}):\n{out}"))
}

/// `check --output junit` on a lab with one failing check: a well-formed report of
/// four test cases, one failed with its detail, and exit 1 as without it.
#[test]
fn check_junit_reports_each_check_and_fails_with_the_failing_one() {
    let (code, out, err) = sandboxed(|| {
        let file = scratch("junit.yaml", &one_failing());
        crate::apply(&file);
        let run = nshost([
            "check".as_ref(),
            file.as_os_str(),
            "--output".as_ref(),
            "junit".as_ref(),
        ]);
        (run.code, run.stdout, run.stderr)
    });
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err, "", "stderr stays quiet");
    let doc = parse(&out);
    let suite = only_suite(&doc);
    assert_eq!(suite.get("name"), "nshost check junit");
    let counts = ["tests", "failures", "errors", "skipped"].map(|c| suite.get(c));
    assert_eq!(counts, ["4", "1", "0", "0"]);
    let cases = suite.all("testcase");
    let names: Vec<&str> = cases.iter().map(|c| c.get("name")).collect();
    assert_eq!(
        names,
        [
            "a -> b (10.2.0.10) (reachable)",
            "b -> r1 (10.1.0.1) (reachable)",
            "a -> c (10.3.0.10) (reachable)",
            "r1 -> 10.3.0.10 (unreachable)",
        ]
    );
    for (i, case) in cases.iter().enumerate() {
        assert_eq!(case.get("classname"), "junit");
        let secs: f64 = case.get("time").parse().expect("a time in seconds");
        assert!(secs >= 0.0, "{secs}");
        match case.child("failure") {
            Some(failure) => {
                assert_eq!(i, 2, "only a -> c fails");
                assert!(
                    failure
                        .get("message")
                        .starts_with("expected reachable, got: "),
                    "{failure:?}"
                );
                assert!(
                    failure.text.contains("from:     a (source 10.1.0.10)"),
                    "{failure:?}"
                );
                assert!(failure.text.contains("expected: reachable"), "{failure:?}");
            }
            None => assert!(case.children.is_empty(), "{case:?}"),
        }
    }
    let tally = suite.child("system-out").expect("the tally").text.clone();
    assert!(tally.starts_with("Checks: 3 passed, 1 failed ("), "{tally}");
}

/// `try --output junit` on the bundled small lab: a test case for the apply, then one
/// per check, all passed; exit 0.
#[test]
fn try_junit_passes_for_the_small_lab() {
    let (code, out, err) = sandboxed(|| {
        let run = nshost([
            "try".as_ref(),
            topology("small.yaml").as_os_str(),
            "--output".as_ref(),
            "junit".as_ref(),
        ]);
        (run.code, run.stdout, run.stderr)
    });
    assert_eq!(code, 0, "{out}{err}");
    let doc = parse(&out);
    let suite = only_suite(&doc);
    assert_eq!(suite.get("name"), "nshost try small");
    let counts = ["tests", "failures", "errors", "skipped"].map(|c| suite.get(c));
    assert_eq!(counts, ["9", "0", "0", "0"]);
    let cases = suite.all("testcase");
    assert_eq!(cases[0].get("name"), "apply");
    assert!(
        cases[1..]
            .iter()
            .all(|c| c.get("name").contains(" -> ") && c.children.is_empty()),
        "{cases:?}"
    );
    assert!(
        cases
            .iter()
            .any(|c| c.get("name") == "web1 -> pc1 (10.2.1.10) (reachable)"),
        "{cases:?}"
    );
}

/// `try --output junit` whose apply fails (an injected fault, `NSHOST_FAULT`): the
/// apply's test case fails with the error's text, every check is skipped, and the error
/// is on stderr too; exit 1.
#[test]
fn try_junit_reports_a_failed_apply_and_skips_the_checks() {
    let (code, out, err) = sandboxed(|| {
        let run = nshost_env(
            &[("NSHOST_FAULT", "stage:0")],
            [
                "try".as_ref(),
                topology("small.yaml").as_os_str(),
                "--output".as_ref(),
                "junit".as_ref(),
            ],
        );
        (run.code, run.stdout, run.stderr)
    });
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nshost::apply_failed"), "{err}");
    let doc = parse(&out);
    let suite = only_suite(&doc);
    let counts = ["tests", "failures", "errors", "skipped"].map(|c| suite.get(c));
    assert_eq!(counts, ["9", "1", "0", "8"]);
    let cases = suite.all("testcase");
    let failure = cases[0].child("failure").expect("the apply failed");
    assert_eq!(cases[0].get("name"), "apply");
    assert!(
        failure.text.starts_with("nshost::apply_failed: "),
        "{failure:?}"
    );
    assert!(
        failure.text.contains("injected fault (NSHOST_FAULT)"),
        "{failure:?}"
    );
    for case in &cases[1..] {
        let skipped = case.child("skipped").expect("a check not run");
        assert_eq!(skipped.get("message"), "not run: the lab's apply failed");
    }
}
