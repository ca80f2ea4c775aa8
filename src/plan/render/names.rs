//! What the printer needs to show the fabric by what the user wrote: each fabric
//! bridge's network name, and the node interface each fabric port belongs to.

use std::collections::{HashMap, HashSet};

use crate::naming;
use crate::state::{Link, LinkKind, LinkRef, NetState, NsRole};

/// The fabric's objects by the names the user knows, read from the desired and the
/// live state.
#[derive(Debug, Default)]
pub(super) struct Names {
    /// (fabric namespace, bridge) to the network's name.
    networks: HashMap<(String, String), String>,
    /// (fabric namespace, port) to the node interface at its other end.
    ports: HashMap<(String, String), LinkRef>,
    /// (fabric namespace, port) to the bridge it is enslaved to.
    masters: HashMap<(String, String), String>,
    /// The fabric namespaces.
    fabrics: HashSet<String>,
}

impl Names {
    pub fn of(states: &[&NetState]) -> Self {
        let mut names = Names::default();
        for state in states {
            for (ns, n) in &state.namespaces {
                if n.role != NsRole::Fabric {
                    continue;
                }
                names.fabrics.insert(ns.clone());
                for (name, link) in &n.links {
                    if let LinkKind::Veth { peer: Some(p) } = &link.kind {
                        let key = (ns.clone(), name.clone());
                        names.ports.entry(key.clone()).or_insert_with(|| p.clone());
                        if let Some(m) = &link.master {
                            names.masters.entry(key).or_insert_with(|| m.clone());
                        }
                    }
                }
            }
        }
        // A tree of bridges (a big network): each leaf's uplink port has its peer on the
        // root; the leaves' ports count as the root's, and a leaf is the root's network.
        // (fabric, leaf) to its root.
        let mut root_of: HashMap<(String, String), String> = HashMap::new();
        for ((ns, port), peer) in &names.ports {
            if peer.ns == *ns
                && naming::is_uplink_leaf_end(port)
                && let (Some(leaf), Some(root)) = (
                    names.masters.get(&(ns.clone(), port.clone())),
                    names.masters.get(&(ns.clone(), peer.name.clone())),
                )
            {
                root_of.insert((ns.clone(), leaf.clone()), root.clone());
            }
        }
        for (key, m) in names.masters.iter_mut() {
            let node_port = names.ports.get(key).is_some_and(|p| p.ns != key.0);
            if node_port && let Some(root) = root_of.get(&(key.0.clone(), m.clone())) {
                *m = root.clone();
            }
        }
        for state in states {
            for (ns, n) in &state.namespaces {
                if n.role != NsRole::Fabric {
                    continue;
                }
                for (name, link) in &n.links {
                    let key = (ns.clone(), name.clone());
                    if link.kind == LinkKind::Bridge && !names.networks.contains_key(&key) {
                        let network = names.network_name(ns, name, states);
                        names.networks.insert(key, network);
                    }
                }
            }
        }
        for ((ns, leaf), root) in root_of {
            if let Some(network) = names.networks.get(&(ns.clone(), root)).cloned() {
                names.networks.insert((ns, leaf), network);
            }
        }
        names
    }

    /// The name whose bridge is `bridge`: the plain name of `br-<name>`, or the subnet of
    /// an address on a port's node interface (an inferred network is named by its
    /// subnet; its bridge's name is a hash of it); else the bridge's own name.
    fn network_name(&self, fabric: &str, bridge: &str, states: &[&NetState]) -> String {
        let plain = bridge.strip_prefix("br-").map(str::to_string);
        let subnets = self
            .masters
            .iter()
            .filter(|((f, _), m)| f == fabric && m.as_str() == bridge)
            .filter_map(|((f, port), _)| self.ports.get(&(f.clone(), port.clone())))
            .flat_map(|node| {
                states
                    .iter()
                    .filter_map(|s| s.namespaces.get(&node.ns))
                    .flat_map(|n| n.addresses.keys())
                    .filter(|k| k.ifname == node.name)
                    .map(|k| k.addr.trunc().to_string())
                    .collect::<Vec<_>>()
            });
        // The subnets first: a hash is a plain name too.
        subnets
            .chain(plain)
            .find(|c| naming::bridge_name(c) == bridge)
            .unwrap_or_else(|| bridge.to_string())
    }

    /// Whether `ns` is a fabric namespace.
    pub fn is_fabric(&self, ns: &str) -> bool {
        self.fabrics.contains(ns)
    }

    /// The network of bridge `bridge` of fabric `ns`, if it is one.
    pub fn network(&self, ns: &str, bridge: &str) -> Option<&str> {
        self.networks
            .get(&(ns.to_string(), bridge.to_string()))
            .map(String::as_str)
    }

    /// The node interface of fabric port `port` of fabric `ns`, if it is one.
    pub fn port(&self, ns: &str, port: &str) -> Option<&LinkRef> {
        self.ports.get(&(ns.to_string(), port.to_string()))
    }

    /// The network a link is on: a fabric port by its bridge, a node's veth by the
    /// bridge of its fabric end.
    pub fn network_of(&self, ns: &str, link: &Link) -> Option<&str> {
        if let Some(m) = &link.master {
            return self.network(ns, m);
        }
        let p = link.kind.peer()?;
        let m = self.masters.get(&(p.ns.clone(), p.name.clone()))?;
        self.network(&p.ns, m)
    }
}
