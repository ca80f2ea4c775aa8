//! Building the status reports from a lab's live state (and, given its file, the plan
//! against it): nodes, their interfaces, routes and rules, the networks, the health and
//! the drift. Pure: nothing here touches the kernel.

use std::collections::{BTreeMap, BTreeSet};

use crate::names::natural_cmp;
use crate::plan::{Change, Plan, display};
use crate::state::{LinkKind, Namespace, NetState, NsRole};
use crate::workflow::Loaded;

use super::{
    Drift, Health, HealthState, InterfaceStatus, LabStatus, LabSummary, NetworkStatus, NodeRole,
    NodeStatus, Presence, RouteStatus, RuleStatus, Totals,
};

/// What a lab's live state is read with: the names the file gives (nodes, tables,
/// networks), or what can be told without it.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub lab: String,
    /// The lab file, when the kernel is compared with one.
    pub file: Option<String>,
    /// The lab's fabric namespace.
    pub fabric: Option<String>,
    /// The prefix of the lab's namespace names (from its fabric's name).
    pub prefix: String,
    /// The nodes the file declares, by namespace: name and role.
    pub declared: BTreeMap<String, (String, NodeRole)>,
    /// Routing tables by number, as the file names them.
    pub tables: BTreeMap<u32, String>,
    /// Network names by bridge, from the file.
    pub networks: BTreeMap<String, String>,
    /// The plan against the file, for the drift.
    pub plan: Option<&'a Plan>,
    /// The links the file sets down (`up: false`), as (namespace, link): not a problem.
    pub meant_down: BTreeSet<(String, String)>,
    /// The services the lab's daemon serves, by namespace, as the kernel has them.
    pub services: crate::services::ServiceSet,
    /// The processes of each node's supervisor, by namespace.
    pub processes: BTreeMap<String, Vec<super::ProcessStatus>>,
    /// The protocols the lab owns beyond `boot`, `static` and `kernel` (from the file):
    /// routes of the others are shown as dynamic, another program's.
    pub protocols: crate::state::Protocols,
}

