//! Test support: small builders for desired and live `NetState`s in the shape `lower`
//! and `kernel::observe` produce them, so planning can be tested without either.
//!
//! Not part of the stable API; it is public only so integration tests and benches can
//! use it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::naming;
use crate::state::{
    Address, AddressKey, Link, LinkKind, LinkRef, Namespace, NetState, NsRole, RT_TABLE_MAIN,
    Route, RouteKey, Rule, RuleMeta,
};

/// Builds the desired state of one lab the way `lower` lays it out: one namespace per
/// node (with `lo`), a fabric namespace with one bridge per network, and a veth pair per
/// attached interface whose fabric end is enslaved to the network's bridge.
#[derive(Clone, Debug)]
pub struct LabBuilder {
    lab: String,
    fabric: String,
    state: NetState,
}

/// Parses an address or prefix for the builders (panics on a typo: test input only).
pub fn net(s: &str) -> IpNet {
    s.parse()
        .unwrap_or_else(|e| panic!("bad prefix {s:?}: {e}"))
}

/// Parses an IP address for the builders.
pub fn ip(s: &str) -> IpAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("bad address {s:?}: {e}"))
}

/// A route key in the main table with metric 0; `"default"` is `0.0.0.0/0`.
pub fn main_route(dst: &str) -> RouteKey {
    RouteKey {
        table: RT_TABLE_MAIN,
        dst: if dst == "default" {
            net("0.0.0.0/0")
        } else {
            net(dst)
        },
        metric: 0,
    }
}

/// An empty namespace owned by `lab`, with its loopback.
pub fn owned_ns(lab: &str, role: NsRole) -> Namespace {
    let mut ns = Namespace {
        owner: Some(lab.to_string()),
        role,
        ..Namespace::default()
    };
    ns.links.insert("lo".into(), Link::loopback());
    ns
}

impl LabBuilder {
    /// A lab with an empty fabric namespace named `<lab>-fabric`.
    pub fn new(lab: &str) -> Self {
        let fabric = naming::fabric_ns("", lab);
        let mut state = NetState::default();
        state
            .namespaces
            .insert(fabric.clone(), owned_ns(lab, NsRole::Fabric));
        LabBuilder {
            lab: lab.to_string(),
            fabric,
            state,
        }
    }

    pub fn lab(&self) -> &str {
        &self.lab
    }

    pub fn fabric(&self) -> &str {
        &self.fabric
    }

    fn ns_mut(&mut self, ns: &str) -> &mut Namespace {
        self.state
            .namespaces
            .get_mut(ns)
            .unwrap_or_else(|| panic!("no namespace {ns:?} in the builder"))
    }

    /// Adds a network: a bridge `br-<name>` in the fabric namespace.
    pub fn network(mut self, name: &str) -> Self {
        let lab = self.lab.clone();
        let fabric = self.fabric.clone();
        self.ns_mut(&fabric)
            .links
            .insert(naming::bridge_name(name), Link::new(LinkKind::Bridge, &lab));
        self
    }

    /// Adds a router or host namespace named after the node.
    pub fn node(mut self, name: &str, role: NsRole) -> Self {
        let ns = owned_ns(&self.lab, role);
        self.state.namespaces.insert(name.to_string(), ns);
        self
    }

    pub fn router(self, name: &str) -> Self {
        self.node(name, NsRole::Router)
            .sysctl(name, "net.ipv4.ip_forward", "1")
    }

    pub fn host(self, name: &str) -> Self {
        self.node(name, NsRole::Host)
    }

    /// Attaches `node`'s `ifname` to `network` with a veth pair, with `addrs` on it.
    pub fn attach(mut self, node: &str, ifname: &str, network: &str, addrs: &[&str]) -> Self {
        let lab = self.lab.clone();
        let fabric = self.fabric.clone();
        let port = naming::fabric_port_name(node, ifname);
        let bridge = naming::bridge_name(network);
        assert!(
            self.state.namespaces[&fabric].links.contains_key(&bridge),
            "network {network:?} not declared"
        );
        let mut fabric_end = Link::new(
            LinkKind::Veth {
                peer: Some(LinkRef {
                    ns: node.to_string(),
                    name: ifname.to_string(),
                }),
            },
            &lab,
        );
        fabric_end.master = Some(bridge);
        self.ns_mut(&fabric).links.insert(port.clone(), fabric_end);
        let node_end = Link::new(
            LinkKind::Veth {
                peer: Some(LinkRef {
                    ns: fabric,
                    name: port,
                }),
            },
            &lab,
        );
        self.ns_mut(node).links.insert(ifname.to_string(), node_end);
        for a in addrs {
            self = self.address(node, ifname, a);
        }
        self
    }

