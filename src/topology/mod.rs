//! The user model: a lab file as written, with the YAML location of every value.
//!
//! Values that need checking (addresses, prefixes, names) are kept as spanned strings
//! here and parsed by `validate`, so that every bad value is reported at once, each at
//! its own place. The JSON Schema (`nshost schema`) is derived from these types, and
//! `parse` checks a file's YAML against it (see `tree` and `check`) before typing it, so
//! that every parse problem is reported at once too.

mod check;
pub mod expand;
mod firewall;
mod formats;
mod issue;
mod kind;
mod parse;
#[cfg(test)]
mod parse_tests;
mod pools;
mod probes;
mod routing;
mod scalar;
mod schema;
mod tree;
mod words;
pub mod workload;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
pub use serde_saphyr::Spanned;

pub use self::firewall::FirewallSpec;
pub use self::kind::Kind;
pub use self::parse::{parse, parse_written};
pub use self::pools::{Pool, PoolNames};
pub use self::probes::{CheckSpec, Expect, ServiceProto, ServiceSpec};
pub use self::routing::{
    NexthopSpec, Ports, Proto, RouteKind, RouteProto, RouteScope, RouteSpec, RuleActionSpec,
    RuleSpec, ScopeName, TableRef, Uids,
};
pub use self::words::closest;
pub(crate) use self::words::thousands;
pub use crate::source::{MAX_LAB_BYTES, ReadError, SourceFile, location_span, span_of};

/// A spanned map keyed by names, in file order.
pub type NamedMap<T> = IndexMap<Spanned<String>, T>;

/// Reads a collection written as YAML null (`rules:` with nothing after it) as empty,
/// like `[]` or `{}`.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A lab definition.
///
/// Serde lets unknown top-level keys through so that `x-` keys (the user's own, for
/// anchors) are ignored; the schema, which the file is checked against first, refuses
/// every other unknown key.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[schemars(title = "nshost lab", deny_unknown_fields)]
#[schemars(extend("patternProperties" = {"^x-": {}}))]
pub struct Topology {
    /// The lab's name. Every object the lab creates is marked as owned by it; `destroy`
    /// removes exactly those objects.
    #[schemars(with = "formats::LabName")]
    pub name: Spanned<String>,
    /// Prepended to every namespace name (routers, hosts and the fabric), so that two
    /// labs with the same node names can run side by side.
    #[serde(default)]
    #[schemars(with = "Option<formats::NamePrefix>")]
    pub prefix: Option<Spanned<String>>,
    /// Named routing tables: name to table number (1-4294967295, not 253-255).
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::TableName, formats::TableNumber>")]
    pub tables: NamedMap<Spanned<u32>>,
    /// Subnet pools by name: prefixes that networks (`pool: lans`) and links
    /// (`pool: p2p`) take a subnet from, chosen by their name (see the README).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "formats::Map<formats::PoolName, Pool>")]
    pub pools: NamedMap<Pool>,
    /// L2 segments, each realised as a Linux bridge in the lab's hidden fabric namespace.
    /// A network used by an interface but not declared here is inferred from the
    /// interface's address.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::NetworkName, Network>")]
    pub networks: NamedMap<Network>,
    /// Routers: a namespace each, with IP forwarding on (IPv4 and IPv6).
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::NodeName, Router>")]
    pub routers: NamedMap<Router>,
    /// Hosts: a namespace each with one interface, loopback up and a default route.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::NodeName, Host>")]
    pub hosts: NamedMap<Host>,
    /// Reachability checks `nshost check` (and `apply --check`) runs: ICMP echo from a
    /// node to a node or an address of the lab. Without any, every host is checked
    /// against its gateway and one host behind every other router.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<CheckSpec>>")]
    pub checks: Vec<CheckSpec>,
    /// Settings every router and every host starts from: a node's own values win,
    /// then its groups', then these (maps merge by key, lists are replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Defaults>")]
    pub defaults: Option<Spanned<Defaults>>,
    /// Named sets of settings, for the nodes that name them in `group`.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(with = "formats::Map<formats::NetworkName, Defaults>")]
    pub groups: NamedMap<Defaults>,
    /// Point-to-point networks by shorthand: two interfaces and the subnet between them.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Option<Vec<Link>>")]
    pub links: Vec<Spanned<Link>>,
    /// The machines the lab is spread over, by name (`--site NAME` picks one). Without
    /// any, the lab is on one machine. A network with members on several sites is
    /// stretched between them by kernel VXLAN over their underlay addresses.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "formats::Map<formats::SiteName, Site>")]
    pub sites: NamedMap<Site>,
    /// The site of every router and host without a `site` of its own. Default: the
    /// first site.
    #[serde(default)]
    #[schemars(with = "Option<formats::SiteName>")]
    pub default_site: Option<Spanned<String>>,
    /// What the lab owns beyond what it writes. Routes, rules and addresses in the
    /// lab's namespaces that the file does not declare and whose protocol is not the
    /// lab's (`boot`, `static`, `kernel`, or one a route of the file names) belong to
    /// whoever installed them (a routing daemon): nshost leaves them alone unless the
    /// lab takes their protocol here.
    #[serde(default)]
    #[schemars(with = "Option<Owns>")]
    pub owns: Option<Spanned<Owns>>,
}

