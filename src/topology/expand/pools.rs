//! Subnet pools: a network with `pool: lans`, or a link with `pool: p2p`, gets a subnet
//! carved from that pool, chosen by the network's name alone, so that adding, removing
//! or reordering networks and links never moves another's subnet (as `ipam` does for
//! addresses).
//!
//! A name whose only digits are at its end (`lan3`, `dc-lan07`) takes the subnet of
//! that number, counting from 0 at the bottom of the pool: `lan3` of `10.0.0.0/16` by
//! `/24` is `10.0.3.0/24`. Any other name (`dmz`, and `r1-r2`, a link's default name,
//! whose numbers are its ends') takes the subnet a hash of the whole name (FNV-1a,
//! fixed forever) picks. Two networks given overlapping subnets, or a carved subnet
//! overlapping one the file writes, is an error pointing at both, never a renumbering.
//!
//! The carved subnet is put in the network's `subnets` (placed at its `pool`), so that
//! everything after, automatic addresses included, sees an ordinary network.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;
use miette::SourceSpan;

use super::super::{Pool, Spanned, Topology, closest};
use super::Ex;
use crate::problem::Code;

/// A pool as checked: the prefix (no host bits), and the prefix length of its subnets,
/// longer than the prefix's and within the family's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Carve {
    prefix: IpNet,
    size: u8,
}

impl Carve {
    /// The bits that number the subnets.
    fn bits(self) -> u32 {
        u32::from(self.size - self.prefix.prefix_len())
    }

    /// How many subnets the pool has; `None` for 2^128 (an IPv6 `::/0` carved by `/128`).
    fn count(self) -> Option<u128> {
        (self.bits() < 128).then(|| 1u128 << self.bits())
    }

    /// The subnet numbered `n` (from 0), `None` past the pool's end.
    fn nth(self, n: u128) -> Option<IpNet> {
        if self.count().is_some_and(|c| n >= c) {
            return None;
        }
        let shift = u32::from(self.prefix.max_prefix_len() - self.size);
        let addr = match self.prefix.network() {
            std::net::IpAddr::V4(a) => {
                std::net::IpAddr::V4((u32::from(a) | ((n as u32) << shift)).into())
            }
            std::net::IpAddr::V6(a) => std::net::IpAddr::V6((u128::from(a) | (n << shift)).into()),
        };
        IpNet::new(addr, self.size).ok()
    }
}

/// The number a network's name stands for in a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    /// A name whose only digits end it: that number (`None`: too large to read).
    Numbered(Option<u128>),
    /// Any other name: its hash, within the pool.
    Hashed(u128),
}

impl Slot {
    fn of(name: &str, carve: Carve) -> Slot {
        let head = name.trim_end_matches(|c: char| c.is_ascii_digit());
        if head.len() < name.len() && !head.contains(|c: char| c.is_ascii_digit()) {
            return Slot::Numbered(name[head.len()..].parse().ok());
        }
        let hash = u128::from(crate::naming::fnv1a_64(name));
        Slot::Hashed(carve.count().map_or(hash, |c| hash % c))
    }
}

/// The subnet network `name` gets from `carve`, or why it gets none.
fn subnet(name: &str, carve: Carve) -> Result<IpNet, String> {
    let n = match Slot::of(name, carve) {
        Slot::Numbered(n) => n,
        Slot::Hashed(n) => Some(n),
    };
    n.and_then(|n| carve.nth(n)).ok_or_else(|| {
        let digits = name.trim_start_matches(|c: char| !c.is_ascii_digit());
        let last = carve.count().map_or(u128::MAX, |c| c - 1);
        format!(
            "its number {digits} is past the pool's last subnet ({} by /{} has subnets 0 to {last})",
            carve.prefix, carve.size
        )
    })
}

/// A subnet that is had: written in the file, or carved already.
struct Taken {
    net: IpNet,
    /// "network `lan`", "link `r1-r2`".
    who: String,
    span: SourceSpan,
    allow_overlap: bool,
    carved: bool,
}

/// The pools of a lab and the subnets taken so far, to carve the networks' and links'.
pub(super) struct Carver {
    /// Every pool by name, `None` for one whose problem is reported already.
    pools: HashMap<String, Option<Carve>>,
    names: Vec<String>,
    taken: Vec<Taken>,
    /// Where each taken subnet starts: (IPv6, first address, prefix length) to its
    /// indexes in `taken` (several when they allow overlaps).
    starts: BTreeMap<(bool, u128, u8), Vec<usize>>,
    /// The prefix lengths among `taken`, by family.
    lengths: BTreeSet<(bool, u8)>,
}

