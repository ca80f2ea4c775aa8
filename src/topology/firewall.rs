//! A node's `firewall:` as written: the texts of the kernel's own tools, checked by
//! `validate::firewall`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Spanned;

/// A node's firewall: each part optional, each the text its tool reads.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FirewallSpec {
    /// IPv4 rules as `iptables-save` writes them (`*filter`, `:INPUT DROP [0:0]`,
    /// `-A INPUT ...`, `COMMIT`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub iptables: Option<Spanned<String>>,
    /// IPv6 rules as `ip6tables-save` writes them.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ip6tables: Option<Spanned<String>>,
    /// An nftables ruleset as `nft -f` reads it: tables other than iptables-nft's own
    /// (`ip filter`, `ip6 nat`, ...), which are the `iptables` and `ip6tables` parts.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub nftables: Option<Spanned<String>>,
    /// ipsets as `ipset save` writes them (`create NAME TYPE ...`, `add NAME MEMBER`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ipsets: Option<Spanned<String>>,
}
