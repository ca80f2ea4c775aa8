//! Parsing a lab file: its characters, then its YAML tree (`tree`), then the tree
//! against the schema (`check`), and only when all is well, typing it with
//! serde-saphyr. Every problem found on the way is reported, in file order, as a
//! `problem::Problem`, so that parse problems render like the lab's other problems.

use std::sync::LazyLock;

use super::issue::{Issue, Span};
use super::{Topology, check, json_schema, schema, tree};
use crate::problem::{Code, Invalid, Problem};
use crate::source::{self, SourceFile, location_span};

/// The schema, compiled for checking files against it.
pub(super) static SCHEMA: LazyLock<schema::Schema> =
    LazyLock::new(|| schema::Schema::compile(&json_schema()));

/// Parses a lab file into its explicit form: [`parse_written`], then its ranges,
/// defaults, groups, links and automatic addresses expanded (`expand`).
pub fn parse(src: &SourceFile) -> Result<Topology, Invalid> {
    super::expand::expand(src, parse_written(src)?)
}

/// Parses a lab file as written. Every problem its YAML has (syntax, duplicate keys,
/// unknown or missing fields, wrong types, numbers out of range) is reported at once,
/// each at its own place, with the same rendering as the lab's other problems.
///
/// The check and the typing each parse the text; they run side by side, on a thread of
/// their own each (both are bounded: the check by its budgets, serde-saphyr by its own),
/// and the typed result is used only when the check found nothing.
pub fn parse_written(src: &SourceFile) -> Result<Topology, Invalid> {
    let (issues, typed) = std::thread::scope(|s| {
        let check = s.spawn(|| yaml_problems(&src.text));
        let typed = serde_saphyr::from_str::<Topology>(&src.text);
        let issues = check
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (issues, typed)
    });
    if !issues.is_empty() {
        let problems = issues.into_iter().map(|i| problem(src, i)).collect();
        return Err(Invalid::new(src, problems));
    }
    typed.map_err(|err| Invalid::new(src, vec![serde_problem(src, &err)]))
}

/// Every problem in the YAML of a lab file, in file order.
pub(super) fn yaml_problems(text: &str) -> Vec<Issue> {
    if let Some((offset, c)) = source::first_forbidden_char(text) {
        return vec![not_text(text, offset, c)];
    }
    let built = tree::build(text);
    let mut issues = built.issues;
    if built.complete {
        match &built.root {
            Some(root) if !root.is_null() => issues.extend(check::check(root, &SCHEMA)),
            _ => issues.push(
                Issue::new(Code::EmptyFile, "the file holds no lab")
                    .label(Span::new(0, 0), "nothing here")
                    .help("a lab needs at least a name, e.g. `name: demo`; `nshost schema` prints the format"),
            ),
        }
    }
    issues.sort_by_key(Issue::position);
    // A node reached twice (through a merge) has its problems reported once: the same
    // problem at the same place, found among the problems at that place.
    let mut unique: Vec<Issue> = Vec::with_capacity(issues.len());
    for issue in issues {
        let at = issue.position();
        let seen = unique
            .iter()
            .rev()
            .take_while(|u| u.position() == at)
            .any(|u| u.code == issue.code && u.message == issue.message);
        if !seen {
            unique.push(issue);
        }
    }
    unique
}

/// A character YAML does not allow, as in a binary file. Located by line, column and
/// byte offset, without a snippet: printing the line could send control characters to
/// the terminal.
fn not_text(text: &str, offset: usize, c: char) -> Issue {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    let what = if c == '\0' {
        "a NUL byte".to_string()
    } else {
        format!("the control character U+{:04X}", u32::from(c))
    };
    Issue::new(
        Code::NotText,
        format!(
            "the file holds {what} at line {line}, column {column} (byte offset {offset}), \
             which YAML text cannot hold"
        ),
    )
    .help(if c == '\0' {
        "is this a binary file? A lab file is YAML text"
    } else {
        "remove the character; a lab file is YAML text"
    })
}

fn problem(src: &SourceFile, issue: Issue) -> Problem {
    let mut p = Problem::new(issue.code, issue.message, src.shared_source());
    for (span, text) in issue.labels {
        p.with_label(span.into(), text);
    }
    if let Some(help) = issue.help {
        p.with_help(help);
    }
    p
}

/// What serde-saphyr still refuses after the check found nothing (a tag the check
/// leaves to it, a budget of its own), worded for the lab's author.
fn serde_problem(src: &SourceFile, err: &serde_saphyr::Error) -> Problem {
    let options = serde_saphyr::render_options! {
        source_name: Some(&src.name),
        formatter: &serde_saphyr::UserMessageFormatter,
    };
    let report =
        serde_saphyr::miette::to_miette_report_with_options(err, &src.text, &src.name, options);
    let message = report.to_string();
    let mut p = Problem::new(Code::Yaml, message.clone(), src.shared_source());
    // The report's own labels point into its cropped snippet, not into the file.
    if let Some(location) = err.location() {
        p.with_label(location_span(&location, &src.text), message);
    }
    if let Some(help) = report.help() {
        p.with_help(help.to_string());
    }
    p
}
