//! Orders a change set with a petgraph dependency graph and cuts it into stages.
//!
//! Nodes are the changes plus, per namespace, a chain of barrier nodes between its
//! phases, so "everything of phase p in X precedes everything of phase p+1 in X" costs
//! two edges per change instead of a quadratic number. Cross-namespace dependencies are
//! direct edges or edges into a barrier.
//!
//! Stages: every change runs on a channel — its namespace's netlink socket, or a thread
//! of its own for namespace creation/removal and sysctls. A change's level is the
//! largest over its predecessors of their level, plus one when the predecessor runs on
//! another channel; stage k holds the changes of level k. Within a stage a channel's
//! changes run in order and channels run concurrently. Barriers are transparent: each
//! carries the two highest (level, channel) pairs of distinct channels that reach it,
//! which is exactly what its successors need to compute their level.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use petgraph::Direction::{Incoming, Outgoing};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::plan::Change;
use crate::state::{LinkKind, LinkRef};

/// An ordered change set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub lab: String,
    /// Changes in a valid execution order.
    pub changes: Vec<Change>,
    /// Indices into `changes`, one vector per stage. Stages run one after another;
    /// within a stage, the changes of each namespace run in order on that namespace's
    /// socket, and different namespaces run concurrently.
    #[serde(skip)]
    pub stages: Vec<Vec<usize>>,
}

