//! A picture of a lab: its routers, hosts and networks, and which interface of which
//! node is on which network, built from the validated [`Lab`] (networks under the names
//! the file gives them, or the inferred `10.1.1.0/24`; never the fabric's bridge
//! names). [`live`] colours it with what a plan against the kernel would change;
//! [`dot`] and [`mermaid`] print it, and [`svg`] has Graphviz draw it.
//!
//! Everything is in a fixed order (routers, then hosts, each by name; networks by
//! name; interfaces by name), so the same lab always prints the same text.

pub mod dot;
mod fold;
mod from_status;
pub mod live;
pub mod mermaid;
pub mod svg;

use schemars::JsonSchema;
use serde::Serialize;

use crate::lab::{IfaceKind, Lab, LabInterface};
use crate::names::natural_cmp;
use crate::state::NsRole;

pub use fold::FOLD_ABOVE;
pub use live::{Observed, observe};
pub use svg::{GraphError, render_svg};

/// A lab as a graph: nodes and networks, joined by the nodes' interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Graph {
    /// The lab's name.
    pub lab: String,
    /// Whether the states below come from the live kernel; `false` when the lab is not
    /// applied here, the kernel could not be read, or `--offline` said not to: every
    /// state is then `unchecked`.
    pub checked: bool,
    /// Routers, then hosts, each by name.
    pub nodes: Vec<Node>,
    /// Declared and inferred networks, by name.
    pub networks: Vec<Network>,
    /// One per interface on a network (veth), in node order, then by interface name.
    pub edges: Vec<Edge>,
}

/// How an object of the graph compares with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not compared with the kernel.
    Unchecked,
    /// As the file says.
    InSync,
    /// Not in the kernel: `apply` would create it.
    Missing,
    /// There, but `apply` would change something of it (or in it, for a node).
    Drifted,
}

/// Router or host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Router,
    Host,
}

/// A router or a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Node {
    /// The node's name in the lab file.
    pub name: String,
    pub role: Role,
    /// Its namespace (the lab's prefix and the name).
    pub namespace: String,
    pub state: State,
    /// Its interfaces that are on no network (dummy, ifb, vxlan, macvlan), by name;
    /// the others are edges.
    pub interfaces: Vec<Interface>,
    /// How many hosts a node of a drawing stands for (see [`Graph::folded`]); 0 for
    /// a node that is itself.
    #[serde(skip)]
    #[schemars(skip)]
    pub folded: usize,
}

/// An interface on no network, shown inside its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Interface {
    pub name: String,
    /// `dummy`, `ifb`, `vxlan` or `macvlan`.
    pub kind: String,
    /// What it sits on, for a stacked kind: `vni 42 over core0 to 10.0.0.2`, `bridge on dmz0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub addresses: Vec<String>,
    pub up: bool,
    pub state: State,
}

/// A network: an L2 segment (a bridge in the lab's fabric).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Network {
    /// The name written in the file, or for an inferred network its subnet.
    pub name: String,
    pub subnets: Vec<String>,
    /// Not declared, inferred from an address.
    pub inferred: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub state: State,
}

/// A node's interface on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Edge {
    /// The node's name.
    pub node: String,
    /// The network's name.
    pub network: String,
    /// The interface's name in the node.
    pub interface: String,
    pub addresses: Vec<String>,
    pub up: bool,
    pub state: State,
    /// How many edges a folded node's edge stands for; 0 for an edge that is itself.
    #[serde(skip)]
    #[schemars(skip)]
    pub folded: usize,
}

