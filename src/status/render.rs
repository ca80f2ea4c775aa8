//! The status reports as text for people: aligned tables, one row per lab, node,
//! interface, route or rule.

use std::fmt::Write as _;

use super::{LabStatus, MachineStatus, NodeStatus, Presence};

/// What a lab's status shows (`--show`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// One row per node (and per interface of it), with route and rule counts.
    #[default]
    Summary,
    Interfaces,
    Routes,
    Rules,
    /// Every view, and the networks.
    All,
}

/// Every lab on the machine, one row each.
pub fn machine(status: &MachineStatus) -> String {
    let pool = status
        .pool
        .as_ref()
        .map(|p| format!("\nPool: {}\n", p.describe()))
        .unwrap_or_default();
    if status.labs.is_empty() {
        return format!("No nshost labs on this machine.\n{pool}");
    }
    let mut t = Table::new(&["LAB", "ROUTERS", "HOSTS", "LINKS", "NETWORKS", "HEALTH"]);
    t.right(&[1, 2, 3, 4]);
    for lab in &status.labs {
        t.row(vec![
            lab.lab.clone(),
            lab.totals.routers.to_string(),
            lab.totals.hosts.to_string(),
            lab.totals.links.to_string(),
            lab.totals.networks.to_string(),
            lab.health.summary(),
        ]);
    }
    t.render() + &pool
}

/// A section of a lab's text.
type Section = fn(&LabStatus) -> String;

/// One lab, in `view`.
pub fn lab(status: &LabStatus, view: View) -> String {
    let mut out = header(status);
    let sections: &[(View, &str, Section)] = &[
        (View::Summary, "Nodes", nodes_table),
        (View::Interfaces, "Interfaces", interfaces_table),
        (View::Routes, "Routes", routes_table),
        (View::Rules, "Rules", rules_table),
        (View::All, "Networks", networks_table),
    ];
    for (v, title, section) in sections {
        if view == *v || view == View::All {
            out.push('\n');
            if view == View::All {
                let _ = writeln!(out, "{title}:");
            }
            out.push_str(&section(status));
        }
    }
    if matches!(view, View::Summary | View::All)
        && status.nodes.iter().any(|n| !n.processes.is_empty())
    {
        out.push_str("\nProcesses:\n");
        out.push_str(&processes_table(status));
    }
    if matches!(view, View::Summary | View::All)
        && status.networks.iter().any(|n| n.tunnel.is_some())
    {
        out.push_str("\nStretched networks (vxlan ends on this machine):\n");
        out.push_str(&tunnels_table(status));
    }
    out
}

/// Each node's processes: state, pid, restarts, uptime; the log's tail of one that is
/// not running.
fn processes_table(s: &LabStatus) -> String {
    let mut t = Table::new(&["NODE", "PROCESS", "STATE", "PID", "RESTARTS", "SINCE"]);
    t.right(&[3, 4]);
    let mut tails = String::new();
    for node in &s.nodes {
        let mut name = node.name.clone();
        for p in &node.processes {
            let state = match (&p.state, &p.last_exit) {
                (crate::workload::ProcState::Running, _) | (_, None) => p.state.name().to_string(),
                (st, Some(e)) => format!("{} ({e})", st.name()),
            };
            t.row(vec![
                std::mem::take(&mut name),
                p.name.clone(),
                state,
                p.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                p.restarts.to_string(),
                uptime(p.since_s),
            ]);
            if !p.log_tail.is_empty() {
                let _ = writeln!(tails, "\n{} {} ({}), last lines:", node.name, p.name, p.log);
                for line in &p.log_tail {
                    let _ = writeln!(tails, "  {line}");
                }
            }
        }
    }
    let mut out = t.render();
    out.push_str(&tails);
    out
}