/// A subnet's family and first and last address, as numbers.
fn bounds(net: IpNet) -> (bool, u128, u128) {
    match net {
        IpNet::V4(n) => (
            false,
            u32::from(n.network()).into(),
            u32::from(n.broadcast()).into(),
        ),
        IpNet::V6(n) => (true, n.network().into(), n.broadcast().into()),
    }
}

impl Carver {
    /// Reads the lab's pools (taking them: a resolved lab has none) and the subnets its
    /// networks and links write, reporting every pool that cannot be carved.
    pub(super) fn new(ex: &mut Ex, topo: &mut Topology) -> Carver {
        let mut carver = Carver {
            pools: HashMap::new(),
            names: Vec::new(),
            taken: Vec::new(),
            starts: BTreeMap::new(),
            lengths: BTreeSet::new(),
        };
        for (key, pool) in std::mem::take(&mut topo.pools) {
            let carve = check_pool(ex, &key.value, &pool);
            carver.names.push(key.value.clone());
            carver.pools.insert(key.value, carve);
        }
        let written = |s: &Spanned<String>| s.value.parse::<IpNet>().ok().map(|n| n.trunc());
        for (key, net) in &topo.networks {
            for s in &net.subnets {
                if let Some(n) = written(s) {
                    let (who, span) = (format!("network `{}`", key.value), ex.span(s));
                    carver.take(n, who, span, net.allow_overlap, false);
                }
            }
        }
        for link in &topo.links {
            if let Some(s) = &link.value.subnet
                && let Some(n) = written(s)
            {
                let (who, span) = (format!("link `{}`", link_name(&link.value)), ex.span(s));
                carver.take(n, who, span, false, false);
            }
        }
        carver
    }

    fn take(
        &mut self,
        net: IpNet,
        who: String,
        span: SourceSpan,
        allow_overlap: bool,
        carved: bool,
    ) {
        let (v6, start, _) = bounds(net);
        self.starts
            .entry((v6, start, net.prefix_len()))
            .or_default()
            .push(self.taken.len());
        self.lengths.insert((v6, net.prefix_len()));
        self.taken.push(Taken {
            net,
            who,
            span,
            allow_overlap,
            carved,
        });
    }

    /// A taken subnet overlapping `net` that does not allow it, if any: one starting
    /// inside it, or one holding its first address.
    fn overlapping(&self, net: IpNet) -> Option<&Taken> {
        let (v6, start, end) = bounds(net);
        let inside = self
            .starts
            .range((v6, start, 0)..=(v6, end, u8::MAX))
            .flat_map(|(_, is)| is);
        let holding = self
            .lengths
            .iter()
            .filter(|&&(f, len)| f == v6 && len < net.prefix_len())
            .filter_map(|&(_, len)| {
                let outer = IpNet::new(net.addr(), len).ok()?.trunc();
                self.starts.get(&(v6, bounds(outer).1, len))
            })
            .flatten();
        inside
            .chain(holding)
            .map(|&i| &self.taken[i])
            .find(|t| !t.allow_overlap)
    }

    /// The subnets network `name` gets from the pools `pools` names (each placed at its
    /// name), reporting every name that gives none.
    pub(super) fn carve(
        &mut self,
        ex: &mut Ex,
        name: &str,
        what: &str,
        pools: &[Spanned<String>],
        allow_overlap: bool,
    ) -> Vec<Spanned<String>> {
        let mut out = Vec::new();
        for pool in pools {
            let span = ex.span(pool);
            let carve = match self.pools.get(&pool.value) {
                Some(Some(carve)) => *carve,
                Some(None) => continue,
                None => {
                    let p = ex
                        .report(
                            Code::UnknownPool,
                            format!("there is no pool `{}` for {what} `{name}`", pool.value),
                        )
                        .with_label(span, "not under `pools`");
                    match closest(&pool.value, self.names.iter().map(String::as_str)) {
                        Some(c) => p.with_help(format!("did you mean `{c}`?")),
                        None if self.names.is_empty() => {
                            p.with_help("declare it under the top-level `pools`")
                        }
                        None => p.with_help(format!("the pools are `{}`", self.names.join("`, `"))),
                    };
                    continue;
                }
            };
            let net = match subnet(name, carve) {
                Ok(net) => net,
                Err(why) => {
                    ex.report(
                        Code::NoSubnet,
                        format!("{what} `{name}` gets no subnet from pool `{}`: {why}", pool.value),
                    )
                    .with_label(span, format!("{what} `{name}` takes its subnet from here"))
                    .with_help("rename it (its number is the subnet's), write its subnet, or make the pool larger");
                    continue;
                }
            };
            if let Some(other) = self.overlapping(net).filter(|_| !allow_overlap) {
                let help = if other.carved {
                    "rename one of them (the subnet comes from the name), or write a subnet for one"
                } else {
                    "rename the network (the subnet comes from the name), or move the written subnet out of the pool"
                };
                let other_label = if other.carved {
                    format!("{} gets {} from here", other.who, other.net)
                } else {
                    format!("{} of {}", other.net, other.who)
                };
                let other_span = other.span;
                ex.report(
                    Code::SubnetTaken,
                    format!(
                        "the subnet {net} that {what} `{name}` would get from pool `{}` overlaps {} of {}",
                        pool.value, other.net, other.who
                    ),
                )
                .with_label(span, format!("{what} `{name}` gets {net} from here"))
                .with_label(other_span, other_label)
                .with_help(help);
                continue;
            }
            self.take(net, format!("{what} `{name}`"), span, allow_overlap, true);
            out.push(Spanned::new(net.to_string(), pool.referenced, pool.defined));
        }
        out
    }
}

