//! One page per error code (`Code::ALL`), each with an example from the golden cases:
//! the smallest case folder of `tests/cases/` whose expected output names the code
//! gives its lab file and the code's rendered problem. A code no golden case shows (an
//! error of a running command, a problem found at plan time) has a hand-written example
//! instead, `docs/codes/NAME.md`: the command that shows it and what nshost prints.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use nshost::problem::Code;

/// A golden case's lab file, and the problem it shows for one code.
struct Example {
    case: String,
    valid: bool,
    lab: String,
    rendered: String,
}

/// Where the hand-written examples are, under the project's root.
pub const HAND_WRITTEN: &str = "docs/codes";

/// The pages, by file name: `README.md` (the list) and `NAME.md` for each code, from the
/// golden cases under `cases` and the hand-written examples under `hand`.
pub fn pages(cases: &Path, hand: &Path) -> Vec<(String, String)> {
    let examples = examples(cases);
    let written = hand_written(hand);
    let mut index = String::from(
        "# Error codes\n\n\
         Every problem nshost reports has a code, `nshost::NAME`, stable once released: \
         scripts and tests match on it (`--output json` gives it as `code`). Generated from \
         the `Code` enum by `cargo xtask docs`, each page with an example: from the golden \
         cases in `tests/cases/` where one shows the code, else written in `docs/codes/`.\n\n\
         | code | what it means |\n|---|---|\n",
    );
    let mut pages = Vec::new();
    let mut without = Vec::new();
    for code in Code::ALL {
        let full = code.as_str();
        let name = code.name();
        let example = examples.get(full);
        let written = written.get(name).filter(|_| example.is_none());
        let _ = writeln!(
            index,
            "| [`{full}`]({name}.md) | {} |",
            first_line(code.explain()).replace('|', "\\|")
        );
        if example.is_none() && written.is_none() {
            without.push(format!("`{full}`"));
        }
        pages.push((format!("{name}.md"), page(*code, example, written)));
    }
    if !without.is_empty() {
        let _ = writeln!(
            index,
            "\nCodes without an example yet: {}.",
            without.join(", ")
        );
    }
    pages.push(("README.md".into(), index));
    pages
}

fn page(code: Code, example: Option<&Example>, written: Option<&String>) -> String {
    let mut out = format!("# {}\n\n{}\n\n", code.as_str(), code.explain());
    match (example, written) {
        (None, Some(text)) => {
            let _ = writeln!(out, "{}", text.trim_end());
        }
        (None, None) => out.push_str(
            "No golden case of `tests/cases/` shows this code yet: add one (a folder with \
             its `lab.yaml`) to give it an example here.\n",
        ),
        (Some(e), _) => {
            if let Some(m) = message(&e.rendered) {
                let _ = writeln!(out, "> {m}\n");
            }
            let what = if e.valid {
                "a warning `nshost validate` prints; the lab is still valid"
            } else {
                "what `nshost validate` prints for this code"
            };
            let mark = if e.valid { "yaml" } else { "yaml invalid" };
            let _ = writeln!(
                out,
                "From the golden case `tests/cases/{}` ({what}):\n\n```{mark}\n{}\n```\n\n```text\n{}\n```",
                e.case,
                e.lab.trim_end(),
                e.rendered
            );
        }
    }
    out
}

/// The hand-written examples: the text of each `NAME.md` under `hand`, by `NAME` (but
/// `README.md`, which says how they are written).
fn hand_written(hand: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(hand) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .strip_suffix(".md")?
                .to_string();
            if name == "README" {
                return None;
            }
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some((name, text))
        })
        .collect()
}

/// What is wrong with the examples: a code with neither a golden case nor a hand-written
/// example, a hand-written example of a code a golden case shows (it would not be used),
/// or one that names no code.
pub fn example_problems(cases: &Path, hand: &Path) -> Vec<String> {
    let examples = examples(cases);
    let written = hand_written(hand);
    let mut problems = Vec::new();
    for code in Code::ALL {
        let name = code.name();
        match (
            examples.contains_key(code.as_str()),
            written.contains_key(name),
        ) {
            (false, false) => problems.push(format!(
                "`{code}` has no example: add a golden case that shows it, or write \
                 {HAND_WRITTEN}/{name}.md"
            )),
            (true, true) => problems.push(format!(
                "{HAND_WRITTEN}/{name}.md is not used: a golden case shows `{code}`"
            )),
            _ => {}
        }
    }
    for name in written.keys() {
        if !Code::ALL.iter().any(|c| c.name() == name) {
            problems.push(format!(
                "{HAND_WRITTEN}/{name}.md names no code: `nshost::{name}` is not in `Code`"
            ));
        }
    }
    problems
}

