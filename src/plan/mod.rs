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
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use change::{Action, Change, PeerEnd};
pub use diff::{Conflict, diff};
pub use order::order;
pub use render::Summary;
pub use schedule::{Executor, Op, Part, Plan, Stage, Step};
