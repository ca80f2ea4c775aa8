//! Planning: the pure diff of desired against live state, its dependency ordering into
//! one schedule, and the printer for human and JSON output. Nothing here touches the
//! kernel or imports from the kernel side.

pub mod change;
#[cfg(test)]
mod converge_tests;
pub mod diff;
pub mod display;
pub mod order;
pub mod render;
pub mod schedule;
pub mod services;
pub mod task;
#[cfg(test)]
mod task_tests;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod workload;

pub use change::{Action, Change, PeerEnd};
pub use diff::{Conflict, diff};
pub use order::order;
pub use render::Summary;
pub use schedule::{Executor, Op, Part, Plan, Stage, Step};
pub use task::{NetlinkItem, StepWork, Task};

/// Moves each element `i` of `items` to position `target[i]` (a permutation), in place:
/// a big lab's change set is the largest thing a plan holds, and a second copy of it
/// while it is reordered was the peak of an apply's memory. `target` is used up.
pub(crate) fn permute<T>(items: &mut [T], target: &mut [usize]) {
    assert_eq!(
        items.len(),
        target.len(),
        "bug: a permutation of another length"
    );
    for i in 0..items.len() {
        while target[i] != i {
            let j = target[i];
            items.swap(i, j);
            target.swap(i, j);
        }
    }
}

#[cfg(test)]
mod permute_tests {
    #[test]
    fn every_element_lands_at_its_target() {
        let mut items = vec!['a', 'b', 'c', 'd', 'e'];
        let mut target = vec![3, 0, 4, 1, 2];
        super::permute(&mut items, &mut target);
        assert_eq!(items, ['b', 'd', 'e', 'a', 'c']);
        assert_eq!(target, [0, 1, 2, 3, 4]);
    }
}
