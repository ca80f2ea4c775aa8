//! Planning: the pure diff of desired against live state, its dependency ordering, and
//! the printer for human and JSON output.

pub mod change;
#[cfg(test)]
mod converge_tests;
pub mod diff;
pub mod display;
pub mod order;
pub mod render;
#[doc(hidden)]
pub mod testkit;

pub use change::{Action, Change, PeerEnd};
pub use diff::{Conflict, diff};
pub use order::{Plan, order};
pub use render::Summary;
