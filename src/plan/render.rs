//! The plan printer: Terraform-style text in full or summarised, a unified diff view,
//! and JSON.
//!
//! Every view comes from one list of printed objects (`entries`), so the human text,
//! the summary, the JSON counts and the CLI's exit code always agree. What the user
//! never wrote (fabric ports, `promote_secondaries`, the fabric's settings) is shown by
//! what it belongs to (see `entries`); it is counted all the same.

mod entries;
mod names;
mod summary;

pub use summary::name_ranges;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::json;
use similar::TextDiff;

use crate::plan::diff::Conflict;
use crate::plan::{Action, Change, Plan, display};
use crate::state::{Namespace, NetState, NsRole};

use entries::{Entry, entries};
use names::Names;

/// How many objects a plan adds, changes and destroys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

impl Summary {
    /// Counts the objects `plan` touches (a veth pair counts as two links).
    pub fn of(plan: &Plan) -> Self {
        let mut s = Summary::default();
        for e in entries(plan, &Names::default(), None) {
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

/// How much of a plan the human text shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// Every object, one line each.
    Full,
    /// One line per group of alike namespaces.
    Summary,
    /// In full when that takes at most this many lines, summarised otherwise.
    Fit(usize),
}

/// The plan as Terraform-style text, grouped by namespace, ending with the summary
/// line (or just `No changes.`). The text ends with a newline.
pub fn human(plan: &Plan, desired: &NetState, live: &NetState) -> String {
    human_with(plan, desired, live, Detail::Full)
}

/// The plan as text, in full or summarised (see [`Detail`]); the closing count line is
/// the same either way.
pub fn human_with(plan: &Plan, desired: &NetState, live: &NetState, detail: Detail) -> String {
    // A plan that changes nothing lists nothing: no names to work out (at 1000 hosts,
    // most of a no-op plan's rendering).
    let list = if plan.is_empty() {
        Vec::new()
    } else {
        entries(plan, &Names::of(&[desired, live]), Some(live))
    };
    match detail {
        Detail::Full => full(plan, desired, live, list),
        Detail::Summary => summary::render(plan, desired, live, list, None),
        Detail::Fit(lines) => {
            let shown = full_lines(&list);
            if shown <= lines {
                full(plan, desired, live, list)
            } else {
                summary::render(plan, desired, live, list, Some(shown))
            }
        }
    }
}

/// How many lines [`full`] prints for `list`: per namespace a header, its lines and a
/// blank line, then the count line.
fn full_lines(list: &[Entry]) -> usize {
    let mut namespaces = std::collections::HashSet::new();
    let mut lines = 1;
    for e in list.iter().filter(|e| !e.folded) {
        namespaces.insert(e.ns.as_str());
        lines += 1;
    }
    lines + 2 * namespaces.len()
}

fn full(plan: &Plan, desired: &NetState, live: &NetState, list: Vec<Entry>) -> String {
    let mut by_ns: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut summary = Summary::default();
    for e in list {
        summary.count(e.action);
        if !e.folded {
            by_ns.entry(e.ns.clone()).or_default().push(e);
        }
    }
    let mut by_ns: Vec<(String, Vec<Entry>)> = by_ns.into_iter().collect();
    by_ns.sort_by(|a, b| summary::natural(&a.0, &b.0));
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
    let namespaces = conflicts.iter().all(|c| c.object.starts_with("namespace "));
    let mut out = if namespaces {
        format!(
            "{} of the lab's namespace name(s) are taken by namespaces that are not this lab's:\n",
            conflicts.len()
        )
    } else {
        format!(
            "{} of the lab's objects are held by others (namespaces not this lab's, routes \
             another program installed):\n",
            conflicts.len()
        )
    };
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
            display::route_attrs(&key.dst, &shown)
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
