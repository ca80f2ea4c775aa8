//! Links (network interfaces): their kind with its own attributes, and the attributes
//! every link has.

#![warn(clippy::wildcard_enum_match_arm)]

use serde::{Deserialize, Serialize};

use crate::state::kinds::{KernelKind, Macvlan, Vxlan};
use crate::state::settings::DevSetting;
use crate::state::small::SmallMap;

/// A reference to a link in some namespace.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct LinkRef {
    pub ns: String,
    pub name: String,
}

impl LinkRef {
    pub fn new(ns: &str, name: &str) -> Self {
        LinkRef {
            ns: ns.to_string(),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for LinkRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ns, self.name)
    }
}

/// An Ethernet (MAC) address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl std::fmt::Display for MacAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl std::str::FromStr for MacAddr {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            let p = parts.next().ok_or(())?;
            if p.len() != 2 {
                return Err(());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(MacAddr(out))
    }
}

impl schemars::JsonSchema for MacAddr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MacAddr".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An Ethernet address, `02:00:00:00:00:01`.",
            "pattern": "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"
        })
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|()| serde::de::Error::custom(format!("not a MAC address: `{text}`")))
    }
}

/// The kind of a link, with the attributes of that kind (`IFLA_INFO_KIND` and
/// `IFLA_INFO_DATA`). One variant per kind nshost creates; `Unmanaged` is only ever
/// seen live (a kind made by hand, or a device the kernel adds itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum LinkKind {
    Loopback,
    Bridge,
    /// One end of a veth pair. `peer` is the other end; live, it is resolved from the
    /// kernel (peer ifindex plus the peer namespace's nsid), `None` when it cannot be.
    Veth {
        peer: Option<LinkRef>,
    },
    Dummy,
    Ifb,
    Vxlan(Box<Vxlan>),
    Macvlan(Macvlan),
    /// A kind nshost does not manage, by its kernel name: listed, removed when the lab
    /// does not declare it, never created.
    Unmanaged {
        name: String,
    },
}

impl LinkKind {
    /// The kind without its attributes; `None` for one nshost does not manage.
    pub fn kernel_kind(&self) -> Option<KernelKind> {
        Some(match self {
            LinkKind::Loopback => KernelKind::Loopback,
            LinkKind::Bridge => KernelKind::Bridge,
            LinkKind::Veth { .. } => KernelKind::Veth,
            LinkKind::Dummy => KernelKind::Dummy,
            LinkKind::Ifb => KernelKind::Ifb,
            LinkKind::Vxlan(_) => KernelKind::Vxlan,
            LinkKind::Macvlan(_) => KernelKind::Macvlan,
            LinkKind::Unmanaged { .. } => return None,
        })
    }

    /// The kernel's name for the kind (`IFLA_INFO_KIND`).
    pub fn kernel_name(&self) -> &str {
        if let LinkKind::Unmanaged { name } = self {
            return name;
        }
        self.kernel_kind().map_or("", KernelKind::kernel_name)
    }

    /// The link in the same namespace this kind is stacked on (a macvlan's parent, a
    /// vxlan's underlay device): it must exist first, and deleting it deletes this one.
    pub fn lower(&self) -> Option<&str> {
        match self {
            LinkKind::Macvlan(m) => Some(&m.parent),
            LinkKind::Vxlan(v) => v.dev.as_deref(),
            LinkKind::Loopback
            | LinkKind::Bridge
            | LinkKind::Veth { .. }
            | LinkKind::Dummy
            | LinkKind::Ifb
            | LinkKind::Unmanaged { .. } => None,
        }
    }

    /// Whether a link of kind `self` can become `to` in place (same kind, and only
    /// attributes the kernel changes on a live link differ).
    pub fn changes_in_place(&self, to: &LinkKind) -> bool {
        match self {
            LinkKind::Vxlan(a) => matches!(to, LinkKind::Vxlan(b) if a.changes_in_place(b)),
            LinkKind::Macvlan(a) => matches!(to, LinkKind::Macvlan(b) if a.changes_in_place(b)),
            LinkKind::Veth { .. } => matches!(to, LinkKind::Veth { .. }),
            LinkKind::Loopback
            | LinkKind::Bridge
            | LinkKind::Dummy
            | LinkKind::Ifb
            | LinkKind::Unmanaged { .. } => self == to,
        }
    }

