//! nftables text: `nft list ruleset` output parsed into tables (`family name`) of
//! blocks (`chain input`, `set blocked`, ...) of lines, counters' values left out;
//! the checks a lab's nft text gets before the kernel; and the `nft -f` input that
//! replaces the lab's tables atomically.
//!
//! The tables iptables-nft makes (`ip filter`, `ip6 nat`, ...) belong to the
//! `iptables` and `ip6tables` parts, not to this one: they are left out when reading,
//! and a lab's nft text may not declare them.

use super::{Chain, Ruleset, Table, TextError, words};
use crate::firewall::xt;

/// Whether `family name` is a table iptables-nft makes.
pub fn is_xtables(family: &str, name: &str) -> bool {
    matches!(family, "ip" | "ip6") && xt::builtin_chains(name).is_some()
}

/// Braces opened minus closed on a line, outside quotes.
fn depth_change(line: &str) -> i32 {
    let mut quoted = false;
    let mut d = 0;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => d += 1,
            '}' if !quoted => d -= 1,
            _ => {}
        }
    }
    d
}

/// A line without the values of its anonymous counters (`counter packets 3 bytes 180`
/// is `counter`), which change with traffic.
fn without_counts(line: &str) -> String {
    let w = words(line);
    let mut out: Vec<&str> = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        if matches!(w[i], "packets" | "bytes")
            && i + 1 < w.len()
            && w[i + 1].chars().all(|c| c.is_ascii_digit())
            && out.last().is_some_and(|p| {
                matches!(*p, "counter" | "packets" | "bytes")
                    || p.chars().all(|c| c.is_ascii_digit())
            })
        {
            i += 2;
            continue;
        }
        out.push(w[i]);
        i += 1;
    }
    out.join(" ")
}

/// Parses `nft list ruleset` output (iptables-nft's tables left out).
pub fn parse_listing(text: &str) -> Result<Ruleset, Vec<TextError>> {
    let mut rs = Ruleset::default();
    let mut errors = Vec::new();
    // (key, table, keep) of the open table; the open block's name.
    let mut table: Option<(String, Table, bool)> = None;
    let mut block: Option<String> = None;
    let mut depth = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let change = depth_change(line);
        match depth {
            0 => {
                let w = words(line);
                if w.first() == Some(&"table") && line.ends_with('{') && w.len() >= 3 {
                    let (family, name) = if w.len() >= 4 {
                        (w[1], w[2])
                    } else {
                        ("ip", w[1])
                    };
                    let name = name.trim_end_matches('{');
                    table = Some((
                        format!("{family} {name}"),
                        Table::default(),
                        !is_xtables(family, name),
                    ));
                } else {
                    errors.push(TextError::at(
                        n,
                        format!("`{line}` is not the start of a table"),
                    ));
                }
            }
            1 if change > 0 => {
                block = Some(line.trim_end_matches('{').trim().to_string());
            }
            1 if change < 0 => {
                if let Some((key, t, keep)) = table.take()
                    && keep
                {
                    rs.tables.insert(key, t);
                }
            }
            1 => {
                if let Some((_, t, _)) = table.as_mut() {
                    t.chains
                        .entry(String::new())
                        .or_default()
                        .rules
                        .push(without_counts(line));
                }
            }
            _ => {
                let closes_block = depth == 2 && change < 0 && line == "}";
                if !closes_block && let (Some((_, t, _)), Some(b)) = (table.as_mut(), &block) {
                    t.chains
                        .entry(b.clone())
                        .or_default()
                        .rules
                        .push(without_counts(line));
                }
                if depth + change == 1
                    && let (Some((_, t, _)), Some(b)) = (table.as_mut(), block.take())
                {
                    t.chains.entry(b).or_default();
                }
            }
        }
        depth += change;
        if depth < 0 {
            errors.push(TextError::at(n, "a `}` closes nothing"));
            depth = 0;
        }
    }
    if depth != 0 {
        errors.push(TextError {
            line: None,
            message: "a `{` is never closed".into(),
        });
    }
    if errors.is_empty() {
        Ok(rs)
    } else {
        Err(errors)
    }
}

/// The checks a lab's nft text gets before the kernel: it declares no table of
/// iptables-nft's (those are the `iptables` and `ip6tables` parts) and does not flush
/// the whole ruleset (which would remove them).
pub fn check(text: &str) -> Vec<TextError> {
    let mut errors = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let w = words(raw.trim());
        let w: &[&str] = match w.first() {
            Some(&"add" | &"create" | &"delete" | &"flush" | &"destroy")
                if w.get(1) == Some(&"table") =>
            {
                &w[1..]
            }
            _ => &w,
        };
        if w.first() == Some(&"flush") && w.get(1) == Some(&"ruleset") {
            errors.push(TextError::at(
                n,
                "`flush ruleset` would remove the iptables tables too; nshost replaces the lab's nft tables itself",
            ));
        }
        if w.first() == Some(&"table") && w.len() >= 3 {
            let (family, name) = (w[1], w[2].trim_end_matches('{'));
            if is_xtables(family, name) {
                errors.push(TextError::at(
                    n,
                    format!(
                        "table `{family} {name}` is iptables-nft's: write its rules under `{}`",
                        if family == "ip" {
                            "iptables"
                        } else {
                            "ip6tables"
                        }
                    ),
                ));
            }
        }
    }
    errors
}

/// The nft text of a ruleset, as `nft list ruleset` writes it (and `nft -f` reads).
pub fn text(rs: &Ruleset) -> String {
    let mut out = String::new();
    for (key, t) in &rs.tables {
        out.push_str(&format!("table {key} {{\n"));
        if let Some(top) = t.chains.get("") {
            for l in &top.rules {
                out.push_str(&format!("\t{l}\n"));
            }
        }
        for (name, Chain { rules, .. }) in t.chains.iter().filter(|(k, _)| !k.is_empty()) {
            out.push_str(&format!("\t{name} {{\n"));
            for l in rules {
                out.push_str(&format!("\t\t{l}\n"));
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n");
    }
    out
}

/// The `nft -f` input, one transaction, that replaces every table of `live` with
/// `want`'s (`delete table` of each live one first).
pub fn load_text(want: &Ruleset, live: &Ruleset) -> String {
    let mut out = String::new();
    for key in live.tables.keys() {
        out.push_str(&format!("delete table {key}\n"));
    }
    out.push_str(&text(want));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
table ip filter {
\tchain INPUT {
\t\ttype filter hook input priority filter; policy drop;
\t\tiifname \"lo\" counter packets 0 bytes 0 accept
\t}
}
table inet t {
\tflags dormant
\tset s {
\t\ttype ipv4_addr
\t\telements = { 1.2.3.4, 5.6.7.8,
\t\t\t     9.9.9.9 }
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\ttcp dport 22 counter packets 12 bytes 720 accept comment \"a { b\"
\t}
\tchain empty {
\t}
}
";

    #[test]
    fn parses_a_listing_without_iptables_tables_and_counts() {
        let rs = parse_listing(LISTING).unwrap();
        insta::assert_debug_snapshot!(rs);
        assert_eq!(parse_listing(&text(&rs)).unwrap(), rs);
    }

    #[test]
    fn iptables_tables_and_flush_ruleset_are_refused() {
        let errors = check(
            "flush ruleset\ntable ip filter {\n}\ntable inet filter {\n}\nadd table ip6 nat\n",
        );
        let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [Some(0), Some(1), Some(5)], "{errors:?}");
    }
}
