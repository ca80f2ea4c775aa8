//! A big lab drawn readably: past a threshold, the hosts of a network that have nothing
//! but their one interface on it (and are in one state) are one node, `200 hosts
//! (h0..h199)`, joined to the network by one edge. Only the drawings fold; the JSON
//! graph lists every host.

use std::collections::{BTreeMap, HashMap};

use super::{Edge, Graph, Node, Role, State};
use crate::plan::render::name_ranges;

/// How many alike hosts of a network are drawn one by one; more are one node.
pub const FOLD_ABOVE: usize = 12;

impl Graph {
    /// The graph with the alike hosts of each network folded into one node where there
    /// are more than `above` of them. A folded node and its edge count as the objects
    /// they stand for in the title's counts.
    pub fn folded(mut self, above: usize) -> Graph {
        let mut edges_of: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, e) in self.edges.iter().enumerate() {
            edges_of.entry(e.node.as_str()).or_default().push(i);
        }
        // (network, node state, edge state) to the foldable hosts, as (node, edge) indexes.
        let mut groups: BTreeMap<(String, u8, u8), Vec<(usize, usize)>> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let edges = edges_of.get(n.name.as_str()).map_or(&[][..], Vec::as_slice);
            if let (Role::Host, true, [e]) = (n.role, n.interfaces.is_empty(), edges) {
                let edge = &self.edges[*e];
                let key = (edge.network.clone(), rank(n.state), rank(edge.state));
                groups.entry(key).or_default().push((i, *e));
            }
        }
        drop(edges_of);
        // Node index to what replaces it (`None`: dropped); likewise for edges.
        let mut nodes: HashMap<usize, Option<Node>> = HashMap::new();
        let mut edges: HashMap<usize, Option<Edge>> = HashMap::new();
        for members in groups.into_values().filter(|m| m.len() > above) {
            let (node, edge) = self.fold(&members);
            for (k, (n, e)) in members.iter().enumerate() {
                nodes.insert(*n, (k == 0).then(|| node.clone()));
                edges.insert(*e, (k == 0).then(|| edge.clone()));
            }
        }
        self.nodes = replace(self.nodes, &mut nodes);
        self.edges = replace(self.edges, &mut edges);
        self
    }

    /// The node and the edge that stand for the hosts `members` (node and edge indexes).
    fn fold(&self, members: &[(usize, usize)]) -> (Node, Edge) {
        let names: Vec<String> = members
            .iter()
            .map(|(n, _)| self.nodes[*n].name.clone())
            .collect();
        let first = &self.nodes[members[0].0];
        let first_edge = &self.edges[members[0].1];
        let name = format!("{} hosts ({})", members.len(), name_ranges(&names));
        let node = Node {
            name: name.clone(),
            role: Role::Host,
            namespace: String::new(),
            state: first.state,
            interfaces: Vec::new(),
            folded: members.len(),
        };
        let mut ifnames: Vec<&str> = members
            .iter()
            .map(|(_, e)| self.edges[*e].interface.as_str())
            .collect();
        ifnames.sort_unstable();
        ifnames.dedup();
        let interface = match ifnames.as_slice() {
            [one] => one.to_string(),
            many => format!("{} interface names", many.len()),
        };
        let addresses: usize = members
            .iter()
            .map(|(_, e)| self.edges[*e].addresses.len())
            .sum();
        let down = members.iter().filter(|(_, e)| !self.edges[*e].up).count();
        let mut lines = Vec::new();
        if addresses > 0 {
            lines.push(format!("{addresses} addresses"));
        }
        if down > 0 {
            lines.push(format!("{down} down"));
        }
        let edge = Edge {
            node: name,
            network: first_edge.network.clone(),
            interface,
            addresses: lines,
            up: true,
            state: first_edge.state,
            folded: members.len(),
        };
        (node, edge)
    }
}

/// `list` with the items `with` names replaced or dropped, in their order.
fn replace<T>(list: Vec<T>, with: &mut HashMap<usize, Option<T>>) -> Vec<T> {
    list.into_iter()
        .enumerate()
        .filter_map(|(i, item)| match with.remove(&i) {
            Some(replaced) => replaced,
            None => Some(item),
        })
        .collect()
}

fn rank(state: State) -> u8 {
    match state {
        State::Unchecked => 0,
        State::InSync => 1,
        State::Missing => 2,
        State::Drifted => 3,
    }
}
