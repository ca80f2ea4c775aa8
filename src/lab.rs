//! The resolved lab: a topology after validation, with every address parsed, every
//! inferred network, gateway, table and name filled in. `validate` produces it and
//! `lower` turns it into a `NetState`; nothing in it can still be wrong.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::state::{NsRole, Rule};

/// A validated lab.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lab {
    pub name: String,
    /// The hidden namespace holding the bridges (prefix + `<lab>-fabric`).
    pub fabric_ns: String,
    /// Networks by name, the inferred ones included.
    pub networks: BTreeMap<String, LabNetwork>,
    /// Routers and hosts by node name.
    pub nodes: BTreeMap<String, LabNode>,
}

/// A network: one bridge in the fabric namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabNetwork {
    /// Bridge name in the fabric namespace (at most 15 bytes).
    pub bridge: String,
    pub subnets: Vec<IpNet>,
    pub mtu: Option<u32>,
    /// `true` when the network was not declared but inferred from an address.
    pub inferred: bool,
}

/// A router or a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabNode {
    /// Namespace name (prefix + node name).
    pub ns: String,
    pub role: NsRole,
    pub interfaces: BTreeMap<String, LabInterface>,
    pub routes: Vec<LabRoute>,
    pub rules: Vec<Rule>,
    /// sysctl key to value, forwarding for routers included.
    pub sysctls: BTreeMap<String, String>,
}

/// A node interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabInterface {
    pub attach: Attach,
    /// Addresses in file order (a host's primary first).
    pub addresses: Vec<IpNet>,
    pub mtu: Option<u32>,
    pub up: bool,
}

/// How an interface exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "attach", rename_all = "lowercase")]
pub enum Attach {
    /// A veth pair into `network`'s bridge; `fabric_name` is the fabric-side end.
    Veth {
        network: String,
        fabric_name: String,
    },
    /// A standalone link of another kind (e.g. `dummy`) in the node's namespace.
    Standalone { kind: String },
}

/// A static route, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabRoute {
    pub table: u32,
    pub dst: IpNet,
    pub metric: u32,
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
}