/// The network name a link makes: its `network`, else its ends' nodes joined.
fn link_name(link: &super::super::Link) -> String {
    link.network
        .as_ref()
        .map_or_else(|| link.default_network(), |n| n.value.clone())
}

/// The pool `name` as a `Carve`, or `None` with its problems reported.
fn check_pool(ex: &mut Ex, name: &str, pool: &Pool) -> Option<Carve> {
    let span = ex.span(&pool.prefix);
    let prefix = match pool.prefix.value.parse::<IpNet>() {
        Ok(p) => p,
        Err(_) => {
            ex.report(
                Code::BadPool,
                format!(
                    "the prefix `{}` of pool `{name}` is not a prefix",
                    pool.prefix.value
                ),
            )
            .with_label(span, "not an IPv4 or IPv6 prefix")
            .with_help("write a prefix like `10.0.0.0/16` or `2001:db8::/48`");
            return None;
        }
    };
    if prefix != prefix.trunc() {
        ex.report(
            Code::BadPool,
            format!("the prefix {prefix} of pool `{name}` has host bits set"),
        )
        .with_label(span, "not a network address")
        .with_help(format!("did you mean `{}`?", prefix.trunc()));
        return None;
    }
    let max = prefix.max_prefix_len();
    if prefix.prefix_len() == max {
        ex.report(
            Code::BadPool,
            format!("pool `{name}` is the single address {prefix}"),
        )
        .with_label(span, "a host prefix: nothing to carve")
        .with_help("give the pool a shorter prefix, e.g. `10.0.0.0/16`");
        return None;
    }
    let size = pool.size.value;
    let size_span = ex.span(&pool.size);
    let family = if prefix.addr().is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    };
    if size > max {
        ex.report(
            Code::BadPool,
            format!("pool `{name}` carves /{size}, longer than an {family} prefix can be"),
        )
        .with_label(size_span, format!("at most {max} for {family}"))
        .with_help(format!(
            "`size` is the prefix length of each subnet carved, from {} to {max}",
            prefix.prefix_len() + 1
        ));
        return None;
    }
    if size <= prefix.prefix_len() {
        ex.report(
            Code::BadPool,
            format!("pool `{name}` carves /{size} from {prefix}, which is no longer than the pool"),
        )
        .with_label(
            size_span,
            format!("not longer than /{}", prefix.prefix_len()),
        )
        .with_help(format!(
            "`size` is the prefix length of each subnet carved, from {} to {max}",
            prefix.prefix_len() + 1
        ));
        return None;
    }
    Some(Carve { prefix, size })
}

