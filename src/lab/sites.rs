//! Where a lab's nodes go when it spans several machines ("sites"): the sites, each
//! node's placement, and the networks stretched between sites by VXLAN, as validation
//! resolves them (`validate::sites`); `crate::sites` selects one site's part.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

/// The sites of a lab and what is placed on each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabSites {
    /// The sites by name.
    pub sites: BTreeMap<String, Site>,
    /// The site of nodes without one of their own.
    pub default: String,
    /// Each router's and host's site, by node name.
    pub placement: BTreeMap<String, String>,
    /// The sites each network has members on, by network name (a network without
    /// members is on the default site).
    pub networks: BTreeMap<String, BTreeSet<String>>,
    /// The networks with members on more than one site.
    pub stretched: BTreeMap<String, Stretch>,
    /// The site this machine is, once one is selected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub here: Option<String>,
}

/// One machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Site {
    /// The address other sites reach it at.
    pub underlay: IpAddr,
    /// The underlay's MTU.
    pub mtu: u32,
    /// The machine's interface the vxlan ends go out of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// A network stretched over several sites.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stretch {
    pub vni: u32,
    pub port: u16,
    /// The vxlan end's name in each site's fabric.
    pub device: String,
}

impl LabSites {
    /// The site `node` is placed on.
    pub fn site_of(&self, node: &str) -> &str {
        self.placement.get(node).unwrap_or(&self.default)
    }

    /// The underlay addresses of the other sites of stretched network `network`, seen
    /// from `site`: where its vxlan end floods to.
    pub fn peers(&self, network: &str, site: &str) -> BTreeSet<IpAddr> {
        self.networks
            .get(network)
            .into_iter()
            .flatten()
            .filter(|s| *s != site)
            .filter_map(|s| self.sites.get(s).map(|s| s.underlay))
            .collect()
    }
}

/// The VNI of a stretched network that names none: 24 bits of a stable FNV-1a hash of
/// the lab's and the network's names, never 0. The same on every machine.
pub fn derived_vni(lab: &str, network: &str) -> u32 {
    let h = crate::naming::fnv1a_32(&format!("{lab}/{network}"));
    let vni = (h ^ (h >> 24)) & 0x00ff_ffff;
    vni.max(1)
}

/// The vxlan end of stretched network `network` in a site's fabric: the network's
/// bridge name with `vx-` for `br-`.
pub fn vxlan_name(network: &str) -> String {
    let bridge = crate::naming::bridge_name(network);
    format!("vx-{}", &bridge[3..])
}