    /// Adds a standalone link of another kind (e.g. `dummy`).
    pub fn standalone(mut self, node: &str, ifname: &str, kind: &str) -> Self {
        let lab = self.lab.clone();
        self.ns_mut(node).links.insert(
            ifname.to_string(),
            Link::new(
                LinkKind::Other {
                    name: kind.to_string(),
                },
                &lab,
            ),
        );
        self
    }

    /// Sets the MTU of `node`'s `ifname` (and of its fabric end, as `lower` would).
    pub fn mtu(mut self, node: &str, ifname: &str, mtu: u32) -> Self {
        let link = self
            .ns_mut(node)
            .links
            .get_mut(ifname)
            .expect("no such link");
        link.mtu = Some(mtu);
        if let LinkKind::Veth { peer: Some(p) } = link.kind.clone() {
            self.ns_mut(&p.ns).links.get_mut(&p.name).expect("peer").mtu = Some(mtu);
        }
        self
    }

    /// Sets `node`'s `ifname` down.
    pub fn down(mut self, node: &str, ifname: &str) -> Self {
        self.ns_mut(node)
            .links
            .get_mut(ifname)
            .expect("no such link")
            .up = false;
        self
    }

    pub fn address(mut self, node: &str, ifname: &str, addr: &str) -> Self {
        self.ns_mut(node).addresses.insert(
            AddressKey {
                ifname: ifname.to_string(),
                addr: net(addr),
            },
            Address { owned: true },
        );
        self
    }

    /// A route in `table` (use `RT_TABLE_MAIN` for main) with metric 0, via `gw` and/or
    /// out of `dev`.
    pub fn route_in(
        mut self,
        node: &str,
        table: u32,
        dst: &str,
        gw: Option<&str>,
        dev: Option<&str>,
    ) -> Self {
        let mut key = main_route(dst);
        key.table = table;
        self.ns_mut(node).routes.insert(
            key,
            Route {
                gateway: gw.map(ip),
                dev: dev.map(str::to_string),
                owned: true,
            },
        );
        self
    }

    /// A main-table route via a gateway.
    pub fn route(self, node: &str, dst: &str, gw: &str) -> Self {
        self.route_in(node, RT_TABLE_MAIN, dst, Some(gw), None)
    }

    pub fn rule(mut self, node: &str, rule: Rule) -> Self {
        self.ns_mut(node)
            .rules
            .insert(rule, RuleMeta { owned: true });
        self
    }

    pub fn sysctl(mut self, node: &str, key: &str, value: &str) -> Self {
        self.ns_mut(node)
            .sysctls
            .insert(key.to_string(), value.to_string());
        self
    }

    /// The desired state.
    pub fn build(self) -> NetState {
        self.state
    }
}

/// A policy rule `priority: from <from> lookup <table>`.
pub fn rule_from(priority: u32, from: &str, table: u32) -> Rule {
    Rule {
        priority,
        from: Some(net(from)),
        table,
        ..Rule::default()
    }
}

/// What `kernel::observe` would report right after a perfect apply of `desired`:
/// ifindexes assigned, MTUs filled in (1500 unless set), the loopback marked with the
/// lab, and route devices resolved.
pub fn as_live(desired: &NetState) -> NetState {
    let mut live = desired.clone();
    let mut ifindex = 1;
    for ns in live.namespaces.values_mut() {
        let subnets: Vec<(String, IpNet)> = ns
            .addresses
            .keys()
            .map(|k| (k.ifname.clone(), k.addr))
            .collect();
        for (name, link) in ns.links.iter_mut() {
            ifindex += 1;
            link.ifindex = Some(if name == "lo" { 1 } else { ifindex });
            if link.mtu.is_none() {
                link.mtu = Some(if link.kind == LinkKind::Loopback {
                    65536
                } else {
                    1500
                });
            }
            if link.kind == LinkKind::Loopback {
                link.owner = ns.owner.clone();
            }
        }
        for route in ns.routes.values_mut() {
            if route.dev.is_none()
                && let Some(gw) = route.gateway
            {
                route.dev = subnets
                    .iter()
                    .find(|(_, n)| n.trunc().contains(&gw))
                    .map(|(i, _)| i.clone());
            }
        }
    }
    live
}

