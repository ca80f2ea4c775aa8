//! Sites: the machines a lab is spread over, where each node is placed, and the
//! networks stretched between sites by VXLAN (see `crate::sites`).
//!
//! Every site has a usable underlay address; every `site` and `default_site` names a
//! declared site; the sites of a stretched network share an address family; the VNIs
//! of stretched networks are distinct; and a stretched network's MTU fits in every
//! one of its sites' underlay MTU minus the encapsulation (50 bytes over IPv4, 70 over
//! IPv6). A stretched network without an MTU gets the largest that fits, and so do its
//! interfaces without one of their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use miette::SourceSpan;

use super::networks::NetInfo;
use super::{Code, Cx};
use crate::lab::sites::{LabSites, Site, Stretch, derived_vni, vxlan_name};
use crate::lab::{IfaceKind, Lab};
use crate::state::DEFAULT_MTU;
use crate::state::kinds::{OVERHEAD_V4, OVERHEAD_V6, VXLAN_PORT};
use crate::topology::{Spanned, Topology, closest};

/// Checks the lab's sites and placements, and resolves them; `None` for a lab without
/// sites (a `site` written anyway is reported).
pub(super) fn check_sites(
    cx: &mut Cx,
    topo: &Topology,
    lab: &mut Lab,
    nets: &[NetInfo],
) -> Option<LabSites> {
    let placed = topo
        .routers
        .iter()
        .map(|(k, r)| (k, r.site.as_ref()))
        .chain(topo.hosts.iter().map(|(k, h)| (k, h.site.as_ref())));
    check_ranges(cx, topo);
    if topo.sites.is_empty() {
        let written = placed
            .filter_map(|(_, s)| s)
            .chain(topo.default_site.as_ref());
        for s in written {
            let span = cx.span(s);
            cx.report(
                Code::UnknownSite,
                format!("site `{}` is named, but the lab declares no sites", s.value),
            )
            .with_label(span, "no such site")
            .with_help("declare the machines under `sites` (each with its `underlay` address), or leave `site` out");
        }
        return None;
    }
    let mut sites = BTreeMap::new();
    for (key, site) in &topo.sites {
        let span = cx.span(&site.underlay);
        match site.underlay.value.trim().parse::<IpAddr>() {
            Ok(ip) if !(ip.is_unspecified() || ip.is_multicast() || ip.is_loopback()) => {
                let mtu = match &site.mtu {
                    Some(m) => super::values::check_mtu(cx, Some(m)).unwrap_or(DEFAULT_MTU),
                    None => DEFAULT_MTU,
                };
                let device = site.device.as_ref().and_then(|d| {
                    let span = cx.span(d);
                    super::names::check_ifname(cx, &d.value, span, true).then(|| d.value.clone())
                });
                sites.insert(
                    key.value.clone(),
                    Site {
                        underlay: ip,
                        mtu,
                        device,
                    },
                );
            }
            Ok(ip) => {
                cx.report(
                    Code::InvalidAddress,
                    format!("site `{}` has the underlay address {ip}, which other machines cannot reach", key.value),
                )
                .with_label(span, "not a unicast address of a machine")
                .with_help("give the address the other sites reach this machine at");
            }
            Err(_) => {
                cx.report(
                    Code::InvalidAddress,
                    format!(
                        "site `{}`: `{}` is not an IP address",
                        key.value, site.underlay.value
                    ),
                )
                .with_label(span, "not an IPv4 or IPv6 address");
            }
        }
    }
    let names: Vec<&str> = topo.sites.keys().map(|k| k.value.as_str()).collect();
    let known = |cx: &mut Cx, s: &Spanned<String>| -> bool {
        if names.contains(&s.value.as_str()) {
            return true;
        }
        let span = cx.span(s);
        let p = cx
            .report(Code::UnknownSite, format!("there is no site `{}`", s.value))
            .with_label(span, "not under `sites`");
        match closest(&s.value, names.iter().copied()) {
            Some(c) => p.with_help(format!("did you mean `{c}`?")),
            None => p.with_help(format!("the sites are: {}", names.join(", "))),
        };
        false
    };
    let default = match &topo.default_site {
        Some(d) if known(cx, d) => d.value.clone(),
        _ => names[0].to_string(),
    };
    let mut placement = BTreeMap::new();
    for (key, site) in placed {
        let site = match site {
            Some(s) if known(cx, s) => s.value.clone(),
            _ => default.clone(),
        };
        placement.insert(key.value.clone(), site);
    }

    let mut networks: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, node) in &lab.nodes {
        for iface in node.interfaces.values() {
            if let IfaceKind::Veth { network, .. } = &iface.kind {
                networks
                    .entry(network.clone())
                    .or_default()
                    .insert(placement[name].clone());
            }
        }
    }
    for name in lab.networks.keys() {
        networks
            .entry(name.clone())
            .or_insert_with(|| BTreeSet::from([default.clone()]));
    }

    let spans: HashMap<&str, &NetInfo> = nets.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut stretched = BTreeMap::new();
    let mut by_vni: HashMap<(u32, u16), (String, SourceSpan)> = HashMap::new();
    for (name, on) in networks.iter().filter(|(_, on)| on.len() > 1) {
        let Some(net) = spans.get(name.as_str()) else {
            continue;
        };
        let declared = topo
            .networks
            .iter()
            .find(|(k, _)| k.value == *name)
            .map(|(_, n)| n);
        let (vni, vni_span) = match declared.and_then(|n| n.vni.as_ref()) {
            Some(v) => (v.value, cx.span(v)),
            None => (derived_vni(&lab.name, name), net.span),
        };
        let port = declared
            .and_then(|n| n.vxlan_port.as_ref())
            .map_or(VXLAN_PORT, |p| p.value);
        if let Some((first, first_span)) = by_vni.get(&(vni, port)) {
            cx.report(
                Code::DuplicateVni,
                format!("stretched networks `{first}` and `{name}` both have VNI {vni} on port {port}"),
            )
            .with_label(*first_span, format!("`{first}`: VNI {vni}"))
            .with_label(vni_span, format!("`{name}`: VNI {vni} too"))
            .with_help("give one of them another `vni` (a VNI not written is derived from the lab's and the network's names)");
        } else {
            by_vni.insert((vni, port), (name.clone(), vni_span));
        }
        let underlays: Vec<(&String, &Site)> = on
            .iter()
            .filter_map(|s| sites.get(s).map(|site| (s, site)))
            .collect();
        if underlays.len() < on.len() {
            continue; // a site without a usable address, reported above
        }
        let v6 = underlays
            .iter()
            .filter(|(_, s)| s.underlay.is_ipv6())
            .count();
        if v6 != 0 && v6 != underlays.len() {
            let list: Vec<String> = underlays
                .iter()
                .map(|(n, s)| format!("{n} ({})", s.underlay))
                .collect();
            cx.report(
                Code::MixedUnderlay,
                format!(
                    "network `{name}` is stretched over sites of both IPv4 and IPv6 underlays: {}",
                    list.join(", ")
                ),
            )
            .with_label(net.span, "stretched here")
            .with_help("a VXLAN tunnel runs over one address family: give its sites underlay addresses of the same family");
            continue;
        }
        let overhead = if v6 == 0 { OVERHEAD_V4 } else { OVERHEAD_V6 };
        let (tightest, site) = underlays
            .iter()
            .map(|(n, s)| (s.mtu.saturating_sub(overhead), *n))
            .min()
            .expect("two sites or more");
        match (net.mtu, net.mtu_span) {
            (Some(mtu), span) if mtu > tightest => {
                cx.report(
                    Code::StretchedMtu,
                    format!(
                        "network `{name}` has MTU {mtu}, more than its VXLAN tunnels carry: {tightest} over site `{site}`'s underlay ({} - {overhead})",
                        sites[site].mtu
                    ),
                )
                .with_label(span.unwrap_or(net.span), format!("at most {tightest}"))
                .with_help(format!("lower the network's `mtu` to {tightest}, or raise the sites' underlay `mtu` (the machines' links must carry it)"));
            }
            (Some(_), _) => {}
            (None, _) => fit_mtu(lab, name, tightest),
        }
        stretched.insert(
            name.clone(),
            Stretch {
                vni,
                port,
                device: vxlan_name(name),
            },
        );
    }
    check_device_names(cx, lab, &stretched, &spans);
    Some(LabSites {
        sites,
        default,
        placement,
        networks,
        stretched,
        here: None,
    })
}

