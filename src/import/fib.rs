//! A model of one router's IPv4/IPv6 FIB, as much of it as the kernel consults when it
//! accepts a route (`fib_check_nh` in `net/ipv4/fib_semantics.c`): a gateway is looked
//! up in the route's own table (unless that is main), then through the rules a
//! namespace has while its routes are added (only the kernel's three: local, main,
//! default; nshost adds rules after routes), among routes of scope link or narrower
//! only (so never through another gateway), out of the route's `dev` when it names one;
//! what it finds must be a unicast or local route on a link that is up. A `src` must
//! be an address of the router; a device must exist.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::facts::{InterfaceFact, RouteFact, RouteType};
use crate::state::RT_TABLE_MAIN;

const RT_TABLE_DEFAULT: u32 = 253;
const RT_TABLE_LOCAL: u32 = 255;
const SCOPE_UNIVERSE: u8 = 0;
const SCOPE_LINK: u8 = 253;
const SCOPE_HOST: u8 = 254;

/// What a FIB entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unicast,
    Local,
    Broadcast,
    /// blackhole, unreachable, prohibit, throw: a lookup that meets one fails.
    Reject,
}

#[derive(Clone, Debug)]
struct Entry {
    dst: IpNet,
    scope: u8,
    kind: Kind,
    dev: Option<String>,
    metric: u32,
}

/// Why the kernel refuses a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It names a device the router lacks (`Cannot find device`).
    NoDevice(String),
    /// Its device is down (`Device for nexthop is not up`).
    DeviceDown(String),
    /// Its gateway is on no route of scope link the kernel looks through (`Nexthop has
    /// invalid gateway`); the text says where the kernel looked.
    Gateway { gw: IpAddr, detail: String },
    /// Its `src` is no address of the router (`Invalid prefsrc address`).
    Source(IpAddr),
    /// A unicast route with neither gateway nor device.
    NoNexthop,
    /// The same route (table, destination, metric and next hops) is already there
    /// (`File exists`).
    Duplicate,
}

/// One router's FIB while its routes are added.
pub struct Fib {
    tables: BTreeMap<u32, Vec<Entry>>,
    /// Device name to whether it is up.
    devs: HashMap<String, bool>,
    own: HashSet<IpAddr>,
    /// Routes accepted so far: (table, dst, metric, next hops as text).
    added: HashSet<(u32, IpNet, u32, String)>,
}

impl Fib {
    /// The FIB of a router whose links are `interfaces` (with `lo`), before any route
    /// of its own: the local table (its addresses, their broadcast addresses,
    /// `127.0.0.0/8`) and main's connected routes.
    pub fn new(interfaces: &[InterfaceFact]) -> Fib {
        let mut fib = Fib {
            tables: BTreeMap::new(),
            devs: HashMap::from([("lo".to_string(), true)]),
            own: HashSet::new(),
            added: HashSet::new(),
        };
        fib.entry(
            RT_TABLE_LOCAL,
            "127.0.0.0/8".parse().unwrap(),
            SCOPE_HOST,
            Kind::Local,
            "lo",
        );
        for i in interfaces {
            fib.devs.insert(i.name.clone(), i.up || i.loopback);
            for a in &i.addresses {
                fib.own.insert(a.net.addr());
                let host = IpNet::from(a.net.addr());
                fib.entry(RT_TABLE_LOCAL, host, SCOPE_HOST, Kind::Local, &i.name);
                if !i.up || i.loopback {
                    continue;
                }
                if let (IpNet::V4(v4), true) = (a.net, a.net.prefix_len() < 31) {
                    let brd = a.broadcast.unwrap_or(IpAddr::V4(v4.broadcast()));
                    fib.entry(
                        RT_TABLE_LOCAL,
                        IpNet::from(brd),
                        SCOPE_LINK,
                        Kind::Broadcast,
                        &i.name,
                    );
                }
                if a.net.trunc() != host || a.net.prefix_len() < a.net.max_prefix_len() {
                    fib.entry(
                        RT_TABLE_MAIN,
                        a.net.trunc(),
                        SCOPE_LINK,
                        Kind::Unicast,
                        &i.name,
                    );
                }
            }
        }
        fib
    }

    fn entry(&mut self, table: u32, dst: IpNet, scope: u8, kind: Kind, dev: &str) {
        self.tables.entry(table).or_default().push(Entry {
            dst,
            scope,
            kind,
            dev: Some(dev.to_string()),
            metric: 0,
        });
    }

    /// Whether the router owns `ip` (one of its addresses, or in `127.0.0.0/8`).
    pub fn is_own(&self, ip: IpAddr) -> bool {
        self.own.contains(&ip) || matches!(ip, IpAddr::V4(v4) if v4.is_loopback())
    }

    /// Whether the router has a device of this name.
    pub fn has_device(&self, dev: &str) -> bool {
        self.devs.contains_key(dev)
    }

