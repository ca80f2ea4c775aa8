//! The user model: a lab file as written, with the YAML location of every value.
//!
//! Values that need checking (addresses, prefixes, names) are kept as spanned strings
//! here and parsed by `validate`, so that every bad value is reported at once, each at
//! its own place. The JSON Schema (`nshost schema`) is derived from these types, and
//! `parse` checks a file's YAML against it (see `tree` and `check`) before typing it, so
//! that every parse problem is reported at once too.

mod check;
mod issue;
mod parse;
#[cfg(test)]
mod parse_tests;
mod scalar;
mod schema;
mod source;
mod tree;
mod words;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
pub use serde_saphyr::Spanned;

pub use self::parse::parse;
pub use self::source::{MAX_LAB_BYTES, ReadError, SourceFile, location_span, span_of};
pub(crate) use self::words::thousands;

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
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "nshost lab")]
pub struct Topology {
    /// The lab's name. Every object the lab creates is marked as owned by it; `destroy`
    /// removes exactly those objects.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Prepended to every namespace name (routers, hosts and the fabric), so that two
    /// labs with the same node names can run side by side.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prefix: Option<Spanned<String>>,
    /// Named routing tables: name to table number (1-4294967295, not 253-255).
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, u32>>")]
    pub tables: NamedMap<Spanned<u32>>,
    /// L2 segments, each realised as a Linux bridge in the lab's hidden fabric namespace.
    /// A network used by an interface but not declared here is inferred from the
    /// interface's address.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, Network>>")]
    pub networks: NamedMap<Network>,
    /// Routers: a namespace each, with IP forwarding on (IPv4 and IPv6).
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, Router>>")]
    pub routers: NamedMap<Router>,
    /// Hosts: a namespace each with one interface, loopback up and a default route.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, Host>>")]
    pub hosts: NamedMap<Host>,
}

/// An L2 segment.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The IPv4 and/or IPv6 subnets on this segment, e.g. `10.1.1.0/24`.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub subnets: Vec<Spanned<String>>,
    /// MTU of the bridge and the default MTU of every interface on the network.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
    /// Allow this network's subnets to overlap those of other networks.
    #[serde(default)]
    pub allow_overlap: bool,
}

/// A router.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Router {
    /// Interfaces by their real name in the router (`eth0`, `wg0`, ...).
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, Interface>>")]
    pub interfaces: NamedMap<Interface>,
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
    #[schemars(with = "Option<std::collections::BTreeMap<String, SysctlValue>>")]
    pub sysctls: NamedMap<Spanned<SysctlValue>>,
}

/// A router interface.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// Link kind. `veth` (the default) joins `network` through a veth pair; any other
    /// kind (e.g. `dummy`) is a standalone link in the router and takes no network.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    /// The network this interface is on. Inferred from the first address when left out.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub network: Option<Spanned<String>>,
    /// IPv4/IPv6 addresses with prefix length, e.g. `10.1.1.1/24`, `2001:db8::1/64`.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub addresses: Vec<Spanned<String>>,
    /// MTU. Defaults to the network's MTU, else the kernel's default.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
    /// Administrative state. Default: up.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub up: Option<Spanned<bool>>,
}

/// A static route.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Destination prefix, or `default` (IPv4) / `default6` (IPv6).
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// Gateway address; must be on one of the node's connected subnets.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub via: Option<Spanned<String>>,
    /// Output interface.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub dev: Option<Spanned<String>>,
    /// Route metric (priority). Default 0; for IPv6 the kernel turns 0 into 1024.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub metric: Option<Spanned<u32>>,
    /// Routing table: a number, or a name declared under `tables`. Default: main.
    #[serde(default)]
    #[schemars(with = "Option<TableRef>")]
    pub table: Option<Spanned<TableRef>>,
}

/// A policy routing rule.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Rule priority (required, so the rule has a stable identity), 1-32765.
    #[schemars(with = "u32")]
    pub priority: Spanned<u32>,
    /// Address family when neither `from` nor `to` says it: `ipv4` (default) or `ipv6`.
    #[serde(default)]
    #[schemars(with = "Option<Family>")]
    pub family: Option<Spanned<Family>>,
    /// Source prefix.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
    /// Destination prefix.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub to: Option<Spanned<String>>,
    /// Input interface.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub iif: Option<Spanned<String>>,
    /// Output interface.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub oif: Option<Spanned<String>>,
    /// Firewall mark.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub fwmark: Option<Spanned<u32>>,
    /// Type of service.
    #[serde(default)]
    #[schemars(with = "Option<u8>")]
    pub tos: Option<Spanned<u8>>,
    /// IP protocol: `tcp`, `udp`, `icmp`, `icmpv6`, `sctp` or a number.
    #[serde(default)]
    #[schemars(with = "Option<Proto>")]
    pub ipproto: Option<Spanned<Proto>>,
    /// Source port or range (`80`, `"1000-2000"`), ports 1-65534; needs `ipproto`.
    #[serde(default)]
    #[schemars(with = "Option<Ports>")]
    pub sport: Option<Spanned<Ports>>,
    /// Destination port or range, ports 1-65534; needs `ipproto`.
    #[serde(default)]
    #[schemars(with = "Option<Ports>")]
    pub dport: Option<Spanned<Ports>>,
    /// The table to look up: a number or a declared name.
    #[schemars(with = "TableRef")]
    pub table: Spanned<TableRef>,
}

/// A host.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Primary address with prefix length, e.g. `10.1.1.10/24`.
    #[schemars(with = "String")]
    pub address: Spanned<String>,
    /// Secondary addresses on the same interface.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<String>>")]
    pub secondary: Vec<Spanned<String>>,
    /// Interface name. Default `eth0`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interface: Option<Spanned<String>>,
    /// The network. Default: the network whose subnet contains `address`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub network: Option<Spanned<String>>,
    /// Default gateway. Default: the address of the router on the host's network.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub gateway: Option<Spanned<String>>,
    /// MTU of the interface. Defaults to the network's MTU.
    #[serde(default)]
    #[schemars(with = "Option<u32>", range(min = 68, max = 65535))]
    pub mtu: Option<Spanned<u32>>,
    /// Extra sysctls under `net.`.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, SysctlValue>>")]
    pub sysctls: NamedMap<Spanned<SysctlValue>>,
}

/// A routing table: number or declared name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TableRef {
    Id(u32),
    Name(String),
}

/// IP protocol by name or number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Proto {
    Number(u8),
    Name(String),
}

/// A port or an inclusive range `"lo-hi"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Ports {
    Port(u16),
    Range(String),
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

/// Address family of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// The JSON Schema of the lab format (draft-07, for yaml-language-server).
pub fn json_schema() -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::draft07();
    let schema = settings.into_generator().into_root_schema_for::<Topology>();
    serde_json::to_value(schema).expect("schema serializes")
}
