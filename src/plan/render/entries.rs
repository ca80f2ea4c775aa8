//! The printed objects of a plan, one per object it touches (a veth pair is two links:
//! its creation counts one in each end's namespace, and so does its deletion, unless
//! the other end's namespace is deleted as a whole).
//!
//! What the user never wrote is shown by what it belongs to: a fabric port by the node
//! interface at its other end, `promote_secondaries` by its interface, the fabric's own
//! settings by the fabric namespace, a bridge as its network. Such an object is
//! *folded* (counted, not printed) when the object it belongs to is in the plan with the
//! same action, and printed on a line of its own, named by its owner, otherwise.

use std::collections::{BTreeSet, HashSet};

use crate::naming;
use crate::plan::{Action, Change, Plan, display};
use crate::state::{Link, LinkKind, Namespace, NetState, Route, scope_name};

use super::names::Names;

/// What kind of object a printed line is about, in printing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Class {
    Namespace,
    /// A network: a bridge of the fabric.
    Network,
    Link,
    /// A link's root qdisc (`impair`).
    Qdisc,
    /// A fabric port printed on its own: its node interface is not in the plan.
    Port,
    Address,
    Route,
    Rule,
    Sysctl,
    /// A service of the lab's daemon.
    Service,
    /// A node's firewall, with the rules that differ.
    Firewall,
    /// A file put in a node (`files:`).
    File,
    /// A process run in a node (`run:`).
    Process,
}

/// One printed object.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub ns: String,
    pub class: Class,
    /// Link or network name (links are printed by name, so both ends of pairs line up).
    pub name: String,
    /// Position of the change in the plan.
    pub pos: usize,
    pub action: Action,
    pub text: String,
    /// The printed object this one belongs to (namespace, class, name), if it is an
    /// internal one.
    owner: Option<(String, Class, String)>,
    /// Counted, but shown by its owner's line.
    pub folded: bool,
    /// The route is a default route (for the summary's `default route`).
    pub default_route: bool,
}

/// Builds the entries of one plan.
struct Builder<'a> {
    names: &'a Names,
    live: Option<&'a NetState>,
    out: Vec<Entry>,
    pos: usize,
    action: Action,
}

impl Builder<'_> {
    fn push(&mut self, ns: &str, class: Class, name: &str, text: String) {
        self.out.push(Entry {
            ns: ns.to_string(),
            class,
            name: name.to_string(),
            pos: self.pos,
            action: self.action,
            text,
            owner: None,
            folded: false,
            default_route: false,
        });
    }

    /// Pushes link `name` of `ns`: a bridge as its network, a fabric port by its node
    /// interface, any other link as it is. `text` gives the attributes.
    fn link(&mut self, ns: &str, name: &str, link: &Link, attrs: impl Fn(&Link) -> String) {
        if link.kind == LinkKind::Bridge
            && let Some(network) = self.names.network(ns, name)
        {
            let network = network.to_string();
            let attrs = attrs(link);
            let rest = attrs.strip_prefix("bridge, ").unwrap_or(&attrs);
            // A leaf of a network's tree of bridges (see `lower::tree`).
            let what = if naming::is_leaf_bridge(name) {
                "leaf bridge"
            } else {
                "bridge"
            };
            let text = format!("network {network} ({what} {name}, {rest})");
            self.push(ns, Class::Network, &network, text);
        } else if let Some(node) = self.names.port(ns, name).cloned() {
            let net = self.network_words(ns, link);
            let shown = Link {
                master: None,
                kind: LinkKind::Veth { peer: None },
                ..link.clone()
            };
            let rest = attrs(&shown).replacen("veth, peer unknown", "veth", 1);
            self.push(
                ns,
                Class::Port,
                &node.to_string(),
                format!("port {name} of {node}{net} ({rest})"),
            );
            self.owned_by(&node.ns, Class::Link, &node.name);
        } else {
            let text = format!("link {name} ({})", attrs(&self.shown(ns, link)));
            self.push(ns, Class::Link, name, text);
        }
    }

    /// ` on network X`, when the link's network is known.
    fn network_words(&self, ns: &str, link: &Link) -> String {
        self.names
            .network_of(ns, link)
            .map_or_else(String::new, |n| format!(" on network {n}"))
    }

    /// A node's veth into the fabric shown by its network, not by its fabric end.
    fn shown(&self, ns: &str, link: &Link) -> Link {
        match (&link.kind, self.names.network_of(ns, link)) {
            (LinkKind::Veth { peer: Some(_) }, Some(network)) => Link {
                kind: LinkKind::Unmanaged {
                    name: format!("veth, network {network}"),
                },
                ..link.clone()
            },
            _ => link.clone(),
        }
    }

    /// Marks the last entry as belonging to (`ns`, `class`, `name`).
    fn owned_by(&mut self, ns: &str, class: Class, name: &str) {
        if let Some(e) = self.out.last_mut() {
            e.owner = Some((ns.to_string(), class, name.to_string()));
        }
    }

    /// The objects of a deleted namespace, from its live state (the loopback and the
    /// settings left out, as `display::contents` lists them).
    fn contents(&mut self, name: &str, ns: &Namespace) {
        for (ifname, link) in &ns.links {
            if link.kind != LinkKind::Loopback {
                self.link(name, ifname, link, display::live_link_attrs);
            }
        }
        for key in ns.addresses.keys() {
            self.push(
                name,
                Class::Address,
                "",
                format!("address {}", display::address(key)),
            );
        }
        for (key, route) in &ns.routes {
            self.route(name, key, route);
        }
        for r in &ns.rules {
            self.push(name, Class::Rule, "", format!("rule {}", display::rule(r)));
        }
    }

    fn route(&mut self, ns: &str, key: &crate::state::RouteKey, route: &Route) {
        let text = format!(
            "route {} {}",
            display::route_key_short(key),
            display::route_attrs(&key.dst, route)
        );
        self.push(ns, Class::Route, "", text.trim_end().to_string());
        if let Some(e) = self.out.last_mut() {
            e.default_route = key.dst.prefix_len() == 0;
        }
    }
}

