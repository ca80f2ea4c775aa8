//! Firewalls of a node: iptables and ip6tables rules (iptables-save text), nftables
//! rulesets (nft text) and ipsets (ipset save text), as one comparable state.
//!
//! The lab file gives the texts; the kernel's own loaders and readers are the authority
//! on what they mean. `kernel::firewall` loads each distinct text into a scratch network
//! namespace and reads it back, which gives the kernel's canonical form; this module
//! parses that form (and the live one, read the same way) into a [`Firewall`]: rule
//! lists per family, table and chain, chain policies, and sets with their members, with
//! counters, generated comments and other run-to-run noise left out. `plan::diff`
//! compares two of them; [`diff`] says what differs per table and chain, rule by rule.
//!
//! Nothing here touches the kernel: parsing also validates a text enough to report
//! located errors before any namespace exists (see [`xt::parse`], [`ipset::parse`]).

pub mod diff;
pub mod files;
pub mod ipset;
pub mod nft;
pub mod xt;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A node's firewall in canonical form. Empty (the default) when it has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Firewall {
    /// IPv4 iptables tables (`filter`, `nat`, ...).
    #[serde(default, skip_serializing_if = "Ruleset::is_empty")]
    pub iptables: Ruleset,
    /// IPv6 ip6tables tables.
    #[serde(default, skip_serializing_if = "Ruleset::is_empty")]
    pub ip6tables: Ruleset,
    /// nftables tables other than iptables-nft's, keyed `family name` (`inet filter`);
    /// their chains, sets and maps keyed `chain input`, `set blocked`.
    #[serde(default, skip_serializing_if = "Ruleset::is_empty")]
    pub nftables: Ruleset,
    /// ipsets by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ipsets: BTreeMap<String, IpSet>,
}

/// The tables of one family.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ruleset {
    pub tables: BTreeMap<String, Table>,
}

/// One table: its chains (for nftables also its sets, maps and other blocks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Table {
    pub chains: BTreeMap<String, Chain>,
}

/// One chain: its policy (a built-in iptables chain's; `None` for a user chain and for
/// nftables, whose policy is a line of the chain) and its rules in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Chain {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub rules: Vec<String>,
}

/// One ipset: its type and options as `ipset save` writes them after the name
/// (`hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12`, the random
/// `initval` left out), and its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IpSet {
    pub header: String,
    pub members: BTreeSet<String>,
}

/// The four texts a lab file may give a node, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FirewallText {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iptables: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip6tables: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nftables: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipsets: Option<String>,
}

/// One of the four parts of a firewall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Iptables,
    Ip6tables,
    Nftables,
    Ipsets,
}

impl Part {
    pub const ALL: [Part; 4] = [
        Part::Ipsets,
        Part::Iptables,
        Part::Ip6tables,
        Part::Nftables,
    ];

    /// The field's name in the lab file.
    pub fn field(self) -> &'static str {
        match self {
            Part::Iptables => "iptables",
            Part::Ip6tables => "ip6tables",
            Part::Nftables => "nftables",
            Part::Ipsets => "ipsets",
        }
    }

    /// The program that loads this part, and the Debian package that has it.
    pub fn loader(self) -> (&'static str, &'static str) {
        match self {
            Part::Iptables => ("iptables-restore", "iptables"),
            Part::Ip6tables => ("ip6tables-restore", "iptables"),
            Part::Nftables => ("nft", "nftables"),
            Part::Ipsets => ("ipset", "ipset"),
        }
    }

    /// The program that reads this part back.
    pub fn reader(self) -> &'static str {
        match self {
            Part::Iptables => "iptables-save",
            Part::Ip6tables => "ip6tables-save",
            Part::Nftables => "nft",
            Part::Ipsets => "ipset",
        }
    }
}

impl FirewallText {
    /// The text of one part.
    pub fn get(&self, part: Part) -> Option<&str> {
        match part {
            Part::Iptables => self.iptables.as_deref(),
            Part::Ip6tables => self.ip6tables.as_deref(),
            Part::Nftables => self.nftables.as_deref(),
            Part::Ipsets => self.ipsets.as_deref(),
        }
    }

    /// Whether it gives no text at all.
    pub fn is_empty(&self) -> bool {
        Part::ALL.iter().all(|p| self.get(*p).is_none())
    }
}

