//! What to check: a check resolved against the lab (the node it is sent from, its
//! namespace, the address it goes to), and how a check's `to` is resolved, with the
//! reasons one cannot be. Kernel-free: `validate` resolves the lab file's checks with
//! it, the command line an ad-hoc `--from`/`--to`.
//!
//! Traffic only ever goes between the lab's own namespaces: `from` is a node of the
//! lab, and `to` a node of the lab or an address inside one of its subnets (its
//! networks' subnets, declared or inferred, the prefixes of its interfaces' addresses,
//! and its routers' loopback addresses).

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::lab::{Lab, LabNode};
use crate::problem::Code;
use crate::topology::{Expect, Family, ServiceProto};

/// What a check sends: an ICMP echo request, or a probe of a TCP or UDP port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    #[default]
    Icmp,
    Port {
        proto: ServiceProto,
        port: u16,
    },
}

impl Probe {
    /// The port probed, with its protocol.
    pub fn port(self) -> Option<(ServiceProto, u16)> {
        match self {
            Probe::Icmp => None,
            Probe::Port { proto, port } => Some((proto, port)),
        }
    }
}

/// One reachability check, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The node the echo request is sent from.
    pub from: String,
    /// Its namespace.
    pub ns: String,
    /// The target as written: a node's name, or an address.
    pub to: String,
    /// Whether `to` names a node (shown with its address) or is an address.
    pub to_node: bool,
    /// The address the echo request (or the probe) goes to.
    pub dst: IpAddr,
    /// `reachable`/`unreachable` for ICMP, `open`/`blocked` for a port probe.
    pub expect: Expect,
    pub probe: Probe,
}

/// The family of an address.
pub fn family_of(ip: IpAddr) -> Family {
    if ip.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    }
}

/// The name of a family as written in a lab file.
pub fn family_name(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

/// Why a check cannot be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// `from` is no node of the lab.
    UnknownFrom {
        name: String,
        suggestion: Option<String>,
    },
    /// `to` is neither a node of the lab nor an address.
    UnknownTo {
        name: String,
        suggestion: Option<String>,
        /// It is a prefix (`10.1.1.1/24`), not an address.
        prefix: bool,
    },
    /// `to` is an address outside every subnet of the lab.
    OutsideLab { addr: IpAddr, subnets: Vec<IpNet> },
    /// The node `to` names has no address (of the family), on an interface that is up.
    NoAddress {
        node: String,
        family: Option<Family>,
    },
    /// `to` is an address of the other family than `family`.
    FamilyMismatch { addr: IpAddr, family: Family },
}

/// Which part of a check a problem is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    From,
    To,
    Family,
}

impl Unresolved {
    pub fn code(&self) -> Code {
        match self {
            Unresolved::UnknownFrom { .. } => Code::UnknownCheckNode,
            Unresolved::UnknownTo { .. } => Code::UnknownCheckTarget,
            Unresolved::OutsideLab { .. } => Code::CheckOutsideLab,
            Unresolved::NoAddress { .. } => Code::CheckNoAddress,
            Unresolved::FamilyMismatch { .. } => Code::FamilyMismatch,
        }
    }

    /// The part of the check to point at.
    pub fn part(&self) -> Part {
        match self {
            Unresolved::UnknownFrom { .. } => Part::From,
            Unresolved::FamilyMismatch { .. } => Part::Family,
            _ => Part::To,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Unresolved::UnknownFrom { name, .. } => {
                format!("a check is sent from `{name}`, which is no node of the lab")
            }
            Unresolved::UnknownTo { name, .. } => {
                format!("the check target `{name}` is neither a node of the lab nor an address")
            }
            Unresolved::OutsideLab { addr, .. } => {
                format!("the check target {addr} is outside every subnet of the lab")
            }
            Unresolved::NoAddress { node, family } => match family {
                Some(f) => format!(
                    "node `{node}` has no {} address to check",
                    family_name(*f).replace("ip", "IP")
                ),
                None => format!("node `{node}` has no address to check"),
            },
            Unresolved::FamilyMismatch { addr, family } => format!(
                "the check target {addr} is not an {} address",
                family_name(*family).replace("ip", "IP")
            ),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Unresolved::UnknownFrom { suggestion, .. }
            | Unresolved::UnknownTo { suggestion, .. }
                if suggestion.is_some() =>
            {
                format!("did you mean `{}`?", suggestion.as_deref().unwrap_or(""))
            }
            Unresolved::UnknownFrom { .. } => "not a router or host of this lab".into(),
            Unresolved::UnknownTo { prefix: true, .. } => "a prefix, not an address".into(),
            Unresolved::UnknownTo { .. } => "not a node or an address".into(),
            Unresolved::OutsideLab { .. } => "not in the lab".into(),
            Unresolved::NoAddress { .. } => "no address on an interface that is up".into(),
            Unresolved::FamilyMismatch { addr, .. } => {
                format!("{addr} is {}", family_name(family_of(*addr)))
            }
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            Unresolved::UnknownFrom { .. } => {
                Some("checks are sent from the lab's own routers and hosts".into())
            }
            Unresolved::UnknownTo { prefix: true, .. } => {
                Some("write the address alone, without its prefix length".into())
            }
            Unresolved::UnknownTo { .. } => Some(
                "`to` is a router or host of the lab, or an address such as `10.1.1.10`".into(),
            ),
            Unresolved::OutsideLab { subnets, .. } => {
                let shown: Vec<String> = subnets.iter().take(8).map(|s| s.to_string()).collect();
                let more = if subnets.len() > shown.len() {
                    format!(" and {} more", subnets.len() - shown.len())
                } else {
                    String::new()
                };
                Some(format!(
                    "checks only send traffic between the lab's own namespaces: name a node, or \
                     an address in one of the lab's subnets ({}{more})",
                    shown.join(", ")
                ))
            }
            Unresolved::NoAddress {
                family: Some(_), ..
            } => Some("leave `family` out, or give the node an address of that family".into()),
            Unresolved::NoAddress { .. } => None,
            Unresolved::FamilyMismatch { .. } => {
                Some("`family` picks among a node's addresses; an address has its own".into())
            }
        }
    }
}

