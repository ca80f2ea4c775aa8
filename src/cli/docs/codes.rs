//! One page per error code (`Code::ALL`), each with an example from the golden cases:
//! the smallest case folder of `tests/cases/` whose expected output names the code
//! gives its lab file and the code's rendered problem.

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

/// The pages, by file name: `README.md` (the list) and `NAME.md` for each code.
pub fn pages(cases: &Path) -> Vec<(String, String)> {
    let examples = examples(cases);
    let mut index = String::from(
        "# Error codes\n\n\
         Every problem nshost reports has a code, `nshost::NAME`, stable once released: \
         scripts and tests match on it (`--output json` gives it as `code`). Generated from \
         the `Code` enum by `cargo xtask docs`, each page with an example from the golden \
         cases in `tests/cases/` where one shows the code.\n\n\
         | code | what it means |\n|---|---|\n",
    );
    let mut pages = Vec::new();
    let mut without = Vec::new();
    for code in Code::ALL {
        let full = code.as_str();
        let name = full.strip_prefix("nshost::").unwrap_or(full);
        let example = examples.get(full);
        let _ = writeln!(
            index,
            "| [`{full}`]({name}.md) | {} |",
            first_line(code.explain()).replace('|', "\\|")
        );
        if example.is_none() {
            without.push(format!("`{full}`"));
        }
        pages.push((format!("{name}.md"), page(*code, example)));
    }
    if !without.is_empty() {
        let _ = writeln!(
            index,
            "\nCodes no golden case shows yet: {}.",
            without.join(", ")
        );
    }
    pages.push(("README.md".into(), index));
    pages
}

fn page(code: Code, example: Option<&Example>) -> String {
    let mut out = format!("# {}\n\n{}\n\n", code.as_str(), code.explain());
    match example {
        None => out.push_str(
            "No golden case of `tests/cases/` shows this code yet: add one (a folder with \
             its `lab.yaml`) to give it an example here.\n",
        ),
        Some(e) => {
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
            Some(code) if code.starts_with("nshost::") => {
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
