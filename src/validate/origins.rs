//! Where each desired object comes from in the file, keyed by `state::ObjectId` exactly
//! as `lower` names the objects, so that a kernel check or a failed change points at the
//! YAML: a node's namespace and loopback at its name, a link (both ends of a veth pair)
//! at its interface, a bridge at its network, an address at itself, a route at its
//! destination (a host's default route at its gateway, or the host), a rule at its
//! priority, a sysctl at its key, and the settings nshost adds itself at what causes them.

use std::collections::HashMap;

use miette::SourceSpan;

use crate::lab::{IfaceKind, Lab, LabNode, Span, SysctlOrigin};
use crate::lower::{FABRIC_SYSCTLS, promote_secondaries};
use crate::state::settings::{self, Setting};
use crate::state::{AddressKey, ObjectId, RouteKey};

/// The places of one node's parts, beside its `LabNode`.
pub(super) struct NodeSpans {
    /// The node's name.
    pub(super) key: SourceSpan,
    /// Each interface's name and its addresses' places, in the order of its addresses.
    pub(super) interfaces: HashMap<String, (SourceSpan, Vec<SourceSpan>)>,
    /// One per loopback address of the node, in order.
    pub(super) loopback: Vec<SourceSpan>,
    /// One per route of the node, in order.
    pub(super) routes: Vec<SourceSpan>,
    /// One per rule of the node, in order.
    pub(super) rules: Vec<SourceSpan>,
    /// Each sysctl written: the places of its key and value.
    pub(super) sysctls: HashMap<String, (SourceSpan, SourceSpan)>,
    /// Each firewall text given, by part.
    pub(super) firewall: std::collections::BTreeMap<crate::firewall::Part, SourceSpan>,
}

/// The origins of every object `lower(lab)` makes.
pub(super) fn objects(
    lab: &Lab,
    lab_name: SourceSpan,
    networks: &HashMap<String, SourceSpan>,
    nodes: &HashMap<String, NodeSpans>,
) -> HashMap<ObjectId, Span> {
    // Sized once: growing a map of this many keys hashes every key again each time.
    let mut out = HashMap::with_capacity(count(lab));
    let mut put = |id: ObjectId, span: SourceSpan| {
        out.insert(id, Span::from(span));
    };
    if !lab.networks.is_empty() {
        let fabric = &lab.fabric_ns;
        put(ObjectId::Namespace { ns: fabric.clone() }, lab_name);
        put(link(fabric, "lo"), lab_name);
        for key in FABRIC_SYSCTLS {
            put(sysctl(fabric, key), lab_name);
        }
        for (name, network) in &lab.networks {
            if let Some(&span) = networks.get(name) {
                put(link(fabric, &network.bridge), span);
            }
        }
    }
    for (name, node) in &lab.nodes {
        let Some(spans) = nodes.get(name) else {
            continue;
        };
        node_objects(lab, node, spans, &mut put);
    }
    out
}

/// How many objects `lower(lab)` makes (at most; an exact count in practice).
fn count(lab: &Lab) -> usize {
    let fabric = if lab.networks.is_empty() {
        0
    } else {
        2 + FABRIC_SYSCTLS.len() + lab.networks.len()
    };
    let nodes: usize = lab
        .nodes
        .values()
        .map(|n| {
            let ifaces: usize = n.interfaces.values().map(|i| 3 + i.addresses.len()).sum();
            2 + ifaces + n.routes.len() + n.rules.len() + n.sysctls.len()
        })
        .sum();
    fabric + nodes
}

