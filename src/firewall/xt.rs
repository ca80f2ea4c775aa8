//! iptables-save text (IPv4 and IPv6): parsed into a [`Ruleset`], checked enough for
//! located errors, and written back as iptables-restore input.
//!
//! A line is `*table`, `:CHAIN POLICY [packets:bytes]`, `-A CHAIN ...` (optionally
//! after `[packets:bytes]`), `COMMIT`, a `#` comment or blank. Counters and comments
//! are dropped; a table whose chains are only built-in ones, empty and accepting, is the
//! same as no table (iptables-nft shows one after it was flushed).

use std::collections::BTreeMap;

use super::{Chain, Ruleset, Table, TextError, words};

/// The tables iptables knows, with their built-in chains in iptables-save's order.
pub const TABLES: [(&str, &[&str]); 5] = [
    ("filter", &["INPUT", "FORWARD", "OUTPUT"]),
    ("nat", &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"]),
    (
        "mangle",
        &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
    ),
    ("raw", &["PREROUTING", "OUTPUT"]),
    ("security", &["INPUT", "FORWARD", "OUTPUT"]),
];

/// The built-in chains of `table`, if it is one iptables knows.
pub fn builtin_chains(table: &str) -> Option<&'static [&'static str]> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, c)| *c)
}

/// A table as iptables makes it: its built-in chains, empty and accepting.
pub fn empty_table(name: &str) -> Table {
    let mut table = Table::default();
    for c in builtin_chains(name).unwrap_or(&[]) {
        table.chains.insert(
            c.to_string(),
            Chain {
                policy: Some("ACCEPT".into()),
                rules: Vec::new(),
            },
        );
    }
    table
}

/// The options by which a rule names an ipset.
const SET_OPTIONS: [&str; 4] = ["--match-set", "--add-set", "--del-set", "--map-set"];

/// The ipsets a rule (an `-A` line after its chain) names.
pub fn rule_sets(rule: &str) -> Vec<&str> {
    let w = words(rule);
    w.iter()
        .zip(w.iter().skip(1))
        .filter(|(option, _)| SET_OPTIONS.contains(option))
        .map(|(_, set)| set.trim_matches('"'))
        .collect()
}

/// `rs` without the rules that name one of `sets`.
pub fn without_sets(rs: &Ruleset, sets: &[&str]) -> Ruleset {
    let mut out = rs.clone();
    for chain in out.tables.values_mut().flat_map(|t| t.chains.values_mut()) {
        chain
            .rules
            .retain(|r| !rule_sets(r).iter().any(|s| sets.contains(s)));
    }
    out
}

/// A reference from a rule to an ipset: the line (0-based) and the set's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRef {
    pub line: usize,
    pub set: String,
}

/// A parsed text: its tables, and the ipsets its rules name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub ruleset: Ruleset,
    pub set_refs: Vec<SetRef>,
}

/// Strips a leading `[packets:bytes]` counter.
fn strip_counter(s: &str) -> &str {
    let t = s.trim_start();
    if t.starts_with('[')
        && let Some(end) = t.find(']')
        && t[1..end]
            .split(':')
            .all(|n| n.chars().all(|c| c.is_ascii_digit()))
    {
        return t[end + 1..].trim_start();
    }
    t
}

