//! The shapes of the lab file's text values for the JSON Schema, so that an editor (or
//! any validator) refuses what nshost would: names with their allowed characters and
//! lengths, addresses and prefixes by `pattern`, reserved words by `not`. Each is a
//! schema-only marker type, used through `#[schemars(with = ...)]` on the fields of
//! `topology`, and each is a definition of its own in the schema.
//!
//! The patterns are exactly what nshost's parsers take, no more and no less (unit tests
//! compare them with the parsers on thousands of strings): an interface address or a
//! prefix as `ipnet` reads it (octets of up to three digits, leading zeros included),
//! a plain address as the standard library reads it (no leading zeros). What a schema
//! cannot say (host bits in a prefix, a gateway on a connected subnet, a declared
//! table) is left to `validate`. nshost's own YAML check reads none of these: its
//! problems keep their own codes and messages.

use std::borrow::Cow;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::Kind;
use crate::naming::{IFNAME_MAX, LAB_NAME_MAX};

/// An IPv4 octet as `ipnet` reads it: up to three digits, leading zeros allowed.
const OCTET_LOOSE: &str = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])";
/// An IPv4 octet as the standard library reads it: no leading zero.
const OCTET_STRICT: &str = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
/// A group of an IPv6 address.
const HEX: &str = "[0-9A-Fa-f]{1,4}";

fn ipv4(octet: &str) -> String {
    format!(r"{octet}(?:\.{octet}){{3}}")
}

/// IPv6 text. `::` stands for at least one group for the standard library; `ipnet`
/// also takes it for none (`1:2:3:4:5:6:7::8`), but not at the very end
/// (`1:2:3:4:5:6:7:8::`). An IPv4 tail counts as two groups.
fn ipv6(octet: &str, empty_gap: bool) -> String {
    let v4 = ipv4(octet);
    let mut forms = vec![
        format!("(?:{HEX}:){{7}}{HEX}"),
        format!("(?:{HEX}:){{6}}{v4}"),
    ];
    let most = if empty_gap { 8 } else { 7 };
    for left in 0..=7usize {
        let head = if left == 0 {
            "::".to_string()
        } else {
            format!("(?:{HEX}:){{{left}}}:")
        };
        let room = most - left;
        if room == 0 {
            forms.push(head);
            continue;
        }
        let mut tails = vec![format!("(?:{HEX}:){{0,{}}}{HEX}", room - 1)];
        if room >= 2 {
            tails.push(format!("(?:{HEX}:){{0,{}}}{v4}", room - 2));
        }
        forms.push(format!("{head}(?:{})?", tails.join("|")));
    }
    format!("(?:{})", forms.join("|"))
}

/// An IPv4 or IPv6 address with a prefix length, as `ipnet` reads it.
pub fn cidr_pattern() -> String {
    let v4 = ipv4(OCTET_LOOSE);
    let v6 = ipv6(OCTET_LOOSE, true);
    // Prefix lengths of up to two digits (IPv4) or three (IPv6).
    format!("^(?:{v4}/(?:[0-2]?[0-9]|3[0-2])|{v6}/(?:12[0-8]|1[01][0-9]|0?[0-9]?[0-9]))$")
}

/// An IPv4 or IPv6 address, as the standard library reads it.
pub fn ip_pattern() -> String {
    format!("^(?:{}|{})$", ipv4(OCTET_STRICT), ipv6(OCTET_STRICT, false))
}

/// A route destination: a prefix, `default` or `default6`.
pub fn destination_pattern() -> String {
    let cidr = cidr_pattern();
    format!("^(?:default|default6|{})$", &cidr[1..cidr.len() - 1])
}

/// A rule port, 1 to 65534, as Rust reads a `u16` (a `+` and leading zeros allowed).
const PORT: &str = r"\+?0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-4])";

/// A rule's port or port range as text: `80`, `1000-2000`, spaces around each port.
pub fn port_range_pattern() -> String {
    format!(r"^\s*{PORT}\s*(?:-\s*{PORT}\s*)?$")
}