/// What a lab takes as its own (`owns`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Owns {
    /// Route, rule and address protocols (names as in iproute2's `rt_protos`, or
    /// numbers) whose objects in the lab's namespaces are the lab's: `plan` shows those
    /// the file does not declare as drift, and `apply` removes them.
    #[serde(default)]
    #[schemars(with = "Option<Vec<RouteProto>>")]
    pub protocols: Vec<Spanned<RouteProto>>,
}

/// A machine of a lab spread over several.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The address other sites reach this machine at (IPv4 or IPv6): the local end of
    /// its vxlan tunnels, and where the other sites send theirs.
    #[schemars(with = "formats::IpAddress")]
    pub underlay: Spanned<String>,
    /// MTU of the underlay between the sites. Default 1500. A stretched network's MTU
    /// must fit in it with the VXLAN encapsulation (50 bytes over IPv4, 70 over IPv6).
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
    /// The machine's interface the tunnels go out of (`eth0`...): the vxlan ends'
    /// underlay device, in the machine's own namespace. Default: whatever the route to
    /// each peer says.
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceName>")]
    pub device: Option<Spanned<String>>,
}

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

/// A point-to-point network between two interfaces (`node:interface`). The network is
/// named `<node>-<node>` unless `network` says otherwise; an end without addresses
/// gets the subnet's first address (the first end) or its second. The subnet is written,
/// or taken from a pool: not both.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("not" = {"required": ["subnet", "pool"]}))]
pub struct Link {
    /// The two ends, `node:interface` each (the interface is made when the node lacks it).
    #[schemars(with = "[formats::LinkEnd; 2]")]
    pub ends: Vec<Spanned<String>>,
    /// The subnet between them, e.g. `10.0.0.0/30` (IPv4 or IPv6).
    #[serde(default)]
    #[schemars(with = "Option<formats::IpPrefix>")]
    pub subnet: Option<Spanned<String>>,
    /// The pool (under the top-level `pools`) to take the subnet from instead,
    /// chosen by the network's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<formats::PoolName>")]
    pub pool: Option<Spanned<String>>,
    /// The network's name. Default: the two node names joined by `-`.
    #[serde(default)]
    #[schemars(with = "Option<formats::NetworkName>")]
    pub network: Option<Spanned<String>>,
    /// MTU of the network.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
}

