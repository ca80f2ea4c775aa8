//! The interfaces validation works on: each node's members (a router's interfaces, a
//! host's one or several), found by name, as the interface, network, route, rule and
//! kind checks all read them.

use std::collections::HashMap;
use std::ops::Range;

use ipnet::IpNet;
use miette::SourceSpan;

use crate::state::MacAddr;
use crate::topology::{Kind, MacvlanSpec, Spanned, VxlanSpec};

/// One interface of a node (a router interface or a host's single interface).
pub(super) struct Member<'t> {
    pub(super) node: &'t Spanned<String>,
    pub(super) router: bool,
    pub(super) ifname: String,
    /// Where the interface is named: its key, a host's `interface`, or the host's name.
    pub(super) name_span: SourceSpan,
    pub(super) kind: Kind,
    /// Where the kind is written, if it is.
    pub(super) kind_span: Option<SourceSpan>,
    /// The kind's block, on an interface of that kind (a block on another kind is
    /// reported and left out).
    pub(super) vxlan: Option<&'t Spanned<VxlanSpec>>,
    pub(super) macvlan: Option<&'t Spanned<MacvlanSpec>>,
    pub(super) explicit_network: Option<&'t Spanned<String>>,
    /// The addresses that parsed, in file order.
    pub(super) addrs: Vec<(IpNet, SourceSpan)>,
    pub(super) mtu: Option<u32>,
    pub(super) mtu_span: Option<SourceSpan>,
    pub(super) up: bool,
    /// Where `up: false` is written, for an interface declared down.
    pub(super) down_span: Option<SourceSpan>,
    /// The network (an index into the lab's networks), once resolved.
    pub(super) network: Option<usize>,
    /// Set when an address lies outside the member's network (already reported).
    pub(super) misplaced: bool,
    /// The Ethernet address written for it, if valid.
    pub(super) mac: Option<MacAddr>,
    /// Its `impair` block, if valid.
    pub(super) impair: Option<super::impair::Impair>,
}

impl Member<'_> {
    pub(super) fn describe(&self) -> String {
        let what = if self.router { "router" } else { "host" };
        format!("{what} `{}` interface `{}`", self.node.value, self.ifname)
    }

    /// Whether it is a veth end (the kinds on a network).
    pub(super) fn is_veth(&self) -> bool {
        self.kind.on_network()
    }

    /// Where to point at for the interface's kind: the kind, else its name.
    pub(super) fn kind_or_name_span(&self) -> SourceSpan {
        self.kind_span.unwrap_or(self.name_span)
    }
}

/// Every member of the lab: each router's interfaces in file order, then each host's.
pub(super) struct Members<'t> {
    pub(super) list: Vec<Member<'t>>,
    /// Where each router's members are in `list`, by router index.
    pub(super) routers: Vec<Range<usize>>,
    /// Where each host's members are in `list`, by host index.
    pub(super) hosts: Vec<Range<usize>>,
}

impl<'t> Members<'t> {
    /// The members of router `r`.
    pub(super) fn of_router(&self, r: usize) -> &[Member<'t>] {
        &self.list[self.routers[r].clone()]
    }

    /// The members of host `h` (one, but for a host with `interfaces`).
    pub(super) fn of_host(&self, h: usize) -> &[Member<'t>] {
        &self.list[self.hosts[h].clone()]
    }
}

/// One node while its routes, rules and sysctls are checked: its key and members, with
/// its interfaces found by name.
pub(super) struct Node<'m, 't> {
    pub(super) key: &'t Spanned<String>,
    pub(super) members: &'m [Member<'t>],
    by_name: HashMap<&'m str, usize>,
}

impl<'m, 't> Node<'m, 't> {
    pub(super) fn new(key: &'t Spanned<String>, members: &'m [Member<'t>]) -> Self {
        let by_name = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.ifname.as_str(), i))
            .collect();
        Node {
            key,
            members,
            by_name,
        }
    }

    /// The node's name.
    pub(super) fn name(&self) -> &'t str {
        &self.key.value
    }

    /// The declared interface `name`.
    pub(super) fn iface(&self, name: &str) -> Option<&'m Member<'t>> {
        self.by_name.get(name).map(|&i| &self.members[i])
    }

    /// Whether the node has an interface `name`, its loopback included.
    pub(super) fn has(&self, name: &str) -> bool {
        name == "lo" || self.by_name.contains_key(name)
    }

    /// The names of its interfaces, `lo` first, as a list for a help text.
    pub(super) fn list_names(&self) -> String {
        std::iter::once("lo")
            .chain(self.members.iter().map(|m| m.ifname.as_str()))
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
