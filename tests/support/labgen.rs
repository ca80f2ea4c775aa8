//! The benchmark's reference lab, generated for any number of hosts: 4 routers `r0..r3`
//! in a full mesh of point-to-point /30 networks with static routes to every other
//! router's LAN, one LAN per router, and hosts `h0..h(N-1)` spread round-robin over the
//! routers. [`GenLab::to_yaml`] writes it as an nshost lab file; the plain fields let
//! other tools (the benchmark's `ip` baselines, tests) build or check the same lab.
//!
//! Addresses: the link between routers `a < b` is network `ra-rb`, `10.255.L.0/30` with
//! `ra` on `.1` and `rb` on `.2` (L numbers the links in order: r0-r1, r0-r2, r0-r3,
//! r1-r2, r1-r3, r2-r3). Router `r`'s LAN is `lanR`, `10.(r+1).0.0/24` with the router
//! on `.1`, widened to `/16` when its hosts no longer fit; host `i` sits on router `i % 4`
//! with the `(i / 4 + 2)`th address of that LAN.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// `a` plus `n`, as an address.
fn u32_add(a: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a) + n)
}

/// Number of routers.
pub const ROUTERS: usize = 4;

/// Interface name of each host (nshost's default).
pub const HOST_IFNAME: &str = "eth0";

/// Interface name of each router on its LAN.
pub const LAN_IFNAME: &str = "lan";

/// The last address a LAN keeps free for [`GenLab::spare_address`].
const SPARE: u32 = 254;

/// An L2 network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenNetwork {
    pub name: String,
    pub subnet: Ipv4Net,
}

/// A router interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenInterface {
    pub name: String,
    pub network: String,
    /// Address with the network's prefix length.
    pub address: Ipv4Net,
}

/// A router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenRouter {
    pub name: String,
    /// The LAN interface first, then the links to the other routers in router order.
    pub interfaces: Vec<GenInterface>,
    /// Static routes: destination and gateway.
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
}

/// A host: one interface (`eth0`) on its router's LAN, a default route via the router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenHost {
    pub name: String,
    /// Index of its router in [`GenLab::routers`].
    pub router: usize,
    pub network: String,
    pub address: Ipv4Net,
    pub gateway: Ipv4Addr,
}

/// The whole lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenLab {
    pub name: String,
    /// LANs `lan0..lan3` first, then the six router links.
    pub networks: Vec<GenNetwork>,
    pub routers: Vec<GenRouter>,
    pub hosts: Vec<GenHost>,
}

/// The router pairs of the full mesh, in link order.
pub fn router_links() -> Vec<(usize, usize)> {
    let mut links = Vec::new();
    for a in 0..ROUTERS {
        for b in a + 1..ROUTERS {
            links.push((a, b));
        }
    }
    links
}

/// The `offset`th address of router `r`'s LAN (offset 1 is the router).
fn lan_address(r: usize, offset: u32, prefix: u8) -> Ipv4Net {
    let base = u32::from(Ipv4Addr::new(10, r as u8 + 1, 0, 0));
    Ipv4Net::new(Ipv4Addr::from(base + offset), prefix).expect("valid prefix")
}

impl GenLab {
    /// The lab `name` with `hosts` hosts. The LANs are sized so that one more host per
    /// router and [`spare_address`](Self::spare_address) still fit.
    pub fn new(name: &str, hosts: usize) -> Self {
        let per_router = hosts.div_ceil(ROUTERS) as u32 + 1;
        // Offsets 2..=per_router+1 for hosts, SPARE kept free, in a /24 while they fit.
        let prefix = if per_router + 1 < SPARE { 24 } else { 16 };
        assert!(
            per_router + 1 < 65_000,
            "too many hosts for a /16 per router"
        );

        let mut networks: Vec<GenNetwork> = (0..ROUTERS)
            .map(|r| GenNetwork {
                name: format!("lan{r}"),
                subnet: lan_address(r, 0, prefix),
            })
            .collect();
        let mut routers: Vec<GenRouter> = (0..ROUTERS)
            .map(|r| GenRouter {
                name: format!("r{r}"),
                interfaces: vec![GenInterface {
                    name: LAN_IFNAME.to_string(),
                    network: format!("lan{r}"),
                    address: lan_address(r, 1, prefix),
                }],
                routes: Vec::new(),
            })
            .collect();
        // Address of router `b` seen from router `a`: its end of their link.
        let mut peer = vec![vec![Ipv4Addr::UNSPECIFIED; ROUTERS]; ROUTERS];
        for (l, (a, b)) in router_links().into_iter().enumerate() {
            let net = format!("r{a}-r{b}");
            let addr = |end: u8| Ipv4Net::new(Ipv4Addr::new(10, 255, l as u8, end), 30).unwrap();
            networks.push(GenNetwork {
                name: net.clone(),
                subnet: addr(0),
            });
            for (me, other, end) in [(a, b, 1), (b, a, 2)] {
                routers[me].interfaces.push(GenInterface {
                    name: format!("to-r{other}"),
                    network: net.clone(),
                    address: addr(end),
                });
                peer[other][me] = addr(end).addr();
            }
        }
        for (a, router) in routers.iter_mut().enumerate() {
            router
                .interfaces
                .sort_by_key(|i| (i.name != LAN_IFNAME, i.name.clone()));
            for b in (0..ROUTERS).filter(|&b| b != a) {
                router.routes.push((networks[b].subnet, peer[a][b]));
            }
        }
        let mut lab = GenLab {
            name: name.to_string(),
            networks,
            routers,
            hosts: Vec::new(),
        };
        for _ in 0..hosts {
            lab.add_host();
        }
        lab
    }

