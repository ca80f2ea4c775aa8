//! Tests of the codes: their strings are distinct and parse back, and the sources write
//! no code but through [`Code`].

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::Code;

#[test]
fn codes_are_distinct_snake_case_names_that_parse_back() {
    let mut seen = std::collections::HashSet::new();
    for &code in Code::ALL {
        let s = code.as_str();
        assert_eq!(s.strip_prefix("nshost::"), Some(code.name()), "{s}");
        assert!(
            code.name().split("::").all(|part| !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')),
            "{s}"
        );
        assert!(seen.insert(s), "{s} twice");
        assert_eq!(Code::from_str(s), Ok(code));
        assert_eq!(code.to_string(), s);
        let explained = code.explain();
        assert!(
            explained.ends_with('.') && !explained.contains('\n') && explained.len() > 10,
            "{s}: {explained:?}"
        );
    }
    assert!(Code::from_str("nshost::no_such_code").is_err());
    assert!(Code::from_str("wrong_type").is_err());
}

#[test]
fn some_codes_keep_their_strings() {
    // Scripts match on these: a code's string never changes.
    assert_eq!(Code::WrongType.as_str(), "nshost::wrong_type");
    assert_eq!(Code::DuplicateAddress.as_str(), "nshost::duplicate_address");
    assert_eq!(Code::ImportNoFacts.as_str(), "nshost::import::no_facts");
    assert_eq!(Code::Invalid.as_str(), "nshost::invalid");
}

/// Every `.rs` file under `src/`, with its text up to its test module (whole files of
/// tests are left out).
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    assert!(files.len() > 100, "found {} files", files.len());
    files
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name != "tests.rs" && !name.ends_with("_tests.rs")
        })
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a source file is text");
            let lines: Vec<&str> = text.lines().collect();
            let end = lines
                .windows(2)
                .position(|w| {
                    w[0].trim() == "#[cfg(test)]"
                        && w[1].trim_start().starts_with("mod ")
                        && w[1].trim_end().ends_with('{')
                })
                .unwrap_or(lines.len());
            (p, lines[..end].join("\n"))
        })
        .collect()
}

#[test]
fn no_source_writes_a_code_as_a_string() {
    let own = Path::new(file!()).with_file_name("code.rs");
    let mut found = Vec::new();
    for (path, text) in sources() {
        if path.ends_with(&own) {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            if line.contains("\"nshost::") {
                found.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "write these codes as `Code` variants:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_diagnostic_code_attribute_is_a_code() {
    let mut attributes = 0;
    let mut unknown = Vec::new();
    for (path, text) in sources() {
        for (at, _) in text.match_indices("code(nshost::") {
            let rest = &text[at + "code(".len()..];
            let end = rest.find(')').expect("an attribute closes");
            let name = &rest[..end];
            attributes += 1;
            if Code::from_str(name).is_err() {
                unknown.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert!(attributes > 40, "found {attributes} attributes");
    assert!(unknown.is_empty(), "add to `Code`:\n{}", unknown.join("\n"));
}

#[test]
fn every_code_is_reported_somewhere() {
    let sources = sources();
    let own = Path::new(file!()).with_file_name("code.rs");
    let unused: Vec<Code> = Code::ALL
        .iter()
        .copied()
        .filter(|code| {
            let variant = format!("Code::{code:?}");
            let attribute = format!("code({})", code.as_str());
            !sources.iter().any(|(path, text)| {
                !path.ends_with(&own) && (has_word(text, &variant) || text.contains(&attribute))
            })
        })
        .collect();
    assert!(unused.is_empty(), "codes nothing reports: {unused:?}");
}

/// Whether `text` holds `word` not followed by more of an identifier.
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        !text[at + word.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}
