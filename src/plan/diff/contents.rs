//! The last pass of the diff: addresses, routes, rules and settings of one namespace,
//! knowing which links are (re)created or deleted.
//!
//! A live route the kernel flushes before the route phase (its link is deleted, or its
//! link loses its last IPv4 address) is re-added with `AddRoute` if desired, and not
//! deleted if not. Routes that share table, destination and metric (`ip route append`)
//! are compared as a group, in order: the live routes that are the first desired ones,
//! in order, stay, the other live ones are deleted, and the desired ones left are
//! appended after them.
//!
//! Routes, rules and addresses of a protocol the lab does not own (a routing daemon's,
//! see [`crate::state::Protocols`]) are never deleted or replaced.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use crate::plan::Change;
use crate::plan::diff::Differ;
use crate::state::settings::normalize;
use crate::state::{Namespace, Route, RouteKey};

/// What deciding whether a live route survives needs to know about its namespace.
struct RouteCx<'n> {
    live: &'n Namespace,
    desired: &'n Namespace,
    stripped: BTreeSet<&'n str>,
}

fn is_v4(net: &IpNet) -> bool {
    matches!(net, IpNet::V4(_))
}

/// Whether a live route is what the desired one says (an unset desired device is
/// whatever the kernel resolved).
fn same_route(want: &Route, have: &Route) -> bool {
    want.gateway == have.gateway
        && want.proto == have.proto
        && (want.dev.is_none() || want.dev == have.dev)
        && want.kind == have.kind
        && want.scope == have.scope
        && want.src == have.src
        && want.onlink == have.onlink
        && want.nexthops.len() == have.nexthops.len()
        && want.nexthops.iter().zip(&have.nexthops).all(|(w, h)| {
            w.gateway == h.gateway && w.weight == h.weight && (w.dev.is_none() || w.dev == h.dev)
        })
}

type Group = (u32, IpNet, u32);
/// The desired and the live routes of one group, in order.
type Routes<'a> = (
    Vec<(&'a RouteKey, &'a Route)>,
    Vec<(&'a RouteKey, &'a Route)>,
);

impl<'a> Differ<'a> {
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
    /// (the link of any of its next hops: IPv4 drops a multipath route whole, IPv6 the
    /// next hop, which leaves a route that differs) is deleted, or (IPv4) loses its
    /// last IPv4 address (`stripped`). `want` is the desired route of the same key, if
    /// any, used when the live route's link cannot be told.
    fn flushed(
        &self,
        ns: &str,
        cx: &RouteCx<'_>,
        key: &RouteKey,
        lr: &Route,
        want: Option<&Route>,
    ) -> bool {
        let gone =
            |dev: &str| self.replaced(ns, dev) || (is_v4(&key.dst) && cx.stripped.contains(dev));
        if lr
            .nexthops
            .iter()
            .any(|h| h.dev.as_deref().is_some_and(gone))
        {
            return true;
        }
        match Self::egress(cx.live, lr) {
            Some(dev) => gone(dev),
            None => want
                .and_then(|w| Self::egress(cx.desired, w))
                .is_some_and(|dev| self.created.contains(&crate::state::LinkRef::new(ns, dev))),
        }
    }

