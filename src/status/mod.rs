//! `status`: what the labs on this machine look like, from the kernel alone. Every
//! nshost lab is found by the ownership marks on its namespaces' loopbacks ([`labs`]);
//! one lab is shown node by node ([`lab`]), and, given its file, with the nodes that
//! drifted from it marked. [`render`] prints both for people; the report types are the
//! JSON documents `nshost status --output json` prints. [`locate`] finds a node's
//! namespace by the node's name, for `nshost exec` and `nshost shell`.
//!
//! Health, in one word per lab: `ok` when every interface of the lab's namespaces is up,
//! every node interface that is up has its carrier (its operational state is up, or
//! unknown for a link that has none to lose, like the loopback), every veth end in a
//! node has its peer in the lab (in the lab's fabric, or in the same namespace), and no
//! entry of the lab under `/run/netns` is an empty mount point (left by an interrupted
//! run). Anything else is `degraded`, with the count of each problem. Without the lab
//! file, an interface the file sets `up: false` counts as down (the kernel cannot tell
//! what was meant); `status FILE` knows, and compares the rest with the file too.

mod build;
mod locate;
mod processes;
pub mod render;
mod suite;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

pub use build::{Context, build, summarize};
pub use locate::{LocateError, Located, NodeError, locate};

use crate::kernel::{self, ObserveSpec};
use crate::state::NetState;
use crate::workflow::{self, Error, Loaded};
pub use suite::default_suite;

/// Every nshost lab on this machine: `nshost status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MachineStatus {
    /// The labs, by name.
    pub labs: Vec<LabSummary>,
    /// Entries under `/run/netns` that hold no namespace and are no lab's: skipped.
    pub skipped: Vec<Skipped>,
    /// The warm pool of namespaces (`nshost pool`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<crate::kernel::pool::PoolInfo>,
}

/// One lab in a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LabSummary {
    pub lab: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub health: Health,
}

/// What a lab is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Totals {
    pub routers: usize,
    pub hosts: usize,
    /// Lab namespaces that are neither a router, a host nor the fabric (a mark of
    /// another version of nshost).
    #[serde(skip_serializing_if = "is_zero")]
    pub other_nodes: usize,
    /// Veth ends in the nodes: each joins a node to a network.
    pub links: usize,
    /// Bridges in the lab's fabric namespace: one per network.
    pub networks: usize,
    /// Every namespace of the lab, its fabric included.
    pub namespaces: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// An entry under `/run/netns` that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Skipped {
    pub name: String,
    /// What it is: `a FIFO`, `a file that holds no namespace`...
    pub what: String,
}

/// Whether a lab is whole (see the module docs for the rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Health {
    pub state: HealthState,
    /// Interfaces that are administratively down, in any namespace of the lab.
    pub interfaces_down: usize,
    /// Node interfaces that are up but pass no frames (no carrier: `LOWERLAYERDOWN`,
    /// `DOWN`...).
    pub without_carrier: usize,
    /// Veth ends in a node whose peer is not in the lab.
    pub veths_without_peer: usize,
    /// Entries of the lab under `/run/netns` that hold no namespace.
    pub empty_mount_points: usize,
    /// Each problem in a phrase: `web1/eth0 is down`.
    pub problems: Vec<String>,
}

/// `ok`, or `degraded`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    #[default]
    Ok,
    Degraded,
}

impl Health {
    /// `ok`, or `degraded: 2 interfaces down, 1 without carrier`.
    pub fn summary(&self) -> String {
        let counts = [
            (self.interfaces_down, "interface down", "interfaces down"),
            (self.without_carrier, "without carrier", "without carrier"),
            (
                self.veths_without_peer,
                "veth without its peer",
                "veths without their peer",
            ),
            (
                self.empty_mount_points,
                "empty mount point",
                "empty mount points",
            ),
        ];
        let parts: Vec<String> = counts
            .iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, one, many)| format!("{n} {}", if *n == 1 { one } else { many }))
            .collect();
        if parts.is_empty() {
            "ok".into()
        } else {
            format!("degraded: {}", parts.join(", "))
        }
    }
}

/// One lab, node by node: `nshost status FILE` or `--lab NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LabStatus {
    pub lab: String,
    /// The lab file the kernel was compared with, when one was given.
    pub file: Option<String>,
    /// The lab's fabric namespace, when it has one.
    pub fabric: Option<String>,
    /// The whole lab, whatever `--limit` selects.
    pub totals: Totals,
    /// Routers and hosts (and namespaces of the lab of another role), by name; only
    /// those `--limit` selects.
    pub nodes: Vec<NodeStatus>,
    /// The networks: one bridge each in the fabric.
    pub networks: Vec<NetworkStatus>,
    /// The whole lab's health, whatever `--limit` selects.
    pub health: Health,
    /// Compared with a file: how many changes `apply` would make (the fabric's
    /// included); `None` without a file.
    pub changes: Option<usize>,
    /// Compared with a file: the changes to the fabric namespace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fabric_changes: Vec<String>,
    /// The `nshost watch` that keeps the lab, when one runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watcher: Option<crate::workflow::watch::WatcherInfo>,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Router,
    Host,
    /// A lab namespace whose mark names no role nshost knows.
    Namespace,
}