    /// Whether the kind's own attributes differ (the veth peer is compared apart).
    pub fn attrs_differ(&self, to: &LinkKind) -> bool {
        match self {
            LinkKind::Veth { .. } => !matches!(to, LinkKind::Veth { .. }),
            LinkKind::Loopback
            | LinkKind::Bridge
            | LinkKind::Dummy
            | LinkKind::Ifb
            | LinkKind::Vxlan(_)
            | LinkKind::Macvlan(_)
            | LinkKind::Unmanaged { .. } => self != to,
        }
    }

    /// The veth peer, if this is a veth end with a known peer.
    pub fn peer(&self) -> Option<&LinkRef> {
        match self {
            LinkKind::Veth { peer } => peer.as_ref(),
            LinkKind::Loopback
            | LinkKind::Bridge
            | LinkKind::Dummy
            | LinkKind::Ifb
            | LinkKind::Vxlan(_)
            | LinkKind::Macvlan(_)
            | LinkKind::Unmanaged { .. } => None,
        }
    }
}

/// One link (network interface).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Link {
    pub kind: LinkKind,
    /// Desired: the MTU the link must have (the kind's default when the lab sets none,
    /// so that a removed setting is undone). `None` only where nothing can be said.
    pub mtu: Option<u32>,
    pub up: bool,
    /// Name of the bridge (in the same namespace) this link is enslaved to.
    pub master: Option<String>,
    /// Desired: `None` means "whatever the kernel chose" and is never compared. Live:
    /// the link's address, so that a link recreated by a rollback gets it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// Settings of this device (`net.ipv4.conf.<dev>.*` and the like), by setting.
    #[serde(default, skip_serializing_if = "SmallMap::is_empty")]
    pub settings: SmallMap<DevSetting, String>,
    /// The root qdisc when it is one `impair` makes (`tbf`, `netem`). Desired: `None`
    /// takes such a qdisc away and leaves any other kind alone. Live: `None` for any
    /// other kind (the kernel's default, or one set by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qdisc: Option<Box<super::Qdisc>>,
    /// Kernel ifindex. Live only; never compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<u32>,
    /// The kernel's operational state (carrier and all). Live only; never compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oper: Option<OperState>,
}

/// A link's operational state (`IFLA_OPERSTATE`, RFC 2863), as `ip link` names it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OperState {
    /// What the loopback and other links without a carrier of their own report.
    Unknown,
    NotPresent,
    Down,
    /// Up, but what it stands on is not (a veth whose peer is down).
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

impl OperState {
    /// From the kernel's number; `None` for one it does not define.
    pub fn from_kernel(n: u8) -> Option<Self> {
        Some(match n {
            0 => OperState::Unknown,
            1 => OperState::NotPresent,
            2 => OperState::Down,
            3 => OperState::LowerLayerDown,
            4 => OperState::Testing,
            5 => OperState::Dormant,
            6 => OperState::Up,
            _ => return None,
        })
    }

    /// `UP`, `DOWN`, `LOWERLAYERDOWN`... as `ip link` prints it.
    pub fn name(self) -> &'static str {
        match self {
            OperState::Unknown => "UNKNOWN",
            OperState::NotPresent => "NOTPRESENT",
            OperState::Down => "DOWN",
            OperState::LowerLayerDown => "LOWERLAYERDOWN",
            OperState::Testing => "TESTING",
            OperState::Dormant => "DORMANT",
            OperState::Up => "UP",
        }
    }

    /// Whether frames can pass: up, or unknown (a link that has no carrier to lose).
    pub fn passes(self) -> bool {
        matches!(self, OperState::Up | OperState::Unknown)
    }
}

/// The MTU a fresh Ethernet-like link gets from the kernel.
pub const DEFAULT_MTU: u32 = 1500;
/// The loopback's MTU in a fresh namespace.
pub const LOOPBACK_MTU: u32 = 65536;

impl Link {
    /// The loopback every namespace has, as a desired state has it: always up, at the
    /// kernel's MTU.
    pub fn loopback() -> Self {
        Link {
            mtu: Some(LOOPBACK_MTU),
            ..Link::new(LinkKind::Loopback)
        }
    }

    /// A fresh link of `kind`: up, with no MTU said.
    pub fn new(kind: LinkKind) -> Self {
        Link {
            kind,
            mtu: None,
            up: true,
            master: None,
            mac: None,
            settings: SmallMap::new(),
            qdisc: None,
            ifindex: None,
            oper: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_addresses_parse_and_print() {
        let mac: MacAddr = "02:00:5e:10:00:ff".parse().unwrap();
        assert_eq!(mac.to_string(), "02:00:5e:10:00:ff");
        for bad in [
            "02:00:5e:10:00",
            "02:00:5e:10:00:ff:01",
            "2:00:5e:10:00:ff",
            "zz:00:00:00:00:00",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}