/// The printed objects of `plan`, in plan order, folded where their owner is printed.
/// `live`, when given, supplies the attributes of the far end of a deleted veth pair and
/// the objects of deleted namespaces.
pub(super) fn entries(plan: &Plan, names: &Names, live: Option<&NetState>) -> Vec<Entry> {
    let deleted_ns: BTreeSet<&str> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::DeleteNamespace { ns, .. } => Some(ns.as_str()),
            _ => None,
        })
        .collect();
    let mut b = Builder {
        names,
        live,
        out: Vec::with_capacity(plan.changes.len()),
        pos: 0,
        action: Action::Add,
    };
    for (pos, c) in plan.changes.iter().enumerate() {
        b.pos = pos;
        b.action = c.action();
        change(&mut b, c, &deleted_ns);
    }
    for (k, s) in plan.services.iter().enumerate() {
        b.pos = plan.changes.len() + k;
        b.action = s.action;
        b.push(&s.ns, Class::Service, "", format!("service {}", s.service));
    }
    for (k, w) in plan.workload.iter().enumerate() {
        b.pos = plan.changes.len() + plan.services.len() + k;
        b.action = w.action;
        let class = match w.item {
            crate::plan::workload::WorkItem::File { .. } => Class::File,
            crate::plan::workload::WorkItem::Process { .. } => Class::Process,
        };
        b.push(&w.ns, class, "", w.text());
    }
    let mut out = b.out;
    fold(&mut out);
    out
}

