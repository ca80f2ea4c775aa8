//! `diff(lab, desired, live)`: the pure function from two `NetState`s to a change set.
//!
//! The diff runs in passes, so that every decision that depends on another one is taken
//! after it:
//! 1. conflicts: every desired name taken by something the lab does not own (if there
//!    is any, the diff stops there and reports them all);
//! 2. namespaces to add and delete, and the surviving ends of veth pairs into deleted
//!    namespaces;
//! 3. veth pairs, globally, as units;
//! 4. every other link, per namespace;
//! 5. addresses, routes, rules and sysctls, which depend on which links are (re)created
//!    or deleted (their objects vanish with the link).
//!
//! Attributes left unset in the desired state are "whatever the kernel chooses" and
//! never compared: a link's `mtu`, a route's `dev` (the kernel resolves it from the
//! gateway; live routes always carry one).
//!
//! A live route the kernel flushes before the route phase (its link is deleted, or its
//! link loses its last IPv4 address) is re-added with `AddRoute` if desired, and not
//! deleted if not.
//!
//! The result is sorted by namespace and then by the per-namespace phase that `order`
//! uses, which keeps it deterministic and readable.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::plan::display;
use crate::plan::order::rank;
use crate::plan::{Change, PeerEnd};
use crate::state::{Link, LinkKind, LinkRef, Namespace, NetState, NsRole, Route, RouteKey};

/// A desired object whose name is taken by something the lab does not own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub ns: String,
    /// What collides, e.g. `namespace web1` or `link eth0`.
    pub object: String,
    /// Who owns the live object: `another lab (x)` or `nobody (not created by nshost)`.
    pub owner: String,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} in namespace {} already exists, owned by {}",
            self.object, self.ns, self.owner
        )
    }
}

/// Computes the changes that turn `live` into `desired` for `lab`.
///
/// Destroying a lab is `diff(lab, &NetState::default(), live)`.
pub fn diff(lab: &str, desired: &NetState, live: &NetState) -> Result<Vec<Change>, Vec<Conflict>> {
    let conflicts = conflicts(lab, desired, live);
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut d = Differ {
        lab,
        desired,
        live,
        changes: Vec::new(),
        deleted: BTreeSet::new(),
        created: BTreeSet::new(),
    };
    d.namespaces();
    d.veth_pairs();
    for (name, dns) in &desired.namespaces {
        d.links(name, dns);
    }
    for (name, dns) in &desired.namespaces {
        d.contents(name, dns);
    }
    let mut changes = d.changes;
    changes.sort_by(|a, b| (a.ns(), rank(a)).cmp(&(b.ns(), rank(b))));
    Ok(changes)
}

/// Every desired object whose live counterpart the lab does not own.
fn conflicts(lab: &str, desired: &NetState, live: &NetState) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (name, dns) in &desired.namespaces {
        let Some(lns) = live.namespaces.get(name) else {
            continue;
        };
        let mut conflict = |object: String, owner: String| {
            out.push(Conflict {
                ns: name.clone(),
                object,
                owner,
            })
        };
        if !lns.owned_by(lab) {
            conflict(
                format!("namespace {name}"),
                display::owner(lns.owner.as_deref()),
            );
            continue;
        }
        for (ifname, dl) in &dns.links {
            let Some(ll) = lns.links.get(ifname) else {
                continue;
            };
            let loopback = dl.kind == LinkKind::Loopback && ll.kind == LinkKind::Loopback;
            if !loopback && ll.owner.as_deref() != Some(lab) {
                conflict(
                    format!("link {ifname}"),
                    display::owner(ll.owner.as_deref()),
                );
            }
        }
        let nobody = || display::owner(None);
        for key in dns.addresses.keys() {
            if lns.addresses.get(key).is_some_and(|a| !a.owned) {
                conflict(format!("address {}", display::address(key)), nobody());
            }
        }
        for key in dns.routes.keys() {
            if lns.routes.get(key).is_some_and(|r| !r.owned) {
                conflict(format!("route {}", display::route_key_full(key)), nobody());
            }
        }
        for rule in dns.rules.keys() {
            if lns.rules.get(rule).is_some_and(|m| !m.owned) {
                conflict(format!("rule {}", display::rule(rule)), nobody());
            }
        }
    }
    out
}