/// A sysctl key under `net.`: `a-z`, `0-9`, `_`, `-` between single dots.
pub const SYSCTL_KEY_PATTERN: &str = r"^net(?:\.[a-z0-9_-]+)+$";
/// Letters, digits, `_`, `.` and `-` (a lab name, a prefix).
pub const WORD_PATTERN: &str = r"^[A-Za-z0-9_.-]*$";
/// What an interface name may not hold: `/`, `:` and whitespace.
pub const IFNAME_PATTERN: &str = r"^[^/:\s]+$";
/// A node name as written: letters, digits, `_`, `.` and `-`, not first `.` or `-`,
/// with at most one range `[first-last]` (see `naming::node_name_problem`).
pub const NODE_NAME_PATTERN: &str = r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*(?:\[[0-9]+-[0-9]+\][A-Za-z0-9_.-]*)?|\[[0-9]+-[0-9]+\][A-Za-z0-9_.-]*)$";
/// What a namespace name may not hold: `/`, whitespace and control characters.
pub const NS_NAME_PATTERN: &str = r"^[^/\s\x00-\x1f\x7f-\x9f]+$";

/// The route protocols iproute2 names (see `validate::routes`).
pub const ROUTE_PROTO_NAMES: &str = "unspec|redirect|kernel|boot|static|gated|ra|mrt|zebra|bird|dnrouted|xorp|ntk|dhcp|mrouted|keepalived|babel|openr|bgp|isis|ospf|rip|eigrp";
/// The IP protocols a rule names.
pub const IPPROTO_NAMES: &str = "tcp|udp|icmp|icmpv6|sctp";