impl NodeRole {
    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Router => "router",
            NodeRole::Host => "host",
            NodeRole::Namespace => "namespace",
        }
    }
}

/// Whether a node's namespace is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Present,
    /// The file declares it; nothing is there.
    Missing,
    /// The lab's entry under `/run/netns` holds no namespace (an interrupted run).
    EmptyMountPoint,
}

/// One router or host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NodeStatus {
    pub name: String,
    pub role: NodeRole,
    pub namespace: String,
    pub presence: Presence,
    /// Its links, by name, the loopback included.
    pub interfaces: Vec<InterfaceStatus>,
    /// The routes in the node (not the kernel's connected ones, not the local table):
    /// the lab's, and the dynamic ones other programs installed (`dynamic`).
    pub routes: Vec<RouteStatus>,
    /// The policy rules the lab owns (not the kernel's default ones).
    pub rules: Vec<RuleStatus>,
    /// The services the lab's daemon serves here, as the kernel has them listening:
    /// `tcp/80`, `udp/53 on 10.1.1.10`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The processes its supervisor runs (`run:`), in the order they start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessStatus>,
    /// Compared with a file: how this node differs from it; `None` without a file.
    pub drift: Option<Drift>,
}

/// One process of a node, as its supervisor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ProcessStatus {
    pub name: String,
    /// `running`, `backoff` (exited, started again soon) or `failed` (exited too often
    /// in a row; `apply` restarts it).
    pub state: crate::workload::ProcState,
    /// Its pid on this machine (as `kill` takes it), while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// How many times it was started again after it exited.
    pub restarts: u32,
    /// Seconds since it was started (running) or last exited.
    pub since_s: u64,
    /// How it last exited, if it did: `exit 1`, `signal 9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    /// The last lines of its log, when it is not running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// Its log file.
    pub log: String,
}

/// How a node differs from the lab file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Drift {
    /// In a few words: `in sync`, `2 changes`, `missing`, `not in the file`.
    pub reason: String,
    /// What `apply` would do to this node, one change each.
    pub changes: Vec<String>,
}

impl Drift {
    pub fn in_sync(&self) -> bool {
        self.changes.is_empty()
    }
}

/// One interface of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct InterfaceStatus {
    pub name: String,
    /// The kernel's kind: `veth`, `loopback`, `vxlan`...
    pub kind: String,
    /// Administratively up.
    pub up: bool,
    /// The operational state, when the kernel says.
    pub oper: Option<crate::state::OperState>,
    pub mtu: Option<u32>,
    /// Addresses with their prefix lengths (the kernel's own, like link-local IPv6
    /// ones, left out).
    pub addresses: Vec<String>,
    /// For a veth end into a network: the network's name (from the file; the bridge's
    /// name without one).
    pub network: Option<String>,
    /// For a veth end: the other end, `namespace/name`, when it is in the lab.
    pub peer: Option<String>,
}

impl InterfaceStatus {
    /// `UP`, `DOWN`, `LOWERLAYERDOWN`... as `ip -br link` shows it.
    pub fn state(&self) -> &'static str {
        match (self.oper, self.up) {
            (_, false) => "DOWN",
            (Some(o), true) => o.name(),
            (None, true) => "UP",
        }
    }
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RouteStatus {
    /// The table's name: from the lab file, `main`, `local`, `default`, or its number.
    pub table: String,
    /// `default`, or a prefix.
    pub dst: String,
    pub via: Option<String>,
    pub dev: Option<String>,
    pub metric: u32,
    /// The protocol by iproute2's name (`boot`, `static`, `bird`...).
    pub proto: String,
    /// Installed by another program (a routing daemon: its protocol is not one the lab
    /// writes); nshost leaves it alone.
    pub dynamic: bool,
}

/// One policy rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RuleStatus {
    pub priority: u32,
    /// The table it looks up, named as for routes.
    pub table: String,
    /// The rule as `ip rule` shows it, the table by its name.
    pub text: String,
}

/// One network: a bridge in the fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NetworkStatus {
    /// Its name in the file; the bridge's name without one.
    pub name: String,
    pub bridge: String,
    pub up: bool,
    pub mtu: Option<u32>,
    /// Node interfaces on it.
    pub ports: usize,
    /// The network's vxlan end on this machine, when it is stretched to other sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelStatus>,
}

/// The vxlan end of a network stretched over several sites, as the kernel has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TunnelStatus {
    /// The vxlan device in the fabric.
    pub device: String,
    pub vni: u32,
    /// This machine's underlay address: the tunnel's source.
    pub local: Option<std::net::IpAddr>,
    pub port: u16,
    /// The other sites' underlay addresses it floods to.
    pub peers: Vec<std::net::IpAddr>,
    pub up: bool,
}