    /// Adds `route`, if the kernel would: the reason when it would not.
    pub fn add(&mut self, route: &RouteFact) -> Result<(), Refusal> {
        self.check(route)?;
        let key = (
            route.table,
            route.dst,
            route.metric.unwrap_or(0),
            format!(
                "{:?}{:?}{:?}{:?}",
                route.kind, route.via, route.dev, route.nexthops
            ),
        );
        if !self.added.insert(key) {
            return Err(Refusal::Duplicate);
        }
        let kind = match route.kind {
            RouteType::Unicast => Kind::Unicast,
            RouteType::Other(_) => return Ok(()),
            _ => Kind::Reject,
        };
        let scope = scope_of(route);
        let dev = route
            .dev
            .clone()
            .or_else(|| route.nexthops.first().and_then(|h| h.dev.clone()));
        self.tables.entry(route.table).or_default().push(Entry {
            dst: route.dst,
            scope,
            kind,
            dev,
            metric: route.metric.unwrap_or(0),
        });
        Ok(())
    }

    /// Why the kernel would refuse `route` now, if it would.
    pub fn check(&self, route: &RouteFact) -> Result<(), Refusal> {
        for dev in route.devices() {
            if !self.has_device(dev) {
                return Err(Refusal::NoDevice(dev.to_string()));
            }
        }
        if route.kind == RouteType::Unicast {
            let scope = scope_of(route);
            if route.nexthops.is_empty() {
                self.check_hop(route, route.via, route.dev.as_deref(), scope)?;
            }
            for hop in &route.nexthops {
                self.check_hop(route, hop.via, hop.dev.as_deref(), scope)?;
            }
        }
        if let Some(src) = route.src
            && !self.is_own(src)
        {
            return Err(Refusal::Source(src));
        }
        Ok(())
    }

    fn check_hop(
        &self,
        route: &RouteFact,
        via: Option<IpAddr>,
        dev: Option<&str>,
        scope: u8,
    ) -> Result<(), Refusal> {
        let Some(gw) = via else {
            let dev = dev.ok_or(Refusal::NoNexthop)?;
            return if self.devs[dev] {
                Ok(())
            } else {
                Err(Refusal::DeviceDown(dev.to_string()))
            };
        };
        if route.onlink {
            let dev = dev.ok_or(Refusal::NoNexthop)?;
            return if self.devs[dev] {
                Ok(())
            } else {
                Err(Refusal::DeviceDown(dev.to_string()))
            };
        }
        let min_scope = scope.saturating_add(1).max(SCOPE_LINK);
        let mut found = None;
        if route.table != RT_TABLE_MAIN {
            found = self.lookup(route.table, gw, dev, min_scope);
        }
        // On an error, or with no table of its own, the kernel looks through the rules.
        if !matches!(found, Some(Ok(_))) {
            found = [RT_TABLE_LOCAL, RT_TABLE_MAIN, RT_TABLE_DEFAULT]
                .into_iter()
                .find_map(|t| self.lookup(t, gw, dev, min_scope));
        }
        match found {
            Some(Ok((Kind::Unicast | Kind::Local, out))) => match out {
                Some(d) if !self.devs.get(&d).copied().unwrap_or(false) => {
                    Err(Refusal::DeviceDown(d))
                }
                _ => Ok(()),
            },
            other => {
                let what = match other {
                    Some(Ok((Kind::Broadcast, _))) => "is a broadcast address",
                    Some(_) => "meets a blackhole, unreachable, prohibit or throw route",
                    None => "is on no route of scope link",
                };
                let tables = if route.table == RT_TABLE_MAIN {
                    "local and main".to_string()
                } else {
                    format!("table {}, local and main", route.table)
                };
                let through = dev.map(|d| format!(" through {d}")).unwrap_or_default();
                Err(Refusal::Gateway {
                    gw,
                    detail: format!("{gw} {what}{through} in {tables}"),
                })
            }
        }
    }

    /// `fib_table_lookup`: the longest prefix holding `ip` with an entry of scope
    /// `min_scope` or narrower (out of `oif`, when given). None when there is none
    /// (`-EAGAIN`); an error for a rejecting entry.
    #[allow(clippy::type_complexity)]
    fn lookup(
        &self,
        table: u32,
        ip: IpAddr,
        oif: Option<&str>,
        min_scope: u8,
    ) -> Option<Result<(Kind, Option<String>), ()>> {
        let entries = self.tables.get(&table)?;
        let mut hits: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.dst.contains(&ip) && e.scope >= min_scope)
            .collect();
        hits.sort_by_key(|e| (std::cmp::Reverse(e.dst.prefix_len()), e.metric));
        for e in hits {
            if e.kind == Kind::Reject {
                return Some(Err(()));
            }
            if let Some(o) = oif
                && e.dev.as_deref() != Some(o)
            {
                continue;
            }
            return Some(Ok((e.kind, e.dev.clone())));
        }
        None
    }
}

/// A route's scope as the kernel stores it: as written, else iproute2's default (link
/// for a unicast route without gateway, host for local, universe otherwise).
pub fn scope_of(route: &RouteFact) -> u8 {
    if let Some(s) = route.scope.as_deref().and_then(scope_number) {
        return s;
    }
    let gateway = route.via.is_some() || route.nexthops.iter().any(|h| h.via.is_some());
    match route.kind {
        RouteType::Unicast if !gateway => SCOPE_LINK,
        RouteType::Other(ref k) if k == "local" => SCOPE_HOST,
        _ => SCOPE_UNIVERSE,
    }
}

