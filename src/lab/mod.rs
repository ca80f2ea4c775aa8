//! The resolved lab: a topology after validation, with every address parsed, every
//! inferred network, gateway, table and name filled in. `validate` produces it and
//! `lower` turns it into a `NetState`; nothing in it can still be wrong, as far as a
//! check without the kernel can tell. It also keeps where each object comes from in the
//! file, so that a kernel check or a failed change points at the YAML.

#![warn(clippy::wildcard_enum_match_arm)]

pub mod check;
pub mod service;
pub mod sites;

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;
use serde::Serialize;

use crate::state::kinds::{Macvlan, Vxlan};
use crate::state::{DEFAULT_MTU, KernelKind, MacAddr, NsRole, Route, Rule};

/// A validated lab.
#[derive(Clone, Debug, Serialize)]
pub struct Lab {
    pub name: String,
    /// The hidden namespace holding the bridges (prefix + `<lab>-fabric`).
    pub fabric_ns: String,
    /// Networks by name, the inferred ones included.
    pub networks: BTreeMap<String, LabNetwork>,
    /// Routers and hosts by node name.
    pub nodes: BTreeMap<String, LabNode>,
    /// Where the lab's objects are written in the file.
    #[serde(skip)]
    pub origins: Origins,
    /// Problems that do not stop the lab: deliberate restrictions, things the kernel
    /// accepts but that are probably not meant. Each says how to silence it.
    #[serde(skip)]
    pub warnings: Vec<crate::problem::Problem>,
    /// The reachability checks the file declares (none: `check::defaults` derives them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<check::Check>,
    /// The machines the lab is spread over and what is placed on each; `None` for a
    /// lab on one machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sites: Option<crate::lab::sites::LabSites>,
    /// The route, rule and address protocols the lab owns beyond `boot`, `static` and
    /// `kernel`: those its routes name and those it takes with `owns`.
    #[serde(skip_serializing_if = "crate::state::Protocols::is_empty")]
    pub protocols: crate::state::Protocols,
}

impl PartialEq for Lab {
    /// Labs are equal when they describe the same kernel objects.
    fn eq(&self, other: &Self) -> bool {
        (
            &self.name,
            &self.fabric_ns,
            &self.networks,
            &self.nodes,
            &self.protocols,
        ) == (
            &other.name,
            &other.fabric_ns,
            &other.networks,
            &other.nodes,
            &other.protocols,
        )
    }
}

/// A network: one bridge in the fabric namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabNetwork {
    /// Bridge name in the fabric namespace (at most 15 bytes).
    pub bridge: String,
    pub subnets: Vec<IpNet>,
    pub mtu: Option<u32>,
    /// `true` when the network was not declared but inferred from an address.
    pub inferred: bool,
}

/// A router or a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabNode {
    /// Namespace name (prefix + node name).
    pub ns: String,
    pub role: NsRole,
    pub interfaces: BTreeMap<String, LabInterface>,
    /// Addresses on the loopback `lo` (routers only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loopback: Vec<IpNet>,
    pub routes: Vec<LabRoute>,
    /// Rules as the kernel stores them (zero-length prefixes and zero marks left out).
    pub rules: Vec<Rule>,
    /// sysctl key to value as written, forwarding for routers included (`lower`
    /// classifies each as namespace-wide or as a setting of one interface).
    pub sysctls: BTreeMap<String, String>,
    /// The services nshost serves in the node's namespace, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<service::Service>,
    /// The firewall texts the file gives the node, checked (`None`: no firewall, and
    /// nothing of netfilter is ever read or run for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firewall: Option<crate::firewall::FirewallText>,
    /// The files and processes the node declares (`files:`, `run:`).
    #[serde(skip_serializing_if = "Workload::is_empty")]
    pub workload: Workload,
}

/// What runs in a node beside its network: files put in its own mount namespace and
/// processes started (and supervised) there. Empty for most nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Workload {
    /// Files by absolute path, in file order.
    pub files: Vec<NodeFile>,
    /// Processes in the order they start.
    pub run: Vec<NodeProcess>,
}

impl Workload {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.run.is_empty()
    }
}

/// A file the lab puts at `path` inside a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeFile {
    /// Absolute, normalized (no `.`, `..` or doubled `/`), not under `/proc`, `/sys`
    /// or `/dev`.
    pub path: String,
    /// Its bytes: the text written, or the source file read at plan time.
    #[serde(serialize_with = "serialize_content")]
    pub content: Vec<u8>,
    /// Permission bits (0644 unless the file says `mode`), shown in octal.
    #[serde(serialize_with = "serialize_mode")]
    pub mode: u32,
    /// The source file it was read from, relative to the lab file, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A mode as `chmod` writes it: `0644`.
fn serialize_mode<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{mode:04o}"))
}

/// Content is shown as text when it is UTF-8, else as its length.
fn serialize_content<S: serde::Serializer>(c: &[u8], s: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(c) {
        Ok(text) => s.serialize_str(text),
        Err(_) => s.serialize_str(&format!("<{} bytes>", c.len())),
    }
}

/// A process the lab runs in a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeProcess {
    /// Its name in the file (`run:` key): unique in the node.
    pub name: String,
    pub command: ProcessCommand,
}

