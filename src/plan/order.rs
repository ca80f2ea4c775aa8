//! Orders a change set with a petgraph dependency graph and cuts it into the stages
//! and steps of a [`Plan`]'s schedule.
//!
//! Each change becomes one or two operations ([`ops_of`]), each on an executor: a
//! namespace's netlink socket, the thread creating a namespace, a thread writing under
//! `/proc/sys`, or the removal of a namespace. Nodes of the graph are the operations
//! plus, per namespace, a chain of barrier nodes between its phases ([`phase`]), so
//! "everything of phase p in X precedes everything of phase p+1 in X" costs two edges
//! per operation instead of a quadratic number. Cross-namespace dependencies, and the
//! few inside a phase (a route whose gateway only another route reaches, a link stacked
//! on another), are direct edges.
//!
//! Stages: an operation's level is the largest over its predecessors of their level,
//! plus one when the predecessor runs on another executor; stage k holds the operations
//! of level k. Within a stage an executor's operations run in order and executors run
//! concurrently. Barriers are transparent: each carries the two highest (level,
//! executor) pairs of distinct executors that reach it, which is exactly what its
//! successors need to compute their level.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use petgraph::Direction::{Incoming, Outgoing};
use petgraph::graph::NodeIndex;

use crate::plan::schedule::{Executor, Op, Part, Plan, Stage, Step};
use crate::plan::task::{created_namespaces, tasks_of};
use crate::plan::{Change, change::Phase};
use crate::state::NetState;

/// Number of per-namespace phases.
const PHASES: usize = Phase::INSIDE;
/// The phase whose barrier precedes deleting a veth pair from its other end: route and
/// rule deletions in the namespace go first.
const PHASE_DELETE_LINK: usize = Phase::DeleteLinks as usize - Phase::Unroute as usize;

/// The per-namespace phase of an operation ([`Phase::inside`]); namespace creation and
/// removal have none.
pub fn phase(c: &Change, part: Part) -> Option<usize> {
    Phase::of(c, part).inside()
}

/// The operations of a change, each with its executor, given the namespaces the change
/// set creates (whose namespace-wide sysctls their creating thread writes): the
/// executors of its [`tasks_of`].
pub fn ops_of(c: &Change, created: &HashSet<&str>) -> Vec<(Part, Executor)> {
    tasks_of(c, created)
        .into_iter()
        .map(|(part, task)| (part, task.executor()))
        .collect()
}

/// The namespace an operation runs in (the far end's, for a pair's `PeerUp`).
fn op_ns(c: &Change, part: Part) -> &str {
    match (c, part) {
        (Change::AddLink { peer: Some(p), .. }, Part::PeerUp) => &p.at.ns,
        _ => c.ns(),
    }
}

/// A total rank within a namespace: the [`Phase`] table's order (namespace removal
/// first, which runs alone on its executor, so its rank never decides).
fn rank(c: &Change, part: Part) -> usize {
    Phase::of(c, part) as usize
}

#[derive(Clone, Copy, Debug)]
enum Node {
    Op(usize),
    Barrier,
}

/// (level, executor) pairs: the highest, and the highest on another executor. Both
/// are `u32`: one is kept per node of the graph, hundreds of thousands in a big lab.
type Reach = [Option<(u32, u32)>; 2];

fn top_two(entries: &[(u32, u32)]) -> Reach {
    let Some(&best) = entries.iter().max() else {
        return [None, None];
    };
    let second = entries.iter().filter(|e| e.1 != best.1).max().copied();
    [Some(best), second]
}

/// The level of an operation on executor `ex` reached by `r`.
fn level_from(r: &Reach, ex: u32) -> u32 {
    match *r {
        [None, _] => 0,
        [Some((m1, c1)), second] if c1 == ex => m1.max(second.map_or(0, |(m2, _)| m2 + 1)),
        [Some((m1, _)), _] => m1 + 1,
    }
}

/// The operations of a change set, with their executors and namespaces.
struct Ops<'c> {
    changes: &'c [Change],
    /// (change, part) per operation.
    ops: Vec<Op>,
    /// Executor id per operation.
    executor: Vec<usize>,
    executors: Vec<Executor>,
    /// Namespace id per operation.
    ns_id: Vec<usize>,
    ns_names: BTreeMap<&'c str, usize>,
    /// The first operation of each change.
    first_op: Vec<usize>,
}

impl<'c> Ops<'c> {
    fn new(changes: &'c [Change]) -> Self {
        let created = created_namespaces(changes);
        let mut ns_names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut ex_ids: BTreeMap<Executor, usize> = BTreeMap::new();
        let mut raw = Vec::with_capacity(changes.len() * 2);
        let mut first_op = Vec::with_capacity(changes.len());
        for (i, c) in changes.iter().enumerate() {
            first_op.push(raw.len());
            for (part, ex) in ops_of(c, &created) {
                ns_names.insert(op_ns(c, part), 0);
                let n = ex_ids.len();
                let id = *ex_ids.entry(ex).or_insert(n);
                raw.push((Op { change: i, part }, id));
            }
        }
        for (i, id) in ns_names.values_mut().enumerate() {
            *id = i;
        }
        let mut executors = vec![Executor::Delete(String::new()); ex_ids.len()];
        for (ex, id) in ex_ids {
            executors[id] = ex;
        }
        let ns_id = raw
            .iter()
            .map(|(op, _)| ns_names[op_ns(&changes[op.change], op.part)])
            .collect();
        Ops {
            changes,
            executor: raw.iter().map(|(_, e)| *e).collect(),
            ops: raw.into_iter().map(|(op, _)| op).collect(),
            executors,
            ns_id,
            ns_names,
            first_op,
        }
    }

