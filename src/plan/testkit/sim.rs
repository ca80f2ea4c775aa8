//! A model of the kernel's behaviour for the objects a plan touches, to check that a
//! plan's schedule applies cleanly (every operation's precondition holds when it runs,
//! on the executor it runs on) and converges (the result diffs to nothing).
//!
//! It runs exactly the stages, steps and operations `kernel::apply` runs. Modelled:
//! deleting a link deletes its veth peer, the links stacked on it, the addresses on
//! them and the routes out of them; deleting a link's last IPv4 address flushes its
//! IPv4 routes; a route needs its device up and its gateway reachable (on a connected
//! subnet, or through a route of its table or of main); an IPv6 address added to a
//! veth end still waiting to be brought up would sit out duplicate address detection;
//! a namespace-wide sysctl of a namespace being created is written by its creating
//! thread, a device setting needs its device.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::plan::{Change, Executor, Part, Plan, Step};
use crate::state::{LinkKind, LinkRef, Namespace, NetState, NsRole, Route, Rule};

type R<T = ()> = Result<T, String>;

/// The model: the state, and the veth ends created down that their `PeerUp` has not
/// brought up yet.
struct Kernel {
    s: NetState,
    pending_up: BTreeSet<LinkRef>,
    next_ifindex: u32,
}

