//! A network with many ports as a tree of bridges, one L2 segment still: its own bridge
//! (the root) and [`LEAVES`] leaf bridges, each joined to the root by a veth pair, with
//! the network's ports spread over the leaves by a hash of their name. The kernel
//! gives a bridge at most 1023 ports (`BR_MAX_PORTS`, "Exchange full" past it), and
//! several of its per-port steps walk every port of the bridge (features, MTU,
//! promiscuity), so enslaving N ports to one bridge costs O(N²). A port's leaf depends
//! on its name alone: adding or removing nodes moves no other port.

use std::collections::BTreeMap;

use crate::naming;
use crate::state::{Link, LinkKind, LinkRef, Namespace};

/// A network with more ports than this is a tree.
pub const TREE_ABOVE: usize = 256;
/// Leaves of a tree.
pub const LEAVES: usize = 16;

/// The leaf of a tree that the port named `port` goes to.
pub fn leaf_of(port: &str) -> usize {
    naming::fnv1a_32(port) as usize % LEAVES
}

/// Turns every bridge of the fabric `ns` (named `fabric`) with more than
/// [`TREE_ABOVE`] ports into a tree: adds its leaves and their uplinks, and moves its
/// ports to their leaves. The leaves and uplinks take the root bridge's MTU.
pub fn spread(fabric: &str, ns: &mut Namespace) {
    let mut ports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, link) in &ns.links {
        if let (LinkKind::Veth { .. }, Some(m)) = (&link.kind, &link.master) {
            ports.entry(m.clone()).or_default().push(name.clone());
        }
    }
    for (bridge, names) in ports {
        if names.len() <= TREE_ABOVE {
            continue;
        }
        let Some(root) = ns.links.get(&bridge) else {
            continue;
        };
        let mtu = root.mtu;
        for k in 0..LEAVES {
            let leaf = naming::leaf_bridge_name(&bridge, k);
            let mut leaf_link = Link::new(LinkKind::Bridge);
            leaf_link.mtu = mtu;
            ns.links.insert(leaf.clone(), Box::new(leaf_link));
            let (up_root, up_leaf) = naming::uplink_names(&bridge, k);
            for (me, other, master) in [(&up_root, &up_leaf, &bridge), (&up_leaf, &up_root, &leaf)]
            {
                let mut end = Link::new(LinkKind::Veth {
                    peer: Some(LinkRef::new(fabric, other)),
                });
                end.mtu = mtu;
                end.master = Some(master.clone());
                ns.links.insert(me.clone(), Box::new(end));
            }
        }
        for port in names {
            let leaf = naming::leaf_bridge_name(&bridge, leaf_of(&port));
            if let Some(link) = ns.links.get_mut(&port) {
                link.master = Some(leaf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NsRole;

    fn fabric(ports: usize) -> Namespace {
        let mut ns = Namespace::owned("t", NsRole::Fabric);
        let mut br = Link::new(LinkKind::Bridge);
        br.mtu = Some(1500);
        ns.links.insert("br-lan".into(), Box::new(br));
        for i in 0..ports {
            let mut p = Link::new(LinkKind::Veth {
                peer: Some(LinkRef::new(&format!("h{i}"), "eth0")),
            });
            p.master = Some("br-lan".into());
            ns.links.insert(
                naming::fabric_port_name(&format!("h{i}"), "eth0"),
                Box::new(p),
            );
        }
        ns
    }

    fn per_bridge(ns: &Namespace) -> BTreeMap<String, usize> {
        let mut n = BTreeMap::new();
        for l in ns.links.values() {
            if let Some(m) = &l.master {
                *n.entry(m.clone()).or_default() += 1;
            }
        }
        n
    }

    #[test]
    fn a_small_network_stays_one_bridge() {
        let mut ns = fabric(TREE_ABOVE);
        let before = ns.clone();
        spread("t-fabric", &mut ns);
        assert_eq!(ns, before);
    }

    #[test]
    fn a_big_network_spreads_its_ports_over_leaves_under_the_root() {
        let mut ns = fabric(2501);
        spread("t-fabric", &mut ns);
        let counts = per_bridge(&ns);
        // The root holds the uplinks only; every leaf an uplink and its share of ports.
        assert_eq!(counts["br-lan"], LEAVES);
        let leaves: Vec<usize> = (0..LEAVES)
            .map(|k| counts[&naming::leaf_bridge_name("br-lan", k)])
            .collect();
        assert_eq!(leaves.iter().sum::<usize>(), 2501 + LEAVES);
        assert!(leaves.iter().all(|&n| n > 100 && n < 250), "{leaves:?}");
        // Each uplink is a pair inside the fabric, one end on the root, one on a leaf.
        let (r, l) = naming::uplink_names("br-lan", 3);
        assert_eq!(
            ns.links[&r].kind.peer(),
            Some(&LinkRef::new("t-fabric", &l))
        );
        assert_eq!(
            ns.links[&l].master.as_deref(),
            Some(naming::leaf_bridge_name("br-lan", 3).as_str())
        );
        assert!(ns.links.keys().all(|n| n.len() <= naming::IFNAME_MAX));
    }

    #[test]
    fn one_more_port_moves_no_other() {
        let mut a = fabric(1000);
        let mut b = fabric(1001);
        spread("t-fabric", &mut a);
        spread("t-fabric", &mut b);
        let moved = a
            .links
            .iter()
            .filter(|(name, l)| b.links[*name].master != l.master)
            .count();
        assert_eq!(moved, 0);
        assert_eq!(b.links.len(), a.links.len() + 1);
    }
}
