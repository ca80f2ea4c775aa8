//! Validation: checks a parsed topology and resolves it into a `Lab`, reporting every
//! problem at once as miette diagnostics pointing at the YAML.
//!
//! The checks run in passes (names, tables, networks, interfaces and their kinds,
//! network membership, addresses, fabric names, then per node stacked links, MTUs,
//! routes, rules, gateways, sysctls, files and processes (`workload`, reading the files'
//! sources through a [`SourceReader`]), and last the reachability checks). A pass
//! never stops at a bad value: it reports it, leaves it out and goes on, so that one
//! mistake is reported once and does not hide the others. Each group of checks has its file; inferring what the file leaves out
//! (networks, gateways) is in `infer`, what a node reaches without a gateway in `reach`.
//!
//! The aim is that what validates, the kernel takes: every check the kernel would make
//! mid-apply that needs no kernel is made here, at the YAML; what the kernel accepts
//! but is probably not meant is a warning (`Lab::warnings`, printed with [`Warnings`]).
//! The lab records where its sysctls and firewalls are written (`Lab::origins`); where
//! every object comes from is found only when an error needs it (`object_origins`).
//! Every search is through a hash or prefix index, so validation is linear in the
//! size of the lab.

mod addresses;
mod checks;
mod defaults;
mod firewall;
mod impair;
mod infer;
mod interfaces;
mod members;
mod kinds;
mod loopback;
mod names;
mod networks;
mod nodes;
mod origins;
mod prefixes;
mod reach;
mod route_parts;
mod routes;
mod rules;
mod services;
mod sites;
mod sources;
mod sysctls;
mod tables;
#[cfg(test)]
mod tests;
mod values;
mod workload;
#[cfg(test)]
mod workload_tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

pub use self::route_parts::{IP6_RT_PRIO_USER, kernel_metric};
pub use self::sources::{
    DirReader, MAX_FILE_BYTES, MAX_FILES_BYTES, NoReader, SourceError, SourceReader,
};
pub(crate) use self::sysctls::sysctl_key_problem;
pub use self::workload::{DEFAULT_MODE, PROCESS_NAME_MAX};
pub use crate::problem::{Invalid, Problem, Warnings};
// The codes of problems, for the checks below (`use super::{Code, Cx}`).
use crate::problem::Code;

use self::members::Member;
use crate::lab::{Lab, LabNetwork, Origins, Span};
use crate::naming;
use crate::state::ObjectId;
use crate::topology::{SourceFile, Spanned, Topology, span_of};

/// Checks `topo` (parsed from `src`) and resolves it, reading the files its nodes are
/// given from beside the lab file ([`DirReader::beside`]).
pub fn validate(src: &SourceFile, topo: &Topology) -> Result<Lab, Invalid> {
    validated(src, topo, None, &DirReader::beside(src))
}

/// [`validate`], reading the files its nodes are given through `reader`.
pub fn validate_with(
    src: &SourceFile,
    topo: &Topology,
    reader: &dyn SourceReader,
) -> Result<Lab, Invalid> {
    validated(src, topo, None, reader)
}

/// Where each object `lower` makes of the valid lab `topo` is written, keyed as `lower`
/// names them (`None` when `topo` is not valid). Only errors need it (a kernel that
/// lacks a link kind, a failed change), so [`validate`] leaves it out: at 1000 hosts
/// the map is a tenth of the time to validate and 2 MB.
pub fn object_origins(src: &SourceFile, topo: &Topology) -> Option<HashMap<ObjectId, Span>> {
    let mut objects = HashMap::new();
    // No file's content is needed to place objects.
    validated(src, topo, Some(&mut objects), &NoReader).ok()?;
    Some(objects)
}

/// [`validate`], filling `objects` with the objects' origins when asked.
fn validated(
    src: &SourceFile,
    topo: &Topology,
    objects: Option<&mut HashMap<ObjectId, Span>>,
    reader: &dyn SourceReader,
) -> Result<Lab, Invalid> {
    let mut cx = Cx {
        text: &src.text,
        source: src.shared_source(),
        problems: Vec::new(),
        warnings: Vec::new(),
        causes: HashSet::new(),
    };
    let mut lab = resolve(&mut cx, topo, objects, &mut sources::Sources::new(reader));
    // A value that a default, group or range gives many nodes is one problem, at one
    // place, however many nodes have it.
    let mut seen = std::collections::HashSet::new();
    cx.problems
        .retain(|p| seen.insert((p.code, p.message.clone(), format!("{:?}", p.labels))));
    if cx.problems.is_empty() {
        let mut warnings = cx.warnings;
        warnings.sort_by_key(Problem::position);
        lab.warnings = warnings;
        Ok(lab)
    } else {
        Err(Invalid::new(src, cx.problems))
    }
}

/// The problem collector: errors, which stop the lab, and warnings, which do not.
pub(crate) struct Cx<'s> {
    text: &'s str,
    source: NamedSource<Arc<str>>,
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    /// The messages of the problems others follow from ([`Problem::because`]).
    causes: HashSet<String>,
}