impl LabStatus {
    /// Keeps only the nodes whose name matches one of `patterns` (all, when there are
    /// none).
    pub fn limit(&mut self, patterns: &[glob::Pattern]) {
        if !patterns.is_empty() {
            self.nodes
                .retain(|n| patterns.iter().any(|p| p.matches(&n.name)));
        }
    }
}

/// Every nshost lab on this machine, from the kernel's marks alone: each namespace
/// under `/run/netns` is read once (its links, one dump), on a few threads. No lock is
/// taken: a lab in the middle of an apply shows as it is at that moment.
pub fn labs() -> Result<MachineStatus, Error> {
    let observed = observe_all(true)?;
    let skipped = skipped(&observed.strays);
    let mut labs: Vec<LabSummary> = by_lab(observed.state)
        .iter()
        .map(|(lab, live)| summarize(&build(&Context::from_live(lab, live), live)))
        .collect();
    labs.sort_by(|a, b| crate::names::natural_cmp(&a.lab, &b.lab));
    Ok(MachineStatus {
        labs,
        skipped,
        pool: crate::kernel::pool::info(),
    })
}

/// The lab namespaces of a live state, by lab.
fn by_lab(state: NetState) -> BTreeMap<String, NetState> {
    let mut out: BTreeMap<String, NetState> = BTreeMap::new();
    for (name, ns) in state.namespaces {
        if let Some(owner) = ns.owner.clone() {
            out.entry(owner).or_default().namespaces.insert(name, ns);
        }
    }
    out
}

/// The names of every node on the machine (of `lab` only, when given), sorted.
pub fn labs_nodes(lab: Option<&str>) -> Result<Vec<String>, Error> {
    let mut by_lab = by_lab(observe_all(true)?.state);
    by_lab.retain(|l, _| lab.is_none_or(|want| want == l));
    let mut names: Vec<String> = by_lab
        .iter()
        .flat_map(|(lab, live)| build(&Context::from_live(lab, live), live).nodes)
        .map(|n| n.name)
        .collect();
    crate::names::sort_natural(&mut names);
    names.dedup();
    Ok(names)
}

/// Every lab namespace on the machine, read in full (`links_only`: its links only).
fn observe_all(links_only: bool) -> Result<kernel::Observed, Error> {
    Error::unless_permitted("reading network namespaces")?;
    let spec = ObserveSpec {
        all_labs: true,
        links_only,
        ..ObserveSpec::default()
    };
    kernel::observe(&spec).map_err(Error::from_kernel)
}

fn skipped(strays: &[kernel::Stray]) -> Vec<Skipped> {
    strays
        .iter()
        .map(|s| Skipped {
            name: s.name.clone(),
            what: s.what.clone(),
        })
        .collect()
}

/// Which lab to show.
#[derive(Debug)]
pub enum Target {
    /// A lab file: its nodes are compared with it.
    File(Box<Loaded>),
    /// A lab by name, as the kernel has it.
    Name(String),
}

impl Target {
    /// The lab's name (for its lock).
    pub fn lab(&self) -> &str {
        match self {
            Target::File(loaded) => &loaded.lab.name,
            Target::Name(name) => name,
        }
    }
}

/// One lab, node by node; with its file, the nodes that differ from it are marked
/// (through the same plan `nshost plan` makes). Take the lab's shared lock first
/// ([`workflow::lock_shared`]), as a plan does. A lab with nothing on this machine is
/// `nshost::no_such_lab`.
pub fn lab(target: Target) -> Result<LabStatus, Error> {
    match target {
        Target::Name(lab) => {
            let planned = workflow::plan_destroy(&lab, true)?;
            let live = planned.live.owned_by(&lab);
            let mut cx = Context::from_live(&lab, &live);
            cx.services = planned.services.live.services.clone();
            cx.processes = processes::of(&lab, &planned.workload.live);
            Ok(watched(build(&cx, &live)))
        }
        Target::File(loaded) => {
            let file = loaded.source.name.clone();
            let mut cx = Context::from_loaded(&loaded);
            cx.file = Some(file);
            let planned = workflow::plan_loaded(*loaded)?;
            let live = planned.live.owned_by(&planned.lab);
            if live.namespaces.is_empty() {
                return Err(Error::NoSuchLab {
                    lab: planned.lab.clone(),
                    labs: planned.live.labs(),
                });
            }
            cx.plan = Some(&planned.plan);
            cx.services = planned.services.live.services.clone();
            cx.processes = processes::of(&planned.lab, &planned.workload.live);
            Ok(watched(build(&cx, &live)))
        }
    }
}

/// `status` with the lab's watcher, if one runs.
fn watched(mut status: LabStatus) -> LabStatus {
    status.watcher = crate::workflow::watch::watcher_of(&status.lab);
    status
}

#[cfg(test)]
mod tests;