/// A command as written: a string for `/bin/sh -c`, a list run as is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ProcessCommand {
    Shell(String),
    Argv(Vec<String>),
}

impl ProcessCommand {
    /// The program and its arguments as executed. A string that is one simple command
    /// (words only: no quoting, variables, redirections, pipes or lists) is run with
    /// `exec`, so that the process supervised, signalled and shown is the program
    /// itself and not a shell waiting for it.
    pub fn argv(&self) -> Vec<String> {
        match self {
            ProcessCommand::Shell(s) if is_simple(s) => {
                vec!["/bin/sh".into(), "-c".into(), format!("exec {}", s.trim())]
            }
            ProcessCommand::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            ProcessCommand::Argv(v) => v.clone(),
        }
    }
}

/// Whether a shell command is words only, the first not a shell keyword or builtin
/// that `exec` cannot run.
fn is_simple(s: &str) -> bool {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _./:,+-=@%".contains(c));
    let first = s.split_whitespace().next().unwrap_or("");
    plain
        && !first.is_empty()
        && !first.contains('=')
        && first != "exec"
        && !SHELL_WORDS.contains(&first)
}

/// Words a shell runs itself (keywords and builtins): no program to find or `exec`.
pub const SHELL_WORDS: &[&str] = &[
    "!", ".", ":", "[", "[[", "alias", "bg", "break", "case", "cd", "command", "continue", "echo",
    "eval", "exit", "export", "false", "fg", "for", "function", "if", "jobs", "kill", "printf",
    "pwd", "read", "readonly", "return", "set", "shift", "source", "test", "times", "trap", "true",
    "type", "ulimit", "umask", "unset", "until", "wait", "while", "{", "(",
];

/// A node interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabInterface {
    pub kind: IfaceKind,
    /// Addresses in file order (a host's primary first).
    pub addresses: Vec<IpNet>,
    /// The MTU written for the interface or its network; `None` for the kind's default.
    pub mtu: Option<u32>,
    pub up: bool,
    /// The Ethernet address written for it; `None`: whatever it has.
    pub mac: Option<MacAddr>,
    /// The root qdisc its `impair` makes, in the kernel's units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impair: Option<crate::state::Qdisc>,
}

/// What an interface is, with the attributes of its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum IfaceKind {
    /// A veth pair into `network`'s bridge; `fabric_name` is the fabric-side end.
    Veth {
        network: String,
        fabric_name: String,
    },
    Dummy,
    Ifb,
    Vxlan(Vxlan),
    Macvlan(Macvlan),
}

impl IfaceKind {
    /// The kind without its attributes.
    pub fn kernel_kind(&self) -> KernelKind {
        match self {
            IfaceKind::Veth { .. } => KernelKind::Veth,
            IfaceKind::Dummy => KernelKind::Dummy,
            IfaceKind::Ifb => KernelKind::Ifb,
            IfaceKind::Vxlan(_) => KernelKind::Vxlan,
            IfaceKind::Macvlan(_) => KernelKind::Macvlan,
        }
    }

    /// The MTU the kernel gives a fresh link of the kind: 1500, a stacked link's
    /// following the link it sits on (`lower_mtu`, by name).
    pub fn default_mtu(&self, lower_mtu: impl Fn(&str) -> Option<u32>) -> u32 {
        match self {
            IfaceKind::Vxlan(v) => v.default_mtu(v.dev.as_deref().and_then(&lower_mtu)),
            // A macvlan starts at its parent's MTU.
            IfaceKind::Macvlan(m) => lower_mtu(&m.parent).unwrap_or(DEFAULT_MTU),
            IfaceKind::Veth { .. } | IfaceKind::Dummy | IfaceKind::Ifb => DEFAULT_MTU,
        }
    }
}

/// A static route, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabRoute {
    pub table: u32,
    pub dst: IpNet,
    /// The metric as the kernel records it (IPv6 0 is 1024).
    pub metric: u32,
    /// Its attributes, as the kernel reports them (`proto` `boot` unless the file says
    /// otherwise, the scope `ip route` would give it).
    pub route: Route,
}

/// A byte range in the lab file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl From<miette::SourceSpan> for Span {
    fn from(s: miette::SourceSpan) -> Self {
        Span {
            offset: s.offset(),
            len: s.len(),
        }
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.offset, s.len).into()
    }
}

/// Where the lab's objects come from in the file.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// Every sysctl the file sets, for the checks only the kernel can make.
    pub sysctls: Vec<SysctlOrigin>,
    /// Where each firewall text is written, by node namespace and part.
    pub firewalls: HashMap<String, BTreeMap<crate::firewall::Part, Span>>,
    /// Where each `run:` entry's command is written, by node name and process name
    /// (for the plan-time check that its program exists in the node).
    pub processes: HashMap<(String, String), Span>,
    /// Where the netem fields of each interface's `impair` are written, by node
    /// namespace and interface (for the plan-time check that the kernel has netem).
    pub netem_fields: HashMap<(String, String), Vec<Span>>,
}

/// One sysctl as written, with its places.
#[derive(Clone, Debug)]
pub struct SysctlOrigin {
    /// The node's namespace.
    pub ns: String,
    pub key: String,
    /// The value as it will be written.
    pub value: String,
    pub key_span: Span,
    pub value_span: Span,
}
