//! The edges of the dependency graph: each operation between the barriers of its
//! namespace's phase, and the few direct edges across namespaces or inside a phase
//! (bridges before their ports, lower links before stacked ones, a route before the
//! routes whose gateway it reaches, a pair's deletion before its far namespace goes).

use std::collections::HashMap;

use ipnet::IpNet;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{Node, Ops, PHASE_DELETE_LINK, PHASES, phase};
use crate::plan::{Change, Part};
use crate::state::{Link, LinkKind, LinkRef, NetState, RT_TABLE_MAIN, Route, RouteKey};

/// The connected subnets of each namespace of a desired state, with their interface.
fn connected(desired: &NetState) -> HashMap<&str, Vec<(&str, IpNet)>> {
    desired
        .namespaces
        .iter()
        .map(|(name, ns)| {
            (
                name.as_str(),
                ns.addresses
                    .keys()
                    .map(|k| (k.ifname.as_str(), k.addr.trunc()))
                    .collect(),
            )
        })
        .collect()
}

/// The first operation of the changes other operations depend on, by what they make.
#[derive(Default)]
struct Index<'c> {
    add_ns: HashMap<&'c str, usize>,
    del_ns: HashMap<&'c str, usize>,
    bridges: HashMap<(&'c str, &'c str), usize>,
    updates: HashMap<(&'c str, &'c str), usize>,
    creates: HashMap<(&'c str, &'c str), Vec<usize>>,
    routes: HashMap<&'c str, Vec<usize>>,
}

impl<'c> Index<'c> {
    fn new(ops: &Ops<'c>) -> Self {
        let mut ix = Index::default();
        for (i, c) in ops.changes.iter().enumerate() {
            let op = ops.first_op[i];
            match c {
                Change::AddNamespace { ns, .. } => {
                    ix.add_ns.insert(ns, op);
                }
                Change::DeleteNamespace { ns, .. } => {
                    ix.del_ns.insert(ns, op);
                }
                Change::AddLink {
                    ns,
                    name,
                    link,
                    peer,
                } => {
                    if link.kind == LinkKind::Bridge {
                        ix.bridges.insert((ns, name), op);
                    }
                    ix.creates.entry((ns, name)).or_default().push(op);
                    if let Some(p) = peer {
                        ix.creates
                            .entry((&p.at.ns, &p.at.name))
                            .or_default()
                            .push(op);
                    }
                }
                Change::UpdateLink { ns, name, .. } => {
                    ix.updates.insert((ns, name), op);
                }
                Change::AddRoute { ns, .. } | Change::ReplaceRoute { ns, .. } => {
                    ix.routes.entry(ns).or_default().push(op);
                }
                _ => {}
            }
        }
        ix
    }
}

/// The edges of the dependency graph, operation by operation.
struct Edges<'a, 'c> {
    ops: &'a Ops<'c>,
    ix: Index<'c>,
    /// Per namespace, its chain of phase barriers.
    barriers: Vec<[NodeIndex; PHASES + 1]>,
    connected: HashMap<&'c str, Vec<(&'c str, IpNet)>>,
    route_edges: bool,
    out: Vec<(NodeIndex, NodeIndex)>,
}

