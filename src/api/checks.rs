//! The result of [`Lab::check`](super::Lab::check): each check and whether every
//! expectation held.

use serde::Deserialize;
use serde_json::Value;

/// The result of [`Lab::check`](super::Lab::check): each check, and whether every expectation held.
#[derive(Debug, Clone, Deserialize)]
pub struct Checks {
    /// The lab checked.
    pub lab: String,
    /// How many checks passed and failed.
    pub passed: usize,
    pub failed: usize,
    /// Each check, as `nshost check --output json` reports it.
    pub checks: Vec<Check>,
}

/// One check of [`Checks`].
#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    /// The node it was sent from.
    pub from: String,
    /// The target as written: a node or an address.
    pub to: String,
    /// `reachable` or `unreachable`.
    pub expect: String,
    /// Whether the expectation held.
    pub passed: bool,
    /// What happened, as `nshost check --output json` says it.
    pub outcome: Value,
}

impl Checks {
    /// Whether every expectation held.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let checks = lab.check()?;
    /// assert!(checks.passed(), "{:?}", checks.failures());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn passed(&self) -> bool {
        self.failed == 0
    }

    /// The checks whose expectation did not hold.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// assert!(lab.check()?.failures().is_empty());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed).collect()
    }
}