/// Seconds as `42s`, `3m12s`, `2h05m`.
fn uptime(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Each stretched network's vxlan end here, and the sites it floods to.
fn tunnels_table(s: &LabStatus) -> String {
    let mut t = Table::new(&["NETWORK", "VXLAN", "VNI", "LOCAL", "PORT", "STATE", "PEERS"]);
    t.right(&[2, 4]);
    for n in &s.networks {
        let Some(v) = &n.tunnel else {
            continue;
        };
        let peers: Vec<String> = v.peers.iter().map(ToString::to_string).collect();
        t.row(vec![
            n.name.clone(),
            v.device.clone(),
            v.vni.to_string(),
            v.local.map(|a| a.to_string()).unwrap_or_default(),
            v.port.to_string(),
            if v.up { "UP" } else { "DOWN" }.to_string(),
            if peers.is_empty() {
                "none".to_string()
            } else {
                peers.join(", ")
            },
        ]);
    }
    t.render()
}

/// Every lab on the machine and its health, one line each (`status -q`).
pub fn machine_quiet(status: &MachineStatus) -> String {
    if status.labs.is_empty() {
        return "No nshost labs on this machine.\n".into();
    }
    status
        .labs
        .iter()
        .map(|lab| format!("{}: {}\n", lab.lab, lab.health.summary()))
        .collect()
}

/// A lab's counts, health and drift, before its tables (`status -q` prints only it).
pub fn header(s: &LabStatus) -> String {
    let summary = &s.totals;
    let mut out = format!("Lab {}", s.lab);
    if let Some(file) = &s.file {
        let _ = write!(out, " ({file})");
    }
    let _ = writeln!(
        out,
        ": {}, {}, {}, {}",
        count(summary.routers, "router", "routers"),
        count(summary.hosts, "host", "hosts"),
        count(summary.links, "link", "links"),
        count(summary.networks, "network", "networks"),
    );
    let _ = writeln!(out, "Health: {}", s.health.summary());
    if let Some(w) = &s.watcher {
        // `Watched by pid 4321 since 2026-12-07 20:01:02 UTC (file lab.yaml)`.
        let line = w.line();
        let _ = writeln!(out, "W{}", line.strip_prefix('w').unwrap_or(&line));
    }
    for p in &s.health.problems {
        let _ = writeln!(out, "  {p}");
    }
    if let (Some(changes), Some(file)) = (s.changes, &s.file) {
        if changes == 0 {
            let _ = writeln!(out, "Drift: none, the kernel matches the file");
        } else {
            let drifted = s
                .nodes
                .iter()
                .filter(|n| n.drift.as_ref().is_some_and(|d| !d.in_sync()))
                .count();
            let mut what = count(drifted, "node", "nodes");
            if !s.fabric_changes.is_empty() {
                what += " and the fabric";
            }
            let _ = writeln!(
                out,
                "Drift: {} ({what}); `nshost plan {file}` shows them",
                count(changes, "change", "changes"),
            );
        }
    }
    out
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn presence(node: &NodeStatus) -> Option<&'static str> {
    match node.presence {
        Presence::Present => None,
        Presence::Missing => Some("(no namespace)"),
        Presence::EmptyMountPoint => Some("(empty mount point)"),
    }
}

fn nodes_table(s: &LabStatus) -> String {
    let compared = s.file.is_some();
    let mut heads = vec![
        "NODE",
        "ROLE",
        "NAMESPACE",
        "INTERFACE",
        "STATE",
        "ADDRESSES",
        "ROUTES",
        "RULES",
    ];
    let services = s.nodes.iter().any(|n| !n.services.is_empty());
    if services {
        heads.push("SERVICES");
    }
    if compared {
        heads.push("DRIFT");
    }
    let mut t = Table::new(&heads);
    t.right(&[6, 7]);
    for node in &s.nodes {
        let mut first = vec![
            node.name.clone(),
            node.role.name().to_string(),
            node.namespace.clone(),
        ];
        // The loopback only when it says something (down, or an address of the lab's).
        let shown: Vec<_> = node
            .interfaces
            .iter()
            .filter(|i| i.kind != "loopback" || !i.up || !i.addresses.is_empty())
            .collect();
        let mut rows: Vec<Vec<String>> = shown
            .iter()
            .map(|i| {
                vec![
                    i.name.clone(),
                    i.state().to_string(),
                    i.addresses.join(", "),
                ]
            })
            .collect();
        if rows.is_empty() {
            rows.push(vec![
                presence(node).unwrap_or("-").to_string(),
                String::new(),
                String::new(),
            ]);
        }
        for (n, iface) in rows.into_iter().enumerate() {
            let mut row = if n == 0 {
                std::mem::take(&mut first)
            } else {
                vec![String::new(); 3]
            };
            row.extend(iface);
            if n == 0 {
                row.push(node.routes.len().to_string());
                row.push(node.rules.len().to_string());
                if services {
                    row.push(node.services.join(", "));
                }
                if let Some(d) = &node.drift {
                    row.push(d.reason.clone());
                }
            } else {
                row.extend([String::new(), String::new()]);
                if services {
                    row.push(String::new());
                }
                if compared {
                    row.push(String::new());
                }
            }
            t.row(row);
        }
    }
    t.render()
}

fn interfaces_table(s: &LabStatus) -> String {
    let mut t = Table::new(&[
        "NODE",
        "INTERFACE",
        "KIND",
        "STATE",
        "MTU",
        "NETWORK",
        "ADDRESSES",
    ]);
    t.right(&[4]);
    for node in &s.nodes {
        let mut name = node.name.clone();
        if node.interfaces.is_empty() {
            t.row(vec![
                name,
                presence(node).unwrap_or("-").to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            continue;
        }
        for i in &node.interfaces {
            t.row(vec![
                std::mem::take(&mut name),
                i.name.clone(),
                i.kind.clone(),
                i.state().to_string(),
                i.mtu.map(|m| m.to_string()).unwrap_or_default(),
                i.network.clone().unwrap_or_default(),
                i.addresses.join(", "),
            ]);
        }
    }
    t.render()
}

fn routes_table(s: &LabStatus) -> String {
    let mut t = Table::new(&[
        "NODE",
        "TABLE",
        "DESTINATION",
        "GATEWAY",
        "DEV",
        "METRIC",
        "PROTO",
    ]);
    t.right(&[5]);
    for node in &s.nodes {
        let mut name = node.name.clone();
        for r in &node.routes {
            t.row(vec![
                std::mem::take(&mut name),
                r.table.clone(),
                r.dst.clone(),
                r.via.clone().unwrap_or_default(),
                r.dev.clone().unwrap_or_default(),
                r.metric.to_string(),
                if r.dynamic {
                    format!("{} (dynamic)", r.proto)
                } else {
                    r.proto.clone()
                },
            ]);
        }
    }
    if t.rows.is_empty() {
        return "No routes.\n".into();
    }
    t.render()
}

fn rules_table(s: &LabStatus) -> String {
    let mut t = Table::new(&["NODE", "RULE"]);
    for node in &s.nodes {
        let mut name = node.name.clone();
        for r in &node.rules {
            t.row(vec![std::mem::take(&mut name), r.text.clone()]);
        }
    }
    if t.rows.is_empty() {
        return "No rules.\n".into();
    }
    t.render()
}

fn networks_table(s: &LabStatus) -> String {
    if s.networks.is_empty() {
        return "No networks.\n".into();
    }
    let mut t = Table::new(&["NETWORK", "BRIDGE", "STATE", "MTU", "PORTS"]);
    t.right(&[3, 4]);
    for n in &s.networks {
        t.row(vec![
            n.name.clone(),
            n.bridge.clone(),
            if n.up { "UP" } else { "DOWN" }.to_string(),
            n.mtu.map(|m| m.to_string()).unwrap_or_default(),
            n.ports.to_string(),
        ]);
    }
    t.render()
}

/// Columns aligned on the widest cell, two spaces apart; no trailing blanks.
struct Table {
    heads: Vec<String>,
    right: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(heads: &[&str]) -> Self {
        Table {
            heads: heads.iter().map(|h| h.to_string()).collect(),
            right: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Right-aligns these columns (numbers).
    fn right(&mut self, columns: &[usize]) {
        self.right = columns.to_vec();
    }

    fn row(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.heads.len());
        self.rows.push(row);
    }

    fn render(&self) -> String {
        let width = |c: usize| {
            std::iter::once(&self.heads)
                .chain(&self.rows)
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.heads.len()).map(width).collect();
        let mut out = String::new();
        for row in std::iter::once(&self.heads).chain(&self.rows) {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c > 0 {
                    line.push_str("  ");
                }
                let w = widths[c];
                if self.right.contains(&c) {
                    let _ = write!(line, "{cell:>w$}");
                } else {
                    let _ = write!(line, "{cell:<w$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}
