//! The layering the code has: `src/lib.rs` lists the modules bottom up, and no module
//! imports (`crate::name`) one listed after it. Test code (`*tests.rs` files and
//! `#[cfg(test)] mod tests { .. }` blocks) may reach anywhere; comments are not read.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The modules of `src/lib.rs`, in the order they are declared.
fn layers() -> Vec<String> {
    let lib = fs::read_to_string("src/lib.rs").expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a source file that is not test code, without comments.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod ") && n.trim_end().ends_with('{'))
        {
            break; // test modules close their files
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = line.split(" // ").next().unwrap_or_default();
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The top-level modules a piece of code names as `crate::x` or `crate::{x, y}`.
fn imports(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `nshost_crate::`, not ours
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => return true,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    false
                })
                .map_or(group.len(), |(j, _)| j);
            let mut depth = 0;
            let mut start = true;
            let mut word = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ if !word.is_empty() => {
                        out.push(std::mem::take(&mut word));
                        start = false;
                    }
                    _ => {}
                }
            }
            if !word.is_empty() {
                out.push(word);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix("src").expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_import_runs_back_up_a_layer() {
    let order = layers();
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let mut upward = Vec::new();
    let mut seen = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let module = module_of(&path);
        let Some(&own) = rank.get(module.as_str()) else {
            continue; // main.rs, lib.rs and the command line: above every layer
        };
        let text = fs::read_to_string(&path).expect("a source file");
        for used in imports(&code(&text)) {
            seen += 1;
            match rank.get(used.as_str()) {
                Some(&r) if r > own => {
                    upward.push(format!("{} uses crate::{used}", path.display()))
                }
                Some(_) => {}
                // Macros exported at the crate's root (`crate::outln!`).
                None if matches!(used.as_str(), "out" | "outln" | "errln") => {}
                None => panic!(
                    "{}: crate::{used} is not a module of src/lib.rs",
                    path.display()
                ),
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(seen > 500, "only {seen} imports read: the scan is broken");
    assert!(
        upward.is_empty(),
        "imports that run back up a layer (src/lib.rs lists the layers):\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_scan_reads_grouped_and_plain_imports_and_skips_comments_and_tests() {
    let text = "use crate::a::b;\nuse crate::{c::{d, e}, f};\n// crate::g\nlet x = crate::h::i();\n\
                #[cfg(test)]\nmod tests {\n    use crate::j;\n}\n";
    assert_eq!(imports(&code(text)), ["a", "c", "f", "h"]);
}
