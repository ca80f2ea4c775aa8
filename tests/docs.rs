//! The book under `docs/`: its generated pages are what the code generates now
//! (`cargo xtask docs`), every lab snippet in it and in the README validates (or is
//! refused, where it says so), and `mdbook build docs` builds it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use nshost::topology::SourceFile;
use nshost::workflow;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A fresh directory under the target directory, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir`, by its path relative to `dir`.
fn files(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// The generated pages (the reference, and SUMMARY.md's generated part) are current.
#[test]
fn generated_pages_are_current() {
    let out = scratch("docs-generated");
    let run = Command::new(env!("CARGO_BIN_EXE_nshost"))
        .args(["__docs", "--repo"])
        .arg(repo(""))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "nshost __docs failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let generated = files(&out);
    assert!(
        generated.len() > 20,
        "too few pages generated: {generated:?}"
    );
    let book = repo("docs/src");
    let mut stale = Vec::new();
    for path in &generated {
        let new = std::fs::read_to_string(out.join(path)).unwrap();
        let old = std::fs::read_to_string(book.join(path)).unwrap_or_default();
        if new != old {
            stale.push(format!("{} differs", path.display()));
        }
    }
    let committed = files(&book.join("reference"));
    for path in committed {
        let path = Path::new("reference").join(path);
        if !generated.contains(&path) {
            stale.push(format!("{} is no longer generated", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "the book's generated pages are not current; run `cargo xtask docs` and commit \
         them:\n  {}",
        stale.join("\n  ")
    );
}

/// A ```yaml block of a markdown file: where it starts, its info words, its text.
struct Block {
    at: String,
    marks: Vec<String>,
    text: String,
}

/// The ```yaml blocks of `markdown` (fences may be indented, as in a list item).
fn yaml_blocks(name: &str, markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, Vec<String>, Vec<String>)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let words: Vec<String> = info.split_whitespace().map(String::from).collect();
                    open = Some((i + 1, indent, words, Vec::new()));
                }
            }
            Some((start, indent, words, lines)) => {
                if trimmed.starts_with("```") {
                    if words.first().map(String::as_str) == Some("yaml") {
                        blocks.push(Block {
                            at: format!("{name}:{start}"),
                            marks: words[1..].to_vec(),
                            text: lines.join("\n") + "\n",
                        });
                    }
                    open = None;
                } else {
                    lines.push(line.get(*indent..).unwrap_or(line.trim_start()).to_string());
                }
            }
        }
    }
    blocks
}

/// Every markdown file of the book, and the README.
fn markdown_files() -> Vec<PathBuf> {
    let book = repo("docs/src");
    let mut out: Vec<PathBuf> = files(&book)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| book.join(p))
        .collect();
    out.push(repo("README.md"));
    out
}