/// The ranges the schema states and parsing leaves to validation: a network's `vni`
/// (24 bits) and `vxlan_port` (not 0).
fn check_ranges(cx: &mut Cx, topo: &Topology) {
    for (key, net) in &topo.networks {
        if let Some(v) = net.vni.as_ref().filter(|v| v.value > VNI_MAX) {
            let span = cx.span(v);
            cx.report(
                Code::BadVxlanId,
                format!(
                    "the VNI {} of network `{}` is out of range",
                    v.value, key.value
                ),
            )
            .with_label(span, "must be 0 to 16777215")
            .with_help("a VXLAN network identifier has 24 bits");
        }
        if let Some(p) = net.vxlan_port.as_ref().filter(|p| p.value == 0) {
            let span = cx.span(p);
            cx.report(
                Code::BadVxlanPort,
                format!("the vxlan port of network `{}` is 0", key.value),
            )
            .with_label(span, "must be 1 to 65535")
            .with_help("leave `vxlan_port` out for the IANA port 4789");
        }
    }
}

/// The largest VNI (24 bits).
const VNI_MAX: u32 = (1 << 24) - 1;

/// Gives stretched network `name`, and its interfaces that have no MTU of their own,
/// the largest MTU its tunnels carry.
fn fit_mtu(lab: &mut Lab, name: &str, mtu: u32) {
    if let Some(n) = lab.networks.get_mut(name) {
        n.mtu = Some(mtu);
    }
    for node in lab.nodes.values_mut() {
        for iface in node.interfaces.values_mut() {
            if matches!(&iface.kind, IfaceKind::Veth { network, .. } if network == name)
                && iface.mtu.is_none()
            {
                iface.mtu = Some(mtu);
            }
        }
    }
}

/// A vxlan end's name must not be taken in the fabric (by a veth end or a bridge).
fn check_device_names(
    cx: &mut Cx,
    lab: &Lab,
    stretched: &BTreeMap<String, Stretch>,
    spans: &HashMap<&str, &NetInfo>,
) {
    let mut taken: HashMap<&str, String> = HashMap::new();
    for (name, net) in &lab.networks {
        taken.insert(&net.bridge, format!("the bridge of network `{name}`"));
    }
    for (node, n) in &lab.nodes {
        for (ifname, iface) in &n.interfaces {
            if let IfaceKind::Veth { fabric_name, .. } = &iface.kind {
                taken.insert(
                    fabric_name,
                    format!("the fabric end of `{node}`'s `{ifname}`"),
                );
            }
        }
    }
    for (name, s) in stretched {
        if let Some(what) = taken.get(s.device.as_str()) {
            let span = spans[name.as_str()].span;
            cx.report(
                Code::FabricNameCollision,
                format!(
                    "the vxlan end of network `{name}` would be `{}` in the fabric, which is {what}",
                    s.device
                ),
            )
            .with_label(span, "stretched network")
            .with_help("rename the network or the node");
        }
    }
}
