//! Interfaces: the members of networks (router interfaces and each host's one), their
//! kinds, and the interfaces of the resolved lab.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use ipnet::IpNet;
use miette::SourceSpan;

use super::names::check_ifname;
use super::networks::NetInfo;
use super::values::{check_mtu, parse_address};
use super::{Code, Cx};
use crate::lab::{IfaceKind, LabInterface};
use crate::naming;
use crate::topology::{Spanned, Topology};

/// One interface of a node (a router interface or a host's single interface).
pub(super) struct Member<'t> {
    pub(super) node: &'t Spanned<String>,
    pub(super) router: bool,
    pub(super) ifname: String,
    /// Where the interface is named: its key, a host's `interface`, or the host's name.
    pub(super) name_span: SourceSpan,
    /// `None` for veth, else the standalone kind.
    pub(super) standalone: Option<String>,
    pub(super) explicit_network: Option<&'t Spanned<String>>,
    /// The addresses that parsed, in file order.
    pub(super) addrs: Vec<(IpNet, SourceSpan)>,
    pub(super) mtu: Option<u32>,
    pub(super) up: bool,
    /// The network (an index into the lab's networks), once resolved.
    pub(super) network: Option<usize>,
    /// Set when an address lies outside the member's network (already reported).
    pub(super) misplaced: bool,
}

impl Member<'_> {
    pub(super) fn describe(&self) -> String {
        let what = if self.router { "router" } else { "host" };
        format!("{what} `{}` interface `{}`", self.node.value, self.ifname)
    }
}

pub(super) fn check_kind(cx: &mut Cx, kind: &Spanned<String>) -> bool {
    let ok = !kind.value.is_empty()
        && kind
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        let span = cx.span(kind);
        cx.report(
            Code::BadKind,
            format!("`{}` is not a link kind", kind.value),
        )
        .with_label(span, "not a kind name")
        .with_help("a kind is a lowercase word such as `veth` or `dummy`");
    }
    ok
}

/// Every member of the lab: each router's interfaces in file order, then each host's.
pub(super) struct Members<'t> {
    pub(super) list: Vec<Member<'t>>,
    /// Where each router's members are in `list`, by router index.
    pub(super) routers: Vec<Range<usize>>,
}

impl<'t> Members<'t> {
    /// The members of router `r`.
    pub(super) fn of_router(&self, r: usize) -> &[Member<'t>] {
        &self.list[self.routers[r].clone()]
    }

    /// The member of host `h` (every host has exactly one).
    pub(super) fn of_host(&self, h: usize) -> &Member<'t> {
        &self.list[self.routers.last().map_or(0, |r| r.end) + h]
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

    /// Whether the node has an interface `name`, its loopback included.
    pub(super) fn has(&self, name: &str) -> bool {
        name == "lo" || self.by_name.contains_key(name)
    }
}

pub(super) fn collect_members<'t>(cx: &mut Cx, topo: &'t Topology) -> Members<'t> {
    let mut members = Vec::new();
    let mut routers = Vec::new();
    for (node, router) in &topo.routers {
        let start = members.len();
        for (key, iface) in &router.interfaces {
            let name_span = cx.span(key);
            check_ifname(cx, &key.value, name_span, true);
            let standalone = match &iface.kind {
                Some(kind) if kind.value != "veth" => {
                    check_kind(cx, kind);
                    Some(kind.value.clone())
                }
                _ => None,
            };
            if let (Some(kind), Some(network)) = (&standalone, &iface.network) {
                let span = cx.span(network);
                cx.report(
                    Code::NetworkOnStandalone,
                    format!("a `{kind}` interface cannot be on a network"),
                )
                .with_label(span, "only veth interfaces join networks")
                .with_help("remove `network`, or remove `kind` to make it a veth");
            }
            if standalone.is_none() && iface.network.is_none() && iface.addresses.is_empty() {
                cx.report(
                    Code::NoNetwork,
                    format!(
                        "router `{}` interface `{}` is on no network",
                        node.value, key.value
                    ),
                )
                .with_label(name_span, "neither `network` nor an address")
                .with_help(
                    "name its network with `network:`, or give it an address to infer it from",
                );
            }
            let addrs = iface
                .addresses
                .iter()
                .filter_map(|a| parse_address(cx, a))
                .collect();
            let mtu = check_mtu(cx, iface.mtu.as_ref());
            members.push(Member {
                node,
                router: true,
                ifname: key.value.clone(),
                name_span,
                explicit_network: if standalone.is_none() {
                    iface.network.as_ref()
                } else {
                    None
                },
                standalone,
                addrs,
                mtu,
                up: iface.up.as_ref().is_none_or(|u| u.value),
                network: None,
                misplaced: false,
            });
        }
        routers.push(start..members.len());
    }
    for (node, host) in &topo.hosts {
        let (ifname, name_span) = match &host.interface {
            Some(i) => {
                let span = cx.span(i);
                check_ifname(cx, &i.value, span, true);
                (i.value.clone(), span)
            }
            None => ("eth0".to_string(), cx.span(node)),
        };
        let addrs = std::iter::once(&host.address)
            .chain(&host.secondary)
            .filter_map(|a| parse_address(cx, a))
            .collect();
        let mtu = check_mtu(cx, host.mtu.as_ref());
        members.push(Member {
            node,
            router: false,
            ifname,
            name_span,
            standalone: None,
            explicit_network: host.network.as_ref(),
            addrs,
            mtu,
            up: true,
            network: None,
            misplaced: false,
        });
    }
    Members {
        list: members,
        routers,
    }
}

pub(super) fn lab_interfaces(mine: &[Member], nets: &[NetInfo]) -> BTreeMap<String, LabInterface> {
    mine.iter()
        .map(|m| {
            let net_mtu = m.network.and_then(|n| nets[n].mtu);
            let kind = match &m.standalone {
                Some(kind) if kind == "ifb" => IfaceKind::Ifb,
                Some(_) => IfaceKind::Dummy,
                None => IfaceKind::Veth {
                    network: m.network.map(|n| nets[n].name.clone()).unwrap_or_default(),
                    fabric_name: naming::fabric_port_name(&m.node.value, &m.ifname),
                },
            };
            (
                m.ifname.clone(),
                LabInterface {
                    kind,
                    addresses: m.addrs.iter().map(|(a, _)| *a).collect(),
                    mtu: m.mtu.or(net_mtu),
                    up: m.up,
                },
            )
        })
        .collect()
}