/// What deciding whether a live route survives needs to know about its namespace.
struct RouteCx<'n> {
    live: &'n Namespace,
    desired: &'n Namespace,
    stripped: BTreeSet<&'n str>,
}

fn is_v4(net: &ipnet::IpNet) -> bool {
    matches!(net, ipnet::IpNet::V4(_))
}

struct Differ<'a> {
    lab: &'a str,
    desired: &'a NetState,
    live: &'a NetState,
    changes: Vec<Change>,
    /// Live links that go away: both ends of every deleted veth pair.
    deleted: BTreeSet<LinkRef>,
    /// Desired links that an `AddLink` creates (both ends of a pair).
    created: BTreeSet<LinkRef>,
}

fn link_ref(ns: &str, name: &str) -> LinkRef {
    LinkRef {
        ns: ns.to_string(),
        name: name.to_string(),
    }
}

fn veth_peer(link: &Link) -> Option<&LinkRef> {
    match &link.kind {
        LinkKind::Veth { peer } => peer.as_ref(),
        _ => None,
    }
}

impl<'a> Differ<'a> {
    /// The live namespace, if the lab owns it.
    fn live_ns(&self, ns: &str) -> Option<&'a Namespace> {
        self.live
            .namespaces
            .get(ns)
            .filter(|n| n.owned_by(self.lab))
    }

    /// Whether `ns` exists live, is the lab's and stays.
    fn survives(&self, ns: &str) -> bool {
        self.desired.namespaces.contains_key(ns) && self.live_ns(ns).is_some()
    }

    /// The live link at `r`, unless it is already going away.
    fn live_link(&self, r: &LinkRef) -> Option<&'a Link> {
        if self.deleted.contains(r) {
            return None;
        }
        self.live_ns(&r.ns)?.links.get(&r.name)
    }

    fn role(&self, ns: &str) -> NsRole {
        self.desired
            .namespaces
            .get(ns)
            .or_else(|| self.live.namespaces.get(ns))
            .map_or(NsRole::Unknown, |n| n.role)
    }

    /// Orders two ends of a pair: the fabric end first, else the smaller reference.
    fn primary_first<'r>(&self, a: &'r LinkRef, b: &'r LinkRef) -> (&'r LinkRef, &'r LinkRef) {
        let key = |r: &LinkRef| (self.role(&r.ns) != NsRole::Fabric, r.clone());
        if key(a) <= key(b) { (a, b) } else { (b, a) }
    }

    /// Deletes the live link at `r` (and with it its veth peer), once.
    fn delete_link(&mut self, r: &LinkRef, link: &Link) {
        if self.deleted.contains(r) {
            return;
        }
        self.deleted.insert(r.clone());
        if let Some(p) = veth_peer(link) {
            self.deleted.insert(p.clone());
        }
        self.changes.push(Change::DeleteLink {
            ns: r.ns.clone(),
            name: r.name.clone(),
            link: link.clone(),
        });
    }

    /// Deletes the live veth pair (or plain link) that `r` belongs to, from an end whose
    /// namespace survives.
    fn delete_live_pair(&mut self, r: &LinkRef, link: &Link) {
        let mut end = (r.clone(), link);
        if let Some(p) = veth_peer(link)
            && self.survives(&p.ns)
            && let Some(pl) = self.live_link(p)
        {
            let (first, _) = self.primary_first(r, p);
            if first == p {
                end = (p.clone(), pl);
            }
        }
        self.delete_link(&end.0, end.1);
    }

    /// Namespace additions and deletions; for a deleted namespace, its veth pairs are
    /// deleted from their surviving ends (rather than by the kernel, asynchronously).
    fn namespaces(&mut self) {
        let (desired, live) = (self.desired, self.live);
        for (name, dns) in &desired.namespaces {
            if !self.live.namespaces.contains_key(name) {
                self.changes.push(Change::AddNamespace {
                    ns: name.clone(),
                    role: dns.role,
                });
            }
        }
        for (name, lns) in &live.namespaces {
            if lns.owned_by(self.lab) && !desired.namespaces.contains_key(name) {
                self.changes.push(Change::DeleteNamespace {
                    ns: name.clone(),
                    role: lns.role,
                });
                for (ifname, link) in &lns.links {
                    if link.owner.as_deref() != Some(self.lab) {
                        continue;
                    }
                    if let Some(p) = veth_peer(link)
                        && self.survives(&p.ns)
                        && let Some(pl) = self.live_link(p)
                    {
                        self.delete_link(p, pl);
                        self.deleted.insert(link_ref(name, ifname));
                    }
                }
            }
        }
    }

    /// The desired peer of a desired veth end, if the two ends point at each other.
    fn desired_pair(&self, r: &LinkRef, link: &'a Link) -> Option<&'a LinkRef> {
        let p = veth_peer(link)?;
        let pl = self.desired.namespaces.get(&p.ns)?.links.get(&p.name)?;
        (veth_peer(pl)? == r).then_some(p)
    }

    /// Veth pairs, each once (from its primary end): recreated as a unit when either end
    /// is missing or has another kind or peer live.
    fn veth_pairs(&mut self) {
        let desired = self.desired;
        for (ns, dns) in &desired.namespaces {
            for (name, dl) in &dns.links {
                let a = link_ref(ns, name);
                let Some(b) = self.desired_pair(&a, dl) else {
                    continue;
                };
                if self.primary_first(&a, b).0 != &a {
                    continue;
                }
                let bl = &desired.namespaces[&b.ns].links[&b.name];
                let ends = [(&a, dl), (b, bl)];
                let intact = ends
                    .iter()
                    .all(|(r, want)| self.live_link(r).is_some_and(|have| have.kind == want.kind));
                if intact {
                    continue;
                }
                for (r, _) in ends {
                    if let Some(have) = self.live_link(r) {
                        self.delete_live_pair(r, have);
                    }
                }
                self.created.insert(a.clone());
                self.created.insert(b.clone());
                self.changes.push(Change::AddLink {
                    ns: a.ns.clone(),
                    name: a.name.clone(),
                    link: dl.clone(),
                    peer: Some(Box::new(PeerEnd {
                        at: b.clone(),
                        link: bl.clone(),
                    })),
                });
            }
        }
    }

    /// Links other than paired veths (which `veth_pairs` handled) in one namespace, and
    /// the in-place updates of every link.
    fn links(&mut self, ns: &str, dns: &'a Namespace) {
        let empty = Namespace::default();
        let lns = self.live_ns(ns).unwrap_or(&empty);
        for (name, dl) in &dns.links {
            let r = link_ref(ns, name);
            if self.created.contains(&r) {
                continue;
            }
            let ll = self.live_link(&r);
            if dl.kind == LinkKind::Loopback {
                // Namespace creation brings the loopback; it is never added or deleted.
                if let Some(ll) = ll {
                    self.update_link(&r, ll, dl);
                }
                continue;
            }
            match ll {
                Some(ll) if ll.kind == dl.kind => self.update_link(&r, ll, dl),
                _ => {
                    if let Some(ll) = ll {
                        self.delete_live_pair(&r, ll);
                    }
                    self.created.insert(r.clone());
                    self.changes.push(Change::AddLink {
                        ns: ns.to_string(),
                        name: name.clone(),
                        link: dl.clone(),
                        peer: None,
                    });
                }
            }
        }
        for (name, ll) in &lns.links {
            if dns.links.contains_key(name)
                || ll.kind == LinkKind::Loopback
                || ll.owner.as_deref() != Some(self.lab)
            {
                continue;
            }
            let r = link_ref(ns, name);
            if !self.deleted.contains(&r) {
                self.delete_live_pair(&r, ll);
            }
        }
    }

    fn update_link(&mut self, r: &LinkRef, live: &Link, want: &Link) {
        let mtu = want.mtu.is_some() && want.mtu != live.mtu;
        if mtu || want.up != live.up || want.master != live.master {
            let mut to = want.clone();
            if to.kind == LinkKind::Loopback {
                // The loopback's alias is the namespace's ownership mark: keep it.
                to.owner = Some(self.lab.to_string());
            }
            self.changes.push(Change::UpdateLink {
                ns: r.ns.clone(),
                name: r.name.clone(),
                from: live.clone(),
                to,
            });
        }
    }

    /// Whether the link `ns`/`name` is going away or being (re)created: objects on it
    /// vanish with the old link.
    fn replaced(&self, ns: &str, name: &str) -> bool {
        let r = link_ref(ns, name);
        self.deleted.contains(&r) || self.created.contains(&r)
    }

    /// The link a route leaves by: its device, else the link with an address whose
    /// subnet contains the gateway.
    fn egress<'n>(ns: &'n Namespace, route: &'n Route) -> Option<&'n str> {
        if let Some(dev) = &route.dev {
            return Some(dev);
        }
        let gw = route.gateway?;
        ns.addresses
            .keys()
            .find(|k| k.addr.trunc().contains(&gw))
            .map(|k| k.ifname.as_str())
    }

    /// Whether the kernel flushes the live route `lr` before the route phase: its link
    /// is deleted, or (IPv4) loses its last IPv4 address (`stripped`). `want` is the
    /// desired route of the same key, if any, used when the live route's link cannot
    /// be told.
    fn flushed(
        &self,
        ns: &str,
        cx: &RouteCx<'_>,
        key: &RouteKey,
        lr: &Route,
        want: Option<&Route>,
    ) -> bool {
        match Self::egress(cx.live, lr) {
            Some(dev) => {
                self.deleted.contains(&link_ref(ns, dev))
                    || (is_v4(&key.dst) && cx.stripped.contains(dev))
            }
            None => want
                .and_then(|w| Self::egress(cx.desired, w))
                .is_some_and(|dev| self.created.contains(&link_ref(ns, dev))),
        }
    }

    /// Links of `ns` that end up without any IPv4 address after having some: the
    /// kernel flushes their IPv4 routes when the last one goes. (Addresses are added
    /// before any is deleted, so a link with a desired address never gets there.)
    fn stripped<'n>(lns: &'n Namespace, dns: &Namespace) -> BTreeSet<&'n str> {
        let mut had: BTreeSet<&str> = BTreeSet::new();
        let mut keeps: BTreeSet<&str> = BTreeSet::new();
        for (key, a) in &lns.addresses {
            if is_v4(&key.addr) {
                had.insert(&key.ifname);
                if !a.owned {
                    keeps.insert(&key.ifname);
                }
            }
        }
        for key in dns.addresses.keys() {
            if is_v4(&key.addr) {
                keeps.insert(&key.ifname);
            }
        }
        had.retain(|l| !keeps.contains(l));
        had
    }

    /// Addresses, routes, rules and sysctls of one namespace.
    fn contents(&mut self, ns: &str, dns: &'a Namespace) {
        let empty = Namespace::default();
        let lns = self.live_ns(ns).unwrap_or(&empty);
        let cx = RouteCx {
            live: lns,
            desired: dns,
            stripped: Self::stripped(lns, dns),
        };
        let mut out = Vec::new();

        for key in dns.addresses.keys() {
            if self.created.contains(&link_ref(ns, &key.ifname)) || !lns.addresses.contains_key(key)
            {
                out.push(Change::AddAddress {
                    ns: ns.to_string(),
                    key: key.clone(),
                });
            }
        }
        for (key, a) in &lns.addresses {
            if a.owned && !dns.addresses.contains_key(key) && !self.replaced(ns, &key.ifname) {
                out.push(Change::DeleteAddress {
                    ns: ns.to_string(),
                    key: key.clone(),
                });
            }
        }

        for (key, want) in &dns.routes {
            match lns.routes.get(key) {
                Some(lr) if !self.flushed(ns, &cx, key, lr, Some(want)) => {
                    let dev = want.dev.is_some() && want.dev != lr.dev;
                    if want.gateway != lr.gateway || dev {
                        out.push(Change::ReplaceRoute {
                            ns: ns.to_string(),
                            key: key.clone(),
                            from: lr.clone(),
                            to: want.clone(),
                        });
                    }
                }
                _ => out.push(Change::AddRoute {
                    ns: ns.to_string(),
                    key: key.clone(),
                    route: want.clone(),
                }),
            }
        }
        for (key, lr) in &lns.routes {
            if lr.owned && !dns.routes.contains_key(key) && !self.flushed(ns, &cx, key, lr, None) {
                out.push(Change::DeleteRoute {
                    ns: ns.to_string(),
                    key: key.clone(),
                    route: lr.clone(),
                });
            }
        }

        for rule in dns.rules.keys() {
            if !lns.rules.contains_key(rule) {
                out.push(Change::AddRule {
                    ns: ns.to_string(),
                    rule: rule.clone(),
                });
            }
        }
        for (rule, meta) in &lns.rules {
            if meta.owned && !dns.rules.contains_key(rule) {
                out.push(Change::DeleteRule {
                    ns: ns.to_string(),
                    rule: rule.clone(),
                });
            }
        }

        for (key, value) in &dns.sysctls {
            let have = lns.sysctls.get(key);
            if have != Some(value) {
                out.push(Change::SetSysctl {
                    ns: ns.to_string(),
                    key: key.clone(),
                    from: have.cloned(),
                    to: value.clone(),
                });
            }
        }
        self.changes.extend(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testkit::*;
    use crate::state::{Address, AddressKey, RouteKey, RuleMeta};

    const LAB: &str = "lab";

    fn ok(desired: &NetState, live: &NetState) -> Vec<Change> {
        diff(LAB, desired, live).expect("no conflicts")
    }

    fn count(changes: &[Change], f: impl Fn(&Change) -> bool) -> usize {
        changes.iter().filter(|c| f(c)).count()
    }

    fn lr(ns: &str, name: &str) -> LinkRef {
        link_ref(ns, name)
    }

    #[test]
    fn cold_create_adds_everything_but_the_loopbacks() {
        let desired = small_lab(LAB).build();
        let changes = ok(&desired, &NetState::default());
        assert_eq!(
            count(&changes, |c| matches!(c, Change::AddNamespace { .. })),
            4
        );
        // 2 bridges, 4 veth pairs (one change each, from the fabric end).
        let links: Vec<_> = changes
            .iter()
            .filter_map(|c| match c {
                Change::AddLink { ns, link, peer, .. } => Some((ns, link, peer)),
                _ => None,
            })
            .collect();
        assert_eq!(links.len(), 6);
        for (ns, link, peer) in &links {
            assert_eq!(ns.as_str(), "lab-fabric");
            match &link.kind {
                LinkKind::Bridge => assert!(peer.is_none()),
                LinkKind::Veth { peer: Some(p) } => {
                    let pe = peer.as_ref().expect("veth creates its peer");
                    assert_eq!(&pe.at, p);
                    assert!(link.master.is_some());
                }
                k => panic!("unexpected {k:?}"),
            }
        }
        assert!(!changes.iter().any(|c| matches!(c,
            Change::AddLink { name, .. } | Change::UpdateLink { name, .. } if name == "lo")));
        assert_eq!(
            count(&changes, |c| matches!(c, Change::AddAddress { .. })),
            4
        );
        assert_eq!(count(&changes, |c| matches!(c, Change::AddRoute { .. })), 3);
        assert_eq!(count(&changes, |c| matches!(c, Change::AddRule { .. })), 1);
        assert!(changes.iter().any(|c| matches!(c,
            Change::SetSysctl { ns, from: None, to, .. } if ns == "hq-gw" && to == "1")));
        assert!(
            changes
                .iter()
                .all(|c| c.action() == crate::plan::Action::Add)
        );
        // Deterministic.
        assert_eq!(changes, ok(&desired, &NetState::default()));
    }

    #[test]
    fn converged_state_has_no_changes_and_ignores_strangers() {
        let desired = small_lab(LAB).build();
        let mut live = as_live(&desired);
        live.namespaces.insert("manual".into(), foreign_ns(None));
        live.namespaces
            .insert("other-x".into(), foreign_ns(Some("other")));
        // Foreign objects inside an owned namespace are not ours to delete.
        let web1 = live.namespaces.get_mut("web1").unwrap();
        let mut dummy = Link::new(
            LinkKind::Other {
                name: "dummy".into(),
            },
            "x",
        );
        dummy.owner = None;
        web1.links.insert("dummy0".into(), dummy);
        web1.addresses.insert(
            AddressKey {
                ifname: "eth0".into(),
                addr: net("10.1.1.99/24"),
            },
            Address { owned: false },
        );
        web1.routes.insert(
            main_route("192.168.0.0/16"),
            Route {
                gateway: Some(ip("10.1.1.1")),
                dev: Some("eth0".into()),
                owned: false,
            },
        );
        web1.rules
            .insert(rule_from(5, "1.2.3.0/24", 7), RuleMeta { owned: false });
        assert_eq!(ok(&desired, &live), vec![]);
    }

    #[test]
    fn conflicts_are_all_reported() {
        let desired = small_lab(LAB).build();
        let mut live = as_live(&desired);
        live.namespaces
            .insert("web2".into(), foreign_ns(Some("other")));
        let web1 = live.namespaces.get_mut("web1").unwrap();
        web1.links.get_mut("eth0").unwrap().owner = None;
        web1.addresses
            .get_mut(&AddressKey {
                ifname: "eth0".into(),
                addr: net("10.1.1.10/24"),
            })
            .unwrap()
            .owned = false;
        let gw = live.namespaces.get_mut("hq-gw").unwrap();
        gw.routes.values_mut().for_each(|r| r.owned = false);
        gw.rules.values_mut().for_each(|m| m.owned = false);
        let conflicts = diff(LAB, &desired, &live).unwrap_err();
        let text: Vec<String> = conflicts
            .iter()
            .map(|c| format!("{}: {} ({})", c.ns, c.object, c.owner))
            .collect();
        assert_eq!(
            text,
            [
                "hq-gw: route 10.2.0.0/16 table 100 metric 0 (nobody (not created by nshost))",
                "hq-gw: rule 100: from 10.1.0.0/16 lookup 100 (nobody (not created by nshost))",
                "web1: link eth0 (nobody (not created by nshost))",
                "web1: address eth0 10.1.1.10/24 (nobody (not created by nshost))",
                "web2: namespace web2 (another lab (other))",
            ]
        );
    }

    #[test]
    fn destroy_deletes_owned_namespaces_only() {
        let live = {
            let mut l = as_live(&small_lab(LAB).build());
            l.namespaces.insert("manual".into(), foreign_ns(None));
            l.namespaces
                .insert("other-x".into(), foreign_ns(Some("other")));
            l
        };
        let changes = ok(&NetState::default(), &live);
        let names: Vec<_> = changes
            .iter()
            .map(|c| match c {
                Change::DeleteNamespace { ns, .. } => ns.as_str(),
                c => panic!("unexpected {c:?}"),
            })
            .collect();
        assert_eq!(names, ["hq-gw", "lab-fabric", "web1", "web2"]);
    }

    #[test]
    fn removing_a_host_deletes_its_namespace_and_the_fabric_end() {
        let (live, desired) = small_lab_without_web2(LAB);
        let port = crate::naming::fabric_port_name("web2", "eth0");
        let changes = ok(&desired, &live);
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert!(
            matches!(&changes[0], Change::DeleteLink { ns, name, .. } if ns == "lab-fabric" && *name == port)
        );
        assert!(matches!(&changes[1], Change::DeleteNamespace { ns, .. } if ns == "web2"));
    }

    #[test]
    fn adding_a_host() {
        let live = as_live(&small_lab(LAB).build());
        let desired = small_lab_with_web3(LAB).build();
        let changes = ok(&desired, &live);
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert!(
            matches!(&changes[0], Change::AddLink { ns, peer: Some(p), .. }
            if ns == "lab-fabric" && p.at == lr("web3", "eth0"))
        );
        assert!(
            matches!(&changes[1], Change::AddNamespace { ns, role: NsRole::Host } if ns == "web3")
        );
        assert!(matches!(&changes[2], Change::AddAddress { .. }));
        assert!(matches!(&changes[3], Change::AddRoute { .. }));
    }

    #[test]
    fn mtu_and_state_are_updated_in_place() {
        let live = as_live(&small_lab(LAB).build());
        let desired = small_lab(LAB)
            .mtu("hq-gw", "eth1", 9000)
            .down("web1", "eth0")
            .build();
        let changes = ok(&desired, &live);
        let updates: Vec<_> = changes
            .iter()
            .map(|c| match c {
                Change::UpdateLink { ns, name, from, to } => {
                    (ns.as_str(), name.as_str(), from.mtu, to.mtu, to.up)
                }
                c => panic!("unexpected {c:?}"),
            })
            .collect();
        let port = crate::naming::fabric_port_name("hq-gw", "eth1");
        assert_eq!(
            updates,
            [
                ("hq-gw", "eth1", Some(1500), Some(9000), true),
                ("lab-fabric", port.as_str(), Some(1500), Some(9000), true),
                ("web1", "eth0", Some(1500), None, false),
            ]
        );
    }

    #[test]
    fn address_change_adds_and_deletes() {
        let (live, desired) = small_lab_address_moved(LAB);
        let changes = ok(&desired, &live);
        assert_eq!(
            changes,
            [
                Change::AddAddress {
                    ns: "web1".into(),
                    key: AddressKey {
                        ifname: "eth0".into(),
                        addr: net("10.1.1.20/24")
                    }
                },
                Change::DeleteAddress {
                    ns: "web1".into(),
                    key: AddressKey {
                        ifname: "eth0".into(),
                        addr: net("10.1.1.10/24")
                    }
                },
            ]
        );
    }

    #[test]
    fn routes_are_replaced_in_place_and_deleted_when_owned() {
        let desired = small_lab(LAB).build();
        let mut live = as_live(&desired);
        let gw = live.namespaces.get_mut("hq-gw").unwrap();
        let key = RouteKey {
            table: 100,
            dst: net("10.2.0.0/16"),
            metric: 0,
        };
        gw.routes.get_mut(&key).unwrap().gateway = Some(ip("10.100.1.3"));
        let stale = main_route("172.16.0.0/12");
        gw.routes.insert(
            stale.clone(),
            Route {
                gateway: Some(ip("10.100.1.2")),
                dev: Some("eth1".into()),
                owned: true,
            },
        );
        let changes = ok(&desired, &live);
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert!(matches!(&changes[0], Change::DeleteRoute { key, .. } if *key == stale));
        match &changes[1] {
            Change::ReplaceRoute {
                key: k, from, to, ..
            } => {
                assert_eq!(*k, key);
                assert_eq!(from.gateway, Some(ip("10.100.1.3")));
                assert_eq!(to.gateway, Some(ip("10.100.1.2")));
            }
            c => panic!("unexpected {c:?}"),
        }
    }

    #[test]
    fn rules_and_sysctls() {
        let desired = small_lab(LAB)
            .rule("hq-gw", rule_from(200, "10.9.0.0/16", 200))
            .build();
        let mut live = as_live(&small_lab(LAB).build());
        let gw = live.namespaces.get_mut("hq-gw").unwrap();
        gw.rules
            .insert(rule_from(300, "10.8.0.0/16", 300), RuleMeta { owned: true });
        gw.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
        let changes = ok(&desired, &live);
        assert_eq!(
            changes,
            [
                Change::DeleteRule {
                    ns: "hq-gw".into(),
                    rule: rule_from(300, "10.8.0.0/16", 300)
                },
                Change::SetSysctl {
                    ns: "hq-gw".into(),
                    key: "net.ipv4.ip_forward".into(),
                    from: Some("0".into()),
                    to: "1".into()
                },
                Change::AddRule {
                    ns: "hq-gw".into(),
                    rule: rule_from(200, "10.9.0.0/16", 200)
                },
            ]
        );
    }

    #[test]
    fn missing_veth_end_recreates_the_pair_and_what_was_on_it() {
        let desired = small_lab(LAB).build();
        let mut live = as_live(&desired);
        // The node end vanished (with its address); the fabric end still claims it.
        let web1 = live.namespaces.get_mut("web1").unwrap();
        web1.links.remove("eth0");
        web1.addresses.clear();
        let changes = ok(&desired, &live);
        let port = crate::naming::fabric_port_name("web1", "eth0");
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert!(
            matches!(&changes[0], Change::DeleteLink { ns, name, .. } if ns == "lab-fabric" && *name == port)
        );
        assert!(
            matches!(&changes[1], Change::AddLink { ns, name, peer: Some(p), .. }
            if ns == "lab-fabric" && *name == port && p.at == lr("web1", "eth0"))
        );
        assert!(matches!(&changes[2], Change::AddAddress { ns, .. } if ns == "web1"));
        // The live default route left by eth0, which the kernel flushes: added again.
        assert!(matches!(&changes[3], Change::AddRoute { ns, .. } if ns == "web1"));
    }

    #[test]
    fn veth_with_wrong_peer_is_recreated_once_per_live_pair() {
        let desired = small_lab(LAB).build();
        let mut live = as_live(&desired);
        // web1/eth0 and web2/eth0 are swapped on the fabric side.
        let p1 = crate::naming::fabric_port_name("web1", "eth0");
        let p2 = crate::naming::fabric_port_name("web2", "eth0");
        let fab = live.namespaces.get_mut("lab-fabric").unwrap();
        fab.links.get_mut(&p1).unwrap().kind = LinkKind::Veth {
            peer: Some(lr("web2", "eth0")),
        };
        fab.links.get_mut(&p2).unwrap().kind = LinkKind::Veth {
            peer: Some(lr("web1", "eth0")),
        };
        live.namespaces
            .get_mut("web1")
            .unwrap()
            .links
            .get_mut("eth0")
            .unwrap()
            .kind = LinkKind::Veth {
            peer: Some(lr("lab-fabric", &p2)),
        };
        live.namespaces
            .get_mut("web2")
            .unwrap()
            .links
            .get_mut("eth0")
            .unwrap()
            .kind = LinkKind::Veth {
            peer: Some(lr("lab-fabric", &p1)),
        };
        let changes = ok(&desired, &live);
        assert_eq!(
            count(
                &changes,
                |c| matches!(c, Change::DeleteLink { ns, .. } if ns == "lab-fabric")
            ),
            2,
            "{changes:#?}"
        );
        assert_eq!(
            count(&changes, |c| matches!(c, Change::DeleteLink { .. })),
            2
        );
        assert_eq!(count(&changes, |c| matches!(c, Change::AddLink { .. })), 2);
        assert_eq!(
            count(&changes, |c| matches!(c, Change::AddAddress { .. })),
            2
        );
        assert_eq!(count(&changes, |c| matches!(c, Change::AddRoute { .. })), 2);
        assert!(
            !changes
                .iter()
                .any(|c| matches!(c, Change::DeleteAddress { .. } | Change::DeleteRoute { .. }))
        );
    }

    #[test]
    fn link_kind_change_deletes_and_adds() {
        let desired = small_lab(LAB)
            .standalone("hq-gw", "lo1", "dummy")
            .address("hq-gw", "lo1", "192.0.2.1/32")
            .build();
        let mut live = as_live(&desired);
        let gw = live.namespaces.get_mut("hq-gw").unwrap();
        gw.links.get_mut("lo1").unwrap().kind = LinkKind::Bridge;
        let changes = ok(&desired, &live);
        assert_eq!(changes.len(), 3, "{changes:#?}");
        assert!(matches!(&changes[0], Change::DeleteLink { name, .. } if name == "lo1"));
        assert!(matches!(&changes[1], Change::AddLink { name, peer: None, .. } if name == "lo1"));
        assert!(matches!(&changes[2], Change::AddAddress { key, .. } if key.ifname == "lo1"));
    }

    #[test]
    fn a_loopback_brought_up_keeps_the_namespace_mark() {
        let desired = small_lab(LAB).build();
        let mut live = as_live(&desired);
        live.namespaces
            .get_mut("web1")
            .unwrap()
            .links
            .get_mut("lo")
            .unwrap()
            .up = false;
        let changes = ok(&desired, &live);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        match &changes[0] {
            Change::UpdateLink { name, to, .. } => {
                assert_eq!(name, "lo");
                assert!(to.up);
                assert_eq!(to.owner.as_deref(), Some(LAB));
            }
            c => panic!("unexpected {c:?}"),
        }
    }

    #[test]
    fn stale_owned_links_are_deleted_once() {
        let desired = small_lab(LAB).build();
        let mut live = as_live(&desired);
        // A leftover pair web1/eth9 <-> fabric/old, neither desired.
        let mut end = Link::new(
            LinkKind::Veth {
                peer: Some(lr("lab-fabric", "old")),
            },
            LAB,
        );
        end.mtu = Some(1500);
        live.namespaces
            .get_mut("web1")
            .unwrap()
            .links
            .insert("eth9".into(), end);
        live.namespaces.get_mut("web1").unwrap().addresses.insert(
            AddressKey {
                ifname: "eth9".into(),
                addr: net("10.9.9.9/24"),
            },
            Address { owned: true },
        );
        let other = Link::new(
            LinkKind::Veth {
                peer: Some(lr("web1", "eth9")),
            },
            LAB,
        );
        live.namespaces
            .get_mut("lab-fabric")
            .unwrap()
            .links
            .insert("old".into(), other);
        let changes = ok(&desired, &live);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert!(
            matches!(&changes[0], Change::DeleteLink { ns, name, .. } if ns == "lab-fabric" && name == "old")
        );
    }
}