impl Link {
    /// The network the link makes when it names none: its ends' nodes joined by `-`
    /// (`r1-r2`).
    pub fn default_network(&self) -> String {
        let nodes: Vec<&str> = self
            .ends
            .iter()
            .map(|e| {
                e.value
                    .rsplit_once(':')
                    .map_or(e.value.as_str(), |(n, _)| n)
            })
            .collect();
        nodes.join("-")
    }
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

/// An L2 segment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The IPv4 and/or IPv6 subnets on this segment, e.g. `10.1.1.0/24`.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<formats::IpPrefix>>")]
    pub subnets: Vec<Spanned<String>>,
    /// The pool (under the top-level `pools`) to take a subnet from, chosen by the
    /// network's name, or a list of pools, a subnet from each; after any `subnets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<PoolNames>")]
    pub pool: Option<Spanned<PoolNames>>,
    /// MTU of the bridge and the default MTU of every interface on the network.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
    /// This network's subnets overlap those of other networks on purpose: no warning.
    #[serde(default)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_overlap: bool,
    /// The VXLAN network identifier when the network is stretched over several sites
    /// (0 to 16777215). Default: derived from the lab's and the network's names.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 0, max = 16777215))]
    pub vni: Option<Spanned<u32>>,
    /// The UDP port of its VXLAN tunnels when the network is stretched. Default 4789.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub vxlan_port: Option<Spanned<u16>>,
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

/// A router interface.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = formats::interface_kind_rules()))]
pub struct Interface {
    /// Link kind: `veth` (the default) joins `network` through a veth pair; `dummy` and
    /// `ifb` are standalone links in the router; `vxlan` and `macvlan` are stacked on
    /// another interface of the router, with their attributes under `vxlan` or
    /// `macvlan`. Only veth interfaces are on a network. A kind this kernel lacks is
    /// reported at plan time.
    #[serde(default)]
    #[schemars(with = "Option<Kind>")]
    pub kind: Option<Spanned<Kind>>,
    /// The network this interface is on. Inferred from the first address when left out.
    #[serde(default)]
    #[schemars(with = "Option<formats::NetworkName>")]
    pub network: Option<Spanned<String>>,
    /// IPv4/IPv6 addresses with prefix length, e.g. `10.1.1.1/24`, `2001:db8::1/64`.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<formats::InterfaceAddress>>")]
    pub addresses: Vec<Spanned<String>>,
    /// MTU. Defaults to the network's MTU, else the kernel's default.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
    /// Administrative state. Default: up.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub up: Option<Spanned<bool>>,
    /// Ethernet address, `52:54:00:12:34:01` (unicast, not all zeros). Set when the
    /// interface is made and changed in place; left out, the interface keeps the one
    /// it has (a fresh one gets a random address from the kernel).
    #[serde(default)]
    #[schemars(with = "Option<formats::MacAddress>")]
    pub mac: Option<Spanned<String>>,
    /// The tunnel of a `kind: vxlan` interface (required for that kind, refused on
    /// the others).
    #[serde(default)]
    #[schemars(with = "Option<VxlanSpec>")]
    pub vxlan: Option<Spanned<VxlanSpec>>,
    /// The parent and mode of a `kind: macvlan` interface (required for that kind,
    /// refused on the others).
    #[serde(default)]
    #[schemars(with = "Option<MacvlanSpec>")]
    pub macvlan: Option<Spanned<MacvlanSpec>>,
    /// Link impairments on what the interface sends (see [`ImpairSpec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ImpairSpec>")]
    pub impair: Option<Spanned<ImpairSpec>>,
}

/// Impairments of what an interface sends, by its root qdisc: `rate`, `burst` and
/// `latency` alone make a `tbf`; any of `delay`, `jitter`, `loss`, `duplicate`,
/// `reorder` and `corrupt` make a `netem` (its own `rate` then, without `burst` or
/// `latency`). Units as tc writes them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpairSpec {
    /// Rate: `bit`, `kbit`, `mbit`, `gbit` (or `bps`, `kbps`, `mbps`, `gbps` in bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub rate: Option<Spanned<String>>,
    /// The bucket: `b`, `kb`/`k`, `mb`/`m` (1024-based, as tc). Default: 10 ms of the
    /// rate, at least the MTU plus the Ethernet header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub burst: Option<Spanned<String>>,
    /// How long a packet may wait in the queue (`us`, `ms`, `s`). Default 50ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub latency: Option<Spanned<String>>,
    /// Added delay (`us`, `ms`, `s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub delay: Option<Spanned<String>>,
    /// Delay variation (needs `delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub jitter: Option<Spanned<String>>,
    /// Packets dropped, a percentage (`1%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub loss: Option<Spanned<String>>,
    /// Packets sent twice, a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub duplicate: Option<Spanned<String>>,
    /// Packets sent at once, ahead of delayed ones, a percentage (needs `delay`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub reorder: Option<Spanned<String>>,
    /// Packets with a flipped bit, a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub corrupt: Option<Spanned<String>>,
}