impl<'c> Edges<'_, 'c> {
    /// Operation `i` between the barriers of its phase, or before (creating) or after
    /// (removing) every phase of its namespace.
    fn phase(&mut self, i: usize) {
        let me = node(i);
        let c = self.ops.change(i);
        let chain = &self.barriers[self.ops.ns_id[i]];
        match (c, phase(c, self.ops.part(i))) {
            (_, Some(p)) => {
                self.out.push((chain[p], me));
                self.out.push((me, chain[p + 1]));
            }
            (Change::AddNamespace { .. }, None) => self.out.push((me, chain[0])),
            (Change::DeleteNamespace { ns, .. }, None) => match self.ix.add_ns.get(ns.as_str()) {
                // A stray mount point goes before the namespace is made again.
                Some(&a) => self.out.push((me, node(a))),
                None => self.out.push((chain[PHASES], me)),
            },
            _ => unreachable!("only namespace changes have no phase"),
        }
    }

    /// A link enslaved to master `m` of `ns` goes after the bridge is created.
    fn master(&mut self, i: usize, ns: &str, m: &Option<String>) {
        if let Some(m) = m
            && let Some(&b) = self.ix.bridges.get(&(ns, m.as_str()))
            && b != i
        {
            self.out.push((node(b), node(i)));
        }
    }

    /// A link stacked on another goes after that one is created or updated.
    fn lower(&mut self, i: usize, ns: &str, kind: &LinkKind) {
        if let Some(l) = kind.lower() {
            for &a in self.ix.creates.get(&(ns, l)).into_iter().flatten() {
                self.out.push((node(a), node(i)));
            }
            if let Some(&u) = self.ix.updates.get(&(ns, l)) {
                self.out.push((node(u), node(i)));
            }
        }
    }

    /// Deleting a link (a pair from its surviving end) goes before its far end's
    /// namespace is removed, after that namespace's route and rule deletions, and before
    /// a link of the same name is created again.
    fn delete_link(&mut self, i: usize, ns: &'c str, name: &'c str, link: &'c Link) {
        let me = node(i);
        let mut gone: Vec<(&str, &str)> = vec![(ns, name)];
        if let Some(LinkRef {
            ns: pns,
            name: pname,
        }) = link.kind.peer()
        {
            gone.push((pns, pname));
            if let Some(&d) = self.ix.del_ns.get(pns.as_str()) {
                self.out.push((me, node(d)));
            }
            if pns != ns
                && let Some(&pid) = self.ops.ns_names.get(pns.as_str())
            {
                self.out.push((self.barriers[pid][PHASE_DELETE_LINK], me));
            }
        }
        for r in gone {
            for &a in self.ix.creates.get(&r).into_iter().flatten() {
                self.out.push((me, node(a)));
            }
        }
    }

    /// A route whose gateway is on no connected subnet (of the route's device, when it
    /// names one: the kernel looks the gateway up through that device only) is reached
    /// through another route of the table (or of main): that route goes first.
    fn route(&mut self, i: usize, ns: &str, key: &RouteKey, route: &Route) {
        let Some(gw) = route.gateway else { return };
        let on_link = self.connected.get(ns).is_some_and(|subnets| {
            subnets.iter().any(|(ifname, s)| {
                s.contains(&gw) && route.dev.as_deref().is_none_or(|d| d == *ifname)
            })
        });
        if on_link {
            return;
        }
        let best = self
            .ix
            .routes
            .get(ns)
            .into_iter()
            .flatten()
            .filter(|&&b| b != i)
            .filter_map(|&b| match self.ops.change(b) {
                Change::AddRoute { key: k, .. } | Change::ReplaceRoute { key: k, .. }
                    if (k.table == key.table || k.table == RT_TABLE_MAIN)
                        && k.dst.contains(&gw) =>
                {
                    Some((k.table == key.table, k.dst.prefix_len(), b))
                }
                _ => None,
            })
            .max();
        if let Some((_, _, b)) = best {
            self.out.push((node(b), node(i)));
        }
    }

    /// Every edge into and out of operation `i`.
    fn of(&mut self, i: usize) {
        self.phase(i);
        let c = self.ops.change(i);
        if self.ops.part(i) != Part::Main {
            // The far end goes up, and flood entries are added, once the link exists.
            let first = self.ops.first_op[self.ops.ops[i].change];
            self.out.push((node(first), node(i)));
            return;
        }
        match c {
            Change::AddLink { ns, link, peer, .. } => {
                self.master(i, ns, &link.master);
                self.lower(i, ns, &link.kind);
                if let Some(p) = peer {
                    self.master(i, &p.at.ns, &p.link.master);
                    if let Some(&a) = self.ix.add_ns.get(p.at.ns.as_str()) {
                        self.out.push((node(a), node(i)));
                    }
                }
            }
            Change::UpdateLink { ns, to, .. } => {
                self.master(i, ns, &to.master);
                self.lower(i, ns, &to.kind);
            }
            Change::DeleteLink { ns, name, link } => self.delete_link(i, ns, name, link),
            Change::AddRoute { ns, key, route }
            | Change::ReplaceRoute {
                ns, key, to: route, ..
            } if self.route_edges => self.route(i, ns, key, route),
            _ => {}
        }
    }
}

fn node(i: usize) -> NodeIndex {
    NodeIndex::new(i)
}

/// The dependency graph: node `i < ops.len()` is operation `i`; then, per namespace, a
/// chain of barriers between its phases.
pub(super) fn build(ops: &Ops<'_>, desired: &NetState, route_edges: bool) -> DiGraph<Node, ()> {
    let n = ops.ops.len();
    let ns_count = ops.ns_names.len();
    let mut graph = DiGraph::with_capacity(n + ns_count * (PHASES + 1), n * 3);
    for i in 0..n {
        graph.add_node(Node::Op(i));
    }
    let barriers: Vec<[NodeIndex; PHASES + 1]> = (0..ns_count)
        .map(|_| {
            let chain: [NodeIndex; PHASES + 1] =
                std::array::from_fn(|_| graph.add_node(Node::Barrier));
            for w in chain.windows(2) {
                graph.add_edge(w[0], w[1], ());
            }
            chain
        })
        .collect();
    let mut edges = Edges {
        ops,
        ix: Index::new(ops),
        barriers,
        connected: connected(desired),
        route_edges,
        out: Vec::with_capacity(n * 3),
    };
    for i in 0..n {
        edges.of(i);
    }
    for (a, b) in edges.out {
        graph.add_edge(a, b, ());
    }
    graph
}