/// A namespace nobody owns (created by hand), with just its loopback.
pub fn foreign_ns(owner: Option<&str>) -> Namespace {
    let mut ns = Namespace {
        owner: owner.map(str::to_string),
        role: NsRole::Unknown,
        ..Namespace::default()
    };
    let mut lo = Link::loopback();
    lo.owner = ns.owner.clone();
    lo.ifindex = Some(1);
    ns.links.insert("lo".into(), lo);
    ns
}

/// The small lab live, and desired with `web1`'s address moved from `10.1.1.10/24` to
/// `10.1.1.20/24`: the in-place address change.
pub fn small_lab_address_moved(lab: &str) -> (NetState, NetState) {
    let live = as_live(&small_lab(lab).build());
    let mut desired = small_lab(lab)
        .address("web1", "eth0", "10.1.1.20/24")
        .build();
    desired
        .namespaces
        .get_mut("web1")
        .expect("small lab has web1")
        .addresses
        .remove(&AddressKey {
            ifname: "eth0".into(),
            addr: "10.1.1.10/24".parse().expect("address"),
        });
    (live, desired)
}

/// The small lab live, and desired without host `web2` (its namespace and its fabric
/// port): removing a host.
pub fn small_lab_without_web2(lab: &str) -> (NetState, NetState) {
    let live = as_live(&small_lab(lab).build());
    let mut desired = small_lab(lab).build();
    desired.namespaces.remove("web2");
    let fabric = format!("{lab}-fabric");
    desired
        .namespaces
        .get_mut(&fabric)
        .expect("small lab has a fabric")
        .links
        .remove(&crate::naming::fabric_port_name("web2", "eth0"));
    (live, desired)
}

/// The small lab with a third host, `web3` on `lan`.
pub fn small_lab_with_web3(lab: &str) -> LabBuilder {
    small_lab(lab)
        .host("web3")
        .attach("web3", "eth0", "lan", &["10.1.1.12/24"])
        .route("web3", "default", "10.1.1.1")
}

/// A standard small lab: router `hq-gw` on `lan` and `wan`, hosts `web1` and `web2` on
/// `lan`, a default route on each host, a policy rule on the router.
pub fn small_lab(lab: &str) -> LabBuilder {
    LabBuilder::new(lab)
        .network("lan")
        .network("wan")
        .router("hq-gw")
        .attach("hq-gw", "eth0", "lan", &["10.1.1.1/24"])
        .attach("hq-gw", "eth1", "wan", &["10.100.1.1/24"])
        .route_in("hq-gw", 100, "10.2.0.0/16", Some("10.100.1.2"), None)
        .rule("hq-gw", rule_from(100, "10.1.0.0/16", 100))
        .host("web1")
        .attach("web1", "eth0", "lan", &["10.1.1.10/24"])
        .route("web1", "default", "10.1.1.1")
        .host("web2")
        .attach("web2", "eth0", "lan", &["10.1.1.11/24"])
        .route("web2", "default", "10.1.1.1")
}

/// A model of the kernel's behaviour for the objects a plan touches, to check that a
/// plan applies cleanly (every operation's precondition holds when it runs) and
/// converges (the result diffs to nothing). Deleting a link deletes its veth peer, the
/// addresses on both and the routes out of them; deleting a link's last IPv4 address
/// flushes its IPv4 routes, as the kernel does. A replaced route must exist.
pub mod sim {
    use super::*;
    use crate::plan::{Change, Plan};

    type R<T = ()> = Result<T, String>;

