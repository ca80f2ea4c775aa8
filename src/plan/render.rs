//! The plan printer: Terraform-style text, a unified diff view, and JSON.
//!
//! All three views come from one list of printed objects (`entries`), so the human
//! text, the JSON summary and the CLI's exit code always agree. A veth pair is two
//! links: its creation prints (and counts) one line in each end's namespace, and so does
//! its deletion, unless the other end's namespace is deleted as a whole.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::json;
use similar::TextDiff;

use crate::plan::diff::Conflict;
use crate::plan::{Action, Change, Plan, display};
use crate::state::{Link, LinkKind, Namespace, NetState, NsRole, Route};

/// How many objects a plan adds, changes and destroys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Summary {
    /// Counts the objects `plan` touches (a veth pair counts as two links).
    pub fn of(plan: &Plan) -> Self {
        let mut s = Summary::default();
        for e in entries(plan, None) {
            s.count(e.action);
        }
        s
    }

    fn count(&mut self, action: Action) {
        match action {
            Action::Add => self.add += 1,
            Action::Change => self.change += 1,
            Action::Destroy => self.destroy += 1,
        }
    }

    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.destroy == 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            f.write_str("No changes.")
        } else {
            write!(
                f,
                "Plan: {} to add, {} to change, {} to destroy.",
                self.add, self.change, self.destroy
            )
        }
    }
}

/// What kind of object a printed line is about, in printing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Namespace,
    Link,
    Address,
    Route,
    Rule,
    Sysctl,
}

/// One printed object.
#[derive(Clone, Debug)]
struct Entry {
    ns: String,
    class: Class,
    /// Link name (links are printed by name, so both ends of pairs line up).
    name: String,
    /// Position of the change in the plan.
    pos: usize,
    action: Action,
    text: String,
}

