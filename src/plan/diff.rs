//! `diff(lab, desired, live)`: the pure function from two `NetState`s to a change set.

use serde::Serialize;

use crate::plan::Change;
use crate::state::NetState;

/// A desired object whose name is taken by something the lab does not own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub ns: String,
    /// What collides, e.g. `namespace web1` or `link eth0`.
    pub object: String,
    /// Who owns the live object: `another lab (x)` or `nobody (not created by nshost)`.
    pub owner: String,
}

/// Computes the changes that turn `live` into `desired` for `lab`.
pub fn diff(lab: &str, desired: &NetState, live: &NetState) -> Result<Vec<Change>, Vec<Conflict>> {
    let _ = (lab, desired, live);
    todo!("plan::diff")
}