    fn ns_mut<'a>(s: &'a mut NetState, ns: &str) -> R<&'a mut Namespace> {
        s.namespaces
            .get_mut(ns)
            .ok_or_else(|| format!("no namespace {ns}"))
    }

    /// Removes a link as `ip link del` does, with everything that goes with it.
    pub fn remove_link(s: &mut NetState, ns: &str, name: &str) -> R {
        let n = ns_mut(s, ns)?;
        let link = n
            .links
            .remove(name)
            .ok_or_else(|| format!("no link {ns}/{name}"))?;
        n.addresses.retain(|k, _| k.ifname != name);
        n.routes.retain(|_, r| r.dev.as_deref() != Some(name));
        for l in n.links.values_mut() {
            if l.master.as_deref() == Some(name) {
                l.master = None;
            }
        }
        if let LinkKind::Veth { peer: Some(p) } = link.kind
            && s.namespaces
                .get(&p.ns)
                .is_some_and(|n| n.links.contains_key(&p.name))
        {
            remove_link(s, &p.ns, &p.name)?;
        }
        Ok(())
    }

    /// Removes a namespace; its veth pairs' other ends go too.
    pub fn remove_ns(s: &mut NetState, ns: &str) -> R {
        let n = s
            .namespaces
            .get(ns)
            .ok_or_else(|| format!("no namespace {ns}"))?;
        let names: Vec<String> = n.links.keys().cloned().collect();
        for name in names {
            if s.namespaces[ns].links.contains_key(&name) {
                remove_link(s, ns, &name)?;
            }
        }
        s.namespaces.remove(ns);
        Ok(())
    }

    /// Removes an address; the link's IPv4 routes are flushed with its last IPv4 address.
    pub fn remove_address(s: &mut NetState, ns: &str, key: &AddressKey) -> R {
        let n = ns_mut(s, ns)?;
        n.addresses
            .remove(key)
            .ok_or_else(|| format!("no address {key:?} in {ns}"))?;
        let v4 = |a: &IpNet| matches!(a, IpNet::V4(_));
        if v4(&key.addr)
            && !n
                .addresses
                .keys()
                .any(|k| k.ifname == key.ifname && v4(&k.addr))
        {
            n.routes
                .retain(|k, r| !(v4(&k.dst) && r.dev.as_deref() == Some(&key.ifname)));
        }
        Ok(())
    }

    fn add_link(s: &mut NetState, ns: &str, name: &str, link: &Link) -> R {
        let n = ns_mut(s, ns)?;
        if n.links.contains_key(name) {
            return Err(format!("link {ns}/{name} exists"));
        }
        if let Some(m) = &link.master
            && n.links.get(m).is_none_or(|b| b.kind != LinkKind::Bridge)
        {
            return Err(format!("no bridge {ns}/{m} for {name}"));
        }
        let mut l = link.clone();
        l.mtu = l.mtu.or(Some(1500));
        l.ifindex = Some(1000 + n.links.len() as u32);
        n.links.insert(name.to_string(), l);
        Ok(())
    }

    fn resolve(n: &Namespace, route: &Route) -> R<Route> {
        let mut r = route.clone();
        match &r.dev {
            Some(dev) if !n.links.contains_key(dev) => return Err(format!("no device {dev}")),
            Some(_) => {}
            None => {
                let gw = r.gateway.ok_or("route without gateway or device")?;
                let dev = n
                    .addresses
                    .keys()
                    .find(|k| k.addr.trunc().contains(&gw))
                    .ok_or_else(|| format!("gateway {gw} unreachable"))?;
                r.dev = Some(dev.ifname.clone());
            }
        }
        Ok(r)
    }

    /// Applies one change, checking its precondition.
    pub fn apply_one(s: &mut NetState, lab: &str, c: &Change) -> R {
        match c {
            Change::AddNamespace { ns, role } => {
                if s.namespaces.contains_key(ns) {
                    return Err(format!("namespace {ns} exists"));
                }
                let mut n = owned_ns(lab, *role);
                let lo = n.links.get_mut("lo").expect("lo");
                lo.owner = Some(lab.to_string());
                lo.mtu = Some(65536);
                s.namespaces.insert(ns.clone(), n);
            }
            Change::DeleteNamespace { ns, .. } => remove_ns(s, ns)?,
            Change::AddLink {
                ns,
                name,
                link,
                peer,
            } => {
                if let Some(p) = peer {
                    ns_mut(s, &p.at.ns)?;
                    if s.namespaces[&p.at.ns].links.contains_key(&p.at.name) {
                        return Err(format!("link {} exists", p.at));
                    }
                }
                add_link(s, ns, name, link)?;
                if let Some(p) = peer {
                    add_link(s, &p.at.ns, &p.at.name, &p.link)?;
                }
            }
            Change::UpdateLink { ns, name, to, .. } => {
                let n = ns_mut(s, ns)?;
                if let Some(m) = &to.master
                    && n.links.get(m).is_none_or(|b| b.kind != LinkKind::Bridge)
                {
                    return Err(format!("no bridge {ns}/{m}"));
                }
                let l = n
                    .links
                    .get_mut(name)
                    .ok_or_else(|| format!("no link {ns}/{name}"))?;
                if to.mtu.is_some() {
                    l.mtu = to.mtu;
                }
                if l.up && !to.up {
                    n.routes.retain(|_, r| r.dev.as_deref() != Some(name));
                }
                let l = n.links.get_mut(name).expect("link");
                l.up = to.up;
                l.master = to.master.clone();
                if l.kind != LinkKind::Loopback {
                    l.owner = to.owner.clone();
                }
            }
            Change::DeleteLink { ns, name, .. } => remove_link(s, ns, name)?,
            Change::AddAddress { ns, key } => {
                let n = ns_mut(s, ns)?;
                if !n.links.contains_key(&key.ifname) {
                    return Err(format!("no link {ns}/{} for {key:?}", key.ifname));
                }
                if n.addresses
                    .insert(key.clone(), Address { owned: true })
                    .is_some()
                {
                    return Err(format!("address {key:?} exists in {ns}"));
                }
            }
            Change::DeleteAddress { ns, key } => remove_address(s, ns, key)?,
            Change::AddRoute { ns, key, route } => {
                let n = ns_mut(s, ns)?;
                let r = resolve(n, route)?;
                if n.routes.insert(key.clone(), r).is_some() {
                    return Err(format!("route {key:?} exists in {ns}"));
                }
            }
            Change::ReplaceRoute { ns, key, to, .. } => {
                let n = ns_mut(s, ns)?;
                let r = resolve(n, to)?;
                if n.routes.insert(key.clone(), r).is_none() {
                    return Err(format!("route {key:?} to replace is gone in {ns}"));
                }
            }
            Change::DeleteRoute { ns, key, .. } => {
                ns_mut(s, ns)?
                    .routes
                    .remove(key)
                    .ok_or_else(|| format!("no route {key:?} in {ns}"))?;
            }
            Change::AddRule { ns, rule } => {
                if ns_mut(s, ns)?
                    .rules
                    .insert(rule.clone(), RuleMeta { owned: true })
                    .is_some()
                {
                    return Err(format!("rule {rule:?} exists in {ns}"));
                }
            }
            Change::DeleteRule { ns, rule } => {
                ns_mut(s, ns)?
                    .rules
                    .remove(rule)
                    .ok_or_else(|| format!("no rule {rule:?} in {ns}"))?;
            }
            Change::SetSysctl { ns, key, to, .. } => {
                ns_mut(s, ns)?.sysctls.insert(key.clone(), to.clone());
            }
        }
        Ok(())
    }

    /// Applies `plan` to `live` stage by stage. Within a stage, channels (a namespace's
    /// socket, or a thread per namespace/sysctl change) run in their plan order or,
    /// with `reverse_channels`, last channel first: a dependency between two channels
    /// of one stage shows up as a failure in one of the two.
    pub fn apply(live: &NetState, plan: &Plan, reverse_channels: bool) -> R<NetState> {
        let mut s = live.clone();
        for stage in &plan.stages {
            let created = crate::plan::order::created_namespaces(&plan.changes);
            let mut channels: Vec<(Option<crate::plan::order::Channel>, Vec<usize>)> = Vec::new();
            for &i in stage {
                let c = &plan.changes[i];
                let ch = match crate::plan::order::channel_of(c, &created) {
                    crate::plan::order::Channel::Own => None,
                    ch => Some(ch),
                };
                match channels.iter_mut().find(|(k, _)| ch.is_some() && *k == ch) {
                    Some((_, v)) => v.push(i),
                    None => channels.push((ch, vec![i])),
                }
            }
            if reverse_channels {
                channels.reverse();
            }
            for (_, list) in channels {
                for i in list {
                    let c = &plan.changes[i];
                    apply_one(&mut s, &plan.lab, c)
                        .map_err(|e| format!("{e}\n  applying {c:?}"))?;
                }
            }
        }
        Ok(s)
    }
}