impl Graph {
    /// The graph of `lab`, every state `unchecked`.
    #[warn(clippy::wildcard_enum_match_arm)]
    pub fn of(lab: &Lab) -> Graph {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        for role in [Role::Router, Role::Host] {
            let ns_role = match role {
                Role::Router => NsRole::Router,
                Role::Host => NsRole::Host,
            };
            let mut of_role: Vec<_> = lab
                .nodes
                .iter()
                .filter(|(_, n)| n.role == ns_role)
                .collect();
            of_role.sort_by(|a, b| natural_cmp(a.0, b.0));
            for (name, node) in of_role {
                let mut interfaces = Vec::new();
                let mut ifaces: Vec<_> = node.interfaces.iter().collect();
                ifaces.sort_by(|a, b| natural_cmp(a.0, b.0));
                for (ifname, iface) in ifaces {
                    match &iface.kind {
                        IfaceKind::Veth { network, .. } => edges.push(Edge {
                            node: name.clone(),
                            network: network.clone(),
                            interface: ifname.clone(),
                            addresses: addresses(iface),
                            up: iface.up,
                            state: State::Unchecked,
                            folded: 0,
                        }),
                        kind @ (IfaceKind::Dummy
                        | IfaceKind::Ifb
                        | IfaceKind::Vxlan(_)
                        | IfaceKind::Macvlan(_)) => interfaces.push(Interface {
                            name: ifname.clone(),
                            kind: kind.kernel_kind().kernel_name().to_string(),
                            detail: detail(kind),
                            addresses: addresses(iface),
                            up: iface.up,
                            state: State::Unchecked,
                        }),
                    }
                }
                nodes.push(Node {
                    name: name.clone(),
                    role,
                    namespace: node.ns.clone(),
                    state: State::Unchecked,
                    interfaces,
                    folded: 0,
                });
            }
        }
        let mut networks: Vec<Network> = lab
            .networks
            .iter()
            .map(|(name, n)| Network {
                name: name.clone(),
                subnets: n.subnets.iter().map(ToString::to_string).collect(),
                inferred: n.inferred,
                mtu: n.mtu,
                state: State::Unchecked,
            })
            .collect();
        networks.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        Graph {
            lab: lab.name.clone(),
            checked: false,
            nodes,
            networks,
            edges,
        }
    }

    /// How many objects (nodes, networks, interfaces) are in each state other than
    /// `unchecked` and `in_sync`: `(missing, drifted)`.
    pub fn counts(&self) -> (usize, usize) {
        // (state, how many objects it stands for: a folded node or edge is many).
        let states = self
            .nodes
            .iter()
            .flat_map(|n| {
                std::iter::once((n.state, n.folded.max(1)))
                    .chain(n.interfaces.iter().map(|i| (i.state, 1)))
            })
            .chain(self.networks.iter().map(|n| (n.state, 1)))
            .chain(self.edges.iter().map(|e| (e.state, e.folded.max(1))));
        states.fold((0, 0), |(m, d), (s, k)| match s {
            State::Missing => (m + k, d),
            State::Drifted => (m, d + k),
            _ => (m, d),
        })
    }
}

fn addresses(iface: &LabInterface) -> Vec<String> {
    iface.addresses.iter().map(ToString::to_string).collect()
}

#[warn(clippy::wildcard_enum_match_arm)]
fn detail(kind: &IfaceKind) -> Option<String> {
    match kind {
        IfaceKind::Vxlan(v) => {
            let mut s = format!("vni {}", v.id);
            if let Some(dev) = &v.dev {
                s += &format!(" over {dev}");
            }
            if let Some(remote) = v.remote.or(v.group) {
                s += &format!(" to {remote}");
            }
            Some(s)
        }
        IfaceKind::Macvlan(m) => Some(format!(
            "{} on {}",
            format!("{:?}", m.mode).to_lowercase(),
            m.parent
        )),
        IfaceKind::Veth { .. } | IfaceKind::Dummy | IfaceKind::Ifb => None,
    }
}

/// The lines of text that describe an interface on no network inside its node.
pub(crate) fn interface_line(i: &Interface) -> String {
    let mut s = format!("{} ({}", i.name, i.kind);
    if let Some(d) = &i.detail {
        s += &format!(", {d}");
    }
    s += ")";
    if !i.addresses.is_empty() {
        s += &format!(" {}", i.addresses.join(" "));
    }
    if !i.up {
        s += " down";
    }
    s
}

/// The lines of an edge's label: the interface (and `down`), then its addresses.
pub(crate) fn edge_lines(e: &Edge) -> Vec<String> {
    let mut first = e.interface.clone();
    if !e.up {
        first += " (down)";
    }
    std::iter::once(first)
        .chain(e.addresses.iter().cloned())
        .collect()
}

/// The lines of a network's label: its name, then its subnets unless the name is the
/// subnet (an inferred network).
pub(crate) fn network_lines(n: &Network) -> Vec<String> {
    let mut lines = vec![n.name.clone()];
    if !(n.subnets.len() == 1 && n.subnets[0] == n.name) {
        lines.extend(n.subnets.iter().cloned());
    }
    if let Some(mtu) = n.mtu {
        lines.push(format!("mtu {mtu}"));
    }
    lines
}

/// The lines of a node's label: its name, then its interfaces on no network.
pub(crate) fn node_lines(n: &Node) -> Vec<String> {
    std::iter::once(n.name.clone())
        .chain(n.interfaces.iter().map(interface_line))
        .collect()
}

#[cfg(test)]
mod tests;