impl Context<'_> {
    /// For a lab known only from the kernel: its fabric (and so its prefix) from `live`,
    /// the lab's namespaces.
    pub fn from_live(lab: &str, live: &NetState) -> Self {
        let fabric = live.fabric().map(str::to_string);
        Context {
            lab: lab.to_string(),
            prefix: prefix_of(lab, fabric.as_deref()),
            fabric,
            ..Context::default()
        }
    }

    /// For a lab file: every name it gives.
    pub fn from_loaded(loaded: &Loaded) -> Self {
        let lab = &loaded.lab;
        // Only the nodes this machine holds (all of them, but for a lab over sites).
        let declared = lab
            .nodes
            .iter()
            .filter(|(_, node)| loaded.desired.namespaces.contains_key(&node.ns))
            .map(|(name, node)| (node.ns.clone(), (name.clone(), node_role(node.role))))
            .collect();
        // The table names are the topology's own; the validated lab keeps numbers only.
        let tables = crate::topology::parse(&loaded.source)
            .map(|topo| {
                topo.tables
                    .iter()
                    .map(|(name, n)| (n.value, name.value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Context {
            lab: lab.name.clone(),
            file: None,
            fabric: loaded.desired.fabric().map(str::to_string),
            prefix: prefix_of(&lab.name, Some(&lab.fabric_ns)),
            declared,
            tables,
            networks: lab
                .networks
                .iter()
                .map(|(name, n)| (n.bridge.clone(), name.clone()))
                .collect(),
            plan: None,
            meant_down: loaded
                .desired
                .namespaces
                .iter()
                .flat_map(|(ns, n)| {
                    n.links
                        .iter()
                        .filter(|(_, l)| !l.up)
                        .map(|(name, _)| (ns.clone(), name.clone()))
                })
                .collect(),
            services: Default::default(),
            processes: Default::default(),
            protocols: lab.protocols,
        }
    }

    /// The node name of namespace `ns`.
    pub fn node_name(&self, ns: &str) -> String {
        match self.declared.get(ns) {
            Some((name, _)) => name.clone(),
            None => ns
                .strip_prefix(self.prefix.as_str())
                .filter(|n| !n.is_empty())
                .unwrap_or(ns)
                .to_string(),
        }
    }

    /// A routing table by name: the file's, `main`, `local`, `default`, or the number.
    pub fn table(&self, t: u32) -> String {
        self.tables
            .get(&t)
            .cloned()
            .unwrap_or_else(|| display::table(t))
    }
}

/// The prefix of a lab's namespace names: what comes before `<lab>-fabric` in its
/// fabric's name (empty without a fabric).
pub fn prefix_of(lab: &str, fabric: Option<&str>) -> String {
    fabric
        .and_then(|f| f.strip_suffix(&format!("{lab}-fabric")))
        .unwrap_or("")
        .to_string()
}

fn node_role(role: NsRole) -> NodeRole {
    match role {
        NsRole::Router => NodeRole::Router,
        NsRole::Host => NodeRole::Host,
        NsRole::Fabric | NsRole::Unknown => NodeRole::Namespace,
    }
}

/// The report of one lab from `live`, its namespaces (and nothing else).
pub fn build(cx: &Context, live: &NetState) -> LabStatus {
    let fabric = cx.fabric.as_ref().and_then(|f| live.namespaces.get(f));
    let mut names: BTreeSet<&str> = cx.declared.keys().map(String::as_str).collect();
    names.extend(
        live.namespaces
            .iter()
            .filter(|(_, ns)| ns.role != NsRole::Fabric)
            .map(|(name, _)| name.as_str()),
    );
    let drift = cx
        .plan
        .map(|plan| changes_by_ns(plan, cx.fabric.as_deref()));
    let mut nodes: Vec<NodeStatus> = names
        .into_iter()
        .map(|ns| node(cx, ns, live.namespaces.get(ns), fabric, drift.as_ref()))
        .collect();
    nodes.sort_by(|a, b| {
        natural_cmp(&a.name, &b.name).then(natural_cmp(&a.namespace, &b.namespace))
    });
    let networks = fabric.map(|f| networks(cx, f)).unwrap_or_default();
    LabStatus {
        lab: cx.lab.clone(),
        file: cx.file.clone(),
        fabric: cx
            .fabric
            .clone()
            .filter(|f| live.namespaces.contains_key(f)),
        totals: totals(&nodes, networks.len(), fabric.is_some()),
        nodes,
        networks,
        health: health(cx, live),
        changes: cx
            .plan
            .map(|p| p.changes.len() + p.services.len() + p.workload.len()),
        fabric_changes: drift
            .and_then(|mut d| cx.fabric.as_ref().and_then(|f| d.remove(f)))
            .unwrap_or_default(),
        watcher: None,
    }
}

/// Each change of `plan`, described, under the namespace it is about: a veth pair's
/// creation (made from the fabric's side) under its node's end.
fn changes_by_ns(plan: &Plan, fabric: Option<&str>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for change in &plan.changes {
        let ns = match change {
            Change::AddLink {
                peer: Some(peer), ..
            } if Some(change.ns()) == fabric => peer.at.ns.as_str(),
            _ => change.ns(),
        };
        out.entry(ns.to_string())
            .or_default()
            .push(change.describe());
    }
    for s in &plan.services {
        let verb = match s.action {
            crate::plan::Action::Destroy => "stop",
            _ => "start",
        };
        out.entry(s.ns.clone())
            .or_default()
            .push(format!("{verb} service {}", s.service));
    }
    for w in &plan.workload {
        let verb = match w.action {
            crate::plan::Action::Add => "add",
            crate::plan::Action::Change => "change",
            crate::plan::Action::Destroy => "remove",
        };
        out.entry(w.ns.clone())
            .or_default()
            .push(format!("{verb} {}", w.text()));
    }
    out
}

/// The status of namespace `ns`: its presence and role, its interfaces, routes and
/// rules as the kernel has them, its services and processes, and its drift when asked.
fn node(
    cx: &Context,
    ns: &str,
    live: Option<&Namespace>,
    fabric: Option<&Namespace>,
    drift: Option<&BTreeMap<String, Vec<String>>>,
) -> NodeStatus {
    let declared = cx.declared.get(ns);
    let presence = match live {
        None => Presence::Missing,
        Some(n) if n.stray => Presence::EmptyMountPoint,
        Some(_) => Presence::Present,
    };
    let role = match (live, declared) {
        (Some(n), _) if n.role != NsRole::Unknown => node_role(n.role),
        (_, Some((_, role))) => *role,
        _ => NodeRole::Namespace,
    };
    let empty = Namespace::default();
    let here = live.unwrap_or(&empty);
    let drift = drift.map(|d| {
        let changes = d.get(ns).cloned().unwrap_or_default();
        let reason = drift_reason(presence, declared.is_some(), changes.len());
        Drift { reason, changes }
    });
    NodeStatus {
        name: cx.node_name(ns),
        role,
        namespace: ns.to_string(),
        presence,
        interfaces: interfaces(cx, here, fabric),
        routes: routes(cx, here),
        rules: rules(cx, here),
        services: cx
            .services
            .get(ns)
            .map(|s| s.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        processes: cx.processes.get(ns).cloned().unwrap_or_default(),
        drift,
    }
}

/// The namespace's interfaces in natural order, each with the network its fabric end
/// is on.
fn interfaces(cx: &Context, here: &Namespace, fabric: Option<&Namespace>) -> Vec<InterfaceStatus> {
    let mut interfaces: Vec<InterfaceStatus> = here
        .links
        .iter()
        .map(|(name, link)| {
            let peer = link.kind.peer();
            let network = peer
                .filter(|p| Some(&p.ns) == cx.fabric.as_ref())
                .and_then(|p| fabric?.links.get(&p.name)?.master.clone())
                .map(|bridge| cx.networks.get(&bridge).cloned().unwrap_or(bridge));
            InterfaceStatus {
                name: name.clone(),
                kind: link.kind.kernel_name().to_string(),
                up: link.up,
                oper: link.oper,
                mtu: link.mtu,
                addresses: here
                    .addresses
                    .keys()
                    .filter(|a| &a.ifname == name)
                    .map(|a| a.addr.to_string())
                    .collect(),
                network,
                peer: peer.map(ToString::to_string),
            }
        })
        .collect();
    interfaces.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    interfaces
}

/// The namespace's routes, those of a protocol the lab does not own marked dynamic.
fn routes(cx: &Context, here: &Namespace) -> Vec<RouteStatus> {
    here.routes
        .iter()
        .map(|(key, route)| RouteStatus {
            table: cx.table(key.table),
            dst: display::dst(&key.dst),
            via: route.gateway.map(|g| g.to_string()),
            dev: route.dev.clone(),
            metric: key.metric,
            proto: display::proto(route.proto),
            dynamic: !cx.protocols.owns(route.proto),
        })
        .collect()
}

/// The namespace's rules, their tables by name.
fn rules(cx: &Context, here: &Namespace) -> Vec<RuleStatus> {
    here.rules
        .iter()
        .map(|r| RuleStatus {
            priority: r.priority,
            table: cx.table(r.table),
            text: display::rule_named(r, &|t| cx.table(t)),
        })
        .collect()
}

/// Why a namespace is or is not in sync: missing, not in the file, or its number of
/// changes.
fn drift_reason(presence: Presence, declared: bool, changes: usize) -> String {
    if presence == Presence::Missing {
        "missing".to_string()
    } else if !declared {
        "not in the file".to_string()
    } else {
        match changes {
            0 => "in sync".to_string(),
            1 => "1 change".to_string(),
            n => format!("{n} changes"),
        }
    }
}

#[warn(clippy::wildcard_enum_match_arm)]
fn networks(cx: &Context, fabric: &Namespace) -> Vec<NetworkStatus> {
    let mut out: Vec<NetworkStatus> = fabric
        .links
        .iter()
        .filter(|(_, l)| l.kind == LinkKind::Bridge)
        .map(|(bridge, l)| NetworkStatus {
            name: cx.networks.get(bridge).unwrap_or(bridge).clone(),
            bridge: bridge.clone(),
            up: l.up,
            mtu: l.mtu,
            ports: fabric
                .links
                .values()
                .filter(|p| p.master.as_ref() == Some(bridge))
                .count(),
            tunnel: fabric.links.iter().find_map(|(name, p)| {
                let LinkKind::Vxlan(v) = &p.kind else {
                    return None;
                };
                (v.underlay && p.master.as_ref() == Some(bridge)).then(|| super::TunnelStatus {
                    device: name.clone(),
                    vni: v.id,
                    local: v.local,
                    port: v.port,
                    peers: v.flood.iter().copied().collect(),
                    up: p.up,
                })
            }),
        })
        .collect();
    out.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    out
}

/// The lab's health (see the module docs of `status` for the rule).
fn health(cx: &Context, live: &NetState) -> Health {
    let mut h = Health::default();
    for (ns_name, ns) in &live.namespaces {
        if ns.stray {
            h.empty_mount_points += 1;
            h.problems
                .push(format!("{ns_name} is an empty mount point (no namespace)"));
            continue;
        }
        let in_fabric = ns.role == NsRole::Fabric;
        for (ifname, link) in &ns.links {
            if !link.up && cx.meant_down.contains(&(ns_name.clone(), ifname.clone())) {
                // The file sets it down.
            } else if !link.up {
                h.interfaces_down += 1;
                h.problems.push(format!("{ns_name}/{ifname} is down"));
            } else if !in_fabric && let Some(oper) = link.oper.filter(|o| !o.passes()) {
                h.without_carrier += 1;
                h.problems.push(format!(
                    "{ns_name}/{ifname} is up without carrier ({})",
                    oper.name()
                ));
            }
            if !in_fabric && let LinkKind::Veth { peer } = &link.kind {
                let in_lab = peer
                    .as_ref()
                    .is_some_and(|p| p.ns == *ns_name || Some(&p.ns) == cx.fabric.as_ref());
                if !in_lab {
                    h.veths_without_peer += 1;
                    h.problems
                        .push(format!("{ns_name}/{ifname} has no peer in the lab"));
                }
            }
        }
    }
    let problems = h.interfaces_down + h.without_carrier + h.veths_without_peer;
    if problems + h.empty_mount_points > 0 {
        h.state = HealthState::Degraded;
    }
    h
}

/// A lab's report in one line.
pub fn summarize(status: &LabStatus) -> LabSummary {
    LabSummary {
        lab: status.lab.clone(),
        totals: status.totals.clone(),
        health: status.health.clone(),
    }
}

/// What the lab of `nodes` is made of.
fn totals(nodes: &[NodeStatus], networks: usize, fabric: bool) -> Totals {
    let count = |role: NodeRole| nodes.iter().filter(|n| n.role == role).count();
    Totals {
        routers: count(NodeRole::Router),
        hosts: count(NodeRole::Host),
        other_nodes: count(NodeRole::Namespace),
        links: nodes
            .iter()
            .flat_map(|n| &n.interfaces)
            .filter(|i| i.kind == "veth")
            .count(),
        networks,
        namespaces: nodes
            .iter()
            .filter(|n| n.presence != super::Presence::Missing)
            .count()
            + usize::from(fabric),
    }
}