/// Parses iptables-save text, reporting every problem with its line.
pub fn parse(text: &str) -> Result<Parsed, Vec<TextError>> {
    let mut errors = Vec::new();
    let mut out = Parsed::default();
    // The open table: name, its line, its chains.
    let mut open: Option<(String, usize, Table)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('*') {
            if let Some((t, at, _)) = &open {
                errors.push(TextError::at(
                    *at,
                    format!("table `{t}` is never COMMITted (`*{name}` starts another)"),
                ));
            }
            let name = name.trim().to_string();
            let table = empty_table(&name);
            match builtin_chains(&name) {
                Some(_) => {}
                None => errors.push(TextError::at(
                    n,
                    format!(
                        "`{name}` is not an iptables table (filter, nat, mangle, raw, security)"
                    ),
                )),
            }
            if out.ruleset.tables.contains_key(&name) {
                errors.push(TextError::at(n, format!("table `{name}` appears twice")));
            }
            open = Some((name, n, table));
            continue;
        }
        let Some((tname, _, table)) = open.as_mut() else {
            errors.push(TextError::at(
                n,
                format!("`{line}` is outside a table (a table starts with `*filter`, ...)"),
            ));
            continue;
        };
        if line == "COMMIT" {
            let (name, _, table) = open.take().expect("open");
            out.ruleset.tables.insert(name, table);
            continue;
        }
        if let Some(decl) = line.strip_prefix(':') {
            let w = words(decl);
            let (Some(chain), Some(policy)) = (w.first(), w.get(1)) else {
                errors.push(TextError::at(
                    n,
                    "a chain is declared as `:NAME POLICY [0:0]`",
                ));
                continue;
            };
            let builtin = builtin_chains(tname).is_some_and(|b| b.contains(chain));
            let policy = match (*policy, builtin) {
                ("-", false) => None,
                ("ACCEPT" | "DROP", true) => Some(policy.to_string()),
                (p, true) => {
                    errors.push(TextError::at(
                        n,
                        format!(
                            "the policy of built-in chain {chain} is ACCEPT or DROP, not `{p}`"
                        ),
                    ));
                    continue;
                }
                (p, false) => {
                    errors.push(TextError::at(
                        n,
                        format!("user chain {chain} has no policy: write `-`, not `{p}`"),
                    ));
                    continue;
                }
            };
            let entry = table.chains.entry(chain.to_string()).or_default();
            entry.policy = policy;
            continue;
        }
        if let Some(rule) = strip_counter(line).strip_prefix("-A ") {
            let w = words(rule);
            let Some(chain) = w.first() else {
                errors.push(TextError::at(n, "`-A` needs a chain"));
                continue;
            };
            let Some(c) = table.chains.get_mut(*chain) else {
                errors.push(TextError::at(
                    n,
                    format!(
                        "chain `{chain}` is not declared in table `{tname}` (`:{chain} - [0:0]`)"
                    ),
                ));
                continue;
            };
            for (i, word) in w.iter().enumerate() {
                if SET_OPTIONS.contains(word)
                    && let Some(set) = w.get(i + 1)
                {
                    out.set_refs.push(SetRef {
                        line: n,
                        set: set.trim_matches('"').to_string(),
                    });
                }
            }
            c.rules.push(w[1..].join(" "));
            continue;
        }
        errors.push(TextError::at(
            n,
            format!(
                "`{}` is not an iptables-save line (`*table`, `:CHAIN POLICY [0:0]`, `-A CHAIN ...`, `COMMIT` or a `#` comment)",
                first_words(line)
            ),
        ));
    }
    if let Some((t, at, _)) = open {
        errors.push(TextError::at(at, format!("table `{t}` is never COMMITted")));
    }
    errors.sort_by_key(|e| e.line);
    if errors.is_empty() {
        out.ruleset = canonical(out.ruleset);
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The start of a line, for messages.
fn first_words(line: &str) -> String {
    let w = words(line);
    let mut s = w.iter().take(3).copied().collect::<Vec<_>>().join(" ");
    if w.len() > 3 {
        s.push_str(" ...");
    }
    s
}

/// Drops the tables that hold nothing: only built-in chains, empty and accepting.
pub fn canonical(mut rs: Ruleset) -> Ruleset {
    rs.tables.retain(|name, t| !is_empty_table(name, t));
    rs
}

fn is_empty_table(name: &str, t: &Table) -> bool {
    let builtins = builtin_chains(name).unwrap_or(&[]);
    t.chains.iter().all(|(c, chain)| {
        builtins.contains(&c.as_str())
            && chain.rules.is_empty()
            && chain.policy.as_deref() == Some("ACCEPT")
    })
}

/// The iptables-restore input that makes the kernel hold exactly `rs`, replacing every
/// table of `live` too (each table it names is replaced whole; a table only `live`
/// has is emptied).
pub fn restore_text(rs: &Ruleset, live: &Ruleset) -> String {
    let mut tables: BTreeMap<&str, Option<&Table>> = BTreeMap::new();
    for name in live.tables.keys() {
        tables.insert(name, None);
    }
    for (name, t) in &rs.tables {
        tables.insert(name, Some(t));
    }
    let mut out = String::new();
    for (name, table) in tables {
        out.push_str(&format!("*{name}\n"));
        let builtins = builtin_chains(name).unwrap_or(&[]);
        match table {
            Some(t) => {
                // Built-in chains first, in their order, then user chains.
                let mut order: Vec<&String> = t
                    .chains
                    .keys()
                    .filter(|c| builtins.contains(&c.as_str()))
                    .collect();
                order.sort_by_key(|c| builtins.iter().position(|b| b == c));
                order.extend(t.chains.keys().filter(|c| !builtins.contains(&c.as_str())));
                for c in &order {
                    let policy = t.chains[*c].policy.as_deref().unwrap_or("-");
                    out.push_str(&format!(":{c} {policy} [0:0]\n"));
                }
                for c in &order {
                    for r in &t.chains[*c].rules {
                        out.push_str(&format!("-A {c} {r}\n"));
                    }
                }
            }
            None => {
                for c in builtins {
                    out.push_str(&format!(":{c} ACCEPT [0:0]\n"));
                }
            }
        }
        out.push_str("COMMIT\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# Generated by iptables-save v1.8.7 on Mon Jul  1 10:00:00 2025
*filter
:INPUT DROP [10:200]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:MGMT - [0:0]
-A INPUT -i lo -j ACCEPT
[3:120] -A INPUT -s 10.1.0.0/16 -p tcp --dport 22 -j LOG --log-prefix \"MGMT 22: \"
-A INPUT -m set --match-set blocked src -j DROP
-A MGMT -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
";

    #[test]
    fn parses_counters_quotes_and_set_references() {
        let p = parse(TEXT).unwrap();
        insta::assert_debug_snapshot!(p);
    }

    #[test]
    fn restore_text_round_trips_and_empties_live_tables() {
        let p = parse(TEXT).unwrap();
        let mut live = Ruleset::default();
        live.tables.insert("mangle".into(), Table::default());
        let text = restore_text(&p.ruleset, &live);
        insta::assert_snapshot!(text);
        let again = parse(&text).unwrap();
        assert_eq!(again.ruleset, p.ruleset);
    }

    #[test]
    fn rules_naming_sets_are_found_and_left_out() {
        let p = parse(TEXT).unwrap();
        let input = &p.ruleset.tables["filter"].chains["INPUT"].rules;
        assert_eq!(rule_sets(&input[2]), ["blocked"]);
        assert_eq!(
            rule_sets("-j SET --add-set \"a\" src --del-set b dst"),
            ["a", "b"]
        );
        let without = without_sets(&p.ruleset, &["blocked"]);
        let left = &without.tables["filter"].chains["INPUT"].rules;
        assert_eq!(left[..], input[..2]);
        assert_eq!(without_sets(&p.ruleset, &["other"]), p.ruleset);
    }

    #[test]
    fn located_errors() {
        let text = "\
*filter
:INPUT DROP [0:0]
-A NOPE -j ACCEPT
-I INPUT 1 -j DROP
:USER ACCEPT [0:0]
*nat
*bogus
COMMIT
";
        let errors = parse(text).unwrap_err();
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.line.unwrap() + 1, e.message))
            .collect();
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn a_rule_outside_a_table_and_an_uncommitted_table() {
        let errors = parse("-A INPUT -j ACCEPT\n*filter\n-A INPUT -j ACCEPT\n").unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, Some(0));
        assert_eq!(errors[1].line, Some(1));
        assert!(errors[1].message.contains("never COMMITted"), "{errors:?}");
    }
}