/// An independent check of a plan's order: every documented dependency, tested pair by
/// pair (quadratic: small plans only), and the stage rules.
pub mod oracle {
    use crate::plan::order::{PHASE_NEEDS_LINK, phase};
    use crate::plan::{Change, Plan};
    use crate::state::{LinkKind, LinkRef};

    fn peer_of(c: &Change) -> Option<&LinkRef> {
        match c {
            Change::AddLink { peer: Some(p), .. } => Some(&p.at),
            Change::DeleteLink { link, .. } => match &link.kind {
                LinkKind::Veth { peer } => peer.as_ref(),
                _ => None,
            },
            _ => None,
        }
    }

    fn names_created(c: &Change) -> Vec<(&str, &str)> {
        match c {
            Change::AddLink { ns, name, peer, .. } => {
                let mut v = vec![(ns.as_str(), name.as_str())];
                v.extend(peer.iter().map(|p| (p.at.ns.as_str(), p.at.name.as_str())));
                v
            }
            _ => vec![],
        }
    }

    fn masters(c: &Change) -> Vec<(&str, &str)> {
        match c {
            Change::AddLink { ns, link, peer, .. } => {
                let mut v: Vec<_> = link
                    .master
                    .iter()
                    .map(|m| (ns.as_str(), m.as_str()))
                    .collect();
                if let Some(p) = peer {
                    v.extend(p.link.master.iter().map(|m| (p.at.ns.as_str(), m.as_str())));
                }
                v
            }
            Change::UpdateLink { ns, to, .. } => to
                .master
                .iter()
                .map(|m| (ns.as_str(), m.as_str()))
                .collect(),
            _ => vec![],
        }
    }