impl Firewall {
    /// The firewall a lab's texts describe, as far as parsing them tells (the kernel's
    /// canonical form comes from loading them, at plan time: `kernel::firewall`). An
    /// nft text not in `nft list ruleset` form is left out here.
    pub fn from_text(text: &FirewallText) -> Firewall {
        let xt = |t: Option<&str>| {
            t.and_then(|t| xt::parse(t).ok())
                .map(|p| p.ruleset)
                .unwrap_or_default()
        };
        Firewall {
            iptables: xt(text.iptables.as_deref()),
            ip6tables: xt(text.ip6tables.as_deref()),
            nftables: text
                .nftables
                .as_deref()
                .and_then(|t| nft::parse_listing(t).ok())
                .unwrap_or_default(),
            ipsets: text
                .ipsets
                .as_deref()
                .and_then(|t| ipset::parse(t).ok())
                .unwrap_or_default(),
        }
    }
}

impl Ruleset {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Number of rules in all tables.
    pub fn rule_count(&self) -> usize {
        self.tables
            .values()
            .flat_map(|t| t.chains.values())
            .map(|c| c.rules.len())
            .sum()
    }
}

impl Firewall {
    /// Whether the node has no firewall at all.
    pub fn is_empty(&self) -> bool {
        self.iptables.is_empty()
            && self.ip6tables.is_empty()
            && self.nftables.is_empty()
            && self.ipsets.is_empty()
    }

    /// The ruleset of a rule part (`None` for ipsets).
    pub fn ruleset(&self, part: Part) -> Option<&Ruleset> {
        match part {
            Part::Iptables => Some(&self.iptables),
            Part::Ip6tables => Some(&self.ip6tables),
            Part::Nftables => Some(&self.nftables),
            Part::Ipsets => None,
        }
    }

    /// Whether one part is empty.
    pub fn part_is_empty(&self, part: Part) -> bool {
        match self.ruleset(part) {
            Some(r) => r.is_empty(),
            None => self.ipsets.is_empty(),
        }
    }

    /// Number of objects: rules, chain policies and set members, for counts in status
    /// and plans.
    pub fn counts(&self) -> FirewallCounts {
        FirewallCounts {
            iptables: self.iptables.rule_count(),
            ip6tables: self.ip6tables.rule_count(),
            nftables: self.nftables.rule_count(),
            ipsets: self.ipsets.len(),
            ipset_members: self.ipsets.values().map(|s| s.members.len()).sum(),
        }
    }
}

/// How much a firewall holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FirewallCounts {
    /// iptables rules (IPv4).
    pub iptables: usize,
    /// ip6tables rules.
    pub ip6tables: usize,
    /// nftables lines in chains, sets and maps.
    pub nftables: usize,
    pub ipsets: usize,
    pub ipset_members: usize,
}

impl std::fmt::Display for FirewallCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.iptables > 0 {
            parts.push(format!("{} iptables", self.iptables));
        }
        if self.ip6tables > 0 {
            parts.push(format!("{} ip6tables", self.ip6tables));
        }
        if self.nftables > 0 {
            parts.push(format!("{} nft", self.nftables));
        }
        if self.ipsets > 0 {
            parts.push(format!(
                "{} ipsets ({} members)",
                self.ipsets, self.ipset_members
            ));
        }
        if parts.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", parts.join(", "))
        }
    }
}

/// A problem in a firewall text, at a line of it (0-based; `None` for the text as a
/// whole).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextError {
    pub line: Option<usize>,
    pub message: String,
}

impl TextError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        TextError {
            line: Some(line),
            message: message.into(),
        }
    }
}

/// Splits a line into words as iptables-restore does: spaces separate, double quotes
/// group (kept, so the line can be written back as it was).
pub(crate) fn words(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        let mut quoted = false;
        while i < bytes.len() && (quoted || !bytes[i].is_ascii_whitespace()) {
            if bytes[i] == b'"' {
                quoted = !quoted;
            }
            i += 1;
        }
        out.push(&line[start..i]);
    }
    out
}

/// The place in the lab file of line `line` (0-based) of a firewall text whose value
/// is at `value`: the line itself in a block scalar (`iptables: |`), the whole value
/// otherwise (a quoted string's lines are not lines of the file).
pub fn line_span(src: &str, value: miette::SourceSpan, line: usize) -> miette::SourceSpan {
    let start = value.offset();
    if matches!(src.as_bytes().get(start), Some(b'"' | b'\'')) || start >= src.len() {
        return value;
    }
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = start - line_start;
    let mut pos = start;
    for _ in 0..line {
        match src[pos..].find('\n') {
            Some(i) => pos += i + 1,
            None => return value,
        }
        let spaces = src[pos..]
            .bytes()
            .take(indent)
            .take_while(|b| *b == b' ')
            .count();
        pos += spaces;
    }
    let end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
    (pos, end - pos).into()
}