/// The printed objects of `plan`, in plan order. `live`, when given, supplies the
/// attributes of the far end of a deleted veth pair.
fn entries(plan: &Plan, live: Option<&NetState>) -> Vec<Entry> {
    let deleted_ns: BTreeSet<&str> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::DeleteNamespace { ns, .. } => Some(ns.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(plan.changes.len());
    for (pos, c) in plan.changes.iter().enumerate() {
        let mut push = |ns: &str, class: Class, name: &str, action: Action, text: String| {
            out.push(Entry {
                ns: ns.to_string(),
                class,
                name: name.to_string(),
                pos,
                action,
                text,
            })
        };
        let action = c.action();
        match c {
            Change::AddNamespace { ns, .. } => {
                push(ns, Class::Namespace, "", action, format!("namespace {ns}"))
            }
            Change::DeleteNamespace {
                ns,
                contents,
                stray,
                ..
            } => {
                let text = if *stray {
                    format!("namespace {ns} (an empty mount point left by an interrupted run)")
                } else {
                    format!("namespace {ns}")
                };
                push(ns, Class::Namespace, "", action, text);
                for line in contents {
                    push(ns, Class::Namespace, "", action, line.clone());
                }
            }
            Change::AddLink {
                ns,
                name,
                link,
                peer,
            } => {
                push(ns, Class::Link, name, action, added_link(name, link));
                if let Some(p) = peer {
                    let text = added_link(&p.at.name, &p.link);
                    push(&p.at.ns, Class::Link, &p.at.name, action, text);
                }
            }
            Change::UpdateLink { ns, name, from, to } => push(
                ns,
                Class::Link,
                name,
                action,
                format!("link {name}: {}", link_changes(from, to)),
            ),
            Change::DeleteLink { ns, name, link } => {
                push(ns, Class::Link, name, action, deleted_link(name, link));
                if let LinkKind::Veth { peer: Some(p) } = &link.kind
                    && !deleted_ns.contains(p.ns.as_str())
                {
                    let far = live
                        .and_then(|l| l.namespaces.get(&p.ns))
                        .and_then(|n| n.links.get(&p.name));
                    let text = match far {
                        Some(far) => deleted_link(&p.name, far),
                        None => format!("link {} (veth, peer {ns}/{name})", p.name),
                    };
                    push(&p.ns, Class::Link, &p.name, action, text);
                }
            }
            Change::AddAddress { ns, key, .. } | Change::DeleteAddress { ns, key, .. } => push(
                ns,
                Class::Address,
                "",
                action,
                format!("address {}", display::address(key)),
            ),
            Change::AddRoute { ns, key, route } | Change::DeleteRoute { ns, key, route } => push(
                ns,
                Class::Route,
                "",
                action,
                format!(
                    "route {} {}",
                    display::route_key_short(key),
                    display::route_attrs(route)
                )
                .trim_end()
                .to_string(),
            ),
            Change::ReplaceRoute { ns, key, from, to } => push(
                ns,
                Class::Route,
                "",
                action,
                format!(
                    "route {}: {}",
                    display::route_key_full(key),
                    route_changes(from, to)
                ),
            ),
            Change::AddRule { ns, rule } | Change::DeleteRule { ns, rule } => push(
                ns,
                Class::Rule,
                "",
                action,
                format!("rule {}", display::rule(rule)),
            ),
            Change::SetSysctl { ns, key, from, to } => {
                push(ns, Class::Sysctl, "", action, setting_text(key, from, to))
            }
            Change::SetLinkSetting {
                ns,
                link,
                setting,
                from,
                to,
            } => push(
                ns,
                Class::Sysctl,
                "",
                action,
                setting_text(&setting.key(link), from, to),
            ),
        }
    }
    out
}

fn setting_text(key: &str, from: &Option<String>, to: &str) -> String {
    match from {
        None => format!("sysctl {key} = {to}"),
        Some(from) => format!("sysctl {key}: {from} -> {to}"),
    }
}

/// A link to add: its MTU shown when it is not the usual 1500.
fn added_link(name: &str, link: &Link) -> String {
    let show_mtu = link.mtu != Some(crate::state::DEFAULT_MTU);
    format!("link {name} ({})", display::link_attrs(link, show_mtu))
}

fn deleted_link(name: &str, link: &Link) -> String {
    format!("link {name} ({})", display::live_link_attrs(link))
}

/// `mtu 1500 -> 9000, down -> up`: the attributes an `UpdateLink` changes.
fn link_changes(from: &Link, to: &Link) -> String {
    let mut parts = Vec::new();
    if let Some(mtu) = to.mtu
        && to.mtu != from.mtu
    {
        let old = from.mtu.map_or("unset".to_string(), |m| m.to_string());
        parts.push(format!("mtu {old} -> {mtu}"));
    }
    if from.up != to.up {
        parts.push(format!(
            "{} -> {}",
            display::updown(from.up),
            display::updown(to.up)
        ));
    }
    if from.master != to.master {
        let m = |m: &Option<String>| m.clone().unwrap_or_else(|| "none".into());
        parts.push(format!("master {} -> {}", m(&from.master), m(&to.master)));
    }
    if let Some(mac) = to.mac
        && to.mac != from.mac
    {
        let old = from.mac.map_or("unset".to_string(), |m| m.to_string());
        parts.push(format!("mac {old} -> {mac}"));
    }
    if from.kind.attrs_differ(&to.kind) {
        let (old, new) = (
            display::kind_attrs(&from.kind),
            display::kind_attrs(&to.kind),
        );
        for (o, n) in old.iter().zip(&new) {
            if o != n {
                parts.push(format!("{o} -> {n}"));
            }
        }
        for extra in new.iter().skip(old.len()) {
            parts.push(format!("+{extra}"));
        }
    }
    parts.join(", ")
}

/// `via 10.100.1.2 -> via 10.100.1.3`: the attributes a `ReplaceRoute` changes.
fn route_changes(from: &Route, to: &Route) -> String {
    let mut parts = Vec::new();
    if from.gateway != to.gateway {
        let g = |r: &Route| r.gateway.map_or("none".to_string(), |g| g.to_string());
        parts.push(format!("via {} -> via {}", g(from), g(to)));
    }
    if to.dev.is_some() && from.dev != to.dev {
        let d = |r: &Route| r.dev.clone().unwrap_or_else(|| "none".into());
        parts.push(format!("dev {} -> dev {}", d(from), d(to)));
    }
    if from.proto != to.proto {
        parts.push(format!(
            "proto {} -> proto {}",
            display::proto(from.proto),
            display::proto(to.proto)
        ));
    }
    parts.join(", ")
}

fn sign(action: Action) -> char {
    match action {
        Action::Add => '+',
        Action::Change => '~',
        Action::Destroy => '-',
    }
}

/// The role of a namespace for its header: from the desired state, else the live one,
/// else the plan's namespace change.
fn role_of(ns: &str, plan: &Plan, desired: &NetState, live: &NetState) -> NsRole {
    let known = |n: Option<&Namespace>| n.map(|n| n.role).filter(|r| *r != NsRole::Unknown);
    known(desired.namespaces.get(ns))
        .or_else(|| known(live.namespaces.get(ns)))
        .or_else(|| {
            plan.changes.iter().find_map(|c| match c {
                Change::AddNamespace { ns: n, role }
                | Change::DeleteNamespace { ns: n, role, .. }
                    if n == ns =>
                {
                    Some(*role)
                }
                _ => None,
            })
        })
        .unwrap_or_default()
}

/// The plan as Terraform-style text, grouped by namespace, ending with the summary
/// line (or just `No changes.`). The text ends with a newline.
pub fn human(plan: &Plan, desired: &NetState, live: &NetState) -> String {
    let mut by_ns: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut summary = Summary::default();
    for e in entries(plan, Some(live)) {
        summary.count(e.action);
        by_ns.entry(e.ns.clone()).or_default().push(e);
    }
    let mut out = String::new();
    for (ns, mut list) in by_ns {
        list.sort_by(|a, b| (a.class, &a.name, a.pos).cmp(&(b.class, &b.name, b.pos)));
        let role = role_of(&ns, plan, desired, live);
        let _ = writeln!(out, "# {} {ns}", display::role(role));
        for e in list {
            let _ = writeln!(out, "  {} {}", sign(e.action), e.text);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{summary}");
    out
}

/// The plan as JSON: `{"lab", "changes", "summary": {"add", "change", "destroy"}}`.
pub fn json(plan: &Plan) -> serde_json::Value {
    json!({
        "lab": plan.lab,
        "changes": plan.changes,
        "summary": Summary::of(plan),
    })
}

/// Conflicts as text, one per line, for an error report.
pub fn conflicts(conflicts: &[Conflict]) -> String {
    let mut out = format!(
        "{} of the lab's namespace name(s) are taken by namespaces that are not this lab's:\n",
        conflicts.len()
    );
    for c in conflicts {
        let _ = writeln!(out, "  {} is owned by {}", c.object, c.owner);
    }
    out
}

/// For each namespace the plan touches, a unified diff of the canonical text of the
/// live namespace against the desired one.
pub fn state_diff(plan: &Plan, desired: &NetState, live: &NetState) -> String {
    let mut out = String::new();
    for ns in plan.touched_namespaces() {
        let want = desired.namespaces.get(&ns);
        let have = live
            .namespaces
            .get(&ns)
            .filter(|n| n.owned_by(&plan.lab) && !n.stray);
        let old = canonical(&ns, have, want);
        let new = canonical(&ns, want, want);
        if old == new {
            continue;
        }
        let diff = TextDiff::from_lines(&old, &new);
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .header(&format!("live/{ns}"), &format!("desired/{ns}"))
        );
    }
    out
}

/// One object per line, without ifindexes. Attributes the diff does not compare (a
/// route device or a MAC address left unset in `desired`) are left out on both sides.
fn canonical(name: &str, ns: Option<&Namespace>, desired: Option<&Namespace>) -> String {
    let Some(ns) = ns else {
        return String::new();
    };
    let mut out = format!("namespace {name}\n");
    for (ifname, link) in &ns.links {
        let want = desired.and_then(|d| d.links.get(ifname));
        let mut shown = link.clone();
        if want.is_none_or(|l| l.mac.is_none()) {
            shown.mac = None;
        }
        let show_mtu = want.is_none_or(|l| l.mtu.is_some());
        let _ = writeln!(
            out,
            "link {ifname} ({})",
            display::link_attrs(&shown, show_mtu)
        );
        for (setting, value) in &link.settings {
            let _ = writeln!(out, "sysctl {} = {value}", setting.key(ifname));
        }
    }
    for key in ns.addresses.keys() {
        let _ = writeln!(out, "address {}", display::address(key));
    }
    for (key, route) in &ns.routes {
        let mut shown = route.clone();
        if desired
            .and_then(|d| d.routes.get(key))
            .is_some_and(|d| d.dev.is_none())
        {
            shown.dev = None;
        }
        let _ = writeln!(
            out,
            "route {}: {}",
            display::route_key_full(key),
            display::route_attrs(&shown)
        );
    }
    for rule in &ns.rules {
        let _ = writeln!(out, "rule {}", display::rule(rule));
    }
    for (key, value) in &ns.sysctls {
        let _ = writeln!(out, "sysctl {key} = {value}");
    }
    out
}
