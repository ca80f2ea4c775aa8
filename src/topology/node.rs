//! The nodes of a lab file as written: routers and hosts, the groups whose settings they
//! take, and the shared settings (`defaults`, `groups`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    FirewallSpec, ImpairSpec, Interface, NamedMap, RouteSpec, RuleSpec, ServiceSpec, Spanned,
    SysctlValue, formats, null_as_empty, workload,
};

/// Shared settings for routers and for hosts (`defaults`, or one of `groups`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Settings for every router (of the group).
    #[serde(default)]
    pub routers: Option<Router>,
    /// Settings for every host (of the group).
    #[serde(default)]
    pub hosts: Option<Host>,
}

/// The groups a node is in: one name or a list of names (earlier ones win).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum GroupNames {
    One(String),
    Many(Vec<String>),
}

impl GroupNames {
    /// The names, in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            GroupNames::One(n) => vec![n.as_str()],
            GroupNames::Many(ns) => ns.iter().map(String::as_str).collect(),
        }
    }
}

/// A router.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Router {
    /// Interfaces by their real name in the router (`eth0`, `wg0`, ...).
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::InterfaceName, Interface>")]
    pub interfaces: NamedMap<Interface>,
    /// Addresses on the router's loopback `lo` (a router ID, an anycast address),
    /// with their prefix length (`10.255.0.1/32`). One may be on several routers (an
    /// anycast address), never on an interface of the lab.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<formats::InterfaceAddress>>")]
    pub loopback: Vec<Spanned<String>>,
    /// Static routes.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<RouteSpec>>")]
    pub routes: Vec<RouteSpec>,
    /// Policy routing rules.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<RuleSpec>>")]
    pub rules: Vec<RuleSpec>,
    /// Extra sysctls under `net.` for this namespace, e.g. `net.ipv4.conf.all.rp_filter: 0`.
    /// IPv4 and IPv6 forwarding are always on for routers.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::SysctlKey, SysctlValue>")]
    pub sysctls: NamedMap<Spanned<SysctlValue>>,
    /// TCP and UDP services to probe with port checks, served by nshost itself in the
    /// router's namespace while the lab is applied.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<ServiceSpec>>")]
    pub services: Vec<ServiceSpec>,
    /// Files put at their paths in the node's own mount namespace: the text, or a
    /// block with its `source` (a file beside the lab file) or `content`, and `mode`.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "formats::Map<formats::FilePath, workload::FileValue>")]
    pub files: workload::Files,
    /// Processes started in the node once its network is up, in this order, by name:
    /// a string is run by `/bin/sh -c`, a list (program and arguments) as is.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "formats::Map<formats::ProcessName, workload::Command>")]
    pub run: workload::Run,
    /// The groups (under the top-level `groups`) whose router settings this router takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<GroupNames>")]
    pub group: Option<Spanned<GroupNames>>,
    /// Firewall rules and ipsets of this node, as the kernel's own tools write them:
    /// loaded atomically into its namespace by `iptables-restore`, `ip6tables-restore`,
    /// `nft -f` and `ipset restore` (packages iptables, nftables, ipset).
    #[serde(default)]
    pub firewall: Option<FirewallSpec>,
    /// The site (machine) it is placed on, one of `sites`. Default: `default_site`.
    #[serde(default)]
    #[schemars(with = "Option<formats::SiteName>")]
    pub site: Option<Spanned<String>>,
}

/// A host.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Primary address with prefix length, e.g. `10.1.1.10/24`. Left out on a network
    /// with a subnet, one is given from the host's name (see the README).
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceAddress>")]
    pub address: Option<Spanned<String>>,
    /// Secondary addresses on the same interface.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<formats::InterfaceAddress>>")]
    pub secondary: Vec<Spanned<String>>,
    /// Interface name. Default `eth0`.
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceName>")]
    pub interface: Option<Spanned<String>>,
    /// The network. Default: the network whose subnet contains `address`.
    #[serde(default)]
    #[schemars(with = "Option<formats::NetworkName>")]
    pub network: Option<Spanned<String>>,
    /// Default gateway, or `none` for no default route. Default: the address of the
    /// router on the host's network (none when no router is on it).
    #[serde(default)]
    #[schemars(with = "Option<formats::Gateway>")]
    pub gateway: Option<Spanned<String>>,
    /// MTU of the interface. Defaults to the network's MTU.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
    /// Ethernet address of the interface, as for a router interface's `mac`.
    #[serde(default)]
    #[schemars(with = "Option<formats::MacAddress>")]
    pub mac: Option<Spanned<String>>,
    /// Link impairments of the interface, as for a router interface's `impair`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ImpairSpec>")]
    pub impair: Option<Spanned<ImpairSpec>>,
    /// Extra sysctls under `net.`.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::SysctlKey, SysctlValue>")]
    pub sysctls: NamedMap<Spanned<SysctlValue>>,
    /// TCP and UDP services to probe with port checks, served by nshost itself in the
    /// host's namespace while the lab is applied.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<ServiceSpec>>")]
    pub services: Vec<ServiceSpec>,
    /// Files put at their paths in the node's own mount namespace: the text, or a
    /// block with its `source` (a file beside the lab file) or `content`, and `mode`.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "formats::Map<formats::FilePath, workload::FileValue>")]
    pub files: workload::Files,
    /// Processes started in the node once its network is up, in this order, by name:
    /// a string is run by `/bin/sh -c`, a list (program and arguments) as is.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "formats::Map<formats::ProcessName, workload::Command>")]
    pub run: workload::Run,
    /// Several interfaces, as a router has (veth only), instead of `address`,
    /// `secondary`, `interface`, `network` and `mtu`: a host on several networks.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "formats::Map<formats::InterfaceName, Interface>")]
    pub interfaces: NamedMap<Interface>,
    /// The groups (under the top-level `groups`) whose host settings this host takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<GroupNames>")]
    pub group: Option<Spanned<GroupNames>>,
    /// Firewall rules and ipsets of this node, as the kernel's own tools write them:
    /// loaded atomically into its namespace by `iptables-restore`, `ip6tables-restore`,
    /// `nft -f` and `ipset restore` (packages iptables, nftables, ipset).
    #[serde(default)]
    pub firewall: Option<FirewallSpec>,
    /// The site (machine) it is placed on, one of `sites`. Default: `default_site`.
    #[serde(default)]
    #[schemars(with = "Option<formats::SiteName>")]
    pub site: Option<Spanned<String>>,
}
