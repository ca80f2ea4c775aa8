//! Lowering: a validated `Lab` into the desired `NetState`.

use crate::lab::Lab;
use crate::state::NetState;

/// The kernel objects `lab` consists of.
pub fn lower(lab: &Lab) -> NetState {
    let _ = lab;
    todo!("lower")
}
