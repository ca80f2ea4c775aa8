//! An independent check of a plan's schedule: every documented dependency, tested
//! operation pair by operation pair (quadratic: small plans only), and the stage rules.

use std::collections::{BTreeSet, HashSet};

use crate::plan::order::{ops_of, phase};
use crate::plan::{Change, Executor, Part, Plan};
use crate::state::LinkKind;

/// An operation as the oracle sees it: its change, part, executor and place.
struct At<'p> {
    change: &'p Change,
    index: usize,
    part: Part,
    executor: &'p Executor,
    stage: usize,
    seq: usize,
}

impl At<'_> {
    /// The namespace the operation acts in.
    fn ns(&self) -> &str {
        match (self.change, self.part) {
            (Change::AddLink { peer: Some(p), .. }, Part::PeerUp) => &p.at.ns,
            (c, _) => c.ns(),
        }
    }
}

fn names_created(c: &Change) -> Vec<(&str, &str)> {
    match c {
        Change::AddLink { ns, name, peer, .. } => {
            let mut v = vec![(ns.as_str(), name.as_str())];
            v.extend(peer.iter().map(|p| (p.at.ns.as_str(), p.at.name.as_str())));
            v
        }
        _ => vec![],
    }
}

fn masters(c: &Change) -> Vec<(&str, &str)> {
    match c {
        Change::AddLink { ns, link, peer, .. } => {
            let mut v: Vec<_> = link
                .master
                .iter()
                .map(|m| (ns.as_str(), m.as_str()))
                .collect();
            if let Some(p) = peer {
                v.extend(p.link.master.iter().map(|m| (p.at.ns.as_str(), m.as_str())));
            }
            v
        }
        Change::UpdateLink { ns, to, .. } => to
            .master
            .iter()
            .map(|m| (ns.as_str(), m.as_str()))
            .collect(),
        _ => vec![],
    }
}

/// The documented ordering rules between two operations.
fn must_precede(a: &At<'_>, b: &At<'_>, stray_recreated: &HashSet<&str>) -> bool {
    if a.index == b.index {
        return a.part == Part::Main && b.part != Part::Main;
    }
    match (a.change, b.change) {
        (Change::AddNamespace { ns, .. }, _)
            if (b.ns() == ns || b.change.other_ns() == Some(ns.as_str()))
                && !matches!(b.change, Change::DeleteNamespace { .. }) =>
        {
            return true;
        }
        (Change::DeleteNamespace { ns, .. }, Change::AddNamespace { ns: n2, .. }) if ns == n2 => {
            return true;
        }
        (_, Change::DeleteNamespace { ns, .. })
            if a.ns() == ns && !stray_recreated.contains(ns.as_str()) =>
        {
            return true;
        }
        _ => {}
    }
    if a.ns() == b.ns()
        && let (Some(pa), Some(pb)) = (phase(a.change, a.part), phase(b.change, b.part))
        && pa < pb
    {
        return true;
    }
    if let Change::AddLink { ns, name, link, .. } = a.change
        && a.part == Part::Main
    {
        if link.kind == LinkKind::Bridge
            && masters(b.change).contains(&(ns.as_str(), name.as_str()))
        {
            return true;
        }
        let lower = match b.change {
            Change::AddLink { link, .. } | Change::UpdateLink { to: link, .. } => link.kind.lower(),
            _ => None,
        };
        if let Some(l) = lower
            && names_created(a.change).contains(&(b.change.ns(), l))
        {
            return true;
        }
    }
    if let Change::DeleteLink { ns, name, link } = a.change {
        if let Some(p) = link.kind.peer() {
            if matches!(b.change, Change::DeleteNamespace { ns, .. } if *ns == p.ns) {
                return true;
            }
            if names_created(b.change).contains(&(p.ns.as_str(), p.name.as_str())) {
                return true;
            }
        }
        if names_created(b.change).contains(&(ns.as_str(), name.as_str())) {
            return true;
        }
    }
    false
}

/// Checks the plan's schedule and every documented dependency.
pub fn check_order(plan: &Plan) {
    let created: HashSet<&str> = plan
        .changes
        .iter()
        .filter(|c| matches!(c, Change::AddNamespace { .. }))
        .map(Change::ns)
        .collect();
    let stray_recreated: HashSet<&str> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::DeleteNamespace { ns, .. } if created.contains(ns.as_str()) => {
                Some(ns.as_str())
            }
            _ => None,
        })
        .collect();
    let mut ats = Vec::new();
    let mut seen = BTreeSet::new();
    for (k, stage) in plan.stages.iter().enumerate() {
        assert!(!stage.steps.is_empty(), "stage {k} is empty");
        let mut executors = HashSet::new();
        for step in &stage.steps {
            assert!(!step.ops.is_empty(), "an empty step in stage {k}");
            assert!(
                executors.insert(&step.executor),
                "{:?} has two steps in stage {k}",
                step.executor
            );
            for op in &step.ops {
                assert!(seen.insert((op.change, op.part)), "{op:?} runs twice");
                let c = &plan.changes[op.change];
                let planned = ops_of(c, &created);
                assert!(
                    planned.contains(&(op.part, step.executor.clone())),
                    "{op:?} of {c:?} runs on {:?}, not as ops_of says: {planned:?}",
                    step.executor
                );
                ats.push(At {
                    change: c,
                    index: op.change,
                    part: op.part,
                    executor: &step.executor,
                    stage: k,
                    seq: ats.len(),
                });
            }
        }
    }
    let expected: usize = plan.changes.iter().map(|c| ops_of(c, &created).len()).sum();
    assert_eq!(
        ats.len(),
        expected,
        "every operation of every change runs once"
    );
    // Changes are listed in the order they first run.
    let mut first = Vec::new();
    for at in &ats {
        if !first.contains(&at.index) {
            first.push(at.index);
        }
    }
    assert_eq!(first, (0..plan.changes.len()).collect::<Vec<_>>());
    for a in &ats {
        for b in &ats {
            if std::ptr::eq(a, b) || !must_precede(a, b, &stray_recreated) {
                continue;
            }
            assert!(
                a.seq < b.seq,
                "{:?} ({:?})\n must precede\n{:?} ({:?})",
                a.change,
                a.part,
                b.change,
                b.part
            );
            if a.executor != b.executor {
                assert!(
                    a.stage < b.stage,
                    "{:?} ({:?}) on {:?}\n must be a stage before\n{:?} ({:?}) on {:?}",
                    a.change,
                    a.part,
                    a.executor,
                    b.change,
                    b.part,
                    b.executor
                );
            }
        }
    }
}