/// A VXLAN tunnel: Ethernet frames in UDP, to a unicast `remote` or a multicast `group`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VxlanSpec {
    /// VXLAN network identifier (VNI), 0 to 16777215.
    #[schemars(with = "u32", range(min = 0, max = 16777215))]
    pub id: Spanned<u32>,
    /// Source address of the tunnel's packets (IPv4 or IPv6, not multicast).
    #[serde(default)]
    #[schemars(with = "Option<formats::IpAddress>")]
    pub local: Option<Spanned<String>>,
    /// Unicast peer, where frames to unknown destinations go; not with `group`.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpAddress>")]
    pub remote: Option<Spanned<String>>,
    /// Multicast group to join instead of a `remote`; needs `dev`.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpAddress>")]
    pub group: Option<Spanned<String>>,
    /// Destination UDP port, 1 to 65535. Default 4789 (IANA).
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub port: Option<Spanned<u16>>,
    /// Underlay interface: another interface of the same router (not a vxlan or
    /// macvlan).
    #[serde(default)]
    #[schemars(with = "Option<formats::InterfaceRef>")]
    pub dev: Option<Spanned<String>>,
}

/// A macvlan: a second MAC address on a parent interface.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MacvlanSpec {
    /// The interface it sits on: another interface of the same router, not `lo` and
    /// not itself a vxlan or macvlan.
    #[schemars(with = "formats::InterfaceRef")]
    pub parent: Spanned<String>,
    /// How macvlans on one parent reach each other: `private`, `vepa`, `bridge` (the
    /// default), `passthru` (the parent's only macvlan) or `source`.
    #[serde(default)]
    #[schemars(with = "Option<MacvlanMode>")]
    pub mode: Option<Spanned<MacvlanMode>>,
}

/// A macvlan mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Private,
    Vepa,
    Bridge,
    Passthru,
    Source,
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

/// A sysctl value as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SysctlValue {
    Int(i64),
    Bool(bool),
    Text(String),
}

impl SysctlValue {
    /// The value as the kernel prints it.
    pub fn to_kernel(&self) -> String {
        match self {
            SysctlValue::Int(i) => i.to_string(),
            SysctlValue::Bool(b) => u8::from(*b).to_string(),
            SysctlValue::Text(s) => s.trim().to_string(),
        }
    }
}

/// Address family of a rule or a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// The JSON Schema of the lab format (draft-07, for yaml-language-server).
pub fn json_schema() -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings.into_generator().into_root_schema_for::<Topology>();
    let mut value = serde_json::to_value(schema).expect("schema serializes");
    // In a range, `{i}` stands for the index: a value holding it is checked once
    // expanded.
    let templated = [
        "IpPrefix",
        "InterfaceAddress",
        "IpAddress",
        "RouteDestination",
        "Gateway",
    ];
    if let Some(definitions) = value.get_mut("definitions").and_then(|d| d.as_object_mut()) {
        for name in templated {
            if let Some(serde_json::Value::String(p)) =
                definitions.get_mut(name).and_then(|d| d.get_mut("pattern"))
            {
                *p = format!(r"\{{i\}}|{p}");
            }
        }
    }
    value
}
