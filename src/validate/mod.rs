//! Validation: checks a parsed topology and resolves it into a `Lab`, reporting every
//! problem at once as miette diagnostics pointing at the YAML.
//!
//! The checks run in passes (names, tables, networks, interfaces, network membership,
//! addresses, fabric names, then per node routes, rules, gateways and sysctls). A pass
//! never stops at a bad value: it reports it, leaves it out and goes on, so that one
//! mistake is reported once and does not hide the others. Each group of checks has its
//! file; inferring what the file leaves out (networks, gateways) is in `infer`.

mod addresses;
mod code;
mod infer;
mod interfaces;
mod names;
mod networks;
mod prefixes;
mod problem;
mod routes;
mod rules;
mod sysctls;
mod tables;
#[cfg(test)]
mod tests;
mod values;

use std::collections::BTreeMap;
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

pub use self::code::Code;
pub use self::problem::{Invalid, Problem, Warnings};
pub use self::routes::{IP6_RT_PRIO_USER, kernel_metric};

use self::interfaces::Node;
use crate::lab::{Lab, LabNetwork, LabNode};
use crate::naming;
use crate::state::NsRole;
use crate::topology::{SourceFile, Spanned, Topology, span_of};

/// Checks `topo` (parsed from `src`) and resolves it.
pub fn validate(src: &SourceFile, topo: &Topology) -> Result<Lab, Invalid> {
    let mut cx = Cx {
        text: &src.text,
        source: src.shared_source(),
        problems: Vec::new(),
    };
    let lab = resolve(&mut cx, topo);
    if cx.problems.is_empty() {
        Ok(lab)
    } else {
        Err(Invalid::new(src, cx.problems))
    }
}

/// The problem collector.
pub(crate) struct Cx<'s> {
    text: &'s str,
    source: NamedSource<Arc<str>>,
    problems: Vec<Problem>,
}

impl Cx<'_> {
    pub(crate) fn span<T>(&self, s: &Spanned<T>) -> SourceSpan {
        span_of(s, self.text)
    }

    pub(crate) fn report(&mut self, code: Code, message: impl Into<String>) -> &mut Problem {
        self.problems
            .push(Problem::new(code.as_str(), message, self.source.clone()));
        self.problems.last_mut().expect("just pushed")
    }
}

fn resolve(cx: &mut Cx, topo: &Topology) -> Lab {
    let name = topo.name.value.clone();
    names::check_lab_name(cx, topo);
    let prefix = topo
        .prefix
        .as_ref()
        .map(|p| p.value.clone())
        .unwrap_or_default();
    let fabric_ns = naming::fabric_ns(&prefix, &name);
    let tables = tables::check_tables(cx, topo);
    let declared = networks::check_networks(cx, topo);
    names::check_node_names(cx, topo, &prefix, &fabric_ns);

    let mut members = interfaces::collect_members(cx, topo);
    let nets = infer::resolve_networks(cx, &declared, &mut members.list);
    addresses::check_in_network(cx, &declared, &mut members.list);
    networks::check_overlaps(cx, &nets);
    addresses::check_duplicate_addresses(cx, &members.list);
    names::check_fabric_names(cx, &nets, &members.list);
    let gateways = infer::Gateways::new(&members.list);

    let mut nodes = BTreeMap::new();
    for (r, (key, router)) in topo.routers.iter().enumerate() {
        let node = Node::new(key, members.of_router(r));
        let interfaces = interfaces::lab_interfaces(node.members, &nets);
        let routes = routes::check_routes(cx, &node, &router.routes, &tables);
        let rules = rules::check_rules(cx, &node, &router.rules, &tables);
        let mut sysctls = sysctls::check_sysctls(cx, &router.sysctls);
        for forwarding in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
            sysctls
                .entry(forwarding.to_string())
                .or_insert_with(|| "1".to_string());
        }
        nodes.insert(
            key.value.clone(),
            LabNode {
                ns: naming::node_ns(&prefix, &key.value),
                role: NsRole::Router,
                interfaces,
                routes,
                rules,
                sysctls,
            },
        );
    }
    for (h, (key, host)) in topo.hosts.iter().enumerate() {
        let me = members.of_host(h);
        let interfaces = interfaces::lab_interfaces(std::slice::from_ref(me), &nets);
        let routes = routes::host_routes(cx, key, host.gateway.as_ref(), me, &gateways, &nets);
        let sysctls = sysctls::check_sysctls(cx, &host.sysctls);
        nodes.insert(
            key.value.clone(),
            LabNode {
                ns: naming::node_ns(&prefix, &key.value),
                role: NsRole::Host,
                interfaces,
                routes,
                rules: Vec::new(),
                sysctls,
            },
        );
    }

    let networks = nets
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                LabNetwork {
                    bridge: naming::bridge_name(&n.name),
                    subnets: n.subnets.iter().map(|(s, _)| *s).collect(),
                    mtu: n.mtu,
                    inferred: n.inferred,
                },
            )
        })
        .collect();
    Lab {
        name,
        fabric_ns,
        networks,
        nodes,
        origins: Default::default(),
        warnings: Vec::new(),
    }
}
