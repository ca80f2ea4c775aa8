//! A macvlan device: a second MAC address on a parent link of the same namespace.

use serde::{Deserialize, Serialize};

/// How macvlans on one parent reach each other.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Private,
    Vepa,
    /// Macvlans on the same parent talk directly (the lab default).
    Bridge,
    Passthru,
    Source,
}

impl MacvlanMode {
    /// The kernel's `MACVLAN_MODE_*` value.
    pub fn kernel_value(self) -> u32 {
        match self {
            MacvlanMode::Private => 1,
            MacvlanMode::Vepa => 2,
            MacvlanMode::Bridge => 4,
            MacvlanMode::Passthru => 8,
            MacvlanMode::Source => 16,
        }
    }

    /// The mode of a kernel `MACVLAN_MODE_*` value.
    pub fn from_kernel(v: u32) -> Option<Self> {
        Some(match v {
            1 => MacvlanMode::Private,
            2 => MacvlanMode::Vepa,
            4 => MacvlanMode::Bridge,
            8 => MacvlanMode::Passthru,
            16 => MacvlanMode::Source,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Passthru => "passthru",
            MacvlanMode::Source => "source",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Macvlan {
    /// The link it sits on, in the same namespace.
    pub parent: String,
    pub mode: MacvlanMode,
}

impl Macvlan {
    /// The kernel changes the mode of a live macvlan, not its parent.
    pub fn changes_in_place(&self, to: &Macvlan) -> bool {
        self.parent == to.parent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in [
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Bridge,
            MacvlanMode::Passthru,
            MacvlanMode::Source,
        ] {
            assert_eq!(MacvlanMode::from_kernel(m.kernel_value()), Some(m));
        }
        let a = Macvlan {
            parent: "eth0".into(),
            mode: MacvlanMode::Bridge,
        };
        let b = Macvlan {
            mode: MacvlanMode::Private,
            ..a.clone()
        };
        assert!(a.changes_in_place(&b));
        let c = Macvlan {
            parent: "eth1".into(),
            ..a.clone()
        };
        assert!(!a.changes_in_place(&c));
    }
}
