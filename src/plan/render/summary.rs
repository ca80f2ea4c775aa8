//! The summarised plan: namespaces of one role whose changes look alike are one line,
//! `+ 1000 hosts h0..h999: namespace, eth0, address, default route`, their names
//! compressed into ranges. A namespace whose changes no other one shares is shown in
//! full, every object with its attributes: only what repeats is summarised.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::plan::{Action, Plan, display};
use crate::state::{NetState, NsRole};

use super::entries::{Class, Entry};
use super::{Summary, role_of, sign};

/// How many pieces (names or ranges) a list of names shows before `… and N more`.
const PIECES: usize = 5;

/// A namespace of a group, with its printed entries.
type Member = (String, Vec<Entry>);

/// The summarised text of a plan's entries. `full_lines`: how long the full text is,
/// when it was too long to print (said before the count line).
pub(super) fn render(
    plan: &Plan,
    desired: &NetState,
    live: &NetState,
    list: Vec<Entry>,
    full_lines: Option<usize>,
) -> String {
    let mut summary = Summary::default();
    // (namespace, action) to its printed entries.
    let mut by_ns: BTreeMap<(String, Action), Vec<Entry>> = BTreeMap::new();
    for e in list {
        summary.count(e.action);
        if !e.folded {
            by_ns.entry((e.ns.clone(), e.action)).or_default().push(e);
        }
    }
    // (role, action, what changes) to the namespaces it changes in, with their entries.
    let mut groups: BTreeMap<(u8, u8, String), Vec<Member>> = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for ((ns, action), entries) in by_ns {
        let role = role_of(&ns, plan, desired, live);
        roles.insert(rank(role), role);
        groups
            .entry((rank(role), action_rank(action), items(&entries)))
            .or_default()
            .push((ns, entries));
    }
    let mut lines: Vec<((u8, u8, String), String)> = groups
        .into_iter()
        .map(|((role, action, items), mut members)| {
            if members.len() == 1 {
                // A one-off change is not summarised: it is shown in full.
                let (ns, entries) = members.pop().expect("one member");
                let text = one_off(roles[&role], action, &ns, entries);
                return ((role, action, ns), text);
            }
            let names: Vec<String> = members.into_iter().map(|m| m.0).collect();
            let text = line(roles[&role], action, &items, &names);
            ((role, action, natural_first(&names)), text)
        })
        .collect();
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (_, text) in &lines {
        let _ = writeln!(out, "{text}");
    }
    if let Some(n) = full_lines {
        let _ = writeln!(
            out,
            "\n(summarised: the full plan is {n} lines; --full prints every line)"
        );
    }
    if !lines.is_empty() && full_lines.is_none() {
        out.push('\n');
    }
    let _ = writeln!(out, "{summary}");
    out
}

fn rank(role: NsRole) -> u8 {
    match role {
        NsRole::Router => 0,
        NsRole::Host => 1,
        NsRole::Unknown => 2,
        NsRole::Fabric => 3,
    }
}

fn action_rank(action: Action) -> u8 {
    match action {
        Action::Add => 0,
        Action::Change => 1,
        Action::Destroy => 2,
    }
}

fn action_of(rank: u8) -> Action {
    match rank {
        0 => Action::Add,
        1 => Action::Change,
        _ => Action::Destroy,
    }
}

/// `+ 1000 hosts h0..h999: namespace, eth0, address, default route`: a group of
/// namespaces whose changes look alike.
fn line(role: NsRole, action: u8, items: &str, names: &[String]) -> String {
    let sign = sign(action_of(action));
    let role = display::role(role);
    format!(
        "{sign} {} {role}s {}: {items}",
        names.len(),
        name_ranges(names)
    )
}

/// The entries of a namespace alone in its group, each with its attributes:
/// `~ router core: route 10.9.0.0/16 ...: via 10.0.0.3 -> via 10.0.0.2`, or the
/// namespace on a line of its own and one indented line per entry. Only a kind of
/// object that repeats in it past [`PIECES`] times is summarised (`10 networks (...)`).
fn one_off(role: NsRole, action: u8, ns: &str, mut entries: Vec<Entry>) -> String {
    let sign = sign(action_of(action));
    let role = display::role(role);
    entries.sort_by(|a, b| (a.class, &a.name, a.pos).cmp(&(b.class, &b.name, b.pos)));
    let mut by_class: BTreeMap<Class, Vec<Entry>> = BTreeMap::new();
    for e in entries {
        by_class.entry(e.class).or_default().push(e);
    }
    let mut shown = Vec::new();
    for list in by_class.into_values() {
        if list.len() <= PIECES {
            shown.extend(list.into_iter().map(|e| e.text));
        } else {
            shown.push(items(&list));
        }
    }
    if let [one] = shown.as_slice() {
        return format!("{sign} {role} {ns}: {one}");
    }
    let mut out = format!("{sign} {role} {ns}:");
    for text in shown {
        let _ = write!(out, "\n    {sign} {text}");
    }
    out
}

