//! A VXLAN device: its VNI, endpoints, UDP port and underlay device, and, for the
//! vxlan ends of a network stretched over several sites, where its socket lives and
//! its static flood entries.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The IANA VXLAN port, used when the lab names none (the kernel's own default, 8472,
/// predates the assignment).
pub const VXLAN_PORT: u16 = 4789;

/// Encapsulation overhead over IPv4 (outer IP 20, UDP 8, VXLAN 8, inner Ethernet 14).
pub const OVERHEAD_V4: u32 = 50;
/// Encapsulation overhead over IPv6 (outer IP 40).
pub const OVERHEAD_V6: u32 = 70;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Vxlan {
    /// VXLAN network identifier, 0 to 16777215.
    pub id: u32,
    /// Source address of the tunnel's packets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    /// Unicast peer (the default destination of unknown frames).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
    /// Multicast group (instead of `remote`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
    /// Destination UDP port.
    pub port: u16,
    /// Underlay device, in the same namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// The tunnel's UDP socket lives in the namespace nshost runs in (the machine's
    /// underlay), not in the device's own: the vxlan end of a stretched network, created
    /// from there into the fabric. Live: the device reports another link namespace.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub underlay: bool,
    /// Static flood entries: the peers every frame to an unknown or broadcast
    /// destination is sent to (all-zero MAC entries of the device's forwarding
    /// database), so the underlay needs no multicast.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    #[schemars(with = "Vec<IpAddr>")]
    pub flood: BTreeSet<IpAddr>,
}

impl Vxlan {
    /// Whether `self` can become `to` on the live device: the kernel changes the
    /// endpoints, the underlay device and the flood entries in place, but not the VNI,
    /// the port or the namespace of the socket, nor the lower device of a socket in
    /// another namespace.
    pub fn changes_in_place(&self, to: &Vxlan) -> bool {
        self.id == to.id
            && self.port == to.port
            && self.v6() == to.v6()
            && self.underlay == to.underlay
            && (!self.underlay || self.dev == to.dev)
    }

    /// The device's own attributes, without its flood entries (what `changelink` says).
    pub fn without_flood(&self) -> Vxlan {
        Vxlan {
            flood: BTreeSet::new(),
            ..self.clone()
        }
    }

    /// Whether the tunnel runs over IPv6.
    pub fn v6(&self) -> bool {
        [self.local, self.remote, self.group]
            .iter()
            .flatten()
            .any(IpAddr::is_ipv6)
    }

    /// The bytes the encapsulation adds to each frame.
    pub fn overhead(&self) -> u32 {
        if self.v6() { OVERHEAD_V6 } else { OVERHEAD_V4 }
    }

    /// The largest MTU the kernel lets the device have over an underlay device of
    /// MTU `underlay_mtu`: that MTU minus the encapsulation (at least 68).
    pub fn max_mtu(&self, underlay_mtu: u32) -> u32 {
        underlay_mtu.saturating_sub(self.overhead()).max(68)
    }

    /// The MTU the kernel gives a new device: 1500, or less when the underlay device's
    /// MTU minus the encapsulation does not fit it.
    pub fn default_mtu(&self, underlay_mtu: Option<u32>) -> u32 {
        let fit = underlay_mtu.map_or(u32::MAX, |m| m.saturating_sub(self.overhead()));
        crate::state::DEFAULT_MTU.min(fit).max(68)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vx(id: u32, remote: &str) -> Vxlan {
        Vxlan {
            id,
            local: None,
            remote: Some(remote.parse().unwrap()),
            group: None,
            port: VXLAN_PORT,
            dev: None,
            underlay: false,
            flood: BTreeSet::new(),
        }
    }

    #[test]
    fn what_changes_in_place() {
        assert!(vx(5, "10.0.0.2").changes_in_place(&vx(5, "10.0.0.3")));
        assert!(!vx(5, "10.0.0.2").changes_in_place(&vx(6, "10.0.0.2")));
        let mut other_port = vx(5, "10.0.0.2");
        other_port.port = 8472;
        assert!(!vx(5, "10.0.0.2").changes_in_place(&other_port));
        assert!(!vx(5, "10.0.0.2").changes_in_place(&vx(5, "fd00::2")));
        let mut flooded = vx(5, "10.0.0.2");
        flooded.flood.insert("192.0.2.2".parse().unwrap());
        assert!(vx(5, "10.0.0.2").changes_in_place(&flooded));
        assert_eq!(flooded.without_flood(), vx(5, "10.0.0.2"));
        let mut underlay = vx(5, "10.0.0.2");
        underlay.underlay = true;
        assert!(!vx(5, "10.0.0.2").changes_in_place(&underlay));
    }

    #[test]
    fn default_mtu_fits_the_underlay() {
        assert_eq!(vx(5, "10.0.0.2").default_mtu(None), 1500);
        assert_eq!(vx(5, "10.0.0.2").default_mtu(Some(1500)), 1450);
        assert_eq!(vx(5, "fd00::2").default_mtu(Some(1500)), 1430);
        assert_eq!(vx(5, "10.0.0.2").default_mtu(Some(9000)), 1500);
    }
}