/// The first line (or sentence) of a code's explanation.
fn first_line(text: &str) -> String {
    text.split("\n\n").next().unwrap_or(text).replace('\n', " ")
}

/// The first line of a rendered problem's message (after `×` or `⚠`).
fn message(rendered: &str) -> Option<String> {
    rendered.lines().find_map(|l| {
        let l = l.trim_start();
        l.strip_prefix("× ")
            .or_else(|| l.strip_prefix("⚠ "))
            .map(|m| m.trim().to_string())
    })
}

/// For each code, the example of the smallest case (by its lab file) that shows it.
fn examples(cases: &Path) -> BTreeMap<String, Example> {
    let mut found: BTreeMap<String, Example> = BTreeMap::new();
    for group in ["invalid", "valid"] {
        let Ok(dirs) = std::fs::read_dir(cases.join(group)) else {
            continue;
        };
        let mut dirs: Vec<_> = dirs.filter_map(Result::ok).map(|d| d.path()).collect();
        dirs.sort();
        for dir in dirs {
            let Ok(lab) = std::fs::read_to_string(dir.join("lab.yaml")) else {
                continue;
            };
            if lab.contains("```") || lab.chars().any(|c| c.is_control() && c != '\n') {
                continue;
            }
            let case = format!(
                "{group}/{}/",
                dir.file_name().unwrap_or_default().to_string_lossy()
            );
            for snap in ["diagnostics.snap", "warnings.snap"] {
                let Ok(text) = std::fs::read_to_string(dir.join(snap)) else {
                    continue;
                };
                for (code, rendered) in blocks(&text) {
                    let better = found.get(&code).is_none_or(|e| lab.len() < e.lab.len());
                    if better {
                        let example = Example {
                            case: case.clone(),
                            valid: group == "valid",
                            lab: lab.clone(),
                            rendered,
                        };
                        found.insert(code, example);
                    }
                }
            }
        }
    }
    found
}

/// The problems of a snapshot: each `Error: nshost::NAME` (or `Warning:`) line and the
/// lines up to the next.
fn blocks(snapshot: &str) -> Vec<(String, String)> {
    // The body, after insta's header between two `---` lines.
    let body = snapshot.splitn(3, "---\n").nth(2).unwrap_or(snapshot);
    let mut out: Vec<(String, Vec<&str>)> = Vec::new();
    for line in body.lines() {
        let head = ["Error: ", "Warning: ", "Advice: "]
            .iter()
            .find_map(|p| line.strip_prefix(p));
        match head {
            Some(code) if code.trim().parse::<Code>().is_ok() => {
                out.push((code.trim().to_string(), vec![line]));
            }
            _ => {
                if let Some((_, lines)) = out.last_mut() {
                    lines.push(line);
                }
            }
        }
    }
    out.into_iter()
        .map(|(code, lines)| (code, lines.join("\n").trim_end().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    /// Every code has an example, from a golden case or written by hand, and every
    /// hand-written example is of a code of the enum that no golden case shows.
    #[test]
    fn every_code_has_one_example() {
        let problems = example_problems(&repo("tests/cases"), &repo(HAND_WRITTEN));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_missing_or_stale_example_is_found() {
        let dir = repo("target/tmp/codes-hand-written");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("no_such_code.md"), "x").unwrap();
        std::fs::write(dir.join("bug.md"), "x").unwrap();
        let problems = example_problems(&dir.join("no cases"), &dir);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("no_such_code.md names no code"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("`nshost::busy` has no example"))
        );
        assert!(!problems.iter().any(|p| p.contains("`nshost::bug`")));
        let pages = pages(&dir.join("no cases"), &dir);
        let bug = &pages.iter().find(|(n, _)| n == "bug.md").unwrap().1;
        assert!(bug.ends_with("\n\nx\n"), "{bug}");
    }

    #[test]
    fn a_snapshot_splits_into_its_problems() {
        let snap = "---\nsource: tests/cases.rs\n---\nnshost::invalid\n\n  × 2 problems in lab.yaml\n\n\
                    Error: nshost::bad_mac\n\n  × bad\n  help: fix\n\n\
                    Warning: nshost::lonely_host\n\n  ⚠ alone\n";
        let blocks = blocks(snap);
        let codes: Vec<&str> = blocks.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, ["nshost::bad_mac", "nshost::lonely_host"]);
        assert_eq!(
            blocks[0].1,
            "Error: nshost::bad_mac\n\n  × bad\n  help: fix"
        );
        assert_eq!(message(&blocks[1].1).as_deref(), Some("alone"));
    }
}