/// What a namespace's entries touch, in printing order: `namespace, eth0, address,
/// default route`, or counts (`4 links, 3 routes`).
fn items(entries: &[Entry]) -> String {
    let mut by_class: BTreeMap<Class, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        by_class.entry(e.class).or_default().push(e);
    }
    let count = |n: usize, one: &str, many: &str| {
        if n == 1 {
            one.to_string()
        } else {
            format!("{n} {many}")
        }
    };
    let mut parts = Vec::new();
    for (class, list) in by_class {
        let n = list.len();
        parts.push(match class {
            Class::Firewall => "firewall".to_string(),
            Class::Namespace => {
                // A deleted namespace's objects are listed under it (when not read live).
                let inner = n - 1;
                if inner == 0 {
                    "namespace".to_string()
                } else {
                    format!("namespace ({})", count(inner, "1 object", "objects"))
                }
            }
            Class::Network => {
                // A tree of bridges is one network.
                let mut names: Vec<String> = list.iter().map(|e| e.name.clone()).collect();
                names.sort_by(|a, b| natural(a, b));
                names.dedup();
                if names.len() == 1 {
                    format!("network {}", names[0])
                } else {
                    format!("{} networks ({})", names.len(), name_ranges(&names))
                }
            }
            Class::Link => {
                let mut names: Vec<String> = list.iter().map(|e| e.name.clone()).collect();
                names.sort_by(|a, b| natural(a, b));
                names.dedup();
                if names.len() <= 3 {
                    names.join(", ")
                } else {
                    format!("{} links", names.len())
                }
            }
            Class::Qdisc => count(n, "1 qdisc", "qdiscs"),
            Class::Port => count(n, "1 fabric port", "fabric ports"),
            Class::Address => count(n, "address", "addresses"),
            Class::Route if n == 1 && list[0].default_route => "default route".to_string(),
            Class::Route => count(n, "route", "routes"),
            Class::Rule => count(n, "rule", "rules"),
            Class::Sysctl => count(n, "sysctl", "sysctls"),
            Class::Service => count(n, "service", "services"),
            Class::File => count(n, "file", "files"),
            Class::Process => count(n, "process", "processes"),
        });
    }
    parts.join(", ")
}

/// A name as a stem and a number: `h12` is (`h`, 12); `web` and `h01` have none.
fn numbered(name: &str) -> (&str, Option<u64>) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    if num.is_empty() || (num.len() > 1 && num.starts_with('0')) {
        return (name, None);
    }
    (stem, num.parse().ok())
}

/// Names in natural order: numbers compared as numbers (`h2` before `h10`).
pub(super) fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    crate::names::natural_cmp(a, b)
}

/// The name that sorts first in natural order.
fn natural_first(names: &[String]) -> String {
    names
        .iter()
        .min_by(|a, b| natural(a, b))
        .cloned()
        .unwrap_or_default()
}

/// Names with a common stem and consecutive numbers as ranges (`h0..h999`), in
/// natural order; past [`PIECES`] pieces, the first ones and `… and N more`.
pub fn name_ranges(names: &[String]) -> String {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort_by(|a, b| natural(a, b));
    sorted.dedup();
    // Runs of (first, last, how many names).
    let mut runs: Vec<(&str, &str, usize)> = Vec::new();
    let mut last: Option<(&str, u64)> = None;
    for name in sorted {
        let (stem, num) = numbered(name);
        match (last, num) {
            (Some((s, n)), Some(m)) if s == stem && m == n + 1 => {
                let run = runs.last_mut().expect("a run");
                run.1 = name;
                run.2 += 1;
            }
            _ => runs.push((name, name, 1)),
        }
        last = num.map(|n| (stem, n));
    }
    let mut pieces: Vec<(String, usize)> = Vec::new();
    for (first, last, n) in runs {
        match n {
            1 => pieces.push((first.to_string(), 1)),
            2 => {
                pieces.push((first.to_string(), 1));
                pieces.push((last.to_string(), 1));
            }
            _ => pieces.push((format!("{first}..{last}"), n)),
        }
    }
    if pieces.len() <= PIECES {
        return pieces
            .into_iter()
            .map(|p| p.0)
            .collect::<Vec<_>>()
            .join(", ");
    }
    let shown = PIECES - 1;
    let more: usize = pieces[shown..].iter().map(|p| p.1).sum();
    let head: Vec<String> = pieces.into_iter().take(shown).map(|p| p.0).collect();
    format!("{}, … and {more} more", head.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ranges_of_names() {
        let hosts: Vec<String> = (0..1000).map(|i| format!("h{i}")).collect();
        assert_eq!(name_ranges(&hosts), "h0..h999");
        assert_eq!(
            name_ranges(&names(&["pc2", "db1", "web1", "pc1"])),
            "db1, pc1, pc2, web1"
        );
        assert_eq!(
            name_ranges(&names(&["h1", "h2", "h3", "h5", "h10", "h11", "h12"])),
            "h1..h3, h5, h10..h12"
        );
        assert_eq!(
            name_ranges(&names(&["a", "b", "c", "d", "e", "f", "g"])),
            "a, b, c, d, … and 3 more"
        );
        // Leading zeros are names, not numbers.
        assert_eq!(name_ranges(&names(&["h01", "h02", "h03"])), "h01, h02, h03");
        assert_eq!(
            name_ranges(&names(&["r0", "r1", "x", "lan0", "lan1", "lan2", "lan3"])),
            "lan0..lan3, r0, r1, x"
        );
    }
}
