//! Resolving each router and host into its `LabNode`: its interfaces and their kinds,
//! routes, rules, sysctls, services, firewall and workload, in that order, keeping
//! where each part is written for the lab's origins.

use std::collections::{BTreeMap, HashMap};

use miette::SourceSpan;

use super::Cx;
use super::infer::Gateways;
use super::members::{Member, Members, Node};
use super::networks::NetInfo;
use super::origins::NodeSpans;
use super::sources::Sources;
use super::tables::Tables;
use super::{
    addresses, defaults, firewall, interfaces, kinds, loopback, routes, rules, services, sysctls,
    workload,
};
use crate::lab::{LabNode, Span};
use crate::naming;
use crate::state::NsRole;
use crate::state::settings::Setting;
use crate::topology::{Host, Router, Spanned, Topology};

/// What every node's checks read of the lab resolved so far.
pub(super) struct Shared<'a, 't> {
    /// The lab's prefix of namespace names.
    pub(super) prefix: &'a str,
    pub(super) nets: &'a [NetInfo],
    pub(super) tables: &'a Tables,
    pub(super) members: &'a Members<'t>,
    /// The gateways a host without one may take.
    pub(super) gateways: &'a Gateways,
}

/// The resolved nodes, with the places of their parts and of their processes.
#[derive(Default)]
pub(super) struct Nodes {
    pub(super) nodes: BTreeMap<String, LabNode>,
    pub(super) spans: HashMap<String, NodeSpans>,
    /// Where each process is written, by node and process name.
    pub(super) processes: HashMap<(String, String), Span>,
}

impl Nodes {
    /// Adds node `name`, with the places of its parts and of its processes.
    fn add(&mut self, name: &str, node: LabNode, spans: NodeSpans, processes: Vec<(String, Span)>) {
        self.processes.extend(
            processes
                .into_iter()
                .map(|(p, s)| ((name.to_string(), p), s)),
        );
        self.spans.insert(name.to_string(), spans);
        self.nodes.insert(name.to_string(), node);
    }
}

/// Every router, then every host, in file order.
pub(super) fn resolve_nodes(
    cx: &mut Cx,
    topo: &Topology,
    shared: &Shared,
    sources: &mut Sources,
) -> Nodes {
    let mut nodes = Nodes::default();
    for (r, (key, router)) in topo.routers.iter().enumerate() {
        let mine = shared.members.of_router(r);
        resolve_router(cx, shared, sources, &mut nodes, (key, router), mine);
    }
    for (h, (key, host)) in topo.hosts.iter().enumerate() {
        let mine = shared.members.of_host(h);
        resolve_host(cx, shared, sources, &mut nodes, (key, host), mine);
    }
    nodes
}

/// One router: its interfaces with their stacked kinds and MTUs, then its routes, rules,
/// sysctls (forwarding on unless written), services, firewall, loopback and workload.
fn resolve_router(
    cx: &mut Cx,
    shared: &Shared,
    sources: &mut Sources,
    nodes: &mut Nodes,
    (key, router): (&Spanned<String>, &Router),
    mine: &[Member],
) {
    let node = Node::new(key, mine);
    let stacked = kinds::resolve(cx, &node);
    let interfaces = interfaces::lab_interfaces(cx, node.members, shared.nets, stacked);
    kinds::check_mtus(cx, &node, &interfaces);
    let v6_off = sysctls::ipv6_off(cx, &node, &router.sysctls);
    addresses::check_ipv6_on(cx, node.members, shared.nets, &interfaces, &v6_off);
    let links = routes::Ipv6Links {
        interfaces: &interfaces,
        disabled: &v6_off,
    };
    let (routes, route_spans) =
        routes::check_routes(cx, &node, &router.routes, shared.tables, &links);
    let (rules, rule_spans) = rules::check_rules(cx, &node, &router.rules, shared.tables);
    let written = sysctls::check_sysctls(cx, &node, &router.sysctls);
    let services = services::check_services(cx, &key.value, &router.services, &interfaces);
    let (firewall, firewall_spans) = firewall::check_firewall(cx, &node, router.firewall.as_ref());
    let (loopback, loopback_spans) =
        loopback::check_loopback(cx, &router.loopback, &shared.members.list);
    let (workload, process_spans) =
        workload::check_workload(cx, sources, &key.value, &router.files, &router.run);
    let mut sysctls = written.values;
    for forwarding in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
        sysctls
            .entry(Setting::Namespace(forwarding.to_string()))
            .or_insert_with(|| "1".to_string());
    }
    let spans = NodeSpans {
        key: cx.span(key),
        interfaces: interface_spans(node.members),
        loopback: loopback_spans,
        routes: route_spans,
        rules: rule_spans,
        sysctls: written.spans,
        firewall: firewall_spans,
    };
    let node = LabNode {
        ns: naming::node_ns(shared.prefix, &key.value),
        role: NsRole::Router,
        interfaces,
        loopback,
        routes,
        rules,
        sysctls,
        services,
        firewall,
        workload,
    };
    nodes.add(&key.value, node, spans, process_spans);
}

/// One host: its interfaces, its default routes (its gateway, given or inferred), then
/// its sysctls, services, firewall and workload.
fn resolve_host(
    cx: &mut Cx,
    shared: &Shared,
    sources: &mut Sources,
    nodes: &mut Nodes,
    (key, host): (&Spanned<String>, &Host),
    me: &[Member],
) {
    let node = Node::new(key, me);
    let interfaces = interfaces::lab_interfaces(cx, me, shared.nets, HashMap::new());
    let v6_off = sysctls::ipv6_off(cx, &node, &host.sysctls);
    addresses::check_ipv6_on(cx, me, shared.nets, &interfaces, &v6_off);
    let (routes, route_spans) = defaults::host_routes(
        cx,
        &node,
        host.gateway.as_ref(),
        shared.gateways,
        shared.nets,
    );
    let written = sysctls::check_sysctls(cx, &node, &host.sysctls);
    let services = services::check_services(cx, &key.value, &host.services, &interfaces);
    let (firewall, firewall_spans) = firewall::check_firewall(cx, &node, host.firewall.as_ref());
    let (workload, process_spans) =
        workload::check_workload(cx, sources, &key.value, &host.files, &host.run);
    let spans = NodeSpans {
        key: cx.span(key),
        interfaces: interface_spans(me),
        loopback: Vec::new(),
        routes: route_spans,
        rules: Vec::new(),
        sysctls: written.spans,
        firewall: firewall_spans,
    };
    let node = LabNode {
        ns: naming::node_ns(shared.prefix, &key.value),
        role: NsRole::Host,
        interfaces,
        loopback: Vec::new(),
        routes,
        rules: Vec::new(),
        sysctls: written.values,
        services,
        firewall,
        workload,
    };
    nodes.add(&key.value, node, spans, process_spans);
}

/// Each member's name and address places, by interface name.
fn interface_spans(mine: &[Member]) -> HashMap<String, (SourceSpan, Vec<SourceSpan>)> {
    mine.iter()
        .map(|m| {
            let addrs = m.addrs.iter().map(|(_, s)| *s).collect();
            (m.ifname.clone(), (m.name_span, addrs))
        })
        .collect()
}