    /// The documented ordering rules, checked pair by pair (quadratic: small plans only).
    fn must_precede(a: &Change, b: &Change) -> bool {
        let same_ns = a.ns() == b.ns();
        match (a, b) {
            (Change::AddNamespace { ns, .. }, _)
                if b.ns() == ns
                    || peer_of(b).is_some_and(|p| &p.ns == ns)
                        && matches!(b, Change::AddLink { .. }) =>
            {
                return true;
            }
            (_, Change::DeleteNamespace { ns, .. }) if a.ns() == ns && a != b => return true,
            _ => {}
        }
        if same_ns
            && let (Some(pa), Some(pb)) = (phase(a), phase(b))
            && pa < pb
        {
            return true;
        }
        if let Change::AddLink { peer: Some(p), .. } = a {
            if b.ns() == p.at.ns && phase(b).is_some_and(|pb| pb >= PHASE_NEEDS_LINK) {
                return true;
            }
            if matches!(b, Change::UpdateLink { ns, name, .. } if *ns == p.at.ns && *name == p.at.name)
            {
                return true;
            }
        }
        if let Change::AddLink { ns, name, link, .. } = a
            && link.kind == LinkKind::Bridge
            && masters(b).contains(&(ns.as_str(), name.as_str()))
        {
            return true;
        }
        if let Change::DeleteLink { ns, name, .. } = a {
            if let Some(p) = peer_of(a) {
                if matches!(b, Change::DeleteNamespace { ns, .. } if *ns == p.ns) {
                    return true;
                }
                if names_created(b).contains(&(p.ns.as_str(), p.name.as_str())) {
                    return true;
                }
            }
            if names_created(b).contains(&(ns.as_str(), name.as_str())) {
                return true;
            }
        }
        false
    }

    /// Checks the plan's stages and every documented dependency.
    pub fn check_order(plan: &Plan) {
        let flat: Vec<usize> = plan.stages.iter().flatten().copied().collect();
        assert_eq!(flat, (0..plan.changes.len()).collect::<Vec<_>>());
        assert!(plan.stages.iter().all(|s| !s.is_empty()));
        let stage_of: Vec<usize> = plan
            .stages
            .iter()
            .enumerate()
            .flat_map(|(k, s)| s.iter().map(move |_| k))
            .collect();
        let created = crate::plan::order::created_namespaces(&plan.changes);
        let channel = |c| match crate::plan::order::channel_of(c, &created) {
            crate::plan::order::Channel::Own => None,
            ch => Some(ch),
        };
        for (i, a) in plan.changes.iter().enumerate() {
            for (j, b) in plan.changes.iter().enumerate() {
                if i == j || !must_precede(a, b) {
                    continue;
                }
                assert!(i < j, "{a:?}\n must precede\n{b:?}");
                let cross = channel(a).is_none() || channel(a) != channel(b);
                if cross {
                    assert!(
                        stage_of[i] < stage_of[j],
                        "{a:?}\n must be a stage before\n{b:?}"
                    );
                }
            }
        }
    }
}