macro_rules! format_type {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

format_type!(
    /// A lab name (see `naming::lab_name_problem`).
    LabName,
    json_schema!({
        "description": "A lab name: 1 to 32 letters, digits, `_`, `.` and `-`, not `.` or `..`.",
        "type": "string",
        "minLength": 1,
        "maxLength": LAB_NAME_MAX,
        "pattern": WORD_PATTERN,
        "not": {"enum": [".", ".."]}
    })
);

format_type!(
    /// The prefix of a lab's namespace names.
    NamePrefix,
    json_schema!({
        "description": "Letters, digits, `_`, `.` and `-`.",
        "type": "string",
        "pattern": WORD_PATTERN
    })
);

format_type!(
    /// A router's or host's name (its namespace's, after the prefix).
    NodeName,
    json_schema!({
        "description": "A node name, typed on command lines: letters, digits, `_`, `.` and `-`, not first `.` or `-`, with at most one range `[first-last]`; at most 255 bytes with the prefix.",
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": NODE_NAME_PATTERN,
        "allOf": [{"pattern": NS_NAME_PATTERN}]
    })
);

format_type!(
    /// An interface name a node declares (not `lo`).
    InterfaceName,
    json_schema!({
        "description": "A Linux interface name: 1 to 15 bytes, no `/`, `:` or whitespace, not `.`, `..` or (declared) `lo`.",
        "type": "string",
        "minLength": 1,
        "maxLength": IFNAME_MAX,
        "pattern": IFNAME_PATTERN,
        "not": {"enum": [".", "..", "lo"]}
    })
);

format_type!(
    /// An interface a route, rule or stacked link refers to (`lo` included).
    InterfaceRef,
    json_schema!({
        "description": "A Linux interface name: 1 to 15 bytes, no `/`, `:` or whitespace, not `.` or `..`.",
        "type": "string",
        "minLength": 1,
        "maxLength": IFNAME_MAX,
        "pattern": IFNAME_PATTERN,
        "not": {"enum": [".", ".."]}
    })
);

/// A process name (`run:` key): it names the process's log file.
pub const PROCESS_NAME_PATTERN: &str = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$";

format_type!(
    /// The path of a file a node declares (`files:` key).
    FilePath,
    json_schema!({
        "description": "An absolute, normalized path inside the node, not under `/proc`, `/sys` or `/dev`: `/etc/bird/bird.conf`. `{i}` and `{name}` are replaced.",
        "type": "string",
        "pattern": "^/"
    })
);

format_type!(
    /// A file's permission bits.
    FileMode,
    json_schema!({
        "description": "Permission bits, read as octal whatever the YAML type (`0755`, `755`, `\"0640\"`), at most `0777`.",
        "type": ["string", "integer"],
        "pattern": "^(0o|0)?[0-7]{1,3}$",
        "minimum": 0,
        "maximum": 777
    })
);

format_type!(
    /// The name of a process a node runs (`run:` key).
    ProcessName,
    json_schema!({
        "description": "A process name, which names its log: 1 to 64 letters, digits, `_`, `.` and `-`, not first `.`.",
        "type": "string",
        "pattern": PROCESS_NAME_PATTERN
    })
);

format_type!(
    /// A site's name (a machine of a lab spread over several).
    SiteName,
    json_schema!({
        "description": "A site name: letters, digits, `_`, `.` and `-`.",
        "type": "string",
        "minLength": 1,
        "pattern": WORD_PATTERN
    })
);

format_type!(
    /// A network's name.
    NetworkName,
    json_schema!({"type": "string", "minLength": 1})
);

format_type!(
    /// A subnet pool's name.
    PoolName,
    json_schema!({"type": "string", "minLength": 1})
);

format_type!(
    /// The name of a declared routing table.
    TableName,
    json_schema!({
        "description": "A table name; `main`, `local` and `default` are the kernel's.",
        "type": "string",
        "minLength": 1,
        "not": {"enum": ["main", "local", "default"]}
    })
);

format_type!(
    /// The number of a declared routing table.
    TableNumber,
    json_schema!({
        "description": "A table number: 1 to 4294967295, not 253 (default), 254 (main) or 255 (local).",
        "type": "integer",
        "format": "uint32",
        "minimum": 1,
        "maximum": u32::MAX,
        "not": {"enum": [253, 254, 255]}
    })
);

format_type!(
    /// A sysctl key.
    SysctlKey,
    json_schema!({
        "description": "A sysctl under `net.`, dotted: `net.ipv4.conf.all.rp_filter`.",
        "type": "string",
        "pattern": SYSCTL_KEY_PATTERN
    })
);

format_type!(
    /// An interface address: an IP address and its prefix length.
    InterfaceAddress,
    json_schema!({
        "description": "An IPv4 or IPv6 address with its prefix length: `10.1.1.1/24`, `2001:db8::1/64`.",
        "type": "string",
        "pattern": cidr_pattern()
    })
);

format_type!(
    /// An IP prefix (a subnet, a rule's source or destination).
    IpPrefix,
    json_schema!({
        "description": "An IPv4 or IPv6 prefix without host bits: `10.1.1.0/24`, `2001:db8::/64`.",
        "type": "string",
        "pattern": cidr_pattern()
    })
);

format_type!(
    /// A route destination.
    RouteDestination,
    json_schema!({
        "description": "A prefix without host bits, `default` (IPv4) or `default6` (IPv6).",
        "type": "string",
        "pattern": destination_pattern()
    })
);

format_type!(
    /// A plain IP address (a gateway, a tunnel endpoint).
    IpAddress,
    json_schema!({
        "description": "An IPv4 or IPv6 address, without prefix length: `10.1.1.1`, `2001:db8::1`.",
        "type": "string",
        "pattern": ip_pattern()
    })
);

format_type!(
    /// A host's gateway: an address, or `none`.
    Gateway,
    json_schema!({
        "description": "An IPv4 or IPv6 address without prefix length, or `none` for no default route.",
        "type": "string",
        "pattern": format!("^none$|{}", ip_pattern())
    })
);

format_type!(
    /// One end of a link: `node:interface`.
    LinkEnd,
    json_schema!({
        "description": "`node:interface`, e.g. `r1:eth1`.",
        "type": "string",
        "pattern": r"^[^/\s]+:[^/:\s]{1,15}$"
    })
);

format_type!(
    /// A port range of a rule, as text.
    PortRange,
    json_schema!({
        "description": "A port or an inclusive range `lo-hi`, ports 1 to 65534.",
        "type": "string",
        "pattern": port_range_pattern()
    })
);

format_type!(
    /// A route protocol's name.
    RouteProtoName,
    json_schema!({
        "description": "A route protocol as iproute2 names it (`rt_protos`).",
        "type": "string",
        "pattern": format!("^(?:{ROUTE_PROTO_NAMES})$")
    })
);

/// An Ethernet address: six pairs of hex digits between colons.
pub const MAC_PATTERN: &str = "^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$";
/// A uid range as text: `1000-2000` or `1000`, decimal.
pub const UID_RANGE_PATTERN: &str = r"^[0-9]{1,10}(?:-[0-9]{1,10})?$";

format_type!(
    /// An Ethernet address.
    MacAddress,
    json_schema!({
        "description": "An Ethernet address, `52:54:00:12:34:01`.",
        "type": "string",
        "pattern": MAC_PATTERN
    })
);

format_type!(
    /// A uid range of a rule, as text.
    UidRange,
    json_schema!({
        "description": "A uid or an inclusive range `lo-hi` of uids (0 to 4294967295).",
        "type": "string",
        "pattern": UID_RANGE_PATTERN
    })
);

format_type!(
    /// An IP protocol's name.
    IpprotoName,
    json_schema!({
        "description": "`tcp`, `udp`, `icmp`, `icmpv6` or `sctp`.",
        "type": "string",
        "pattern": format!("^(?:{IPPROTO_NAMES})$")
    })
);

format_type!(
    /// A table a route or rule names.
    TableRefName,
    json_schema!({
        "description": "`main`, or a name declared under `tables`.",
        "type": "string",
        "minLength": 1,
        "not": {"enum": ["local", "default"]}
    })
);

/// What an interface's kind asks of its other fields: a vxlan has a `vxlan` block and a
/// macvlan a `macvlan` block, no other kind has either, and only a veth is on a
/// `network` (`null` counts as absent, as for nshost). Derived from the kinds' table.
pub fn interface_kind_rules() -> serde_json::Value {
    let kind_is = |kinds: &[&str]| serde_json::json!({"required": ["kind"], "properties": {"kind": {"enum": kinds}}});
    let absent = |field: &str| serde_json::json!({"properties": {field: {"type": "null"}}});
    let present = |field: &str| serde_json::json!({"required": [field], "properties": {field: {"type": "object"}}});
    let mut rules: Vec<serde_json::Value> = Kind::all()
        .filter_map(|k| Some((k.name(), k.block()?)))
        .map(|(kind, block)| serde_json::json!({"if": kind_is(&[kind]), "then": present(block), "else": absent(block)}))
        .collect();
    let off_network: Vec<&str> = Kind::all()
        .filter(|k| !k.on_network())
        .map(Kind::name)
        .collect();
    rules.push(serde_json::json!({"if": kind_is(&off_network), "then": absent("network")}));
    serde_json::Value::Array(rules)
}

/// What a check's probe asks of it: `tcp` or `udp`, not both, and `expect: open` or
/// `blocked` only with one of them.
pub fn check_probe_rules() -> serde_json::Value {
    let port = |field: &str| serde_json::json!({"required": [field], "properties": {field: {"type": "integer"}}});
    serde_json::json!([
        {"not": {"allOf": [port("tcp"), port("udp")]}},
        {
            "if": {"required": ["expect"], "properties": {"expect": {"enum": ["open", "blocked"]}}},
            "then": {"anyOf": [port("tcp"), port("udp")]}
        }
    ])
}

/// A map from names of shape `K` to values of shape `V` (`propertyNames` and
/// `additionalProperties`), `null` included (an empty collection, as `rules:` alone).
pub struct Map<K, V>(PhantomData<(K, V)>);

impl<K: JsonSchema, V: JsonSchema> JsonSchema for Map<K, V> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}_to_{}", K::schema_name(), V::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let keys = generator.subschema_for::<K>();
        let values = generator.subschema_for::<V>();
        json_schema!({
            "type": ["object", "null"],
            "propertyNames": keys,
            "additionalProperties": values
        })
    }
}

#[cfg(test)]
#[path = "formats_tests.rs"]
mod tests;