    /// The prefix length of the LANs.
    pub fn lan_prefix(&self) -> u8 {
        self.networks[0].subnet.prefix_len()
    }

    /// Appends host `h<len>` on router `len % 4`, with the next address of its LAN.
    pub fn add_host(&mut self) -> &GenHost {
        let i = self.hosts.len();
        let r = i % ROUTERS;
        let offset = (i / ROUTERS) as u32 + 2;
        let prefix = self.lan_prefix();
        let capacity = if prefix == 24 { SPARE } else { 65_534 };
        assert!(offset < capacity, "LAN lan{r} is full");
        self.hosts.push(GenHost {
            name: format!("h{i}"),
            router: r,
            network: format!("lan{r}"),
            address: lan_address(r, offset, prefix),
            gateway: lan_address(r, 1, prefix).addr(),
        });
        &self.hosts[i]
    }

    /// An address of router `r`'s LAN that no host or router uses: the LAN's `.254`
    /// (`/24`) or `.255.254` (`/16`).
    pub fn spare_address(&self, r: usize) -> Ipv4Net {
        let prefix = self.lan_prefix();
        let offset = if prefix == 24 { SPARE } else { 0xfffe };
        lan_address(r, offset, prefix)
    }

    /// Every node namespace name: routers, then hosts (no prefix).
    pub fn node_names(&self) -> Vec<String> {
        self.routers
            .iter()
            .map(|r| r.name.clone())
            .chain(self.hosts.iter().map(|h| h.name.clone()))
            .collect()
    }

    /// The lab as an nshost lab file. The router mesh is written as `links` (each
    /// link's first end on its subnet's `.1`, the second on `.2`, as the generator
    /// numbers them); gateways are left to nshost to infer (the router's address on the
    /// host's network).
    pub fn to_yaml(&self) -> String {
        let mut y = String::with_capacity(200 + 64 * self.hosts.len());
        let _ = writeln!(
            y,
            "# nshost benchmark lab: {} routers in a full mesh, {} hosts",
            self.routers.len(),
            self.hosts.len()
        );
        let _ = writeln!(y, "name: {}", self.name);
        // The networks with an interface of two routers are links, the others LANs.
        let ends = |net: &str| -> Vec<(&GenRouter, &GenInterface)> {
            self.routers
                .iter()
                .flat_map(|r| r.interfaces.iter().map(move |i| (r, i)))
                .filter(|(_, i)| i.network == net)
                .collect()
        };
        let is_link = |n: &GenNetwork| {
            let e = ends(&n.name);
            e.len() == 2
                && e.iter().enumerate().all(|(k, (_, i))| {
                    i.address.addr() == u32_add(n.subnet.network(), k as u32 + 1)
                })
        };
        y.push_str("networks:\n");
        for n in self.networks.iter().filter(|n| !is_link(n)) {
            let _ = writeln!(y, "  {}:\n    subnets: [{}]", n.name, n.subnet);
        }
        y.push_str("links:\n");
        for n in self.networks.iter().filter(|n| is_link(n)) {
            let e = ends(&n.name);
            let _ = writeln!(
                y,
                "  - {{ends: [{}:{}, {}:{}], subnet: {}}}",
                e[0].0.name, e[0].1.name, e[1].0.name, e[1].1.name, n.subnet
            );
        }
        let links: BTreeSet<&str> = self
            .networks
            .iter()
            .filter(|n| is_link(n))
            .map(|n| n.name.as_str())
            .collect();
        y.push_str("routers:\n");
        for r in &self.routers {
            let _ = writeln!(y, "  {}:\n    interfaces:", r.name);
            for i in r
                .interfaces
                .iter()
                .filter(|i| !links.contains(i.network.as_str()))
            {
                let _ = writeln!(
                    y,
                    "      {}: {{network: {}, addresses: [{}]}}",
                    i.name, i.network, i.address
                );
            }
            y.push_str("    routes:\n");
            for (to, via) in &r.routes {
                let _ = writeln!(y, "      - {{to: {to}, via: {via}}}");
            }
        }
        if self.hosts.is_empty() {
            y.push_str("hosts: {}\n");
        } else {
            y.push_str("hosts:\n");
        }
        for h in &self.hosts {
            let _ = writeln!(
                y,
                "  {}: {{address: {}, network: {}}}",
                h.name, h.address, h.network
            );
        }
        y
    }
}
