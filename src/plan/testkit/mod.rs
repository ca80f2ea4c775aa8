//! Test support: small builders for desired and live `NetState`s in the shape `lower`
//! and `kernel::observe` produce them, a model of the kernel that runs a plan's
//! schedule ([`sim`]), and an independent check of a plan's order ([`oracle`]), so
//! planning can be tested without a kernel.
//!
//! Compiled for the crate's own tests and, through the `testkit` feature, for the
//! integration tests and benches; never part of a release build.

pub mod oracle;
pub mod sim;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::naming;
use crate::state::{
    Address, AddressKey, DEFAULT_MTU, Link, LinkKind, LinkRef, Namespace, NetState, NsRole,
    RT_SCOPE_LINK, RT_TABLE_MAIN, RTPROT_BOOT, Route, RouteKey, Rule,
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
    let dst = if dst == "default" {
        net("0.0.0.0/0")
    } else {
        net(dst)
    };
    RouteKey::new(RT_TABLE_MAIN, dst, 0)
}

/// A route as `lower` makes it: protocol `boot`, scope link without a gateway.
pub fn route(gateway: Option<&str>, dev: Option<&str>) -> Route {
    Route {
        gateway: gateway.map(ip),
        dev: dev.map(str::to_string),
        proto: RTPROT_BOOT,
        scope: if gateway.is_none() { RT_SCOPE_LINK } else { 0 },
        ..Route::default()
    }
}

/// A link of `kind` as a desired state has it: up, at the default MTU.
pub fn link(kind: LinkKind) -> Link {
    Link {
        mtu: Some(DEFAULT_MTU),
        ..Link::new(kind)
    }
}

impl LabBuilder {
    /// A lab with an empty fabric namespace named `<lab>-fabric`.
    pub fn new(lab: &str) -> Self {
        let fabric = naming::fabric_ns("", lab);
        let mut state = NetState::default();
        state
            .namespaces
            .insert(fabric.clone(), Namespace::owned(lab, NsRole::Fabric));
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
        let fabric = self.fabric.clone();
        self.ns_mut(&fabric)
            .links
            .insert(naming::bridge_name(name), Box::new(link(LinkKind::Bridge)));
        self
    }

    /// Adds a router or host namespace named after the node.
    pub fn node(mut self, name: &str, role: NsRole) -> Self {
        let ns = Namespace::owned(&self.lab, role);
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
        let fabric = self.fabric.clone();
        let port = naming::fabric_port_name(node, ifname);
        let bridge = naming::bridge_name(network);
        assert!(
            self.state.namespaces[&fabric].links.contains_key(&bridge),
            "network {network:?} not declared"
        );
        let mut fabric_end = link(LinkKind::Veth {
            peer: Some(LinkRef::new(node, ifname)),
        });
        fabric_end.master = Some(bridge);
        self.ns_mut(&fabric)
            .links
            .insert(port.clone(), Box::new(fabric_end));
        let node_end = link(LinkKind::Veth {
            peer: Some(LinkRef::new(&fabric, &port)),
        });
        self.ns_mut(node)
            .links
            .insert(ifname.to_string(), Box::new(node_end));
        for a in addrs {
            self = self.address(node, ifname, a);
        }
        self
    }

    /// Adds a standalone link of `kind` (e.g. `LinkKind::Ifb`).
    pub fn standalone(mut self, node: &str, ifname: &str, kind: LinkKind) -> Self {
        self.ns_mut(node)
            .links
            .insert(ifname.to_string(), Box::new(link(kind)));
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
            Address::default(),
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
        self.ns_mut(node)
            .routes
            .insert(key, Box::new(route(gw, dev)));
        self
    }

    /// A main-table route via a gateway.
    pub fn route(self, node: &str, dst: &str, gw: &str) -> Self {
        self.route_in(node, RT_TABLE_MAIN, dst, Some(gw), None)
    }

    pub fn rule(mut self, node: &str, rule: Rule) -> Self {
        self.ns_mut(node).rules.insert(rule);
        self
    }

    pub fn sysctl(mut self, node: &str, key: &str, value: &str) -> Self {
        self.ns_mut(node)
            .sysctls
            .insert(key.to_string(), value.to_string());
        self
    }

    /// A setting of one link (as validation classifies per-device keys).
    pub fn link_setting(
        mut self,
        node: &str,
        ifname: &str,
        setting: crate::state::DevSetting,
        value: &str,
    ) -> Self {
        self.ns_mut(node)
            .links
            .get_mut(ifname)
            .expect("no such link")
            .settings
            .insert(setting, value.to_string());
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
/// ifindexes assigned, MTUs filled in, and route devices resolved.
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
                link.mtu = Some(DEFAULT_MTU);
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

/// Link `name` of namespace `ns` of `state`, to change (it must be there).
pub fn link_mut<'a>(state: &'a mut NetState, ns: &str, name: &str) -> &'a mut Link {
    state
        .namespaces
        .get_mut(ns)
        .and_then(|n| n.links.get_mut(name))
        .unwrap_or_else(|| panic!("{ns} has a link {name}"))
}

/// A namespace another lab owns, or nobody (created by hand), as observe reports it:
/// only its owner.
pub fn foreign_ns(owner: Option<&str>) -> Namespace {
    Namespace {
        owner: owner.map(str::to_string),
        role: NsRole::Unknown,
        ..Namespace::default()
    }
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