    /// Links of `ns` that end up without any IPv4 address after having some: the
    /// kernel flushes their IPv4 routes when the last one goes. (Addresses are added
    /// before any is deleted, so a link with a desired address never gets there.)
    fn stripped<'n>(lns: &'n Namespace, dns: &Namespace) -> BTreeSet<&'n str> {
        let keeps: BTreeSet<&str> = dns
            .addresses
            .keys()
            .filter(|k| is_v4(&k.addr))
            .map(|k| k.ifname.as_str())
            .collect();
        lns.addresses
            .keys()
            .filter(|k| is_v4(&k.addr) && !keeps.contains(k.ifname.as_str()))
            .map(|k| k.ifname.as_str())
            .collect()
    }

    /// Addresses, routes, rules and settings of one namespace.
    pub(super) fn contents(&mut self, ns: &str, dns: &'a Namespace) {
        let empty = Namespace::default();
        let lns = self.live_ns(ns).unwrap_or(&empty);
        let cx = RouteCx {
            live: lns,
            desired: dns,
            stripped: Self::stripped(lns, dns),
        };
        let mut out = Vec::new();
        let name = || ns.to_string();

        for (key, address) in &dns.addresses {
            if self.replaced(ns, &key.ifname) || !lns.addresses.contains_key(key) {
                out.push(Change::AddAddress {
                    ns: name(),
                    key: key.clone(),
                    address: address.clone(),
                });
            }
        }
        for (key, address) in &lns.addresses {
            if !dns.addresses.contains_key(key)
                && !self.replaced(ns, &key.ifname)
                && dns.protocols.owns(address.proto)
            {
                out.push(Change::DeleteAddress {
                    ns: name(),
                    key: key.clone(),
                    address: address.clone(),
                });
            }
        }

        self.routes(ns, &cx, &mut out);

        // The firewall as a whole: its loaders replace each part atomically.
        if dns.firewall != lns.firewall {
            out.push(Change::SetFirewall {
                ns: name(),
                from: lns.firewall.clone(),
                to: dns.firewall.clone(),
            });
        }

        for rule in dns.rules.difference(&lns.rules) {
            out.push(Change::AddRule {
                ns: name(),
                rule: Box::new(rule.clone()),
            });
        }
        for rule in lns
            .rules
            .difference(&dns.rules)
            .filter(|r| dns.protocols.owns(r.proto))
        {
            out.push(Change::DeleteRule {
                ns: name(),
                rule: Box::new(rule.clone()),
            });
        }

        for (key, value) in &dns.sysctls {
            let have = lns.sysctls.get(key);
            if have.map(|h| normalize(h)).as_ref() != Some(value) {
                out.push(Change::SetSysctl {
                    ns: name(),
                    key: key.clone(),
                    from: have.cloned(),
                    to: value.clone(),
                });
            }
        }
        for (ifname, link) in &dns.links {
            let live = (!self.replaced(ns, ifname))
                .then(|| lns.links.get(ifname))
                .flatten();
            let have = live.and_then(|l| l.qdisc.as_ref());
            let wanted = link.qdisc.as_ref();
            // `None` wanted takes away the lab's kind of qdisc (live has no other).
            if have != wanted {
                out.push(Change::SetQdisc {
                    ns: name(),
                    link: ifname.clone(),
                    from: have.cloned(),
                    to: wanted.cloned(),
                });
            }
            for (setting, value) in &link.settings {
                let have = live.and_then(|l| l.settings.get(setting));
                if have.map(|h| normalize(h)).as_ref() != Some(value) {
                    out.push(Change::SetLinkSetting {
                        ns: name(),
                        link: ifname.clone(),
                        setting: setting.clone(),
                        from: have.cloned(),
                        to: value.clone(),
                    });
                }
            }
        }
        self.changes.extend(out);
    }

    /// The routes of one namespace, group by group (see the module docs).
    fn routes(&self, ns: &str, cx: &RouteCx<'_>, out: &mut Vec<Change>) {
        let mut groups: BTreeMap<Group, Routes<'_>> = BTreeMap::new();
        for (key, route) in &cx.desired.routes {
            groups.entry(key.group()).or_default().0.push((key, route));
        }
        // Another program's routes (a routing daemon's) are left alone; one that
        // shares a desired route's group is a conflict, found before.
        for (key, route) in &cx.live.routes {
            if cx.desired.protocols.owns(route.proto) {
                groups.entry(key.group()).or_default().1.push((key, route));
            }
        }
        let name = || ns.to_string();
        for (want, have) in groups.values() {
            let first_want = want.first().map(|(_, r)| *r);
            let have: Vec<(&RouteKey, &Route)> = have
                .iter()
                .filter(|(key, lr)| !self.flushed(ns, cx, key, lr, first_want))
                .copied()
                .collect();
            if want.len() <= 1 && have.len() <= 1 {
                match (want.first(), have.first()) {
                    (Some((key, w)), Some((_, h))) => {
                        if !same_route(w, h) {
                            out.push(Change::ReplaceRoute {
                                ns: name(),
                                key: (*key).clone(),
                                from: Box::new((*h).clone()),
                                to: Box::new((*w).clone()),
                            });
                        }
                    }
                    (Some((key, w)), None) => out.push(Change::AddRoute {
                        ns: name(),
                        key: (*key).clone(),
                        route: Box::new((*w).clone()),
                    }),
                    (None, Some((key, h))) => out.push(Change::DeleteRoute {
                        ns: name(),
                        key: (*key).clone(),
                        route: Box::new((*h).clone()),
                    }),
                    (None, None) => {}
                }
                continue;
            }
            // The live routes that are the desired ones in order stay; the others go,
            // and the desired ones left are appended after them (the kernel appends at
            // the end of a group).
            let mut kept = 0;
            for (key, h) in &have {
                if want.get(kept).is_some_and(|(_, w)| same_route(w, h)) {
                    kept += 1;
                    continue;
                }
                out.push(Change::DeleteRoute {
                    ns: name(),
                    key: (*key).clone(),
                    route: Box::new((*h).clone()),
                });
            }
            for (key, w) in &want[kept..] {
                out.push(Change::AddRoute {
                    ns: name(),
                    key: (*key).clone(),
                    route: Box::new((*w).clone()),
                });
            }
        }
    }
}