fn ns_mut<'a>(s: &'a mut NetState, ns: &str) -> R<&'a mut Namespace> {
    s.namespaces
        .get_mut(ns)
        .filter(|n| !n.stray)
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
    let uppers: Vec<String> = n
        .links
        .iter()
        .filter(|(_, l)| l.kind.lower() == Some(name))
        .map(|(n, _)| n.clone())
        .collect();
    for upper in uppers {
        remove_link(s, ns, &upper)?;
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

fn v4(a: &IpNet) -> bool {
    matches!(a, IpNet::V4(_))
}

impl Kernel {
    fn add_link(&mut self, ns: &str, name: &str, link: &crate::state::Link, up: bool) -> R {
        self.next_ifindex += 1;
        let ifindex = self.next_ifindex;
        let n = ns_mut(&mut self.s, ns)?;
        if n.links.contains_key(name) {
            return Err(format!("link {ns}/{name} exists"));
        }
        if let Some(m) = &link.master
            && n.links.get(m).is_none_or(|b| b.kind != LinkKind::Bridge)
        {
            return Err(format!("no bridge {ns}/{m} for {name}"));
        }
        if let Some(lower) = link.kind.lower()
            && !n.links.contains_key(lower)
        {
            return Err(format!("no link {ns}/{lower} under {name}"));
        }
        if let LinkKind::Unmanaged { name: kind } = &link.kind {
            return Err(format!("nshost cannot create a `{kind}` link"));
        }
        let mut l = link.clone();
        l.up = up;
        l.settings.clear();
        l.ifindex = Some(ifindex);
        n.links.insert(name.to_string(), Box::new(l));
        Ok(())
    }

    /// The device a route goes out of: its own, or the up link with a connected subnet
    /// holding the gateway, or the device of the route of its table (or main) that
    /// reaches the gateway.
    fn resolve(n: &Namespace, table: u32, route: &Route) -> R<Route> {
        let mut r = route.clone();
        if let Some(dev) = &r.dev {
            let link = n.links.get(dev).ok_or_else(|| format!("no device {dev}"))?;
            if !link.up {
                return Err(format!("device {dev} is not up"));
            }
            return Ok(r);
        }
        let gw = r.gateway.ok_or("route without gateway or device")?;
        let connected = n
            .addresses
            .keys()
            .find(|k| k.addr.trunc().contains(&gw) && n.links.get(&k.ifname).is_some_and(|l| l.up))
            .map(|k| k.ifname.clone());
        let via_route = || {
            n.routes
                .iter()
                .filter(|(k, _)| {
                    (k.table == table || k.table == crate::state::RT_TABLE_MAIN)
                        && k.dst.contains(&gw)
                })
                .max_by_key(|(k, _)| k.dst.prefix_len())
                .and_then(|(_, r)| r.dev.clone())
        };
        r.dev = Some(
            connected
                .or_else(via_route)
                .ok_or_else(|| format!("gateway {gw} unreachable"))?,
        );
        Ok(r)
    }

    /// Runs one operation on `executor`, checking its precondition. `creating`: the
    /// namespace whose creation this step carries out, if it is a creating step.
    fn run(&mut self, lab: &str, executor: &Executor, c: &Change, part: Part) -> R {
        let proc_or_netlink = |is_netlink: bool| match executor {
            Executor::Netlink(_) if is_netlink => Ok(()),
            Executor::Proc(_) if !is_netlink => Ok(()),
            e => Err(format!("{} runs on {e:?}", c.describe())),
        };
        match (c, part) {
            (Change::AddLink { peer: Some(p), .. }, Part::PeerUp) => {
                if executor != &Executor::Netlink(p.at.ns.clone()) {
                    return Err(format!("bringing up {} from {executor:?}", p.at));
                }
                self.pending_up.remove(&p.at);
                let n = ns_mut(&mut self.s, &p.at.ns)?;
                let l = n
                    .links
                    .get_mut(&p.at.name)
                    .ok_or_else(|| format!("no link {} to bring up", p.at))?;
                l.up = p.link.up;
            }
            (_, Part::PeerUp) => return Err(format!("{} has no far end", c.describe())),
            (Change::AddLink { ns, name, link, .. }, Part::Flood) => {
                if executor != &Executor::Netlink(ns.clone()) {
                    return Err(format!("flood entries of {ns}/{name} from {executor:?}"));
                }
                let l = ns_mut(&mut self.s, ns)?
                    .links
                    .get_mut(name)
                    .ok_or_else(|| format!("no link {ns}/{name} for its flood entries"))?;
                match (&mut l.kind, &link.kind) {
                    (LinkKind::Vxlan(live), LinkKind::Vxlan(want)) => {
                        live.flood = want.flood.clone();
                    }
                    _ => return Err(format!("flood entries on {ns}/{name}, not a vxlan")),
                }
            }
            (_, Part::Flood) => return Err(format!("{} has no flood entries", c.describe())),
            (Change::AddLink { ns, name, link, .. }, Part::Main) if matches!(&link.kind, LinkKind::Vxlan(v) if v.underlay) =>
            {
                if executor != &Executor::Underlay(ns.clone()) {
                    return Err(format!("underlay vxlan {ns}/{name} from {executor:?}"));
                }
                let mut made = link.clone();
                if let LinkKind::Vxlan(v) = &mut made.kind {
                    v.flood.clear();
                }
                self.add_link(ns, name, &made, made.up)?;
            }
            (Change::AddNamespace { ns, role }, _) => {
                if executor != &Executor::Create(ns.clone()) {
                    return Err(format!("creating {ns} on {executor:?}"));
                }
                if self.s.namespaces.get(ns).is_some_and(|n| !n.stray) {
                    return Err(format!("namespace {ns} exists"));
                }
                self.s
                    .namespaces
                    .insert(ns.clone(), Namespace::owned(lab, *role));
            }
            (Change::DeleteNamespace { ns, stray, .. }, _) => {
                if *stray {
                    self.s
                        .namespaces
                        .remove(ns)
                        .ok_or_else(|| format!("no stray {ns}"))?;
                } else {
                    remove_ns(&mut self.s, ns)?;
                }
            }
            (Change::SetFirewall { ns, to, .. }, _) => {
                if executor != &Executor::Firewall(ns.clone()) {
                    return Err(format!("firewall of {ns} on {executor:?}"));
                }
                ns_mut(&mut self.s, ns)?.firewall = to.clone();
            }
            (Change::SetSysctl { ns, key, to, .. }, _) => {
                match executor {
                    Executor::Create(c) if c == ns => {}
                    Executor::Proc(p) if p == ns => {}
                    e => return Err(format!("sysctl {key} of {ns} on {e:?}")),
                }
                ns_mut(&mut self.s, ns)?
                    .sysctls
                    .insert(key.clone(), to.clone());
            }
            (
                Change::SetLinkSetting {
                    ns,
                    link,
                    setting,
                    to,
                    ..
                },
                _,
            ) => {
                proc_or_netlink(setting.is_netlink())?;
                ns_mut(&mut self.s, ns)?
                    .links
                    .get_mut(link)
                    .ok_or_else(|| format!("no link {ns}/{link} for {}", setting.key(link)))?
                    .settings
                    .insert(setting.clone(), to.clone());
            }
            (c, _) if executor != &Executor::Netlink(c.ns().to_string()) => {
                return Err(format!("{} runs on {executor:?}", c.describe()));
            }
            (
                Change::AddLink {
                    ns,
                    name,
                    link,
                    peer,
                },
                _,
            ) => {
                if let Some(p) = peer {
                    ns_mut(&mut self.s, &p.at.ns)?;
                    if self.s.namespaces[&p.at.ns].links.contains_key(&p.at.name) {
                        return Err(format!("link {} exists", p.at));
                    }
                }
                self.add_link(ns, name, link, link.up)?;
                if let Some(p) = peer {
                    self.add_link(&p.at.ns, &p.at.name, &p.link, false)?;
                    self.pending_up.insert(p.at.clone());
                }
            }
            (Change::UpdateLink { ns, name, to, .. }, _) => {
                let n = ns_mut(&mut self.s, ns)?;
                if let Some(m) = &to.master
                    && n.links.get(m).is_none_or(|b| b.kind != LinkKind::Bridge)
                {
                    return Err(format!("no bridge {ns}/{m}"));
                }
                let l = n
                    .links
                    .get_mut(name)
                    .ok_or_else(|| format!("no link {ns}/{name}"))?;
                let was_up = l.up;
                if to.mtu.is_some() {
                    l.mtu = to.mtu;
                }
                if to.mac.is_some() {
                    l.mac = to.mac;
                }
                l.up = to.up;
                l.master = to.master.clone();
                if let LinkKind::Veth { .. } = l.kind {
                } else {
                    l.kind = to.kind.clone();
                }
                if was_up && !to.up {
                    n.routes.retain(|_, r| r.dev.as_deref() != Some(name));
                }
            }
            (Change::DeleteLink { ns, name, .. }, _) => remove_link(&mut self.s, ns, name)?,
            (Change::AddAddress { ns, key, address }, _) => {
                let pending = self.pending_up.contains(&LinkRef::new(ns, &key.ifname));
                let n = ns_mut(&mut self.s, ns)?;
                if !n.links.contains_key(&key.ifname) {
                    return Err(format!("no link {ns}/{} for {key:?}", key.ifname));
                }
                if !v4(&key.addr) && pending {
                    return Err(format!(
                        "IPv6 address {} added to {ns}/{} before it is up",
                        key.addr, key.ifname
                    ));
                }
                if n.addresses.insert(key.clone(), address.clone()).is_some() {
                    return Err(format!("address {key:?} exists in {ns}"));
                }
            }
            (Change::DeleteAddress { ns, key, .. }, _) => {
                let n = ns_mut(&mut self.s, ns)?;
                n.addresses
                    .remove(key)
                    .ok_or_else(|| format!("no address {key:?} in {ns}"))?;
                if v4(&key.addr)
                    && !n
                        .addresses
                        .keys()
                        .any(|k| k.ifname == key.ifname && v4(&k.addr))
                {
                    n.routes
                        .retain(|k, r| !(v4(&k.dst) && r.dev.as_deref() == Some(&key.ifname)));
                }
            }
            (Change::AddRoute { ns, key, route }, _) => {
                let n = ns_mut(&mut self.s, ns)?;
                let r = Self::resolve(n, key.table, route)?;
                if key.alt > 0
                    && !n
                        .routes
                        .keys()
                        .any(|k| k.group() == key.group() && k.alt + 1 == key.alt)
                {
                    return Err(format!("route {key:?} appended before the one it follows"));
                }
                if n.routes.insert(key.clone(), Box::new(r)).is_some() {
                    return Err(format!("route {key:?} exists in {ns}"));
                }
            }
            (Change::ReplaceRoute { ns, key, to, .. }, _) => {
                let n = ns_mut(&mut self.s, ns)?;
                let r = Self::resolve(n, key.table, to)?;
                if n.routes.insert(key.clone(), Box::new(r)).is_none() {
                    return Err(format!("route {key:?} to replace is gone in {ns}"));
                }
            }
            (Change::DeleteRoute { ns, key, .. }, _) => {
                ns_mut(&mut self.s, ns)?
                    .routes
                    .remove(key)
                    .ok_or_else(|| format!("no route {key:?} in {ns}"))?;
            }
            (Change::AddRule { ns, rule }, _) => {
                if !ns_mut(&mut self.s, ns)?.rules.insert(Rule::clone(rule)) {
                    return Err(format!("rule {rule:?} exists in {ns}"));
                }
            }
            (Change::DeleteRule { ns, rule }, _) => {
                if !ns_mut(&mut self.s, ns)?.rules.remove(rule) {
                    return Err(format!("no rule {rule:?} in {ns}"));
                }
            }
            (Change::SetQdisc { ns, link, to, .. }, _) => {
                ns_mut(&mut self.s, ns)?
                    .links
                    .get_mut(link)
                    .ok_or_else(|| format!("no link {ns}/{link} for its qdisc"))?
                    .qdisc = to.clone();
            }
        }
        Ok(())
    }

    fn step(&mut self, plan: &Plan, step: &Step) -> R {
        for op in &step.ops {
            let c = &plan.changes[op.change];
            self.run(&plan.lab, &step.executor, c, op.part)
                .map_err(|e| {
                    format!(
                        "{e}\n  applying {c:?} ({:?}) on {:?}",
                        op.part, step.executor
                    )
                })?;
        }
        Ok(())
    }
}

/// Applies `plan` to `live` stage by stage. Within a stage, steps run in their plan
/// order or, with `reverse_steps`, last step first: a dependency between two steps of
/// one stage shows up as a failure in one of the two orders.
pub fn apply(live: &NetState, plan: &Plan, reverse_steps: bool) -> R<NetState> {
    let mut k = Kernel {
        s: live.clone(),
        pending_up: BTreeSet::new(),
        next_ifindex: 10_000,
    };
    for stage in &plan.stages {
        let mut steps: Vec<&Step> = stage.steps.iter().collect();
        if reverse_steps {
            steps.reverse();
        }
        for step in steps {
            k.step(plan, step)?;
        }
    }
    Ok(k.s)
}

/// Applies `plan` up to (not including) stage `stop`: the state after a failure there.
pub fn apply_until(live: &NetState, plan: &Plan, stop: usize) -> R<NetState> {
    let mut k = Kernel {
        s: live.clone(),
        pending_up: BTreeSet::new(),
        next_ifindex: 20_000,
    };
    for stage in plan.stages.iter().take(stop) {
        for step in &stage.steps {
            k.step(plan, step)?;
        }
    }
    Ok(k.s)
}

/// The role a namespace has in the model, for tests.
pub fn role(s: &NetState, ns: &str) -> Option<NsRole> {
    s.namespaces.get(ns).map(|n| n.role)
}