/// Every ```yaml block is a whole lab file that validates, unless it is marked
/// `fragment` (part of a lab, or no lab: skipped) or `invalid` (it must be refused).
#[test]
fn lab_snippets_validate() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in markdown_files() {
        let name = path.strip_prefix(repo("")).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        for block in yaml_blocks(&name, &text) {
            let marks: Vec<&str> = block.marks.iter().map(String::as_str).collect();
            if marks.contains(&"fragment") {
                continue;
            }
            let expect_valid = !marks.contains(&"invalid");
            if let Some(other) = marks.iter().find(|m| !["invalid"].contains(m)) {
                failures.push(format!("{}: unknown mark `{other}`", block.at));
                continue;
            }
            checked += 1;
            // A block that is only `{{#include FILE}}` is that file (mdbook's include,
            // relative to the page), read as itself so its `source:` files are found.
            let source = match block.text.trim().strip_prefix("{{#include ") {
                Some(rest) => {
                    let file = path
                        .parent()
                        .unwrap()
                        .join(rest.trim_end_matches("}}").trim());
                    match std::fs::read_to_string(&file) {
                        Ok(text) => SourceFile::from_text(&file.display().to_string(), &text),
                        Err(e) => {
                            failures.push(format!("{}: {}: {e}", block.at, file.display()));
                            continue;
                        }
                    }
                }
                None => SourceFile::from_text("lab.yaml", &block.text),
            };
            let loaded = workflow::load_source(source);
            match (loaded, expect_valid) {
                (Ok(_), true) | (Err(_), false) => {}
                (Err(e), true) => failures.push(format!(
                    "{}: not a valid lab file (mark it ```yaml fragment if it is part of one): {:?}",
                    block.at,
                    miette::Report::new(e)
                )),
                (Ok(_), false) => {
                    failures.push(format!("{}: marked invalid, but it validates", block.at))
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} lab snippets checked");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `mdbook build docs` builds the book (into a scratch directory).
#[test]
fn the_book_builds() {
    let out = scratch("docs-book");
    let mdbook = ["mdbook".into(), home_bin("mdbook")]
        .into_iter()
        .find(|p: &PathBuf| Command::new(p).arg("--version").output().is_ok());
    let Some(mdbook) = mdbook else {
        panic!(
            "mdbook is not installed: `cargo xtask test` installs it, or run \
             `cargo install --locked mdbook --no-default-features --features search`"
        );
    };
    let run = Command::new(mdbook)
        .arg("build")
        .arg(repo("docs"))
        .arg("--dest-dir")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "mdbook build failed:\n{stderr}");
    // mdbook goes on past a broken `{{#include}}`, logging it: any error or warning fails.
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            ["ERROR", "WARN", "[ERROR]", "[WARN]"]
                .iter()
                .any(|w| l.starts_with(w) || l.contains(&format!(" {w} ")))
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "mdbook build complained:\n{}",
        complaints.join("\n")
    );
    assert!(out.join("index.html").is_file());
    assert!(out.join("reference/codes/duplicate_address.html").is_file());
}

/// `~/.cargo/bin/PROGRAM`, where `cargo install` puts it.
fn home_bin(program: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    home.join("bin").join(program)
}

/// A step of the workflow whose `key` (`run`, `uses`) holds `text`.
fn step<'a>(steps: &'a [serde_json::Value], key: &str, text: &str) -> &'a serde_json::Value {
    steps
        .iter()
        .find(|s| s[key].as_str().is_some_and(|v| v.contains(text)))
        .unwrap_or_else(|| panic!("no step whose {key} has {text:?}: {steps:#?}"))
}

/// The book's GitHub Actions workflow (`docs/examples/github-actions.yml`, included in
/// the page "Checks in CI") is valid YAML with the steps the page describes, and its
/// `nshost try` command line is one nshost accepts as written.
#[test]
fn the_github_actions_workflow_is_what_the_book_says() {
    let text = std::fs::read_to_string(repo("docs/examples/github-actions.yml")).unwrap();
    let page = std::fs::read_to_string(repo("docs/src/ci.md")).unwrap();
    assert!(page.contains("{{#include ../examples/github-actions.yml}}"));
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("valid YAML");
    assert_eq!(doc["on"], serde_json::json!(["push"]), "{doc:#}");
    assert_eq!(doc["permissions"]["checks"], "write");
    let jobs = doc["jobs"].as_object().expect("jobs");
    assert_eq!(jobs.len(), 1);
    let job = jobs.values().next().unwrap();
    assert_eq!(job["runs-on"], "ubuntu-latest");
    let steps = job["steps"].as_array().expect("steps");
    step(steps, "uses", "actions/checkout@");
    step(
        steps,
        "run",
        "cargo install --locked --git https://github.com/nshost/nshost nshost",
    );
    step(
        steps,
        "run",
        "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
    );
    let artifact = step(steps, "uses", "actions/upload-artifact@");
    assert_eq!(artifact["with"]["path"], "report.xml");
    let report = step(steps, "uses", "mikepenz/action-junit-report@");
    assert_eq!(report["with"]["report_paths"], "report.xml");
    for published in [artifact, report] {
        assert_eq!(
            published["if"], "${{ !cancelled() }}",
            "published when a check failed"
        );
    }
    // The command line, as nshost parses it: with `--help` after it, clap accepts every
    // argument before printing the help (exit 0), or refuses the first it does not
    // take (exit 2, as a misspelt one shows).
    let run = step(steps, "run", "nshost try")["run"].as_str().unwrap();
    let (command, redirect) = run.trim().split_once(" > ").expect("stdout to a file");
    assert_eq!(redirect, "report.xml");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["nshost", "try"]);
    assert!(command.contains("--output junit"), "{command}");
    for (args, code) in [
        (words[1..].to_vec(), 0),
        ([&words[1..], &["--outptu"]].concat(), 2),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_nshost"))
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "nshost {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
