//! The graph of a lab as the kernel has it, without its file (`nshost graph --lab
//! NAME`): drawn from the lab's status, every object `in_sync` (it is what is there).

use super::{Edge, Graph, Interface, Network, Node, Role, State};
use crate::names::natural_cmp;
use crate::status::{LabStatus, NodeRole};

impl Graph {
    /// The graph of a lab's live status: its routers and hosts, their veth ends as
    /// edges to the networks (the fabric's bridges), their other interfaces (the
    /// loopback left out) inside them.
    pub fn of_status(status: &LabStatus) -> Graph {
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        for role in [Role::Router, Role::Host] {
            let want = match role {
                Role::Router => NodeRole::Router,
                Role::Host => NodeRole::Host,
            };
            let mut of_role: Vec<_> = status.nodes.iter().filter(|n| n.role == want).collect();
            of_role.sort_by(|a, b| natural_cmp(&a.name, &b.name));
            for node in of_role {
                let mut ifaces: Vec<_> = node
                    .interfaces
                    .iter()
                    .filter(|i| i.kind != "loopback")
                    .collect();
                ifaces.sort_by(|a, b| natural_cmp(&a.name, &b.name));
                let mut interfaces = Vec::new();
                for iface in ifaces {
                    match &iface.network {
                        Some(network) => edges.push(Edge {
                            node: node.name.clone(),
                            network: network.clone(),
                            interface: iface.name.clone(),
                            addresses: iface.addresses.clone(),
                            up: iface.up,
                            state: State::InSync,
                            folded: 0,
                        }),
                        None => interfaces.push(Interface {
                            name: iface.name.clone(),
                            kind: iface.kind.clone(),
                            detail: None,
                            addresses: iface.addresses.clone(),
                            up: iface.up,
                            state: State::InSync,
                        }),
                    }
                }
                nodes.push(Node {
                    name: node.name.clone(),
                    role,
                    namespace: node.namespace.clone(),
                    state: State::InSync,
                    interfaces,
                    folded: 0,
                });
            }
        }
        let mut networks: Vec<Network> = status
            .networks
            .iter()
            .map(|n| Network {
                name: n.name.clone(),
                subnets: Vec::new(),
                inferred: false,
                mtu: n.mtu,
                state: State::InSync,
            })
            .collect();
        networks.sort_by(|a, b| natural_cmp(&a.name, &b.name));
        Graph {
            lab: status.lab.clone(),
            checked: true,
            nodes,
            networks,
            edges,
        }
    }
}
