//! The part of a lab's desired state one site reconciles.

#![warn(clippy::wildcard_enum_match_arm)]

use std::collections::BTreeSet;

use crate::lab::Lab;
use crate::state::kinds::{VXLAN_PORT, Vxlan};
use crate::state::{Link, LinkKind, MacAddr, NetState};

/// What of `desired` (the whole lab, lowered) goes on `site`: the namespaces of the
/// nodes placed there; the fabric with the bridges of the networks the site has
/// members on and the fabric ends of its own nodes' veths; and a vxlan end in the
/// bridge of every stretched network of the site, created from the underlay, flooding
/// to the network's other sites. A lab without sites is returned as it is.
pub fn place(lab: &Lab, mut desired: NetState, site: &str) -> NetState {
    let Some(sites) = &lab.sites else {
        return desired;
    };
    let kept: BTreeSet<String> = lab
        .nodes
        .iter()
        .filter(|(name, _)| sites.site_of(name) == site)
        .map(|(_, n)| n.ns.clone())
        .collect();
    desired
        .namespaces
        .retain(|name, _| *name == lab.fabric_ns || kept.contains(name));
    let Some(fabric) = desired.namespaces.get_mut(&lab.fabric_ns) else {
        return desired;
    };
    let bridges_here: BTreeSet<&str> = lab
        .networks
        .iter()
        .filter(|(name, _)| {
            sites
                .networks
                .get(*name)
                .is_some_and(|on| on.contains(site))
        })
        .map(|(_, n)| n.bridge.as_str())
        .collect();
    fabric.links.retain(|_, link| match &link.kind {
        LinkKind::Bridge => false,
        LinkKind::Veth { peer } => peer.as_ref().is_none_or(|p| kept.contains(&p.ns)),
        LinkKind::Loopback
        | LinkKind::Dummy
        | LinkKind::Ifb
        | LinkKind::Vxlan(_)
        | LinkKind::Macvlan(_)
        | LinkKind::Unmanaged { .. } => true,
    });
    for (name, network) in &lab.networks {
        if !bridges_here.contains(network.bridge.as_str()) {
            continue;
        }
        let mut bridge = Link::new(LinkKind::Bridge);
        bridge.mtu = network.mtu;
        fabric
            .links
            .insert(network.bridge.clone(), Box::new(bridge));
        let Some(stretch) = sites.stretched.get(name) else {
            continue;
        };
        let me = &sites.sites[site];
        let mut end = Link::new(LinkKind::Vxlan(Box::new(Vxlan {
            id: stretch.vni,
            local: Some(me.underlay),
            remote: None,
            group: None,
            port: if stretch.port == 0 {
                VXLAN_PORT
            } else {
                stretch.port
            },
            dev: me.device.clone(),
            underlay: true,
            flood: sites.peers(name, site),
        })));
        end.mtu = network.mtu;
        end.master = Some(network.bridge.clone());
        fabric.links.insert(stretch.device.clone(), Box::new(end));
    }
    // Node interfaces on stretched networks without a MAC in the file get one of their
    // own, the same whenever they are made: the other sites' neighbour caches and the tunnels'
    // learned entries still hold when a site is destroyed and applied again.
    let stretched_bridges: BTreeSet<&str> = sites
        .stretched
        .keys()
        .filter_map(|n| lab.networks.get(n).map(|n| n.bridge.as_str()))
        .collect();
    let on_stretched: Vec<(String, String)> = fabric
        .links
        .values()
        .filter(|l| {
            l.master
                .as_deref()
                .is_some_and(|m| stretched_bridges.contains(m))
        })
        .filter_map(|l| l.kind.peer().map(|p| (p.ns.clone(), p.name.clone())))
        .collect();
    for (ns, name) in on_stretched {
        if let Some(link) = desired
            .namespaces
            .get_mut(&ns)
            .and_then(|n| n.links.get_mut(&name))
            .filter(|l| l.mac.is_none())
        {
            link.mac = Some(stable_mac(&lab.name, &ns, &name));
        }
    }
    desired
}

/// A locally administered unicast MAC address from a stable FNV-1a hash of the lab,
/// the namespace and the interface: the same on every run and every machine.
pub fn stable_mac(lab: &str, ns: &str, ifname: &str) -> MacAddr {
    let b = crate::naming::fnv1a_64(&[lab, ns, ifname].join("/")).to_be_bytes();
    MacAddr([0x02, b[3] ^ b[0], b[4], b[5], b[6], b[7] ^ b[1] ^ b[2]])
}
