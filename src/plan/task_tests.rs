//! Unit tests of the typed work of steps: every step of a schedule has its typed work,
//! and an operation placed on another executor's step is refused.

use crate::plan::task::created_namespaces;
use crate::plan::testkit::*;
use crate::plan::{Change, Executor, NetlinkItem, Op, Part, Plan, Step, StepWork, diff, order};
use crate::state::NetState;

fn cold_plan() -> Plan {
    let desired = small_lab("lab").build();
    let changes = diff("lab", &desired, &NetState::default()).expect("no conflicts");
    order("lab", changes, &desired)
}

fn items(work: &StepWork<'_>) -> usize {
    match work {
        StepWork::Create { items, .. } => items.len(),
        StepWork::Netlink { items, .. } => items.len(),
        StepWork::Proc { items, .. } => items.len(),
        StepWork::Delete { changes, .. } => changes.len(),
        StepWork::Firewall { items, .. } => items.len(),
    }
}

#[test]
fn every_step_of_a_schedule_has_its_typed_work() {
    let p = cold_plan();
    let created = created_namespaces(&p.changes);
    let mut kinds = std::collections::HashSet::new();
    for (_, step) in p.steps() {
        let work = step.work(&p.changes, &created).expect("typed work");
        assert_eq!(items(&work), step.ops.len(), "{step:?}");
        kinds.insert(std::mem::discriminant(&work));
    }
    assert!(kinds.len() >= 2, "namespaces and netlink: {kinds:?}");
}

#[test]
fn an_operation_on_another_executor_is_refused() {
    let p = cold_plan();
    let created = created_namespaces(&p.changes);
    let add = p
        .changes
        .iter()
        .position(|c| matches!(c, Change::AddAddress { .. }))
        .expect("an address");
    let ns = p.changes[add].ns().to_string();
    let step = |executor: Executor, part| Step {
        executor,
        ops: vec![Op { change: add, part }],
    };
    for executor in [
        Executor::Create(ns.clone()),
        Executor::Underlay(ns.clone()),
        Executor::Proc(ns.clone()),
        Executor::Delete(ns.clone()),
        Executor::Firewall(ns.clone()),
        Executor::Netlink(format!("{ns}-elsewhere")),
    ] {
        let e = step(executor.clone(), Part::Main)
            .work(&p.changes, &created)
            .expect_err("misplaced");
        assert_eq!((e.change, &e.executor), (add, &executor));
    }
    // A part the change does not have.
    let flood = step(Executor::Netlink(ns.clone()), Part::Flood);
    assert!(flood.work(&p.changes, &created).is_err());
    // On its own executor it is an address to add.
    let own = step(Executor::Netlink(ns.clone()), Part::Main);
    match own.work(&p.changes, &created) {
        Ok(StepWork::Netlink {
            ns: n,
            underlay: false,
            items,
        }) => {
            assert_eq!(n, ns);
            assert!(matches!(items[..], [(c, NetlinkItem::AddAddress(_))] if c == add));
        }
        other => panic!("{other:?}"),
    }
}
