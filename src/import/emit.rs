//! The one emitter: an imported lab as a lab file, in a fixed order (tables by number,
//! networks and routers in the order the input gave them, routes in the order the
//! kernel accepts them, rules by priority), so that an import of the same input is the
//! same file byte for byte.

use std::fmt::Write as _;

use super::ImportError;
use super::facts::{RouteFact, RouteType, RuleAction, RuleFact};
use super::fib::scope_of;
use super::model::{Lab, Router};
use super::report::{ImportReport, plural};
use crate::state::RT_TABLE_MAIN;

/// A hand-written addition to an imported lab: top-level `hosts:` and `checks:`.
#[derive(Debug)]
pub struct Extra {
    file: String,
    text: String,
}

/// The top-level keys an addition may have.
const EXTRA_KEYS: [&str; 2] = ["hosts", "checks"];

impl Extra {
    /// Checks that `text` has only the top-level keys an addition may have.
    pub fn new(file: &str, text: &str) -> Result<Extra, ImportError> {
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with([' ', '#', '\t']) {
                continue;
            }
            let key = line.split(':').next().unwrap_or("").trim();
            if !EXTRA_KEYS.contains(&key) || !line.contains(':') {
                return Err(ImportError::Extra {
                    file: file.to_string(),
                    reason: format!("line {}: `{key}` is not `hosts:` or `checks:`", n + 1),
                });
            }
        }
        Ok(Extra {
            file: file.to_string(),
            text: text.to_string(),
        })
    }
}

