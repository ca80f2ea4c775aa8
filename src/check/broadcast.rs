//! Broadcasts on big L2 segments. A frame flooded to a segment's ports is handed to
//! each receiving veth through the CPU's one backlog queue, which holds at most
//! `net.core.netdev_max_backlog` frames (1000 by default, one value for the whole
//! machine): on a segment of more receivers than that, the copies past it are dropped,
//! so an ARP request reaches only part of the segment and some first contacts time out.

use std::collections::BTreeMap;

use crate::lab::{IfaceKind, Lab};

/// The kernel's default `net.core.netdev_max_backlog`.
const DEFAULT_BACKLOG: usize = 1000;

/// Interfaces per network of `lab`, by network name.
pub fn segment_sizes(lab: &Lab) -> BTreeMap<&str, usize> {
    let mut sizes = BTreeMap::new();
    for node in lab.nodes.values() {
        for iface in node.interfaces.values() {
            if let IfaceKind::Veth { network, .. } = &iface.kind {
                *sizes.entry(network.as_str()).or_default() += 1;
            }
        }
    }
    sizes
}

/// The warning for `sizes` (interfaces per network) under a backlog of `backlog`
/// frames, if a network has more receivers than that.
pub fn warning_for(sizes: &BTreeMap<&str, usize>, backlog: usize) -> Option<String> {
    let (network, largest) = sizes.iter().max_by_key(|(_, n)| **n)?;
    let receivers = largest.saturating_sub(1);
    (receivers > backlog).then(|| {
        format!(
            "network `{network}` has {largest} interfaces, and a broadcast on it (an ARP \
             request) reaches only about {backlog} of them: the kernel queues each copy \
             in one per-CPU backlog of net.core.netdev_max_backlog = {backlog} frames; \
             first contacts past it time out. Raise it as root on the host: sysctl -w \
             net.core.netdev_max_backlog={}",
            (receivers + receivers / 4).next_power_of_two()
        )
    })
}

/// [`warning_for`] the lab, under this machine's backlog.
pub fn warning(lab: &Lab) -> Option<String> {
    let backlog = std::fs::read_to_string("/proc/sys/net/core/netdev_max_backlog")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_BACKLOG);
    warning_for(&segment_sizes(lab), backlog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_larger_than_the_backlog_is_warned_of() {
        let sizes: BTreeMap<&str, usize> = [("lan0", 2501), ("lan1", 40)].into();
        let w = warning_for(&sizes, 1000).unwrap();
        assert!(w.contains("network `lan0` has 2501 interfaces"), "{w}");
        assert!(w.contains("netdev_max_backlog=4096"), "{w}");
        let small: BTreeMap<&str, usize> = [("lan0", 1001)].into();
        assert_eq!(warning_for(&small, 1000), None);
        assert_eq!(warning_for(&BTreeMap::new(), 1000), None);
    }
}
