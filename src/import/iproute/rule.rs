//! `ip rule show`: `PRIORITY:<tab>[not] SELECTOR... ACTION`. Read tolerantly (recorded
//! outputs are not always exactly iproute2's): selectors in any order, `all` for an
//! unset prefix, `table` or `lookup`, hexadecimal or decimal numbers, the TOS names.

use crate::import::facts::{At, RuleAction, RuleFact, Unread};

/// The rules of an `ip rule show` output.
pub fn rules(file: &str, lines: &[(usize, String)]) -> (Vec<RuleFact>, Vec<Unread>) {
    let mut out = Vec::new();
    let mut unread = Vec::new();
    for (n, line) in lines {
        let at = At {
            file: file.to_string(),
            line: *n,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        match rule(trimmed) {
            Ok(mut r) => {
                r.at = Some(at);
                out.push(r);
            }
            Err(reason) => unread.push(Unread {
                at,
                text: trimmed.to_string(),
                reason,
            }),
        }
    }
    (out, unread)
}

fn rule(text: &str) -> Result<RuleFact, String> {
    let (prio, rest) = text
        .split_once(':')
        .ok_or("no `PRIORITY:` at the start of the rule")?;
    let priority = prio
        .trim()
        .parse()
        .map_err(|_| format!("priority `{}` is no number", prio.trim()))?;
    let mut r = RuleFact {
        priority,
        text: text.to_string(),
        ..RuleFact::default()
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let key = words[i];
        let value = words.get(i + 1).copied();
        let need = || value.ok_or_else(|| format!("`{key}` without a value"));
        let mut step = 2;
        match key {
            "not" => {
                r.not = true;
                step = 1;
            }
            "from" | "to" => {
                let v = need()?;
                let net = if v == "all" {
                    None
                } else {
                    Some(super::prefix(v).ok_or_else(|| format!("`{v}` is no prefix"))?)
                };
                if key == "from" {
                    r.from = net
                } else {
                    r.to = net
                }
            }
            "iif" | "oif" => {
                let v = need()?.to_string();
                // `[detached]` follows an interface the namespace lacks.
                if words.get(i + 2) == Some(&"[detached]") {
                    step = 3;
                }
                if key == "iif" {
                    r.iif = Some(v)
                } else {
                    r.oif = Some(v)
                }
            }
            "fwmark" => {
                let v = need()?;
                let (mark, mask) = match v.split_once('/') {
                    Some((m, k)) => (m, Some(k)),
                    None => (v, None),
                };
                r.fwmark = Some(super::number(mark).ok_or_else(|| format!("fwmark `{v}`"))?);
                r.fwmask = match mask {
                    Some(k) => Some(super::number(k).ok_or_else(|| format!("fwmark `{v}`"))?),
                    None => None,
                };
            }
            "tos" | "dsfield" => {
                let v = need()?;
                r.tos = Some(tos(v).ok_or_else(|| format!("tos `{v}` is no TOS value"))?);
            }
            "ipproto" => r.ipproto = Some(need()?.to_string()),
            "sport" => r.sport = Some(need()?.to_string()),
            "dport" => r.dport = Some(need()?.to_string()),
            "uidrange" => r.uidrange = Some(need()?.to_string()),
            "suppress_prefixlength" => {
                let v = need()?;
                r.suppress_prefixlength = Some(
                    v.parse()
                        .map_err(|_| format!("suppress_prefixlength `{v}`"))?,
                );
            }
            "lookup" | "table" => set(&mut r, RuleAction::Lookup(need()?.to_string()))?,
            "goto" => {
                let v = need()?;
                set(
                    &mut r,
                    RuleAction::Goto(v.parse().map_err(|_| format!("goto `{v}`"))?),
                )?;
            }
            "nop" | "blackhole" | "unreachable" | "prohibit" => {
                step = 1;
                let action = match key {
                    "nop" => RuleAction::Nop,
                    "blackhole" => RuleAction::Blackhole,
                    "unreachable" => RuleAction::Unreachable,
                    _ => RuleAction::Prohibit,
                };
                set(&mut r, action)?;
            }
            // What `ip rule show` prints of a `goto` whose target is missing.
            "[unresolved]" => step = 1,
            other => {
                return Err(format!(
                    "`{other}`: a rule selector the importer does not read"
                ));
            }
        }
        i += step;
    }
    if r.action.is_none() {
        return Err("a rule without an action (`lookup`, `goto`, ...)".into());
    }
    Ok(r)
}

fn set(r: &mut RuleFact, action: RuleAction) -> Result<(), String> {
    if r.action.is_some() {
        return Err("a rule with two actions".into());
    }
    r.action = Some(action);
    Ok(())
}

/// A TOS value as iproute2 prints or takes it: a number or one of `rt_dsfield`'s names.
fn tos(text: &str) -> Option<u8> {
    let named = match text {
        "lowdelay" => Some(0x10),
        "throughput" => Some(0x08),
        "reliability" => Some(0x04),
        "mincost" => Some(0x02),
        _ => None,
    };
    named.or_else(|| super::number(text).and_then(|n| u8::try_from(n).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<RuleFact, String> {
        rule(text)
    }

    #[test]
    fn rules_read_tolerantly() {
        let r = one("0:\tfrom all lookup local").unwrap();
        assert!(r.is_kernel_default());
        let r = one("50:\tfrom 10.1.1.0/24 lookup priority_table").unwrap();
        assert_eq!(r.from.unwrap().to_string(), "10.1.1.0/24");
        assert!(!r.is_kernel_default());
        let r = one("66:\tfwmark 0x1 lookup priority_table").unwrap();
        assert_eq!((r.fwmark, r.fwmask), (Some(1), None));
        let r = one("67: fwmark 0x100/0xff00 table 200").unwrap();
        assert_eq!((r.fwmark, r.fwmask), (Some(0x100), Some(0xff00)));
        assert_eq!(r.action, Some(RuleAction::Lookup("200".into())));
        assert_eq!(one("69:\ttos 0x10 lookup x").unwrap().tos, Some(16));
        assert_eq!(one("69:\ttos lowdelay lookup x").unwrap().tos, Some(16));
        let r = one("71:\tto 0.0.0.0/0 lookup service_table").unwrap();
        assert_eq!(r.to.unwrap().to_string(), "0.0.0.0/0");
        let r = one("76:\tnot oif wg9 [detached] lookup backup_table").unwrap();
        assert!(r.not && r.oif.as_deref() == Some("wg9"));
        let r = one("80:\tfrom all iif lo uidrange 100-200 goto 90").unwrap();
        assert_eq!(r.action, Some(RuleAction::Goto(90)));
        assert_eq!(r.uidrange.as_deref(), Some("100-200"));
        let r = one("81:\tfrom all lookup main suppress_prefixlength 0").unwrap();
        assert_eq!(r.suppress_prefixlength, Some(0));
        assert_eq!(
            one("82:\tfrom all blackhole").unwrap().action,
            Some(RuleAction::Blackhole)
        );
        assert!(
            one("83:\tfrom all realms 4 lookup main")
                .unwrap_err()
                .contains("realms")
        );
        assert!(one("from all lookup main").is_err());
        assert!(one("84:\tfrom all").unwrap_err().contains("action"));
        assert!(
            one("85:\tlookup a lookup b")
                .unwrap_err()
                .contains("two actions")
        );
    }
}