fn node_objects(
    lab: &Lab,
    node: &LabNode,
    spans: &NodeSpans,
    put: &mut impl FnMut(ObjectId, SourceSpan),
) {
    let ns = &node.ns;
    put(ObjectId::Namespace { ns: ns.clone() }, spans.key);
    put(link(ns, "lo"), spans.key);
    for (ifname, iface) in &node.interfaces {
        let Some((name_span, addr_spans)) = spans.interfaces.get(ifname) else {
            continue;
        };
        put(link(ns, ifname), *name_span);
        if let IfaceKind::Veth { fabric_name, .. } = &iface.kind {
            put(link(&lab.fabric_ns, fabric_name), *name_span);
        }
        if iface.impair.is_some() {
            put(
                ObjectId::Qdisc {
                    ns: ns.clone(),
                    link: ifname.clone(),
                },
                *name_span,
            );
        }
        if iface.addresses.iter().any(|a| a.addr().is_ipv4()) {
            put(
                ObjectId::LinkSetting {
                    ns: ns.clone(),
                    link: ifname.clone(),
                    setting: promote_secondaries(),
                },
                *name_span,
            );
        }
        for (addr, span) in iface.addresses.iter().zip(addr_spans) {
            put(
                ObjectId::Address {
                    ns: ns.clone(),
                    key: AddressKey {
                        ifname: ifname.clone(),
                        addr: *addr,
                    },
                },
                *span,
            );
        }
    }
    for (addr, span) in node.loopback.iter().zip(&spans.loopback) {
        put(
            ObjectId::Address {
                ns: ns.clone(),
                key: AddressKey {
                    ifname: "lo".to_string(),
                    addr: *addr,
                },
            },
            *span,
        );
    }
    // Numbered as `lower` numbers the routes sharing table, destination and metric.
    let mut alts: HashMap<(u32, ipnet::IpNet, u32), u32> = HashMap::new();
    for (route, span) in node.routes.iter().zip(&spans.routes) {
        let mut key = RouteKey::new(route.table, route.dst, route.metric);
        let alt = alts.entry(key.group()).or_insert(0);
        key.alt = *alt;
        *alt += 1;
        put(
            ObjectId::Route {
                ns: ns.clone(),
                key,
            },
            *span,
        );
    }
    for (rule, span) in node.rules.iter().zip(&spans.rules) {
        put(
            ObjectId::Rule {
                ns: ns.clone(),
                rule: rule.clone(),
            },
            *span,
        );
    }
    for setting in node.sysctls.keys() {
        // The forwarding a router gets without writing it comes from the router.
        let span = spans
            .sysctls
            .get(&setting.key())
            .map_or(spans.key, |(k, _)| *k);
        match setting {
            Setting::Namespace(key) => put(sysctl(ns, key), span),
            Setting::Device { dev, setting } => put(
                ObjectId::LinkSetting {
                    ns: ns.clone(),
                    link: dev.clone(),
                    setting: setting.clone(),
                },
                span,
            ),
        }
    }
    // The node's DAD setting, when it has IPv6, comes from the node too.
    let has_v6 = node
        .interfaces
        .values()
        .any(|i| i.addresses.iter().any(|a| a.addr().is_ipv6()))
        || node.loopback.iter().any(|a| a.addr().is_ipv6());
    let no_dad = Setting::Namespace(crate::lower::NO_DAD.to_string());
    if has_v6 && !node.sysctls.contains_key(&no_dad) {
        put(sysctl(ns, crate::lower::NO_DAD), spans.key);
    }
}

/// Every sysctl the file sets, with its places, for the kernel's checks at plan time.
pub(super) fn sysctls(lab: &Lab, nodes: &HashMap<String, NodeSpans>) -> Vec<SysctlOrigin> {
    let mut out = Vec::new();
    for (name, node) in &lab.nodes {
        let Some(spans) = nodes.get(name) else {
            continue;
        };
        // In key order, as both are.
        for (setting, value) in &node.sysctls {
            let key = setting.key();
            let Some((key_span, value_span)) = spans.sysctls.get(&key) else {
                continue;
            };
            out.push(SysctlOrigin {
                ns: node.ns.clone(),
                key,
                value: settings::normalize(value),
                key_span: Span::from(*key_span),
                value_span: Span::from(*value_span),
            });
        }
    }
    out
}

fn link(ns: &str, name: &str) -> ObjectId {
    ObjectId::Link {
        ns: ns.to_string(),
        name: name.to_string(),
    }
}

fn sysctl(ns: &str, key: &str) -> ObjectId {
    ObjectId::Sysctl {
        ns: ns.to_string(),
        key: key.to_string(),
    }
}

/// Where each node's firewall texts are written, by namespace.
pub(super) fn firewalls(
    lab: &Lab,
    spans: &HashMap<String, NodeSpans>,
) -> HashMap<String, std::collections::BTreeMap<crate::firewall::Part, crate::lab::Span>> {
    lab.nodes
        .iter()
        .filter_map(|(name, node)| {
            let s = spans.get(name)?;
            (!s.firewall.is_empty()).then(|| {
                let parts = s
                    .firewall
                    .iter()
                    .map(|(p, sp)| (*p, (*sp).into()))
                    .collect();
                (node.ns.clone(), parts)
            })
        })
        .collect()
}