/// The lab's nodes and subnets, for resolving checks: built once, each lookup in time
/// proportional to the number of distinct prefix lengths.
pub struct Index<'l> {
    lab: &'l Lab,
    subnets: HashSet<IpNet>,
    /// Prefix lengths in use, longest first, per family.
    lens_v4: Vec<u8>,
    lens_v6: Vec<u8>,
}

impl<'l> Index<'l> {
    pub fn new(lab: &'l Lab) -> Self {
        let networks = lab
            .networks
            .values()
            .flat_map(|n| n.subnets.iter().copied());
        let interfaces = lab
            .nodes
            .values()
            .flat_map(|n| n.interfaces.values())
            .flat_map(|i| i.addresses.iter().map(IpNet::trunc));
        // A router's loopback addresses (router IDs, anycast) are the lab's too.
        let loopbacks = lab.nodes.values().flat_map(|n| n.loopback.iter().copied());
        let subnets: HashSet<IpNet> = networks
            .chain(interfaces)
            .chain(loopbacks)
            .map(|s| s.trunc())
            .collect();
        let lens = |v6: bool| {
            let mut lens: Vec<u8> = subnets
                .iter()
                .filter(|s| matches!(s, IpNet::V6(_)) == v6)
                .map(IpNet::prefix_len)
                .collect();
            lens.sort_unstable_by(|a, b| b.cmp(a));
            lens.dedup();
            lens
        };
        Index {
            lab,
            lens_v4: lens(false),
            lens_v6: lens(true),
            subnets,
        }
    }

    /// Whether `ip` is inside one of the lab's subnets.
    pub fn in_lab(&self, ip: IpAddr) -> bool {
        let lens = if ip.is_ipv4() {
            &self.lens_v4
        } else {
            &self.lens_v6
        };
        lens.iter()
            .any(|&len| IpNet::new(ip, len).is_ok_and(|p| self.subnets.contains(&p.trunc())))
    }

    /// The lab's subnets, sorted.
    pub fn subnets(&self) -> Vec<IpNet> {
        let mut all: Vec<IpNet> = self.subnets.iter().copied().collect();
        all.sort();
        all
    }

    /// The closest node name to a misspelt one.
    fn suggest(&self, name: &str) -> Option<String> {
        self.lab
            .nodes
            .keys()
            .map(|n| (strsim::osa_distance(name, n), n))
            .filter(|&(d, n)| d <= (n.chars().count() / 3).max(1))
            .min_by_key(|&(d, _)| d)
            .map(|(_, n)| n.clone())
    }

    /// Resolves a check from node `from` to `to` (a node or an address).
    pub fn resolve(
        &self,
        from: &str,
        to: &str,
        family: Option<Family>,
        expect: Expect,
        probe: Probe,
    ) -> Result<Check, Unresolved> {
        let Some(source) = self.lab.nodes.get(from) else {
            return Err(Unresolved::UnknownFrom {
                name: from.to_string(),
                suggestion: self.suggest(from),
            });
        };
        let (dst, to_node) = if let Some(node) = self.lab.nodes.get(to) {
            let dst = first_address(node, family).ok_or_else(|| Unresolved::NoAddress {
                node: to.to_string(),
                family,
            })?;
            (dst, true)
        } else if let Ok(addr) = to.trim().parse::<IpAddr>() {
            if let Some(f) = family.filter(|&f| f != family_of(addr)) {
                return Err(Unresolved::FamilyMismatch { addr, family: f });
            }
            if !self.in_lab(addr) {
                return Err(Unresolved::OutsideLab {
                    addr,
                    subnets: self.subnets(),
                });
            }
            (addr, false)
        } else {
            return Err(Unresolved::UnknownTo {
                name: to.to_string(),
                suggestion: self.suggest(to),
                prefix: to.trim().parse::<IpNet>().is_ok(),
            });
        };
        Ok(Check {
            from: from.to_string(),
            ns: source.ns.clone(),
            to: to.trim().to_string(),
            to_node,
            dst,
            expect: if probe == Probe::Icmp {
                expect
            } else {
                expect.for_port()
            },
            probe,
        })
    }
}

/// A node's first address of `family` (IPv4 when it has one and no family is asked
/// for, else IPv6) on an interface that is up: a host's primary address first, a
/// router's interfaces by name.
pub fn first_address(node: &LabNode, family: Option<Family>) -> Option<IpAddr> {
    let addrs = || {
        node.interfaces
            .values()
            .filter(|i| i.up)
            .flat_map(|i| i.addresses.iter().map(IpNet::addr))
    };
    let of = |f: Family| addrs().find(|a| family_of(*a) == f);
    match family {
        Some(f) => of(f),
        None => of(Family::Ipv4).or_else(|| of(Family::Ipv6)),
    }
}
