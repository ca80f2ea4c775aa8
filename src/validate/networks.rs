//! Declared networks, and the lab-wide checks of all networks.

use indexmap::IndexMap;
use ipnet::IpNet;
use miette::SourceSpan;

use super::values::{check_mtu, parse_prefix};
use super::{Code, Cx};
use crate::topology::Topology;

/// A network as declared under `networks`, after its own checks.
pub(super) struct DeclaredNet {
    pub(super) key_span: SourceSpan,
    pub(super) subnets: Vec<(IpNet, SourceSpan)>,
    pub(super) mtu: Option<u32>,
    pub(super) allow_overlap: bool,
}

/// Any network of the lab, declared or inferred, for the lab-wide checks.
pub(super) struct NetInfo {
    pub(super) name: String,
    /// Subnets with the place each comes from (a declared subnet, or the address an
    /// inferred subnet was taken from).
    pub(super) subnets: Vec<(IpNet, SourceSpan)>,
    pub(super) mtu: Option<u32>,
    pub(super) allow_overlap: bool,
    pub(super) inferred: bool,
    /// Where the network is named (declared key, or the first address it was inferred from).
    pub(super) span: SourceSpan,
}

pub(super) fn check_networks(cx: &mut Cx, topo: &Topology) -> IndexMap<String, DeclaredNet> {
    let mut nets = IndexMap::new();
    for (key, net) in &topo.networks {
        let key_span = cx.span(key);
        if key.value.is_empty() {
            cx.report(Code::BadNetworkName, "a network has an empty name")
                .with_label(key_span, "empty name");
        }
        let subnets = net
            .subnets
            .iter()
            .filter_map(|s| {
                let span = cx.span(s);
                parse_prefix(cx, s, "subnet").map(|n| (n, span))
            })
            .collect();
        let mtu = check_mtu(cx, net.mtu.as_ref());
        nets.insert(
            key.value.clone(),
            DeclaredNet {
                key_span,
                subnets,
                mtu,
                allow_overlap: net.allow_overlap,
            },
        );
    }
    nets
}

pub(super) fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

pub(super) fn check_overlaps(cx: &mut Cx, nets: &[NetInfo]) {
    for (i, a) in nets.iter().enumerate() {
        for b in &nets[i + 1..] {
            if a.allow_overlap || b.allow_overlap {
                continue;
            }
            let hit = a.subnets.iter().find_map(|(sa, spa)| {
                b.subnets
                    .iter()
                    .find(|(sb, _)| overlap(sa, sb))
                    .map(|(sb, spb)| (sa, *spa, sb, *spb))
            });
            let Some((sa, spa, sb, spb)) = hit else {
                continue;
            };
            let describe = |n: &NetInfo, s: &IpNet| {
                if n.inferred {
                    format!("{s} (inferred network `{}`)", n.name)
                } else {
                    format!("{s} of network `{}`", n.name)
                }
            };
            let (la, lb) = (describe(a, sa), describe(b, sb));
            let help = if a.inferred || b.inferred {
                "an address that is in no declared subnet starts a network of its own; \
                 check its prefix length, or declare the network and name it with `network`"
            } else {
                "set `allow_overlap: true` on one of them if the overlap is intended"
            };
            cx.report(
                Code::OverlappingSubnets,
                format!(
                    "networks `{}` and `{}` have overlapping subnets",
                    a.name, b.name
                ),
            )
            .with_label(spa, la)
            .with_label(spb, format!("overlaps {lb}"))
            .with_help(help);
        }
    }
}
