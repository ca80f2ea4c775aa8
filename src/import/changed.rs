//! What an import keeps, but a lab's kernel will not hold as the input says: an
//! iptables LOG prefix longer than the kernel keeps, a table with no rule and every
//! chain accepting (the same as none: nshost does not create it), a policy rule on an
//! interface the router lacks (the kernel keeps it detached: it matches nothing).
//! Each is reported with the approximated facts, located.

use super::facts::{At, RouterFacts, Text};
use super::report::LeftOutFact;
use crate::firewall::words;

/// The longest LOG prefix the kernel keeps (`struct ipt_log_info`'s 30 bytes, NUL
/// included); a longer one is cut to it.
pub const LOG_PREFIX_MAX: usize = 29;

/// The approximations of `rf`'s iptables text and rules, added to `out`.
pub(super) fn router(rf: &RouterFacts, out: &mut Vec<LeftOutFact>) {
    if let Some(t) = &rf.iptables {
        iptables(rf, t, out);
    }
    let has = |name: &str| rf.interfaces.iter().any(|i| i.name == name);
    for rule in &rf.rules {
        for (word, dev) in [("iif", &rule.iif), ("oif", &rule.oif)] {
            let Some(dev) = dev.as_deref().filter(|d| !has(d)) else {
                continue;
            };
            let at = rule.at.clone().unwrap_or(At {
                file: rf.file.clone(),
                line: 0,
            });
            out.push(fact(
                "rule",
                rf,
                &at,
                &rule.text,
                format!(
                    "the router has no device {dev}: the kernel keeps the rule on {word} {dev} \
                     detached, and it matches nothing"
                ),
            ));
        }
    }
}

fn fact(what: &str, rf: &RouterFacts, at: &At, text: &str, reason: String) -> LeftOutFact {
    LeftOutFact {
        what: what.into(),
        router: rf.name.clone(),
        file: at.file.clone(),
        line: at.line,
        text: text.trim().to_string(),
        reason,
    }
}

/// LOG prefixes the kernel cuts, and empty tables.
fn iptables(rf: &RouterFacts, t: &Text, out: &mut Vec<LeftOutFact>) {
    let at = |i: usize| At {
        file: t.at.file.clone(),
        line: t.lines.get(i).copied().unwrap_or(t.at.line),
    };
    // The open table: its name, the index of its `*` line, and whether it holds
    // anything but empty accepting built-in chains.
    let mut open: Option<(&str, usize, bool)> = None;
    for (i, line) in t.text.lines().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('*') {
            open = Some((name.trim(), i, false));
        } else if line == "COMMIT" {
            if let Some((name, start, false)) = open.take() {
                out.push(fact(
                    "iptables table",
                    rf,
                    &at(start),
                    &format!("*{name}"),
                    format!(
                        "the {name} table holds no rule and every chain accepts: the same as no \
                         {name} table, which is how the lab has it (nshost does not create it)"
                    ),
                ));
            }
        } else if let Some(decl) = line.strip_prefix(':') {
            let w = words(decl);
            let builtin = crate::firewall::xt::builtin_chains(open.map_or("", |o| o.0))
                .is_some_and(|b| w.first().is_some_and(|c| b.contains(c)));
            if !(builtin && w.get(1) == Some(&"ACCEPT"))
                && let Some(o) = open.as_mut()
            {
                o.2 = true;
            }
        } else if line.starts_with("-A ") || line.starts_with('[') {
            if let Some(o) = open.as_mut() {
                o.2 = true;
            }
            let w = words(line);
            if let Some(k) = w.iter().position(|x| *x == "--log-prefix")
                && let Some(prefix) = w.get(k + 1)
            {
                let prefix = prefix.trim_matches('"');
                if prefix.len() > LOG_PREFIX_MAX {
                    let mut end = LOG_PREFIX_MAX;
                    while !prefix.is_char_boundary(end) {
                        end -= 1;
                    }
                    let kept = &prefix[..end];
                    out.push(fact(
                        "iptables rule",
                        rf,
                        &at(i),
                        line,
                        format!(
                            "the LOG prefix is {} characters; the kernel keeps the first \
                             {LOG_PREFIX_MAX}: \"{kept}\"",
                            prefix.len()
                        ),
                    ));
                }
            }
        }
    }
}