impl Plan {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Every namespace a change of the plan acts in: its own, and that of the other end
    /// of a veth pair it creates or deletes.
    pub fn touched_namespaces(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for c in &self.changes {
            out.insert(c.ns().to_string());
            match c {
                Change::AddLink { peer: Some(p), .. } => {
                    out.insert(p.at.ns.clone());
                }
                Change::DeleteLink { link, .. } => {
                    if let LinkKind::Veth { peer: Some(p) } = &link.kind {
                        out.insert(p.ns.clone());
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The changes of stage `k`, in order.
    pub fn stage(&self, k: usize) -> impl Iterator<Item = &Change> {
        self.stages[k].iter().map(|&i| &self.changes[i])
    }
}

/// Number of per-namespace phases.
const PHASES: usize = 11;
/// The phase whose barrier a veth creation into a namespace must precede: settings of
/// an interface on (they need the interface), addresses, routes, rules.
pub(crate) const PHASE_NEEDS_LINK: usize = 6;
/// The phase whose barrier precedes deleting a veth pair from its other end: route and
/// rule deletions in the namespace go first (the kernel would flush the routes).
const PHASE_DELETE_LINK: usize = 1;

/// The per-namespace phase of a change; namespace creation and removal have none.
///
/// 0 rule/route deletions, 1 link deletions, 2 namespace-wide sysctls (before links, so
/// new links see them), 3 bridge creation, 4 other non-veth links and in-place link
/// updates, 5 veth creation, 6 settings of one interface, 7 address additions, 8 address
/// deletions (after additions, so an interface never drops to zero addresses and has
/// its routes flushed), 9 route additions/replacements, 10 rule additions.
pub fn phase(c: &Change) -> Option<usize> {
    Some(match c {
        Change::AddNamespace { .. } | Change::DeleteNamespace { .. } => return None,
        Change::DeleteRule { .. } | Change::DeleteRoute { .. } => 0,
        Change::DeleteLink { .. } => 1,
        Change::SetSysctl { key, .. } if !crate::devconf::names_device(key) => 2,
        Change::AddLink { link, .. } => match link.kind {
            LinkKind::Bridge => 3,
            LinkKind::Veth { .. } => 5,
            _ => 4,
        },
        Change::UpdateLink { .. } => 4,
        Change::SetSysctl { .. } => 6,
        Change::AddAddress { .. } => 7,
        Change::DeleteAddress { .. } => 8,
        Change::AddRoute { .. } | Change::ReplaceRoute { .. } => 9,
        Change::AddRule { .. } => 10,
    })
}

/// Where a change runs within a stage: a namespace's netlink socket, the thread creating
/// a namespace (which also writes that namespace's namespace-wide sysctls, see
/// `kernel::apply`), or a thread of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel<'a> {
    Socket(&'a str),
    Creator(&'a str),
    Own,
}

/// The namespaces a change set creates.
pub fn created_namespaces(changes: &[Change]) -> std::collections::HashSet<&str> {
    changes
        .iter()
        .filter(|c| matches!(c, Change::AddNamespace { .. }))
        .map(Change::ns)
        .collect()
}

/// The channel of `c`, given the namespaces its change set creates.
pub fn channel_of<'a>(c: &'a Change, created: &std::collections::HashSet<&str>) -> Channel<'a> {
    match c {
        c if c.is_netlink() => Channel::Socket(c.ns()),
        Change::AddNamespace { ns, .. } => Channel::Creator(ns),
        Change::SetSysctl { ns, key, .. }
            if !crate::devconf::names_device(key) && created.contains(ns.as_str()) =>
        {
            Channel::Creator(ns)
        }
        _ => Channel::Own,
    }
}

/// A total rank within a namespace: namespace creation, the phases, namespace removal.
pub fn rank(c: &Change) -> usize {
    match (c, phase(c)) {
        (_, Some(p)) => p + 1,
        (Change::AddNamespace { .. }, None) => 0,
        (_, None) => PHASES + 1,
    }
}

#[derive(Clone, Copy, Debug)]
enum Node {
    Change(usize),
    Barrier,
}

/// (level, channel) pairs: the highest, and the highest on another channel.
type Reach = [Option<(u32, usize)>; 2];

fn merge(into: &mut Vec<(u32, usize)>, r: &Reach) {
    into.extend(r.iter().flatten().copied());
}

fn top_two(entries: &[(u32, usize)]) -> Reach {
    let Some(&best) = entries.iter().max() else {
        return [None, None];
    };
    let second = entries.iter().filter(|e| e.1 != best.1).max().copied();
    [Some(best), second]
}

/// The level of a change on `channel` reached by `r`.
fn level_from(r: &Reach, channel: usize) -> u32 {
    match *r {
        [None, _] => 0,
        [Some((m1, c1)), second] if c1 == channel => m1.max(second.map_or(0, |(m2, _)| m2 + 1)),
        [Some((m1, _)), _] => m1 + 1,
    }
}

/// The changes' dependency graph: node `i < changes.len()` is change `i`.
struct Deps {
    graph: DiGraph<Node, ()>,
    /// Namespace ids, by sorted name.
    ns_id: Vec<usize>,
    ns_count: usize,
}

fn build(changes: &[Change]) -> Deps {
    // Every namespace any change names, sorted, gets an id and a barrier chain.
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for c in changes {
        names.insert(c.ns(), 0);
        match c {
            Change::AddLink { peer: Some(p), .. } => {
                names.insert(&p.at.ns, 0);
            }
            Change::DeleteLink { link, .. } => {
                if let LinkKind::Veth { peer: Some(p) } = &link.kind {
                    names.insert(&p.ns, 0);
                }
            }
            _ => {}
        }
    }
    for (i, id) in names.values_mut().enumerate() {
        *id = i;
    }
    let ns_count = names.len();

    let mut graph = DiGraph::with_capacity(
        changes.len() + ns_count * (PHASES + 1),
        changes.len() * 3 + ns_count * PHASES,
    );
    for i in 0..changes.len() {
        graph.add_node(Node::Change(i));
    }
    let node = NodeIndex::new;
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
    let ns_id: Vec<usize> = changes.iter().map(|c| names[c.ns()]).collect();
    let id = |ns: &str| names[ns];

    // Indexes for the cross-namespace edges.
    let mut add_ns: HashMap<&str, usize> = HashMap::new();
    let mut del_ns: HashMap<&str, usize> = HashMap::new();
    let mut bridges: HashMap<(&str, &str), usize> = HashMap::new();
    let mut updates: HashMap<(&str, &str), usize> = HashMap::new();
    let mut creates: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        match c {
            Change::AddNamespace { ns, .. } => {
                add_ns.insert(ns, i);
            }
            Change::DeleteNamespace { ns, .. } => {
                del_ns.insert(ns, i);
            }
            Change::AddLink {
                ns,
                name,
                link,
                peer,
            } => {
                if link.kind == LinkKind::Bridge {
                    bridges.insert((ns, name), i);
                }
                creates.entry((ns, name)).or_default().push(i);
                if let Some(p) = peer {
                    creates.entry((&p.at.ns, &p.at.name)).or_default().push(i);
                }
            }
            Change::UpdateLink { ns, name, .. } => {
                updates.insert((ns, name), i);
            }
            _ => {}
        }
    }

    let mut edges: Vec<(NodeIndex, NodeIndex)> = Vec::with_capacity(changes.len() * 3);
    for (i, c) in changes.iter().enumerate() {
        let me = node(i);
        let chain = &barriers[ns_id[i]];
        match phase(c) {
            Some(p) => {
                edges.push((chain[p], me));
                edges.push((me, chain[p + 1]));
            }
            None => match c {
                Change::AddNamespace { .. } => {
                    edges.push((me, chain[0]));
                }
                _ => {
                    edges.push((chain[PHASES], me));
                }
            },
        }
        let master = |edges: &mut Vec<_>, ns: &str, m: &Option<String>| {
            if let Some(m) = m
                && let Some(&b) = bridges.get(&(ns, m.as_str()))
                && b != i
            {
                edges.push((node(b), me));
            }
        };
        match c {
            Change::AddLink { ns, link, peer, .. } => {
                master(&mut edges, ns, &link.master);
                if let Some(p) = peer {
                    master(&mut edges, &p.at.ns, &p.link.master);
                    let pns = p.at.ns.as_str();
                    if let Some(&a) = add_ns.get(pns) {
                        edges.push((node(a), me));
                    }
                    edges.push((me, barriers[id(pns)][PHASE_NEEDS_LINK]));
                    if let Some(&u) = updates.get(&(pns, p.at.name.as_str())) {
                        edges.push((me, node(u)));
                    }
                }
            }
            Change::UpdateLink { ns, to, .. } => master(&mut edges, ns, &to.master),
            Change::DeleteLink { ns, name, link } => {
                let mut gone: Vec<(&str, &str)> = vec![(ns, name)];
                if let LinkKind::Veth {
                    peer:
                        Some(LinkRef {
                            ns: pns,
                            name: pname,
                        }),
                } = &link.kind
                {
                    gone.push((pns, pname));
                    if let Some(&d) = del_ns.get(pns.as_str()) {
                        edges.push((me, node(d)));
                    }
                    if pns != ns {
                        edges.push((barriers[id(pns)][PHASE_DELETE_LINK], me));
                    }
                }
                for r in gone {
                    for &a in creates.get(&r).into_iter().flatten() {
                        edges.push((me, node(a)));
                    }
                }
            }
            _ => {}
        }
    }
    for (a, b) in edges {
        graph.add_edge(a, b, ());
    }
    Deps {
        graph,
        ns_id,
        ns_count,
    }
}

/// Orders `changes` by their dependencies.
///
/// # Panics
/// If the dependencies form a cycle, which no change set from `diff`
/// can produce.
pub fn order(lab: &str, changes: Vec<Change>) -> Plan {
    let n = changes.len();
    let Deps {
        graph,
        ns_id,
        ns_count,
    } = build(&changes);
    // A namespace-wide sysctl of a namespace this plan creates is written by the thread
    // that creates it (see kernel::apply), so it shares that change's channel.
    let created: std::collections::HashMap<&str, usize> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, Change::AddNamespace { .. }))
        .map(|(i, c)| (c.ns(), i))
        .collect();
    let created_set = created_namespaces(&changes);
    let channel = |i: usize| match channel_of(&changes[i], &created_set) {
        Channel::Socket(_) => ns_id[i],
        Channel::Creator(ns) => ns_count + created[ns],
        Channel::Own => ns_count + i,
    };

    // Levels, in a topological order.
    let topo = petgraph::algo::toposort(&graph, None)
        .unwrap_or_else(|_| panic!("bug: the change set's dependencies form a cycle"));
    let mut reach: Vec<Reach> = vec![[None, None]; graph.node_count()];
    let mut level = vec![0u32; n];
    let mut entries = Vec::new();
    for v in topo {
        match graph[v] {
            Node::Change(i) => {
                let ch = channel(i);
                let mut l = 0;
                for p in graph.neighbors_directed(v, Incoming) {
                    let r: Reach = match graph[p] {
                        Node::Change(j) => [Some((level[j], channel(j))), None],
                        Node::Barrier => reach[p.index()],
                    };
                    l = l.max(level_from(&r, ch));
                }
                level[i] = l;
                reach[v.index()] = [Some((l, ch)), None];
            }
            Node::Barrier => {
                entries.clear();
                for p in graph.neighbors_directed(v, Incoming) {
                    merge(&mut entries, &reach[p.index()]);
                }
                reach[v.index()] = top_two(&entries);
            }
        }
    }

    // Kahn's algorithm, taking the ready change with the smallest (level, namespace,
    // rank, diff index): deterministic, stage-contiguous, and grouped by namespace.
    let key = |i: usize| Reverse((level[i], ns_id[i], rank(&changes[i]), i));
    let mut indegree: Vec<u32> = graph
        .node_indices()
        .map(|v| graph.neighbors_directed(v, Incoming).count() as u32)
        .collect();
    let mut heap = BinaryHeap::new();
    let mut ready_barriers = Vec::new();
    for v in graph.node_indices() {
        if indegree[v.index()] == 0 {
            match graph[v] {
                Node::Change(i) => heap.push(key(i)),
                Node::Barrier => ready_barriers.push(v),
            }
        }
    }
    let mut sequence = Vec::with_capacity(n);
    let release = |v: NodeIndex,
                   indegree: &mut Vec<u32>,
                   heap: &mut BinaryHeap<_>,
                   ready: &mut Vec<NodeIndex>| {
        for s in graph.neighbors_directed(v, Outgoing) {
            let d = &mut indegree[s.index()];
            *d -= 1;
            if *d == 0 {
                match graph[s] {
                    Node::Change(i) => heap.push(key(i)),
                    Node::Barrier => ready.push(s),
                }
            }
        }
    };
    loop {
        while let Some(b) = ready_barriers.pop() {
            release(b, &mut indegree, &mut heap, &mut ready_barriers);
        }
        let Some(Reverse((_, _, _, i))) = heap.pop() else {
            break;
        };
        sequence.push(i);
        release(node_of(i), &mut indegree, &mut heap, &mut ready_barriers);
    }
    assert_eq!(sequence.len(), n, "bug: ordering lost changes");

    let mut slots: Vec<Option<Change>> = changes.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(n);
    let mut stages: Vec<Vec<usize>> = Vec::new();
    let mut current = None;
    for (pos, &i) in sequence.iter().enumerate() {
        if current != Some(level[i]) {
            current = Some(level[i]);
            stages.push(Vec::new());
        }
        stages.last_mut().expect("a stage").push(pos);
        ordered.push(slots[i].take().expect("each change once"));
    }
    Plan {
        lab: lab.to_string(),
        changes: ordered,
        stages,
    }
}

fn node_of(i: usize) -> NodeIndex {
    NodeIndex::new(i)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::plan::diff;
    use crate::plan::testkit::oracle::check_order;
    use crate::plan::testkit::*;
    use crate::state::NetState;

    const LAB: &str = "lab";

    fn plan(desired: &NetState, live: &NetState) -> Plan {
        let p = order(LAB, diff(LAB, desired, live).expect("no conflicts"));
        check_order(&p);
        p
    }

    #[test]
    fn cold_lab_is_three_stages() {
        let desired = small_lab(LAB).build();
        let p = plan(&desired, &NetState::default());
        assert_eq!(p.stages.len(), 3, "{:#?}", p.changes);
        // Namespaces, with the sysctls their creating threads write.
        assert!(p.stage(0).all(|c| matches!(c, Change::AddNamespace { .. })
            || matches!(c, Change::SetSysctl { key, .. } if !crate::devconf::names_device(key))));
        assert!(
            p.stage(1)
                .all(|c| matches!(c, Change::AddLink { ns, .. } if ns == "lab-fabric"))
        );
        assert!(p.stage(2).all(|c| matches!(
            c,
            Change::AddAddress { .. }
                | Change::AddRoute { .. }
                | Change::AddRule { .. }
                | Change::SetSysctl { .. }
        )));
        // Bridges before the ports enslaved to them.
        let first_veth = p.changes.iter().position(|c| matches!(c, Change::AddLink { link, .. } if matches!(link.kind, LinkKind::Veth { .. }))).unwrap();
        let last_bridge = p
            .changes
            .iter()
            .rposition(
                |c| matches!(c, Change::AddLink { link, .. } if link.kind == LinkKind::Bridge),
            )
            .unwrap();
        assert!(last_bridge < first_veth);
    }

    #[test]
    fn destroy_is_one_stage_of_namespace_deletions() {
        let live = as_live(&small_lab(LAB).build());
        let p = plan(&NetState::default(), &live);
        assert_eq!(p.stages.len(), 1);
        assert_eq!(p.changes.len(), 4);
        assert!(
            p.changes
                .iter()
                .all(|c| matches!(c, Change::DeleteNamespace { .. }))
        );
    }

    #[test]
    fn empty_plan() {
        let p = order(LAB, vec![]);
        assert!(p.is_empty());
        assert!(p.stages.is_empty());
    }

    #[test]
    fn removing_a_host_deletes_the_fabric_end_first() {
        let (live, desired) = small_lab_without_web2(LAB);
        let p = plan(&desired, &live);
        assert_eq!(p.stages.len(), 2);
        assert!(matches!(&p.changes[0], Change::DeleteLink { .. }));
        assert!(matches!(&p.changes[1], Change::DeleteNamespace { .. }));
    }

    #[test]
    fn addresses_are_added_before_they_are_deleted() {
        let (live, desired) = small_lab_address_moved(LAB);
        let p = plan(&desired, &live);
        assert!(matches!(&p.changes[0], Change::AddAddress { .. }));
        assert!(matches!(&p.changes[1], Change::DeleteAddress { .. }));
        assert_eq!(p.stages.len(), 1);
    }

    #[test]
    fn drift_and_mixed_changes_respect_every_dependency() {
        let desired = small_lab_with_web3(LAB).mtu("hq-gw", "eth1", 9000).build();
        let mut live = as_live(
            &small_lab(LAB)
                .network("old")
                .host("gone")
                .attach("gone", "eth0", "old", &["10.3.0.1/24"])
                .build(),
        );
        let web1 = live.namespaces.get_mut("web1").unwrap();
        web1.links.remove("eth0");
        web1.addresses.clear();
        live.namespaces.get_mut("hq-gw").unwrap().routes.insert(
            main_route("172.16.0.0/12"),
            crate::state::Route {
                gateway: Some(ip("10.1.1.5")),
                dev: Some("eth0".into()),
                owned: true,
            },
        );
        let p = plan(&desired, &live);
        assert!(p.stages.len() <= 4, "{} stages", p.stages.len());
    }

    /// A lab of `hosts` hosts spread over networks of 200, behind one router.
    fn big_lab(hosts: usize) -> NetState {
        let nets = hosts.div_ceil(200);
        let mut b = LabBuilder::new(LAB).router("r");
        for n in 0..nets {
            let name = format!("n{n}");
            b = b.network(&name).attach(
                "r",
                &format!("eth{n}"),
                &name,
                &[&format!("10.{}.{}.1/16", n / 256, n % 256)],
            );
        }
        for h in 0..hosts {
            let n = h / 200;
            let host = format!("h{h}");
            let addr = format!("10.{}.{}.{}/16", n / 256, n % 256, 2 + h % 200);
            let gw = format!("10.{}.{}.1", n / 256, n % 256);
            b = b
                .host(&host)
                .attach(&host, "eth0", &format!("n{n}"), &[&addr])
                .route(&host, "default", &gw);
        }
        b.build()
    }

    #[test]
    fn a_thousand_hosts_order_quickly_in_three_stages() {
        let desired = big_lab(1000);
        let changes = diff(LAB, &desired, &NetState::default()).unwrap();
        assert!(changes.len() > 4000);
        let start = Instant::now();
        let p = order(LAB, changes);
        let took = start.elapsed();
        assert_eq!(p.stages.len(), 3);
        assert!(took.as_secs_f64() < 2.0, "took {took:?}");
    }
}
