//! What `nshost check` probes: reachability checks, and the TCP and UDP services a node
//! serves for its port checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Family, Spanned, formats};

/// A reachability check: an ICMP echo request from `from`'s namespace to `to`, or a
/// probe of one of its TCP or UDP ports.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("allOf" = formats::check_probe_rules()))]
pub struct CheckSpec {
    /// The router or host the echo request is sent from.
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    /// A router or host (its first address of the family: a host's primary address, a
    /// router's on its first interface that is up, by name), or an address in one of
    /// the lab's subnets.
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// For ICMP: `reachable` (the default), a reply must come back; `unreachable`,
    /// none may. For a `tcp` or `udp` probe: `open` (the default), the port answers;
    /// `blocked`, it does not (`reachable` and `unreachable` mean the same there).
    #[serde(default)]
    #[schemars(with = "Option<Expect>")]
    pub expect: Option<Spanned<Expect>>,
    /// Probe this TCP port of `to` instead of sending an ICMP echo: open when a
    /// connection is made, blocked on a reset, an ICMP error or a timeout. Not with
    /// `udp`.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub tcp: Option<Spanned<u16>>,
    /// Probe this UDP port of `to`: a datagram is sent and must be echoed back (as an
    /// nshost service does) for the port to be open; blocked on a timeout or an ICMP
    /// error (port unreachable). Not with `tcp`.
    #[serde(default)]
    #[schemars(with = "Option<u16>", range(min = 1, max = 65535))]
    pub udp: Option<Spanned<u16>>,
    /// Which of a node's addresses `to` means when it has both: `ipv4` (the default
    /// when it has an IPv4 address) or `ipv6`.
    #[serde(default)]
    #[schemars(with = "Option<Family>")]
    pub family: Option<Spanned<Family>>,
}

/// What a check expects: `reachable`/`unreachable` for ICMP, `open`/`blocked` for a
/// port probe (where the first two are synonyms of the last two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Reachable,
    Unreachable,
    Open,
    Blocked,
}

impl Expect {
    /// The expectation as written in a lab file.
    pub fn name(self) -> &'static str {
        match self {
            Expect::Reachable => "reachable",
            Expect::Unreachable => "unreachable",
            Expect::Open => "open",
            Expect::Blocked => "blocked",
        }
    }

    /// Whether an answer is expected (`reachable`, `open`).
    pub fn positive(self) -> bool {
        matches!(self, Expect::Reachable | Expect::Open)
    }

    /// The same expectation in a port probe's words (`open`, `blocked`).
    pub fn for_port(self) -> Expect {
        if self.positive() {
            Expect::Open
        } else {
            Expect::Blocked
        }
    }
}

/// A service a node serves: a small listener nshost runs in the node's namespace
/// (TCP accepts and echoes; UDP echoes each datagram back), for port checks.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The port, 1-65535.
    #[schemars(with = "u16", range(min = 1, max = 65535))]
    pub port: Spanned<u16>,
    /// `tcp` (the default) or `udp`.
    #[serde(default)]
    #[schemars(with = "Option<ServiceProto>")]
    pub proto: Option<Spanned<ServiceProto>>,
    /// The address to listen on: one of the node's own. Default: all of them.
    #[serde(default)]
    #[schemars(with = "Option<formats::IpAddress>")]
    pub address: Option<Spanned<String>>,
}

/// The transport of a service or a port probe.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProto {
    #[default]
    Tcp,
    Udp,
}

impl ServiceProto {
    /// The protocol as written in a lab file.
    pub fn name(self) -> &'static str {
        match self {
            ServiceProto::Tcp => "tcp",
            ServiceProto::Udp => "udp",
        }
    }
}