    fn change(&self, op: usize) -> &'c Change {
        &self.changes[self.ops[op].change]
    }

    fn part(&self, op: usize) -> Part {
        self.ops[op].part
    }
}

/// Orders `changes` by their dependencies. `desired` is the state they lead to (it
/// tells which gateways are on a connected subnet).
///
/// # Panics
/// If the dependencies form a cycle without the route-to-route edges too, which no
/// change set from `diff` can produce.
pub fn order(lab: &str, changes: Vec<Change>, desired: &NetState) -> Plan {
    let ops = Ops::new(&changes);
    let n = ops.ops.len();
    // Route-to-route edges can only form a cycle when the lab's gateways are not
    // reachable at all, which validation refuses; drop them rather than fail.
    let (graph, topo) = [true, false]
        .into_iter()
        .find_map(|route_edges| {
            let graph = edges::build(&ops, desired, route_edges);
            let topo = petgraph::algo::toposort(&graph, None).ok()?;
            Some((graph, topo))
        })
        .unwrap_or_else(|| panic!("bug: the change set's dependencies form a cycle: {changes:#?}"));

    // Levels, in a topological order.
    let mut reach: Vec<Reach> = vec![[None, None]; graph.node_count()];
    let mut level = vec![0u32; n];
    let mut entries = Vec::new();
    for v in topo {
        match graph[v] {
            Node::Op(i) => {
                let ex = ops.executor[i] as u32;
                let mut l = 0;
                for p in graph.neighbors_directed(v, Incoming) {
                    let r: Reach = match graph[p] {
                        Node::Op(j) => [Some((level[j], ops.executor[j] as u32)), None],
                        Node::Barrier => reach[p.index()],
                    };
                    l = l.max(level_from(&r, ex));
                }
                level[i] = l;
                reach[v.index()] = [Some((l, ex)), None];
            }
            Node::Barrier => {
                entries.clear();
                for p in graph.neighbors_directed(v, Incoming) {
                    entries.extend(reach[p.index()].iter().flatten().copied());
                }
                reach[v.index()] = top_two(&entries);
            }
        }
    }

    // Kahn's algorithm, taking the ready operation with the smallest (level, executor,
    // rank, index): deterministic, stage-contiguous, and grouped by executor.
    let key = |i: usize| {
        let c = ops.change(i);
        Reverse((level[i], ops.executor[i], rank(c, ops.part(i)), i))
    };
    let mut indegree: Vec<u32> = graph
        .node_indices()
        .map(|v| graph.neighbors_directed(v, Incoming).count() as u32)
        .collect();
    let mut heap = BinaryHeap::new();
    let mut ready_barriers = Vec::new();
    for v in graph.node_indices() {
        if indegree[v.index()] == 0 {
            match graph[v] {
                Node::Op(i) => heap.push(key(i)),
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
                    Node::Op(i) => heap.push(key(i)),
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
        release(
            NodeIndex::new(i),
            &mut indegree,
            &mut heap,
            &mut ready_barriers,
        );
    }
    assert_eq!(sequence.len(), n, "bug: ordering lost operations");

    // Changes in the order their first operation runs; operations renumbered to match.
    let mut new_index = vec![usize::MAX; changes.len()];
    let mut order_of_changes = Vec::with_capacity(changes.len());
    for &i in &sequence {
        let c = ops.ops[i].change;
        if new_index[c] == usize::MAX {
            new_index[c] = order_of_changes.len();
            order_of_changes.push(c);
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    let mut current = None;
    for &i in &sequence {
        if current != Some(level[i]) {
            current = Some(level[i]);
            stages.push(Stage::default());
        }
        let stage = stages.last_mut().expect("a stage");
        let ex = &ops.executors[ops.executor[i]];
        let op = Op {
            change: new_index[ops.ops[i].change],
            part: ops.ops[i].part,
        };
        // Within a level every dependency is on the same executor, so an executor's
        // operations are contiguous and the step is the last one.
        match stage.steps.last_mut().filter(|s| &s.executor == ex) {
            Some(step) => step.ops.push(op),
            None => stage.steps.push(Step {
                executor: ex.clone(),
                ops: vec![op],
            }),
        }
    }
    let mut changes = changes;
    assert_eq!(
        order_of_changes.len(),
        changes.len(),
        "bug: a change without operations"
    );
    super::permute(&mut changes, &mut new_index);
    Plan {
        lab: lab.to_string(),
        changes,
        stages,
        services: Vec::new(),
        workload: Vec::new(),
    }
}

mod edges;
#[cfg(test)]
mod tests;
