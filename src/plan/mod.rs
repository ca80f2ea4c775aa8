//! Planning: the pure diff of desired against live state, its dependency ordering, and
//! the printer for human and JSON output.

pub mod change;
pub mod diff;
pub mod order;
pub mod render;

pub use change::{Action, Change, PeerEnd};
pub use diff::{Conflict, diff};
pub use order::{Plan, order};