/// Gives every network with a `pool` its subnets from it, after those it writes.
pub(super) fn carve_networks(ex: &mut Ex, topo: &mut Topology, carver: &mut Carver) {
    for (key, net) in &mut topo.networks {
        let Some(pool) = net.pool.take() else {
            continue;
        };
        let names = pool.value.spanned(&pool);
        let got = carver.carve(ex, &key.value, "network", &names, net.allow_overlap);
        net.subnets.extend(got);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(prefix: &str, size: u8) -> Carve {
        Carve {
            prefix: prefix.parse().unwrap(),
            size,
        }
    }

    fn carved(name: &str, carve: Carve) -> String {
        subnet(name, carve).unwrap().to_string()
    }

    #[test]
    fn a_trailing_number_is_the_subnet_counted_from_zero() {
        let lans = pool("10.0.0.0/16", 24);
        assert_eq!(carved("lan0", lans), "10.0.0.0/24");
        assert_eq!(carved("lan3", lans), "10.0.3.0/24");
        assert_eq!(carved("dc-lan03", lans), "10.0.3.0/24");
        assert_eq!(carved("lan255", lans), "10.0.255.0/24");
        assert!(subnet("lan256", lans).unwrap_err().contains("256"));
        assert!(subnet("lan99999999999999999999999999999999999999999", lans).is_err());
        let p2p = pool("10.255.0.0/24", 30);
        assert_eq!(carved("wan1", p2p), "10.255.0.4/30");
        assert_eq!(carved("wan63", p2p), "10.255.0.252/30");
    }

    #[test]
    fn other_names_are_hashed_whole() {
        let p2p = pool("10.255.0.0/16", 30);
        // Digits that do not only end the name: `r1-r2` and `r3-r2` are not both 2.
        assert!(matches!(Slot::of("r1-r2", p2p), Slot::Hashed(_)));
        assert!(matches!(Slot::of("site2-lan3", p2p), Slot::Hashed(_)));
        assert!(matches!(Slot::of("dmz", p2p), Slot::Hashed(_)));
        assert_ne!(carved("r1-r2", p2p), carved("r3-r2", p2p));
        assert_ne!(carved("r1-r2", p2p), carved("r2-r1", p2p));
        // The same forever: FNV-1a of the name, modulo the pool's 16384 subnets.
        let n = u128::from(crate::naming::fnv1a_64("r1-r2")) % 16384;
        assert_eq!(Slot::of("r1-r2", p2p), Slot::Hashed(n));
        assert_eq!(subnet("r1-r2", p2p).unwrap(), p2p.nth(n).unwrap());
        let got = subnet("dmz", p2p).unwrap();
        assert!(p2p.prefix.contains(&got) && got.prefix_len() == 30);
    }

    /// The subnet of every network of a lab with these networks and links (`a-b`),
    /// all from pools, once expanded.
    fn lab(networks: &[&str], links: &[&str]) -> HashMap<String, Vec<String>> {
        let mut yaml = String::from(
            "name: t\npools:\n  lans: {prefix: 10.0.0.0/16, size: 24}\n  \
             v6: {prefix: \"2001:db8::/48\", size: 64}\n  \
             p2p: {prefix: 10.255.0.0/16, size: 30}\nnetworks:\n",
        );
        for n in networks {
            yaml.push_str(&format!("  {n}: {{pool: [lans, v6]}}\n"));
        }
        yaml.push_str("links:\n");
        for (i, l) in links.iter().enumerate() {
            let (a, b) = l.split_once('-').unwrap();
            yaml.push_str(&format!("  - {{ends: [{a}:l{i}, {b}:l{i}], pool: p2p}}\n"));
        }
        yaml.push_str("routers: {r1: {}, r2: {}, r3: {}, r4: {}}\n");
        let src = crate::topology::SourceFile::from_text("lab.yaml", &yaml);
        let topo = crate::topology::parse(&src).unwrap_or_else(|e| panic!("{e:?}\n{yaml}"));
        assert!(topo.pools.is_empty() && topo.networks.values().all(|n| n.pool.is_none()));
        topo.networks
            .iter()
            .map(|(k, n)| {
                let subnets = n.subnets.iter().map(|s| s.value.clone()).collect();
                (k.value.clone(), subnets)
            })
            .collect()
    }

    #[test]
    fn adding_removing_or_reordering_moves_no_other_subnet() {
        let before = lab(
            &["lan1", "dmz", "lan7", "office"],
            &["r1-r2", "r1-r3", "r2-r3"],
        );
        assert_eq!(before["lan7"], ["10.0.7.0/24", "2001:db8:0:7::/64"]);
        let changed = [
            lab(
                &["office", "lan7", "dmz", "lan1"],
                &["r2-r3", "r1-r3", "r1-r2"],
            ),
            lab(&["lan7", "office"], &["r1-r3"]),
            lab(
                &["lab", "lan1", "lan2", "dmz", "web", "lan7", "office"],
                &["r1-r4", "r1-r2", "r3-r4", "r1-r3", "r2-r3"],
            ),
        ];
        for after in changed {
            for (name, subnets) in &after {
                if let Some(was) = before.get(name) {
                    assert_eq!(subnets, was, "{name} moved");
                }
            }
        }
    }

    #[test]
    fn ipv6_pools_carve_too() {
        let v6 = pool("2001:db8::/48", 64);
        assert_eq!(carved("lan3", v6), "2001:db8:0:3::/64");
        assert_eq!(carved("lan65535", v6), "2001:db8:0:ffff::/64");
        assert!(subnet("lan65536", v6).is_err());
        let all = pool("::/0", 128);
        assert_eq!(all.count(), None);
        assert_eq!(carved("h5", all), "::5/128");
        let got = subnet("dmz", all).unwrap();
        assert_eq!(got.prefix_len(), 128);
    }
}