/// A scope name or number.
pub fn scope_number(text: &str) -> Option<u8> {
    match text {
        "global" | "universe" => Some(SCOPE_UNIVERSE),
        "site" => Some(200),
        "link" => Some(SCOPE_LINK),
        "host" => Some(SCOPE_HOST),
        "nowhere" => Some(255),
        n => n.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::facts::{AddressFact, At};

    fn at() -> At {
        At {
            file: "r_facts.txt".into(),
            line: 1,
        }
    }

    fn link(name: &str, up: bool, addr: &str) -> InterfaceFact {
        InterfaceFact {
            name: name.into(),
            mtu: Some(1500),
            up,
            mac: None,
            loopback: false,
            point_to_point: false,
            addresses: vec![AddressFact {
                net: addr.parse().unwrap(),
                broadcast: None,
                at: at(),
            }],
            at: at(),
        }
    }

    fn route(table: u32, text: &str) -> RouteFact {
        let lines = vec![(1, text.to_string())];
        let (mut r, bad) = crate::import::iproute::routes("r_facts.txt", table, &lines);
        assert!(bad.is_empty(), "{text}");
        r.remove(0)
    }

    fn fib() -> Fib {
        Fib::new(&[
            link("eth0", true, "10.0.0.1/24"),
            link("eth1", false, "10.0.1.1/24"),
        ])
    }

    #[test]
    fn gateways_as_fib_check_nh_resolves_them() {
        let mut f = fib();
        assert_eq!(f.add(&route(254, "10.9.0.0/16 via 10.0.0.254")), Ok(()));
        // Through another gateway: never (the lookup wants scope link).
        assert!(matches!(
            f.add(&route(254, "10.8.0.0/16 via 10.9.0.1")),
            Err(Refusal::Gateway { .. })
        ));
        // Out of a dev the gateway is not on.
        assert!(matches!(
            f.add(&route(254, "10.7.0.0/16 via 10.0.0.254 dev lo")),
            Err(Refusal::Gateway { .. })
        ));
        // A link that is down has no connected route.
        assert!(matches!(
            f.add(&route(254, "10.6.0.0/16 via 10.0.1.9")),
            Err(Refusal::Gateway { .. })
        ));
        // The subnet's broadcast address is a broadcast route of the local table.
        assert!(matches!(
            f.add(&route(254, "10.5.0.0/16 via 10.0.0.255")),
            Err(Refusal::Gateway { .. })
        ));
        // An own address is a local route: accepted.
        assert_eq!(f.add(&route(254, "10.4.0.0/16 via 10.0.0.1")), Ok(()));
        // A dev route of table 100 reaches a gateway for table 100 only.
        assert_eq!(f.add(&route(100, "172.16.0.0/24 dev eth0")), Ok(()));
        assert_eq!(f.add(&route(100, "default via 172.16.0.1")), Ok(()));
        assert!(matches!(
            f.add(&route(200, "default via 172.16.0.1")),
            Err(Refusal::Gateway { .. })
        ));
        // A table's lookup fails over to local and main.
        assert_eq!(
            f.add(&route(200, "10.3.0.0/16 via 10.0.0.254 dev eth0")),
            Ok(())
        );
        // An unreachable route of the table (scope universe) is no way to a gateway,
        // and its lookup does not stop there.
        assert_eq!(f.add(&route(300, "unreachable 10.0.0.0/24")), Ok(()));
        assert_eq!(f.add(&route(300, "10.2.0.0/16 via 10.0.0.254")), Ok(()));
        // The same route twice: File exists.
        assert_eq!(
            f.add(&route(254, "10.9.0.0/16 via 10.0.0.254")),
            Err(Refusal::Duplicate)
        );
    }

    #[test]
    fn devices_and_sources() {
        let mut f = fib();
        assert_eq!(
            f.add(&route(254, "10.1.0.0/16 dev eth9")),
            Err(Refusal::NoDevice("eth9".into()))
        );
        assert_eq!(
            f.add(&route(254, "10.1.0.0/16 dev eth1")),
            Err(Refusal::DeviceDown("eth1".into()))
        );
        assert_eq!(
            f.add(&route(254, "10.1.0.0/16 dev eth0 src 10.0.1.2")),
            Err(Refusal::Source("10.0.1.2".parse().unwrap()))
        );
        // Any address of the router will do, on any link, and the loopback's.
        assert_eq!(
            f.add(&route(254, "10.1.0.0/16 dev eth0 src 10.0.1.1")),
            Ok(())
        );
        assert_eq!(
            f.add(&route(100, "10.1.0.0/16 dev eth0 src 127.0.0.5")),
            Ok(())
        );
        assert_eq!(f.add(&route(254, "blackhole 10.2.0.0/16")), Ok(()));
    }
}
