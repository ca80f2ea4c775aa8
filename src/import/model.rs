//! The importer's lab: what every format's facts become once judged, ready for the one
//! emitter ([`super::emit`]) to write as a lab file. Only what a lab file can say and
//! the kernel accepts is here.

use ipnet::IpNet;

use super::facts::{RouteFact, RuleFact};

/// An imported lab.
#[derive(Debug, Default)]
pub struct Lab {
    pub name: String,
    /// Lines of the header comment (without `# `).
    pub header: Vec<String>,
    /// Named tables: name and number, by number.
    pub tables: Vec<(String, u32)>,
    pub networks: Vec<Network>,
    pub routers: Vec<Router>,
}

/// A network inferred from a subnet.
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    pub subnets: Vec<IpNet>,
    /// When every interface on it has this MTU (and it is not 1500).
    pub mtu: Option<u32>,
}

/// A router.
#[derive(Debug, Default)]
pub struct Router {
    pub name: String,
    /// The facts file it came from.
    pub file: String,
    pub interfaces: Vec<Interface>,
    /// The routes the kernel accepts, in an order it accepts them in.
    pub routes: Vec<RouteFact>,
    /// The rules beyond the kernel's own, in priority order.
    pub rules: Vec<RuleFact>,
    /// `iptables-save` text.
    pub iptables: Option<String>,
    /// `ipset save` text.
    pub ipsets: Option<String>,
}

/// A router interface.
#[derive(Debug, Clone)]
pub struct Interface {
    pub name: String,
    pub network: String,
    pub addresses: Vec<IpNet>,
    /// When it differs from its network's.
    pub mtu: Option<u32>,
    pub up: bool,
    pub mac: Option<String>,
}