impl Cx<'_> {
    pub(crate) fn span<T>(&self, s: &Spanned<T>) -> SourceSpan {
        span_of(s, self.text)
    }

    pub(crate) fn report(&mut self, code: Code, message: impl Into<String>) -> &mut Problem {
        self.problems
            .push(Problem::new(code, message, self.source.clone()));
        self.problems.last_mut().expect("just pushed")
    }

    /// Whether the cause `message` is new: `true` the first time only, when it is to
    /// be reported.
    pub(crate) fn first_cause(&mut self, message: &str) -> bool {
        !self.causes.contains(message) && self.causes.insert(message.to_string())
    }

    /// How many errors have been reported so far.
    pub(crate) fn reported(&self) -> usize {
        self.problems.len()
    }

    /// Puts the errors reported since `start` in file order.
    pub(crate) fn in_file_order_since(&mut self, start: usize) {
        self.problems[start..].sort_by_key(Problem::position);
    }

    /// Reports something the kernel accepts but that is probably not meant (or a
    /// restriction nshost keeps); its help must say how to silence it.
    pub(crate) fn warn(&mut self, code: Code, message: impl Into<String>) -> &mut Problem {
        self.warnings.push(
            Problem::new(code, message, self.source.clone()).severity(miette::Severity::Warning),
        );
        self.warnings.last_mut().expect("just pushed")
    }

    /// The key `field` of the mapping entry whose value starts at `value`: the place
    /// to point at for a block (a block's own span is only where it starts). The
    /// block's start when the key is not right before it.
    pub(crate) fn key_span(&self, value: SourceSpan, field: &str) -> SourceSpan {
        let before = self.text[..value.offset()].trim_end();
        before
            .strip_suffix(':')
            .map(str::trim_end)
            .filter(|b| {
                b.strip_suffix(field).is_some_and(|rest| {
                    !rest.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-')
                })
            })
            .map_or(value, |b| (b.len() - field.len(), field.len()).into())
    }
}

/// Resolves the lab, pass by pass: the lab-wide names, tables and networks, who is on
/// which network, then each node, then what needs every node (protocols, bridge ports,
/// sites, checks) and where things are written.
fn resolve(
    cx: &mut Cx,
    topo: &Topology,
    objects: Option<&mut HashMap<ObjectId, Span>>,
    sources: &mut sources::Sources,
) -> Lab {
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
    let nets = membership(cx, &declared, &mut members.list);
    let gateways = infer::Gateways::new(&members.list);
    let shared = nodes::Shared {
        prefix: &prefix,
        nets: &nets,
        tables: &tables,
        members: &members,
        gateways: &gateways,
    };
    let nodes::Nodes {
        nodes,
        spans,
        processes,
    } = nodes::resolve_nodes(cx, topo, &shared, sources);

    let mut lab = Lab {
        name,
        fabric_ns,
        networks: lab_networks(&nets),
        nodes,
        origins: Default::default(),
        warnings: Vec::new(),
        checks: Vec::new(),
        sites: None,
        protocols: Default::default(),
    };
    lab.protocols = route_parts::owned_protocols(cx, topo, &lab);
    networks::check_bridge_ports(cx, &nets, &lab);
    lab.sites = sites::check_sites(cx, topo, &mut lab, &nets);
    lab.checks = checks::check_checks(cx, topo, &lab);
    if let Some(objects) = objects {
        let net_spans = nets.iter().map(|n| (n.name.clone(), n.span)).collect();
        *objects = origins::objects(&lab, cx.span(&topo.name), &net_spans, &spans);
    }
    lab.origins = Origins {
        sysctls: origins::sysctls(&lab, &spans),
        firewalls: origins::firewalls(&lab, &spans),
        processes,
        netem_fields: netem_fields(&members.list, &prefix),
    };
    lab
}

/// The networks, declared and inferred from the members' addresses, once who is on
/// which is checked: addresses in their networks, no overlaps, MTUs, lonely hosts,
/// duplicate and edge addresses, fabric names.
fn membership(
    cx: &mut Cx,
    declared: &indexmap::IndexMap<String, networks::DeclaredNet>,
    members: &mut [Member],
) -> Vec<networks::NetInfo> {
    let nets = infer::resolve_networks(cx, declared, members);
    addresses::check_in_network(cx, declared, members);
    networks::check_overlaps(cx, &nets);
    networks::check_port_mtus(cx, &nets, members);
    networks::check_lonely_hosts(cx, &nets, members);
    addresses::check_duplicate_addresses(cx, members);
    addresses::check_edge_addresses(cx, members);
    let ports = members.iter().filter(|m| m.is_veth()).map(|m| names::Port {
        node: &m.node.value,
        ifname: &m.ifname,
        span: m.name_span,
        what: m.describe(),
    });
    names::check_fabric_names(cx, &nets, ports);
    nets
}

/// The lab's networks, each with its bridge.
fn lab_networks(nets: &[networks::NetInfo]) -> BTreeMap<String, LabNetwork> {
    nets.iter()
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
        .collect()
}

/// Where the netem fields of each impaired interface are written, by namespace and
/// interface.
fn netem_fields(members: &[Member], prefix: &str) -> HashMap<(String, String), Vec<Span>> {
    members
        .iter()
        .filter_map(|m| {
            let spans = &m.impair.as_ref()?.netem_spans;
            let ns = naming::node_ns(prefix, &m.node.value);
            let spans = spans.iter().map(|s| Span::from(*s)).collect();
            (!m.impair.as_ref()?.netem_spans.is_empty()).then(|| ((ns, m.ifname.clone()), spans))
        })
        .collect()
}
