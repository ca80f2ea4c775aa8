//! What a node reaches without a gateway, as the kernel sees it when it adds a route:
//! the subnets of its interfaces that are up (connected routes, in main), its own IPv4
//! addresses and `127.0.0.0/8` (local routes), and its routes with `dev` and no `via`
//! (scope link), by table. The kernel resolves a route's gateway through these only:
//! a gateway reached through another gateway is refused ("Nexthop has invalid gateway"
//! for IPv4, "No route to host" for IPv6), so one step reaches the fixpoint.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::prefixes::PrefixMap;
use crate::state::RT_TABLE_MAIN;

/// One way to reach a prefix directly.
#[derive(Clone, Copy, Debug)]
pub(super) struct Direct<'a> {
    /// The table it is in (main for connected and local routes).
    pub(super) table: u32,
    pub(super) dev: &'a str,
    /// Whether `dev` is up (a way through a down link does not exist in the kernel).
    pub(super) up: bool,
}

/// How the kernel would resolve a gateway.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Resolved<'a> {
    /// Through this link, which is up.
    Dev(&'a str),
    /// Only through a link that is down (with `dev`: that link).
    Down(&'a str),
    /// Only through links other than the route's `dev`: the first of them.
    OtherDev(&'a str, IpNet),
    Unreachable,
}

/// The node's direct reach.
#[derive(Default)]
pub(super) struct Reach<'a> {
    by_prefix: PrefixMap<Direct<'a>>,
    /// The node's own addresses (IPv6 gateways cannot be one).
    own: HashSet<IpAddr>,
    /// The node's routes with a gateway, by table: they reach no gateway.
    via_gateway: PrefixMap<u32>,
}

impl<'a> Reach<'a> {
    /// An interface `dev` with its addresses.
    pub(super) fn interface(&mut self, dev: &'a str, up: bool, addrs: &[IpNet]) {
        for a in addrs {
            let direct = Direct {
                table: RT_TABLE_MAIN,
                dev,
                up,
            };
            self.by_prefix.insert(a.trunc(), direct);
            if let IpAddr::V4(v4) = a.addr() {
                self.by_prefix
                    .insert(IpNet::from(ipnet::Ipv4Net::from(v4)), direct);
            }
            self.own.insert(a.addr());
        }
    }

    /// The loopback, with `127.0.0.0/8` local.
    pub(super) fn loopback(&mut self) {
        let net: IpNet = "127.0.0.0/8".parse().expect("a prefix");
        self.by_prefix.insert(
            net,
            Direct {
                table: RT_TABLE_MAIN,
                dev: "lo",
                up: true,
            },
        );
    }

    /// A route out of `dev` without gateway.
    pub(super) fn route(&mut self, table: u32, dst: IpNet, dev: &'a str, up: bool) {
        self.by_prefix.insert(dst, Direct { table, dev, up });
    }

    /// A route with a gateway (which reaches no other gateway).
    pub(super) fn gateway_route(&mut self, table: u32, dst: IpNet) {
        self.via_gateway.insert(dst, table);
    }

    /// The longest route with a gateway a route of `table` would need to reach `gw`
    /// through, if there is one: the kernel does not resolve gateways that way.
    pub(super) fn only_through_gateway(&self, gw: IpAddr, table: u32) -> Option<IpNet> {
        self.via_gateway
            .containing(gw)
            .find(|(_, tables)| tables.iter().any(|&t| t == table || t == RT_TABLE_MAIN))
            .map(|(p, _)| p)
    }

    /// A route with `dev` of a table other than `table` and main that holds `gw`: a
    /// route of `table` does not look there.
    pub(super) fn in_other_table(&self, gw: IpAddr, table: u32) -> Option<(IpNet, u32)> {
        self.by_prefix.containing(gw).find_map(|(p, ways)| {
            ways.iter()
                .find(|w| w.table != table && w.table != RT_TABLE_MAIN && w.up)
                .map(|w| (p, w.table))
        })
    }

    pub(super) fn is_own(&self, ip: IpAddr) -> bool {
        self.own.contains(&ip)
    }

    /// The ways to `gw` a route of `table` can use, longest prefix first.
    pub(super) fn ways(&self, gw: IpAddr, table: u32) -> impl Iterator<Item = (IpNet, Direct<'a>)> {
        self.by_prefix.containing(gw).flat_map(move |(p, ways)| {
            ways.iter()
                .filter(move |w| w.table == table || w.table == RT_TABLE_MAIN)
                .map(move |w| (p, *w))
        })
    }

    /// How the kernel resolves gateway `gw` of a route of `table` (out of `dev`, when
    /// the route names one).
    pub(super) fn resolve(&self, gw: IpAddr, table: u32, dev: Option<&str>) -> Resolved<'a> {
        let mut down = None;
        let mut other = None;
        for (p, w) in self.ways(gw, table) {
            let on_dev = dev.is_none_or(|d| d == w.dev);
            match (on_dev, w.up) {
                (true, true) => return Resolved::Dev(w.dev),
                (true, false) => down = down.or(Some(w.dev)),
                (false, true) => other = other.or(Some((w.dev, p))),
                (false, false) => {}
            }
        }
        match (down, other) {
            (Some(d), _) => Resolved::Down(d),
            (None, Some((d, p))) => Resolved::OtherDev(d, p),
            (None, None) => Resolved::Unreachable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn gateways_resolve_as_the_kernel_resolves_them() {
        let mut r = Reach::default();
        r.interface("eth0", true, &[net("10.1.1.1/24"), net("fd00:1::1/64")]);
        r.interface("eth1", false, &[net("10.2.2.1/24")]);
        r.interface("ifb0", true, &[net("192.0.2.1/32")]);
        r.loopback();
        r.route(100, net("10.50.0.0/16"), "eth0", true);
        r.route(RT_TABLE_MAIN, net("10.30.0.0/16"), "eth0", true);
        assert_eq!(r.resolve(ip("10.1.1.5"), 254, None), Resolved::Dev("eth0"));
        assert_eq!(r.resolve(ip("10.2.2.5"), 254, None), Resolved::Down("eth1"));
        assert_eq!(
            r.resolve(ip("10.1.1.5"), 254, Some("eth1")),
            Resolved::OtherDev("eth0", net("10.1.1.0/24"))
        );
        // Own IPv4 addresses are local routes, /32 ones included.
        assert_eq!(r.resolve(ip("192.0.2.1"), 254, None), Resolved::Dev("ifb0"));
        assert_eq!(r.resolve(ip("10.1.1.1"), 254, None), Resolved::Dev("eth0"));
        // Routes without gateway: their own table, or main.
        assert_eq!(r.resolve(ip("10.50.0.1"), 100, None), Resolved::Dev("eth0"));
        assert_eq!(r.resolve(ip("10.50.0.1"), 254, None), Resolved::Unreachable);
        assert_eq!(r.resolve(ip("10.30.0.1"), 200, None), Resolved::Dev("eth0"));
        assert_eq!(
            r.resolve(ip("127.0.0.2"), 254, Some("lo")),
            Resolved::Dev("lo")
        );
        assert_eq!(r.resolve(ip("fd00:1::5"), 254, None), Resolved::Dev("eth0"));
        assert!(r.is_own(ip("fd00:1::1")));
    }
}
