//! The link passes of the diff: veth pairs as units, then every other link of each
//! namespace, stacked links last, with the in-place updates of every link.

use crate::plan::diff::Differ;
use crate::plan::{Change, PeerEnd};
use crate::state::{Link, LinkKind, LinkRef, Namespace, NsRole};

impl<'a> Differ<'a> {
    /// Orders two ends of a pair: the fabric end first, else the smaller reference.
    fn primary_first<'r>(&self, a: &'r LinkRef, b: &'r LinkRef) -> (&'r LinkRef, &'r LinkRef) {
        let key = |r: &LinkRef| (self.role(&r.ns) != NsRole::Fabric, r.clone());
        if key(a) <= key(b) { (a, b) } else { (b, a) }
    }

    /// Marks the live link at `r` as going away with everything that goes with it: its
    /// veth peer and, recursively, the links of its namespace stacked on it.
    fn mark_gone(&mut self, r: &LinkRef, link: &Link) {
        if !self.deleted.insert(r.clone()) {
            return;
        }
        if let Some(p) = link.kind.peer() {
            match self.live_ns(&p.ns).and_then(|n| n.links.get(&p.name)) {
                Some(pl) => self.mark_gone(p, pl),
                None => {
                    self.deleted.insert(p.clone());
                }
            }
        }
        let Some(lns) = self.live_ns(&r.ns) else {
            return;
        };
        for (name, upper) in &lns.links {
            if upper.kind.lower() == Some(r.name.as_str()) {
                self.mark_gone(&LinkRef::new(&r.ns, name), upper);
            }
        }
    }

    /// Deletes the live link at `r` (and with it what goes with it), once.
    pub(super) fn delete_link(&mut self, r: &LinkRef, link: &Link) {
        if self.deleted.contains(r) {
            return;
        }
        self.mark_gone(r, link);
        self.changes.push(Change::DeleteLink {
            ns: r.ns.clone(),
            name: r.name.clone(),
            link: Box::new(link.clone()),
        });
    }

    /// Deletes the live veth pair (or plain link) that `r` belongs to, from an end whose
    /// namespace survives.
    fn delete_live_pair(&mut self, r: &LinkRef, link: &Link) {
        let mut end = (r.clone(), link);
        if let Some(p) = link.kind.peer()
            && self.survives(&p.ns)
            && let Some(pl) = self.live_link(p)
            && self.primary_first(r, p).0 == p
        {
            end = (p.clone(), pl);
        }
        self.delete_link(&end.0, end.1);
    }

    /// The desired peer of a desired veth end, if the two ends point at each other.
    fn desired_pair(&self, r: &LinkRef, link: &'a Link) -> Option<&'a LinkRef> {
        let p = link.kind.peer()?;
        let pl = self.desired.namespaces.get(&p.ns)?.links.get(&p.name)?;
        (pl.kind.peer()? == r).then_some(p)
    }

    /// Veth pairs, each once (from its primary end): recreated as a unit when either end
    /// is missing or has another kind or peer live.
    pub(super) fn veth_pairs(&mut self) {
        let desired = self.desired;
        for (ns, dns) in &desired.namespaces {
            for (name, dl) in &dns.links {
                let a = LinkRef::new(ns, name);
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
                    link: Box::new(Link::clone(dl)),
                    peer: Some(Box::new(PeerEnd {
                        at: b.clone(),
                        link: Link::clone(bl),
                    })),
                });
            }
        }
    }

    /// Links other than paired veths (which `veth_pairs` handled) in one namespace, and
    /// the in-place updates of every link. Stacked links come last: whether they survive
    /// depends on the links they sit on.
    pub(super) fn links(&mut self, ns: &str, dns: &'a Namespace) {
        let (plain, stacked): (Vec<_>, Vec<_>) = dns
            .links
            .iter()
            .partition(|(_, l)| l.kind.lower().is_none());
        for (name, dl) in plain.into_iter().chain(stacked) {
            let r = LinkRef::new(ns, name);
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
                Some(ll)
                    if std::mem::discriminant(&ll.kind) == std::mem::discriminant(&dl.kind)
                        && ll.kind.changes_in_place(&dl.kind) =>
                {
                    self.update_link(&r, ll, dl)
                }
                _ => {
                    if let Some(ll) = ll {
                        self.delete_live_pair(&r, ll);
                    }
                    self.created.insert(r.clone());
                    self.changes.push(Change::AddLink {
                        ns: ns.to_string(),
                        name: name.clone(),
                        link: Box::new(Link::clone(dl)),
                        peer: None,
                    });
                }
            }
        }
        let Some(lns) = self.live_ns(ns) else {
            return;
        };
        // Undeclared links: plain ones first, so that a stacked link whose lower link
        // goes is not deleted twice.
        let mut undeclared: Vec<(&String, &Box<Link>)> = lns
            .links
            .iter()
            .filter(|(name, l)| !dns.links.contains_key(*name) && l.kind != LinkKind::Loopback)
            .collect();
        undeclared.sort_by_key(|(_, l)| l.kind.lower().is_some());
        for (name, ll) in undeclared {
            let r = LinkRef::new(ns, name);
            if !self.deleted.contains(&r) {
                self.delete_live_pair(&r, ll);
            }
        }
    }

    fn update_link(&mut self, r: &LinkRef, live: &Link, want: &Link) {
        let differs = (want.mtu.is_some() && want.mtu != live.mtu)
            || want.up != live.up
            || want.master != live.master
            || (want.mac.is_some() && want.mac != live.mac)
            || live.kind.attrs_differ(&want.kind);
        if differs {
            self.changes.push(Change::UpdateLink {
                ns: r.ns.clone(),
                name: r.name.clone(),
                from: Box::new(live.clone()),
                to: Box::new(want.clone()),
            });
        }
    }

    /// Whether the link `ns`/`name` is going away or being (re)created: objects on it
    /// vanish with the old link.
    pub(super) fn replaced(&self, ns: &str, name: &str) -> bool {
        let r = LinkRef::new(ns, name);
        self.deleted.contains(&r) || self.created.contains(&r)
    }
}
