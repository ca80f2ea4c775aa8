//! ipset save text: `create NAME TYPE OPTIONS...` and `add NAME MEMBER...` lines,
//! parsed into sets by name with their members, and written back as ipset restore
//! input. The random `initval` of a hash set is left out of its header.

use std::collections::{BTreeMap, BTreeSet};

use super::{IpSet, TextError, words};

/// Parses ipset save text, reporting every problem with its line.
pub fn parse(text: &str) -> Result<BTreeMap<String, IpSet>, Vec<TextError>> {
    let mut sets: BTreeMap<String, IpSet> = BTreeMap::new();
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w = words(line);
        match (w[0], w.get(1)) {
            ("create" | "-N", Some(name)) => {
                if w.len() < 3 {
                    errors.push(TextError::at(n, format!("set `{name}` needs a type (`hash:ip`, ...)")));
                    continue;
                }
                if name.len() > 31 {
                    errors.push(TextError::at(n, format!("set name `{name}` is longer than 31 bytes")));
                }
                if sets.contains_key(*name) {
                    errors.push(TextError::at(n, format!("set `{name}` is created twice")));
                    continue;
                }
                sets.insert(
                    name.to_string(),
                    IpSet {
                        header: header(&w[2..]),
                        members: BTreeSet::new(),
                    },
                );
            }
            ("add" | "-A", Some(name)) => match sets.get_mut(*name) {
                Some(set) if w.len() >= 3 => {
                    set.members.insert(w[2..].join(" "));
                }
                Some(_) => errors.push(TextError::at(n, format!("`add {name}` needs a member"))),
                None => errors.push(TextError::at(
                    n,
                    format!("set `{name}` is not created before this line (`create {name} hash:ip`)"),
                )),
            },
            (cmd, _) => errors.push(TextError::at(
                n,
                format!("`{cmd}` is not an ipset save line (`create NAME TYPE ...` or `add NAME MEMBER`)"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(sets)
    } else {
        Err(errors)
    }
}

/// A set's type and options, without the random `initval`.
fn header(w: &[&str]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < w.len() {
        if w[i] == "initval" {
            i += 2;
            continue;
        }
        out.push(w[i]);
        i += 1;
    }
    out.join(" ")
}

/// The `ipset restore` input that creates `sets` and fills them.
pub fn restore_text<'a>(sets: impl IntoIterator<Item = (&'a String, &'a IpSet)>) -> String {
    let mut out = String::new();
    for (name, set) in sets {
        out.push_str(&format!("create {name} {}\n", set.header));
        for m in &set.members {
            out.push_str(&format!("add {name} {m}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let text = "\
create blocked hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xfc531918
add blocked 10.0.0.2
add blocked 10.0.0.1

create r bitmap:ip range 10.1.1.0-10.1.1.255
add r 10.1.1.10
create ports bitmap:port range 1-1024
";
        let sets = parse(text).unwrap();
        assert_eq!(
            sets["blocked"].header,
            "hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12"
        );
        let written = restore_text(&sets);
        insta::assert_snapshot!(written);
        assert_eq!(parse(&written).unwrap(), sets);
    }

    #[test]
    fn located_errors() {
        let errors =
            parse("add nope 1.2.3.4\ncreate a hash:ip\ncreate a hash:ip\nflush a\ncreate b\n")
                .unwrap_err();
        let lines: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line.unwrap(), e.message.as_str()))
            .collect();
        insta::assert_debug_snapshot!(lines);
    }
}
