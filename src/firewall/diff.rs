//! What differs between two firewalls, per part, table and chain, rule by rule: the
//! plan's view of a firewall change (`+ -A INPUT -s 10.1.0.0/16 -j ACCEPT` under
//! `iptables filter/INPUT`), never "the whole text changed".

use std::collections::BTreeSet;

use serde::Serialize;
use similar::{Algorithm, DiffTag, capture_diff_slices};

use super::{Chain, Firewall, IpSet, Part, Ruleset, Table, xt};

/// The differences in one chain, set or block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Section {
    /// `iptables filter/INPUT`, `nftables inet t/chain input`, `ipset blocked`.
    pub title: String,
    /// `+ rule`, `- rule`, `~ policy ACCEPT -> DROP`, in chain order.
    pub lines: Vec<String>,
}

/// Every difference from `from` to `to`, sets first (they are made before the rules
/// that use them).
pub fn diff(from: &Firewall, to: &Firewall) -> Vec<Section> {
    let mut out = Vec::new();
    sets(&from.ipsets, &to.ipsets, &mut out);
    for part in [Part::Iptables, Part::Ip6tables, Part::Nftables] {
        let (a, b) = (
            from.ruleset(part).expect("a rule part"),
            to.ruleset(part).expect("a rule part"),
        );
        rulesets(part, a, b, &mut out);
    }
    out
}

/// Numbers of lines added and removed.
pub fn counts(sections: &[Section]) -> (usize, usize) {
    let lines = sections.iter().flat_map(|s| &s.lines);
    let added = lines.clone().filter(|l| l.starts_with('+')).count();
    let removed = lines.filter(|l| l.starts_with('-')).count();
    (added, removed)
}

fn rulesets(part: Part, a: &Ruleset, b: &Ruleset, out: &mut Vec<Section>) {
    let empty_chain = Chain::default();
    let tables: BTreeSet<&String> = a.tables.keys().chain(b.tables.keys()).collect();
    for t in tables {
        // A missing iptables table is its built-in chains, empty and accepting.
        let empty_table = match part {
            Part::Nftables => Table::default(),
            _ => xt::empty_table(t),
        };
        let ta = a.tables.get(t).unwrap_or(&empty_table);
        let tb = b.tables.get(t).unwrap_or(&empty_table);
        let chains: BTreeSet<&String> = ta.chains.keys().chain(tb.chains.keys()).collect();
        for c in chains {
            let (ca, cb) = (ta.chains.get(c), tb.chains.get(c));
            let mut lines = Vec::new();
            let prefix = match part {
                Part::Nftables => String::new(),
                _ => format!("-A {c} "),
            };
            match (ca, cb) {
                (None, Some(x)) if part != Part::Nftables => lines.push(format!(
                    "+ chain {c} {}",
                    x.policy.as_deref().unwrap_or("-")
                )),
                (Some(x), None) if part != Part::Nftables => lines.push(format!(
                    "- chain {c} {}",
                    x.policy.as_deref().unwrap_or("-")
                )),
                (Some(x), Some(y)) if x.policy != y.policy => lines.push(format!(
                    "~ policy {} -> {}",
                    x.policy.as_deref().unwrap_or("-"),
                    y.policy.as_deref().unwrap_or("-")
                )),
                _ => {}
            }
            let (ra, rb) = (
                &ca.unwrap_or(&empty_chain).rules,
                &cb.unwrap_or(&empty_chain).rules,
            );
            for op in capture_diff_slices(Algorithm::Myers, ra, rb) {
                let (tag, old, new) = op.as_tag_tuple();
                if matches!(tag, DiffTag::Delete | DiffTag::Replace) {
                    lines.extend(ra[old].iter().map(|r| format!("- {prefix}{r}")));
                }
                if matches!(tag, DiffTag::Insert | DiffTag::Replace) {
                    lines.extend(rb[new].iter().map(|r| format!("+ {prefix}{r}")));
                }
            }
            if !lines.is_empty() || (ca.is_none() != cb.is_none()) {
                if lines.is_empty() {
                    let sign = if ca.is_none() { '+' } else { '-' };
                    lines.push(format!("{sign} {c} {{}}"));
                }
                let title = if c.is_empty() {
                    format!("{} {t}", part.field())
                } else {
                    format!("{} {t}/{c}", part.field())
                };
                out.push(Section { title, lines });
            }
        }
    }
}

fn sets(
    a: &std::collections::BTreeMap<String, IpSet>,
    b: &std::collections::BTreeMap<String, IpSet>,
    out: &mut Vec<Section>,
) {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for name in names {
        let (sa, sb) = (a.get(name), b.get(name));
        let mut lines = Vec::new();
        match (sa, sb) {
            (None, Some(s)) => lines.push(format!("+ create {name} {}", s.header)),
            (Some(s), None) => lines.push(format!("- create {name} {}", s.header)),
            (Some(x), Some(y)) if x.header != y.header => {
                lines.push(format!("- create {name} {}", x.header));
                lines.push(format!("+ create {name} {}", y.header));
            }
            _ => {}
        }
        let none = BTreeSet::new();
        let ma = sa.map_or(&none, |s| &s.members);
        let mb = sb.map_or(&none, |s| &s.members);
        lines.extend(ma.difference(mb).map(|m| format!("- add {name} {m}")));
        lines.extend(mb.difference(ma).map(|m| format!("+ add {name} {m}")));
        if !lines.is_empty() {
            out.push(Section {
                title: format!("ipset {name}"),
                lines,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::{ipset, xt};

    fn fw(ipt: &str, sets: &str) -> Firewall {
        Firewall {
            iptables: xt::parse(ipt).unwrap().ruleset,
            ipsets: ipset::parse(sets).unwrap(),
            ..Firewall::default()
        }
    }

    #[test]
    fn one_rule_changed_is_one_minus_and_one_plus() {
        let a = fw(
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -s 10.1.0.0/16 -j ACCEPT\n-A INPUT -j LOG\nCOMMIT\n",
            "create s hash:ip\nadd s 10.0.0.1\nadd s 10.0.0.2\n",
        );
        let b = fw(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -s 10.2.0.0/16 -j ACCEPT\n-A INPUT -j LOG\nCOMMIT\n*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n",
            "create s hash:ip\nadd s 10.0.0.1\nadd s 10.0.0.3\ncreate t hash:net\n",
        );
        let d = diff(&a, &b);
        insta::assert_debug_snapshot!(d);
        assert_eq!(counts(&d), (4, 2));
        assert!(diff(&b, &b).is_empty());
    }

    #[test]
    fn a_removed_firewall_is_all_minus() {
        let a = fw(
            "*filter\n:INPUT DROP [0:0]\n:U - [0:0]\n-A U -j RETURN\nCOMMIT\n",
            "",
        );
        let d = diff(&a, &Firewall::default());
        let lines: Vec<&String> = d.iter().flat_map(|s| &s.lines).collect();
        assert_eq!(
            lines,
            ["~ policy DROP -> ACCEPT", "- chain U -", "- -A U -j RETURN"]
        );
    }
}