/// The lab file.
pub fn lab_yaml(lab: &Lab, report: &ImportReport, extra: Option<&Extra>) -> String {
    let mut out = String::new();
    header(&mut out, report, extra);
    let _ = writeln!(out, "name: {}", scalar(&lab.name));
    if !lab.tables.is_empty() {
        out.push_str("tables:\n");
        for (name, number) in &lab.tables {
            let _ = writeln!(out, "  {}: {number}", scalar(name));
        }
    }
    out.push_str("networks:\n");
    for n in &lab.networks {
        let mut fields = vec![format!(
            "subnets: [{}]",
            list(n.subnets.iter().map(|s| s.to_string()))
        )];
        if let Some(m) = n.mtu {
            fields.push(format!("mtu: {m}"));
        }
        let _ = writeln!(out, "  {}: {{{}}}", scalar(&n.name), fields.join(", "));
    }
    out.push_str("routers:\n");
    for r in &lab.routers {
        router(&mut out, lab, r);
    }
    if let Some(e) = extra {
        let _ = writeln!(out, "# Added by hand ({}):", e.file);
        out.push_str(&e.text);
        if !e.text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn header(out: &mut String, report: &ImportReport, extra: Option<&Extra>) {
    let c = &report.imported;
    let mut lines = vec![
        format!(
            "Imported by `nshost import {} {}{}` from {} ({}).",
            report.format,
            report.source,
            report
                .without_ipset_types
                .iter()
                .map(|t| format!(" --without-ipset-type {t}"))
                .collect::<String>(),
            plural(report.files.len(), "file"),
            report.files.join(", ")
        ),
        format!(
            "{}, {}, {}, {}, {} with {}.",
            plural(c.routers, "router"),
            plural(c.routes, "route"),
            plural(c.rules, "rule"),
            plural(c.iptables_rules, "iptables rule"),
            plural(c.ipsets, "ipset"),
            plural(c.ipset_members, "member")
        ),
        format!("Left out: {}", report.left_out_counts()),
        "(each with its file, line and reason in the import's report: --report FILE).".to_string(),
    ];
    if !report.kernel_lacks_ipset_types.is_empty() {
        // Not a flag the user gave: what the kernel the import ran on lacks.
        lines.push(format!(
            "The sets of the ipset types the importing machine's kernel lacks ({}) are left out \
             (--any-kernel keeps them).",
            report.kernel_lacks_ipset_types.join(", ")
        ));
    }
    if let Some(e) = extra {
        lines.push(format!(
            "Hosts and checks added by hand from {}, at the end.",
            e.file
        ));
    }
    lines.push("Regenerate it rather than edit it.".into());
    for l in wrap(&lines.join(" "), 88) {
        let _ = writeln!(out, "# {l}");
    }
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let line = lines.last_mut().expect("one line");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn router(out: &mut String, lab: &Lab, r: &Router) {
    let _ = writeln!(out, "  {}:", scalar(&r.name));
    out.push_str("    interfaces:\n");
    for i in &r.interfaces {
        let mut f = vec![format!("network: {}", scalar(&i.network))];
        if !i.addresses.is_empty() {
            f.push(format!(
                "addresses: [{}]",
                list(i.addresses.iter().map(|a| a.to_string()))
            ));
        }
        if let Some(m) = i.mtu {
            f.push(format!("mtu: {m}"));
        }
        if !i.up {
            f.push("up: false".into());
        }
        if let Some(mac) = &i.mac {
            f.push(format!("mac: {}", quoted(mac)));
        }
        let _ = writeln!(out, "      {}: {{{}}}", scalar(&i.name), f.join(", "));
    }
    if !r.routes.is_empty() {
        out.push_str("    routes:\n");
        for route in &r.routes {
            let _ = writeln!(out, "      - {{{}}}", route_fields(lab, route).join(", "));
        }
    }
    if !r.rules.is_empty() {
        out.push_str("    rules:\n");
        for rule in &r.rules {
            let _ = writeln!(out, "      - {{{}}}", rule_fields(lab, rule).join(", "));
        }
    }
    if r.iptables.is_some() || r.ipsets.is_some() {
        out.push_str("    firewall:\n");
        for (key, text) in [("iptables", &r.iptables), ("ipsets", &r.ipsets)] {
            if let Some(text) = text {
                let _ = writeln!(out, "      {key}: |");
                for line in text.lines() {
                    let _ = writeln!(out, "        {line}");
                }
            }
        }
    }
}

/// A table number as the lab says it: its declared name, or the number.
fn table_name(lab: &Lab, table: u32) -> String {
    lab.tables
        .iter()
        .find(|(_, n)| *n == table)
        .map_or_else(|| table.to_string(), |(name, _)| scalar(name))
}

fn route_fields(lab: &Lab, r: &RouteFact) -> Vec<String> {
    let mut f = Vec::new();
    let to = match (r.default, r.dst) {
        (true, ipnet::IpNet::V4(_)) => "default".to_string(),
        (true, ipnet::IpNet::V6(_)) => "default6".to_string(),
        _ => scalar(&r.dst.to_string()),
    };
    f.push(format!("to: {to}"));
    if r.kind != RouteType::Unicast {
        f.push(format!("type: {}", r.kind.name()));
    }
    if let Some(v) = r.via {
        f.push(format!("via: {}", scalar(&v.to_string())));
    }
    if let Some(d) = &r.dev {
        f.push(format!("dev: {}", scalar(d)));
    }
    if !r.nexthops.is_empty() {
        let hops: Vec<String> = r
            .nexthops
            .iter()
            .map(|h| {
                let mut g = Vec::new();
                if let Some(v) = h.via {
                    g.push(format!("via: {}", scalar(&v.to_string())));
                }
                if let Some(d) = &h.dev {
                    g.push(format!("dev: {}", scalar(d)));
                }
                if h.weight != 1 {
                    g.push(format!("weight: {}", h.weight));
                }
                format!("{{{}}}", g.join(", "))
            })
            .collect();
        f.push(format!("nexthops: [{}]", hops.join(", ")));
    }
    if let Some(m) = r.metric {
        f.push(format!("metric: {m}"));
    }
    if r.table != RT_TABLE_MAIN {
        f.push(format!("table: {}", table_name(lab, r.table)));
    }
    if let Some(p) = r.proto.as_deref().filter(|p| *p != "boot") {
        f.push(format!("proto: {}", scalar(p)));
    }
    if let Some(s) = &r.scope {
        // Only when it is not the default the lab would give it.
        let mut bare = r.clone();
        bare.scope = None;
        if scope_of(&bare) != scope_of(r) {
            f.push(format!("scope: {}", scalar(s)));
        }
    }
    if let Some(s) = r.src {
        f.push(format!("src: {}", scalar(&s.to_string())));
    }
    if r.onlink {
        f.push("onlink: true".into());
    }
    f
}

fn rule_fields(lab: &Lab, r: &RuleFact) -> Vec<String> {
    let mut f = vec![format!("priority: {}", r.priority)];
    if r.not {
        f.push("not: true".into());
    }
    if let Some(n) = r.from {
        f.push(format!("from: {}", scalar(&n.to_string())));
    }
    if let Some(n) = r.to {
        f.push(format!("to: {}", scalar(&n.to_string())));
    }
    for (k, v) in [("iif", &r.iif), ("oif", &r.oif)] {
        if let Some(v) = v {
            f.push(format!("{k}: {}", scalar(v)));
        }
    }
    if let Some(m) = r.fwmark {
        f.push(format!("fwmark: {m:#x}"));
    }
    if let Some(m) = r.fwmask {
        f.push(format!("fwmask: {m:#x}"));
    }
    if let Some(t) = r.tos {
        f.push(format!("tos: {t}"));
    }
    if let Some(p) = &r.ipproto {
        f.push(format!("ipproto: {}", scalar(p)));
    }
    for (k, v) in [("sport", &r.sport), ("dport", &r.dport)] {
        if let Some(v) = v {
            let value = if v.parse::<u16>().is_ok() {
                v.clone()
            } else {
                quoted(v)
            };
            f.push(format!("{k}: {value}"));
        }
    }
    if let Some(u) = &r.uidrange {
        let value = if u.parse::<u32>().is_ok() {
            u.clone()
        } else {
            quoted(u)
        };
        f.push(format!("uidrange: {value}"));
    }
    if let Some(s) = r.suppress_prefixlength {
        f.push(format!("suppress_prefixlength: {s}"));
    }
    match &r.action {
        Some(RuleAction::Lookup(t)) => {
            let table = match t.parse::<u32>() {
                Ok(n) => table_name(lab, n),
                Err(_) => scalar(t),
            };
            f.push(format!("table: {table}"));
        }
        Some(RuleAction::Goto(p)) => f.push(format!("goto: {p}")),
        Some(RuleAction::Nop) => f.push("action: nop".into()),
        Some(RuleAction::Blackhole) => f.push("action: blackhole".into()),
        Some(RuleAction::Unreachable) => f.push("action: unreachable".into()),
        Some(RuleAction::Prohibit) => f.push("action: prohibit".into()),
        None => {}
    }
    f
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.map(|s| scalar(&s)).collect::<Vec<_>>().join(", ")
}

/// A string as a YAML scalar: plain when that reads back as the same string, else
/// double-quoted.
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-+".contains(c))
        && !s.starts_with(['-', '.', '+'])
        && s.parse::<f64>().is_err()
        && s.parse::<i64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { s.to_string() } else { quoted(s) }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_written() {
        assert_eq!(scalar("10.1.1.0/24"), "10.1.1.0/24");
        assert_eq!(scalar("hq-gw.eth0"), "hq-gw.eth0");
        assert_eq!(scalar("fd00::1"), "\"fd00::1\"");
        assert_eq!(scalar("100"), "\"100\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("1e3"), "\"1e3\"");
        assert_eq!(scalar(""), "\"\"");
    }

    #[test]
    fn additions_hold_hosts_and_checks_only() {
        assert!(
            Extra::new(
                "x.yaml",
                "# c\nhosts:\n  a: {address: 10.0.0.1/24}\nchecks:\n  - {from: a, to: b}\n"
            )
            .is_ok()
        );
        let err = Extra::new("x.yaml", "hosts:\nrouters:\n  r: {}\n").unwrap_err();
        assert!(err.to_string().contains("line 2: `routers`"), "{err}");
    }
}