fn change(b: &mut Builder<'_>, c: &Change, deleted_ns: &BTreeSet<&str>) {
    let fabric_ns = |ns: &str| b.names.is_fabric(ns);
    match c {
        Change::AddNamespace { ns, .. } => {
            b.push(ns, Class::Namespace, "", format!("namespace {ns}"))
        }
        Change::DeleteNamespace {
            ns,
            contents,
            stray,
            ..
        } => {
            let text = if *stray {
                format!("namespace {ns} (an empty mount point left by an interrupted run)")
            } else {
                format!("namespace {ns}")
            };
            b.push(ns, Class::Namespace, "", text);
            match b.live.and_then(|l| l.namespaces.get(ns)) {
                Some(live_ns) if !*stray => b.contents(ns, live_ns),
                _ => {
                    for line in contents {
                        b.push(ns, Class::Namespace, "", line.clone());
                    }
                }
            }
        }
        Change::AddLink {
            ns,
            name,
            link,
            peer,
        } => {
            b.link(ns, name, link, added_attrs);
            if let Some(p) = peer {
                b.link(&p.at.ns, &p.at.name, &p.link, added_attrs);
            }
        }
        Change::UpdateLink { ns, name, from, to } => {
            let changes = link_changes(from, to);
            if from.kind == LinkKind::Bridge
                && let Some(network) = b.names.network(ns, name)
            {
                let network = network.to_string();
                b.push(
                    ns,
                    Class::Network,
                    &network,
                    format!("network {network}: {changes}"),
                );
            } else if let Some(node) = b.names.port(ns, name).cloned() {
                let text = format!("port {name} of {node}: {changes}");
                b.push(ns, Class::Port, &node.to_string(), text);
                b.owned_by(&node.ns, Class::Link, &node.name);
            } else {
                b.push(ns, Class::Link, name, format!("link {name}: {changes}"));
            }
        }
        Change::DeleteLink { ns, name, link } => {
            b.link(ns, name, link, display::live_link_attrs);
            if let LinkKind::Veth { peer: Some(p) } = &link.kind
                && !deleted_ns.contains(p.ns.as_str())
            {
                let far = b
                    .live
                    .and_then(|l| l.namespaces.get(&p.ns))
                    .and_then(|n| n.links.get(&p.name))
                    .cloned();
                match far {
                    Some(far) => b.link(&p.ns, &p.name, &far, display::live_link_attrs),
                    None if b.names.port(&p.ns, &p.name).is_some() => {
                        let far = Link::new(LinkKind::Veth {
                            peer: Some(crate::state::LinkRef::new(ns, name)),
                        });
                        b.link(&p.ns, &p.name, &far, display::live_link_attrs)
                    }
                    None => {
                        let text = format!("link {} (veth, peer {ns}/{name})", p.name);
                        b.push(&p.ns, Class::Link, &p.name, text);
                    }
                }
            }
        }
        Change::AddAddress { ns, key, .. } | Change::DeleteAddress { ns, key, .. } => b.push(
            ns,
            Class::Address,
            "",
            format!("address {}", display::address(key)),
        ),
        Change::AddRoute { ns, key, route } | Change::DeleteRoute { ns, key, route } => {
            b.route(ns, key, route)
        }
        Change::ReplaceRoute { ns, key, from, to } => {
            let text = format!(
                "route {}: {}",
                display::route_key_full(key),
                route_changes(from, to)
            );
            b.push(ns, Class::Route, "", text);
            b.out.last_mut().expect("pushed").default_route = key.dst.prefix_len() == 0;
        }
        Change::AddRule { ns, rule } | Change::DeleteRule { ns, rule } => {
            b.push(ns, Class::Rule, "", format!("rule {}", display::rule(rule)))
        }
        Change::SetFirewall { ns, from, to } => {
            let sections = crate::firewall::diff::diff(from, to);
            let (added, removed) = crate::firewall::diff::counts(&sections);
            let mut text = format!("firewall: +{added} -{removed}");
            for s in &sections {
                text.push_str(&format!("\n      {}", s.title));
                for l in &s.lines {
                    text.push_str(&format!("\n        {l}"));
                }
            }
            b.push(ns, Class::Firewall, "", text);
        }
        Change::SetSysctl { ns, key, from, to } => {
            b.push(ns, Class::Sysctl, "", setting_text(key, from, to));
            if fabric_ns(ns) {
                b.owned_by(ns, Class::Namespace, "");
            }
        }
        Change::SetQdisc { ns, link, from, to } => {
            b.push(ns, Class::Qdisc, link, qdisc_text(link, from, to))
        }
        Change::SetLinkSetting {
            ns,
            link,
            setting,
            from,
            to,
        } => {
            b.push(
                ns,
                Class::Sysctl,
                "",
                setting_text(&setting.key(link), from, to),
            );
            if setting.name == "promote_secondaries" && to == "1" {
                b.owned_by(ns, Class::Link, link);
            }
        }
    }
}

/// Folds every entry whose owner is printed with the same action.
fn fold(entries: &mut [Entry]) {
    let printed: HashSet<(&str, Class, &str, Action)> = entries
        .iter()
        .filter(|e| e.owner.is_none())
        .map(|e| (e.ns.as_str(), e.class, e.name.as_str(), e.action))
        .collect();
    let folded: Vec<bool> = entries
        .iter()
        .map(|e| {
            e.owner.as_ref().is_some_and(|(ns, class, name)| {
                printed.contains(&(ns.as_str(), *class, name.as_str(), e.action))
            })
        })
        .collect();
    for (e, f) in entries.iter_mut().zip(folded) {
        e.folded = f;
    }
}

/// `qdisc eth0: tbf rate 16mbit ...` added or removed, `qdisc eth0: rate 10mbit ->
/// 20mbit` changed (the fields that differ).
fn qdisc_text(
    link: &str,
    from: &Option<Box<crate::state::Qdisc>>,
    to: &Option<Box<crate::state::Qdisc>>,
) -> String {
    match (from, to) {
        (Some(a), Some(b)) if a.kind() == b.kind() => {
            let (old, new) = (a.fields(), b.fields());
            let mut parts = Vec::new();
            for (name, value) in &new {
                let was = old.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
                if was != Some(value.as_str()) {
                    parts.push(format!("{name} {} -> {value}", was.unwrap_or("none")));
                }
            }
            for (name, value) in &old {
                if !new.iter().any(|(n, _)| n == name) {
                    parts.push(format!("{name} {value} -> none"));
                }
            }
            if parts.is_empty() {
                // Differences below what the units show.
                parts.push(format!("{} -> {}", a.describe(), b.describe()));
            }
            format!("qdisc {link}: {}", parts.join(", "))
        }
        (Some(a), Some(b)) => format!("qdisc {link}: {} -> {}", a.describe(), b.describe()),
        (None, Some(q)) | (Some(q), None) => format!("qdisc {link}: {}", q.describe()),
        (None, None) => format!("qdisc {link}"),
    }
}

