//! The `kind:` of a router interface: the kinds of the [`KernelKind`] table a lab file
//! declares, read, written and listed in the schema through that table.

#![warn(clippy::wildcard_enum_match_arm)]

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::state::KernelKind;

/// The kind of a router interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Veth,
    Dummy,
    Ifb,
    Vxlan,
    Macvlan,
}

/// The names of the kinds a lab file declares, in the table's order.
static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| Kind::all().map(Kind::name).collect());

impl Kind {
    /// The kind in the kernel's table.
    pub fn kernel(self) -> KernelKind {
        match self {
            Kind::Veth => KernelKind::Veth,
            Kind::Dummy => KernelKind::Dummy,
            Kind::Ifb => KernelKind::Ifb,
            Kind::Vxlan => KernelKind::Vxlan,
            Kind::Macvlan => KernelKind::Macvlan,
        }
    }

    /// The kind a lab file declares for a kernel kind; `None` for those nshost makes
    /// itself (the loopback, the networks' bridges).
    pub fn from_kernel(kind: KernelKind) -> Option<Kind> {
        match kind {
            KernelKind::Veth => Some(Kind::Veth),
            KernelKind::Dummy => Some(Kind::Dummy),
            KernelKind::Ifb => Some(Kind::Ifb),
            KernelKind::Vxlan => Some(Kind::Vxlan),
            KernelKind::Macvlan => Some(Kind::Macvlan),
            KernelKind::Loopback | KernelKind::Bridge => None,
        }
    }

    /// Every kind a lab file declares, in the table's order.
    pub fn all() -> impl Iterator<Item = Kind> {
        KernelKind::ALL
            .iter()
            .copied()
            .filter_map(Kind::from_kernel)
    }

    /// The kind as written in a lab file (the kernel's name).
    pub fn name(self) -> &'static str {
        self.kernel().kernel_name()
    }

    /// Whether the kind is stacked on another interface of its node.
    pub fn stacked(self) -> bool {
        self.kernel().stacked()
    }

    /// The name of the kind's block of attributes (`vxlan: {...}`), if it has one.
    pub fn block(self) -> Option<&'static str> {
        self.kernel().block()
    }

    /// Whether an interface of the kind is on a network (a veth into its bridge).
    pub fn on_network(self) -> bool {
        match self {
            Kind::Veth => true,
            Kind::Dummy | Kind::Ifb | Kind::Vxlan | Kind::Macvlan => false,
        }
    }
}

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let index = Kind::all().position(|k| k == *self).unwrap_or_default();
        s.serialize_unit_variant("Kind", index as u32, self.name())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        KernelKind::from_kernel_name(&name)
            .and_then(Kind::from_kernel)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, &NAMES))
    }
}

impl schemars::JsonSchema for Kind {
    fn schema_name() -> Cow<'static, str> {
        "Kind".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The kind of a router interface.",
            "type": "string",
            "enum": *NAMES
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_and_write_by_the_kernel_name() {
        let names: Vec<&str> = Kind::all().map(Kind::name).collect();
        assert_eq!(names, ["veth", "dummy", "ifb", "vxlan", "macvlan"]);
        for k in Kind::all() {
            assert_eq!(Kind::from_kernel(k.kernel()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(serde_json::from_str::<Kind>(&json).unwrap(), k);
        }
        let err = serde_json::from_str::<Kind>("\"bridge\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown variant `bridge`"),
            "{err}"
        );
    }
}