fn setting_text(key: &str, from: &Option<String>, to: &str) -> String {
    match from {
        None => format!("sysctl {key} = {to}"),
        Some(from) => format!("sysctl {key}: {from} -> {to}"),
    }
}

/// A link to add: its MTU shown when it is not the usual 1500.
fn added_attrs(link: &Link) -> String {
    let show_mtu = link.mtu != Some(crate::state::DEFAULT_MTU);
    display::link_attrs(link, show_mtu)
}

/// `mtu 1500 -> 9000, down -> up`: the attributes an `UpdateLink` changes.
fn link_changes(from: &Link, to: &Link) -> String {
    let mut parts = Vec::new();
    if let Some(mtu) = to.mtu
        && to.mtu != from.mtu
    {
        let old = from.mtu.map_or("unset".to_string(), |m| m.to_string());
        parts.push(format!("mtu {old} -> {mtu}"));
    }
    if from.up != to.up {
        parts.push(format!(
            "{} -> {}",
            display::updown(from.up),
            display::updown(to.up)
        ));
    }
    if from.master != to.master {
        let m = |m: &Option<String>| m.clone().unwrap_or_else(|| "none".into());
        parts.push(format!("master {} -> {}", m(&from.master), m(&to.master)));
    }
    if let Some(mac) = to.mac
        && to.mac != from.mac
    {
        let old = from.mac.map_or("unset".to_string(), |m| m.to_string());
        parts.push(format!("mac {old} -> {mac}"));
    }
    if from.kind.attrs_differ(&to.kind) {
        let (old, new) = (
            display::kind_attrs(&from.kind),
            display::kind_attrs(&to.kind),
        );
        for (o, n) in old.iter().zip(&new) {
            if o != n {
                parts.push(format!("{o} -> {n}"));
            }
        }
        for extra in new.iter().skip(old.len()) {
            parts.push(format!("+{extra}"));
        }
    }
    parts.join(", ")
}

/// `via 10.100.1.2 -> via 10.100.1.3`: the attributes a `ReplaceRoute` changes.
fn route_changes(from: &Route, to: &Route) -> String {
    let mut parts = Vec::new();
    if from.gateway != to.gateway {
        let g = |r: &Route| r.gateway.map_or("none".to_string(), |g| g.to_string());
        parts.push(format!("via {} -> via {}", g(from), g(to)));
    }
    if to.dev.is_some() && from.dev != to.dev {
        let d = |r: &Route| r.dev.clone().unwrap_or_else(|| "none".into());
        parts.push(format!("dev {} -> dev {}", d(from), d(to)));
    }
    if from.proto != to.proto {
        parts.push(format!(
            "proto {} -> proto {}",
            display::proto(from.proto),
            display::proto(to.proto)
        ));
    }
    if from.kind != to.kind {
        parts.push(format!("type {} -> {}", from.kind.name(), to.kind.name()));
    }
    if from.scope != to.scope {
        parts.push(format!(
            "scope {} -> {}",
            scope_name(from.scope),
            scope_name(to.scope)
        ));
    }
    if from.src != to.src {
        let s = |r: &Route| r.src.map_or("none".to_string(), |a| a.to_string());
        parts.push(format!("src {} -> {}", s(from), s(to)));
    }
    if from.onlink != to.onlink {
        parts.push(format!("onlink {} -> {}", from.onlink, to.onlink));
    }
    if from.nexthops != to.nexthops {
        // A live next hop's device is left out where the lab leaves it to the kernel.
        let mut live = from.nexthops.clone();
        for (h, w) in live.iter_mut().zip(&to.nexthops) {
            if w.dev.is_none() {
                h.dev = None;
            }
        }
        let n = |hops: &[crate::state::Nexthop]| {
            if hops.is_empty() {
                "none".to_string()
            } else {
                hops.iter()
                    .map(display::nexthop)
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        parts.push(format!("{} -> {}", n(&live), n(&to.nexthops)));
    }
    parts.join(", ")
}
