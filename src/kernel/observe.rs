//! `observe`: reads the live kernel into a `NetState`. Every namespace under
//! `/run/netns` is looked at once, on a few short-lived threads each holding at most a
//! couple of descriptors at a time: its owner from its loopback mark (one request), and,
//! for the lab's own namespaces, their links, addresses, routes, rules and the settings
//! the spec asks for. Entries that hold no namespace are never entered: the lab's own
//! (left by an interrupted run) come back as strays of the state, anything else in a
//! list of strays that the caller reports, so that nothing there can fail or hang a lab.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;
use nix::sched::{CloneFlags, setns};

use crate::kernel::decode::{
    AddressPrefixes, RawLink, address_prefix, decode_address, decode_link, decode_route,
    decode_rule,
};
use crate::kernel::message::devconf_read;
use crate::kernel::netns::{self, Entry, Opened};
use crate::kernel::{KernelError, RouteSocket};
use crate::netlink::parse;
use crate::state::settings::{DevSetting, Setting};
use crate::state::{
    LinkKind, LinkRef, Namespace, NetState, SmallMap, SmallSet, parse_namespace_alias,
};

/// What to observe.
#[derive(Debug, Clone, Default)]
pub struct ObserveSpec {
    pub lab: String,
    /// The lab's fabric namespace, for resolving veth peers.
    pub fabric: Option<String>,
    /// Namespace-wide sysctl keys to read, per namespace.
    /// (The sets of one namespace are small ones: a lab of 10,000 hosts names a
    /// setting or two in each, and B-tree nodes for them were megabytes.)
    pub sysctls: BTreeMap<String, SmallSet<String>>,
    /// Settings to read, per namespace and link.
    pub settings: BTreeMap<String, SmallMap<String, SmallSet<DevSetting>>>,
    /// Only these namespaces (verification after an apply re-reads what it touched);
    /// `None` for all.
    pub only: Option<BTreeSet<String>>,
    /// Every lab's namespaces are read in full, not only `lab`'s (`status` of the whole
    /// machine): `lab` and `fabric` are then not used, and each node's veth peers are
    /// resolved in its own lab's fabric.
    pub all_labs: bool,
    /// Only the links are read (one dump per namespace): no addresses, routes, rules or
    /// settings.
    pub links_only: bool,
    /// The lab's namespaces whose firewall is read, with the kernel's tools (those
    /// whose desired state has one, or had one at the last apply). Nothing is run for
    /// the others.
    pub firewalls: BTreeSet<String>,
}

impl ObserveSpec {
    /// Whether namespaces marked as `owner`'s are read past their mark.
    fn reads(&self, owner: &str) -> bool {
        self.all_labs || owner == self.lab
    }
}

impl ObserveSpec {
    /// What to read to compare with `desired`: the settings it names.
    pub fn for_desired(lab: &str, desired: &NetState) -> Self {
        let mut spec = ObserveSpec {
            lab: lab.to_string(),
            fabric: desired.fabric().map(str::to_string),
            ..ObserveSpec::default()
        };
        for (name, ns) in &desired.namespaces {
            if !ns.sysctls.is_empty() {
                spec.sysctls
                    .insert(name.clone(), ns.sysctls.keys().cloned().collect());
            }
            if !ns.firewall.is_empty() {
                spec.firewalls.insert(name.clone());
            }
            let settings: SmallMap<String, SmallSet<DevSetting>> = ns
                .links
                .iter()
                .filter(|(_, link)| !link.settings.is_empty())
                .map(|(ifname, link)| (ifname.clone(), link.settings.keys().cloned().collect()))
                .collect();
            if !settings.is_empty() {
                spec.settings.insert(name.clone(), settings);
            }
        }
        spec
    }
}

/// An entry under `/run/netns` that is no namespace and not this lab's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub name: String,
    /// What it is: "a FIFO", "an empty mount point of lab `x`", ...
    pub what: String,
}

/// The live state, and what else is under the namespace directory.
#[derive(Debug, Default)]
pub struct Observed {
    pub state: NetState,
    pub strays: Vec<Stray>,
}

/// The result of looking at one entry.
enum Seen {
    Namespace(String, Box<Dumped>),
    Foreign(String, Option<String>),
    Stray(Stray),
    /// An empty mount point of a lab that is read: its name, lab and role.
    OwnStray(String, String, crate::state::NsRole),
    Gone,
}

/// One of the lab's namespaces, dumped.
struct Dumped {
    ns: Namespace,
    raw_peers: Vec<(String, u32, Option<i32>)>,
    fabric_nsid: Option<i32>,
    /// Holds nftables tables or ipsets though the lab gives it no firewall (rules
    /// made by hand): its firewall is read too.
    netfilter: bool,
}

/// A veth end whose peer is to be resolved: (namespace, link, peer ifindex, the peer's
/// nsid as seen from there, the fabric's nsid as seen from there).
type PendingPeer = (String, String, u32, Option<i32>, Option<i32>);

/// Reads the live state.
pub fn observe(spec: &ObserveSpec) -> Result<Observed, KernelError> {
    let t0 = std::time::Instant::now();
    let dir = netns::run_dir();
    let mut entries = netns::list().map_err(|cause| KernelError::ListNamespaces {
        dir: dir.display().to_string(),
        cause,
    })?;
    if let Some(only) = &spec.only {
        entries.retain(|e| match e {
            Entry::File(n) => only.contains(n),
            Entry::Other { name, .. } => only.contains(name),
        });
    }
    // Every lab's fabric, by lab, when every lab is read: each node's dump asks for its
    // own lab's fabric's nsid.
    let fabrics: HashMap<String, String> = if spec.all_labs {
        find_fabrics(&entries, |_| true).into_iter().collect()
    } else {
        HashMap::new()
    };
    // The fabric is held open: every node's dump asks for its nsid by descriptor. A
    // spec without one (a destroy by lab name) looks for the lab's among the entries.
    let found;
    let fabric = match &spec.fabric {
        Some(f) if !spec.all_labs => Some(f.as_str()),
        Some(_) => None,
        None if spec.all_labs => None,
        None => {
            found = find_fabric(&spec.lab, &entries);
            found.as_deref()
        }
    };
    let spec = &ObserveSpec {
        fabric: fabric.map(str::to_string),
        ..spec.clone()
    };
    let fabric_fd: Option<OwnedFd> = spec.fabric.as_deref().and_then(|f| netns::open_fd(f).ok());
    let fabric_raw = fabric_fd.as_ref().map(AsRawFd::as_raw_fd);
    // The fabrics, by far the largest, go first so they are not last on the critical
    // path.
    let first: BTreeSet<&str> = spec
        .fabric
        .iter()
        .chain(fabrics.values())
        .map(String::as_str)
        .collect();
    entries.sort_by_key(|e| !matches!(e, Entry::File(n) if first.contains(n.as_str())));
    // Read here, on the thread that never leaves the machine's namespace; not at all
    // when there is nothing to read (the verification of a destroy): a link dump waits
    // for the rtnl lock, which the kernel's cleanup of deleted namespaces holds.
    let home: HashMap<u32, String> = if entries.is_empty() {
        HashMap::new()
    } else {
        nix::net::if_::if_nameindex()
            .map(|l| {
                l.iter()
                    .map(|i| (i.index(), i.name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let fabrics_of = Fabrics {
        held: fabric_raw,
        by_lab: &fabrics,
        home: &home,
    };
    let seen = netns::on_threads(&entries, |entry| look(spec, entry, &fabrics_of));
    drop(fabric_fd);
    crate::trace::detail("observe: open and dump", t0);

    let mut out = Observed::default();
    let mut peers: Vec<PendingPeer> = Vec::new();
    let mut netfilter = BTreeSet::new();
    for s in seen {
        match s? {
            Seen::Namespace(name, d) => {
                if d.netfilter {
                    netfilter.insert(name.clone());
                }
                for (ifname, index, nsid) in d.raw_peers {
                    peers.push((name.clone(), ifname, index, nsid, d.fabric_nsid));
                }
                out.state.namespaces.insert(name, d.ns);
            }
            Seen::Foreign(name, owner) => {
                out.state.namespaces.insert(
                    name,
                    Namespace {
                        owner,
                        ..Namespace::default()
                    },
                );
            }
            Seen::OwnStray(name, lab, role) => {
                out.state.namespaces.insert(
                    name,
                    Namespace {
                        owner: Some(lab),
                        role,
                        stray: true,
                        ..Namespace::default()
                    },
                );
            }
            Seen::Stray(s) => out.strays.push(s),
            Seen::Gone => {}
        }
    }
    if spec.all_labs {
        // Each lab's peers in its own fabric.
        let mut by_lab: BTreeMap<String, Vec<PendingPeer>> = BTreeMap::new();
        for p in peers {
            if let Some(owner) = out.state.namespaces.get(&p.0).and_then(|n| n.owner.clone()) {
                by_lab.entry(owner).or_default().push(p);
            }
        }
        for (lab, peers) in by_lab {
            resolve_peers(&mut out.state, fabrics.get(&lab).map(String::as_str), peers);
        }
    } else {
        resolve_peers(&mut out.state, spec.fabric.as_deref(), peers);
    }
    read_firewalls(spec, &netfilter, &mut out.state)?;
    Ok(out)
}

/// Reads the firewalls `spec` asks for and those `found` in use, of the lab's
/// namespaces that exist, each on a short-lived thread inside its namespace.
fn read_firewalls(
    spec: &ObserveSpec,
    found: &BTreeSet<String>,
    state: &mut NetState,
) -> Result<(), KernelError> {
    let names: Vec<&String> = spec
        .firewalls
        .union(found)
        .filter(|n| {
            state
                .namespaces
                .get(*n)
                .is_some_and(|ns| (spec.all_labs || ns.owned_by(&spec.lab)) && !ns.stray)
        })
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let t = std::time::Instant::now();
    let parts = crate::kernel::firewall::backend().readable_parts();
    let read = netns::on_threads(&names, |name| {
        match netns::enter(name) {
            Ok(Some(())) => {}
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
        crate::kernel::firewall::backend()
            .read_here(&parts)
            .map(Some)
            .map_err(|e| e.to_string())
    });
    for (name, fw) in names.into_iter().zip(read) {
        match fw {
            Ok(Some(fw)) => {
                if let Some(ns) = state.namespaces.get_mut(name) {
                    *ns.firewall = fw;
                }
            }
            Ok(None) => {}
            Err(error) => {
                return Err(KernelError::Firewall {
                    ns: name.clone(),
                    error,
                });
            }
        }
    }
    crate::trace::detail("observe: firewalls", t);
    Ok(())
}

/// The fabrics a dump may ask for the nsid of: the one lab's, held open, or every
/// lab's by name (opened when asked for, so that descriptors stay bounded).
struct Fabrics<'a> {
    held: Option<i32>,
    by_lab: &'a HashMap<String, String>,
    /// The links of the namespace nshost runs in, by index: the underlay devices of
    /// stretched networks' vxlan ends, whose sockets are there.
    home: &'a HashMap<u32, String>,
}

/// The lab's fabric namespace among `entries`: one named `*-fabric` whose loopback
/// marks it as the lab's fabric.
fn find_fabric(lab: &str, entries: &[Entry]) -> Option<String> {
    let suffix = format!("{lab}-fabric");
    find_fabrics(entries, |n| n.ends_with(&suffix))
        .into_iter()
        .find(|(l, _)| l == lab)
        .map(|(_, n)| n)
}

/// The fabric namespaces among the `entries` named `*-fabric` that `wanted` accepts, as
/// (lab, namespace), from their loopback marks.
pub fn find_fabrics(entries: &[Entry], wanted: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let candidates: Vec<&String> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::File(n) if n.ends_with("-fabric") && wanted(n) => Some(n),
            _ => None,
        })
        .collect();
    let marks = netns::on_threads(&candidates, |name| {
        netns::enter(name).ok()??;
        mark_here()
    });
    candidates
        .into_iter()
        .zip(marks)
        .filter_map(|(n, m)| match m {
            Some((lab, crate::state::NsRole::Fabric)) => Some((lab, n.clone())),
            _ => None,
        })
        .collect()
}

/// The mark on the loopback of the calling thread's network namespace: its lab and role
/// (one request).
pub fn mark_here() -> Option<(String, crate::state::NsRole)> {
    let mut sock = RouteSocket::open().ok()?;
    let mut lo = LinkMessage::default();
    lo.header.index = 1;
    let raw = sock.request(RouteNetlinkMessage::GetLink(lo)).ok()?.ok()?;
    let alias = decode_link(&raw, &|_| false)?.alias?;
    parse_namespace_alias(&alias).map(|(l, r)| (l.to_string(), r))
}

/// Looks at one entry on the calling (dedicated, short-lived) thread.
fn look(spec: &ObserveSpec, entry: &Entry, fabrics: &Fabrics) -> Result<Seen, KernelError> {
    let name = match entry {
        Entry::Other { name, what } => {
            return Ok(Seen::Stray(Stray {
                name: name.clone(),
                what: (*what).to_string(),
            }));
        }
        Entry::File(name) => name,
    };
    let fd = match netns::open_entry(name)? {
        Opened::Gone => return Ok(Seen::Gone),
        Opened::Foreign => {
            return Ok(Seen::Stray(Stray {
                name: name.clone(),
                what: "a file that holds no namespace".into(),
            }));
        }
        Opened::Stray { lab, role } if spec.reads(&lab) => {
            return Ok(Seen::OwnStray(name.clone(), lab, role));
        }
        Opened::Stray { lab, .. } => {
            return Ok(Seen::Stray(Stray {
                name: name.clone(),
                what: format!("an empty mount point of lab `{lab}` (left by an interrupted run)"),
            }));
        }
        Opened::Namespace(fd) => fd,
    };
    let err = |what: &'static str| {
        move |cause: io::Error| {
            KernelError::Namespace(netns::NsError {
                ns: name.clone(),
                what,
                cause,
            })
        }
    };
    setns(&fd, CloneFlags::CLONE_NEWNET).map_err(|e| err("setns")(e.into()))?;
    drop(fd);
    let mut sock = RouteSocket::open().map_err(err("netlink socket"))?;
    // A dump the kernel marks inconsistent (changed while read) is read again by
    // `Socket::dump` itself.
    match dump_namespace(spec, name, &mut sock, fabrics)? {
        Err(owner) => Ok(Seen::Foreign(name.clone(), owner)),
        Ok(mut d) => {
            if !spec.links_only && !spec.firewalls.contains(name) {
                d.netfilter =
                    crate::kernel::netfilter::in_use_here().map_err(err("netfilter dump"))?;
            }
            Ok(Seen::Namespace(name.clone(), Box::new(d)))
        }
    }
}

/// Dumps namespace `name` from inside. Its links come first: the loopback's mark among
/// them says whose the namespace is, and one that is not the lab's is left there
/// (`Err(owner)`), read no further.
fn dump_namespace(
    spec: &ObserveSpec,
    name: &str,
    sock: &mut RouteSocket,
    fabrics: &Fabrics,
) -> Result<Result<Dumped, Option<String>>, KernelError> {
    let err = |what: &'static str| {
        move |cause: io::Error| KernelError::Dump {
            ns: name.to_string(),
            what,
            cause,
        }
    };
    let wanted = spec.settings.get(name);
    let mut raw: Vec<RawLink> = Vec::new();
    let mut req = LinkMessage::default();
    req.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    sock.dump(RouteNetlinkMessage::GetLink(req), |bytes| {
        let want = |ifname: &str| wanted.is_some_and(|w| w.contains_key(ifname));
        if let Some(l) = decode_link(bytes, &want) {
            raw.push(l);
        }
    })
    .map_err(err("links"))?;
    let mark = raw
        .iter()
        .find(|l| l.index == 1)
        .and_then(|l| l.alias.as_deref())
        .and_then(parse_namespace_alias);
    let (owner, role) = match mark {
        Some((lab, role)) => (Some(lab.to_string()), role),
        None => (None, crate::state::NsRole::Unknown),
    };
    let Some(lab) = owner.clone().filter(|o| spec.reads(o)) else {
        return Ok(Err(owner));
    };
    let by_index: HashMap<u32, String> = raw.iter().map(|l| (l.index, l.name.clone())).collect();
    let name_of = |i: u32| by_index.get(&i).cloned();
    let mut ns = Namespace {
        owner,
        role,
        ..Namespace::default()
    };
    let mut raw_peers = Vec::new();
    let name_at_home = |i: u32| fabrics.home.get(&i).cloned();
    for l in &raw {
        // A vxlan whose socket is in another namespace (the machine's) names its
        // underlay device there.
        let kind = match l.netnsid {
            Some(_) if l.kind(&|_| None).kernel_name() == "vxlan" => l.kind(&name_at_home),
            _ => l.kind(&name_of),
        };
        if l.kernel_made(&kind) {
            continue;
        }
        if let (LinkKind::Veth { .. }, Some(peer)) = (&kind, l.link) {
            raw_peers.push((l.name.clone(), peer, l.netnsid));
        }
        let mut link = crate::state::Link::new(kind);
        link.mtu = l.mtu;
        link.up = l.up;
        link.mac = l.mac.filter(|m| m.0 != [0; 6]);
        link.master = l.master.and_then(name_of);
        link.ifindex = Some(l.index);
        link.oper = l.oper.and_then(crate::state::OperState::from_kernel);
        if let (Some(af), Some(settings)) = (&l.af_spec, wanted.and_then(|w| w.get(&l.name))) {
            for s in settings {
                if let Some(v) = s.devconf_index().and_then(|i| devconf_read(af, i)) {
                    link.settings.insert(s.clone(), v.to_string());
                }
            }
        }
        if let LinkKind::Vxlan(v) = &mut link.kind {
            // The tunnel's socket is in another namespace: a stretched network's end.
            v.underlay = l.netnsid.is_some();
        }
        ns.links.insert(l.name.clone(), Box::new(link));
    }
    // The root qdiscs `impair` makes, read only where a link has one (the link dump
    // names each link's root qdisc): a lab without impairments dumps none.
    if raw.iter().any(|l| l.lab_qdisc) {
        sock.dump(crate::kernel::qdisc::dump_request(), |bytes| {
            if let Some((index, q)) = crate::kernel::qdisc::decode(bytes)
                && let Some(link) = by_index.get(&index).and_then(|n| ns.links.get_mut(n))
            {
                link.qdisc = Some(Box::new(q));
            }
        })
        .map_err(err("qdiscs"))?;
    }
    if ns
        .links
        .values()
        .any(|l| matches!(l.kind, LinkKind::Vxlan(_)))
    {
        dump_flood(sock, &by_index, &mut ns).map_err(err("flood entries"))?;
    }

    if !spec.links_only {
        dump_contents(spec, name, sock, &by_index, &mut ns)?;
    }

    // The fabric's nsid as seen from here, to resolve veth peers.
    let mut fabric_nsid = None;
    let wants_nsid = raw_peers.iter().any(|(_, _, nsid)| nsid.is_some());
    let opened = match fabrics.held {
        None if wants_nsid && spec.all_labs => fabrics
            .by_lab
            .get(&lab)
            .and_then(|f| netns::open_fd(f).ok()),
        _ => None,
    };
    if let Some(fd) = fabrics.held.or(opened.as_ref().map(AsRawFd::as_raw_fd))
        && wants_nsid
    {
        let mut msg = NsidMessage::default();
        msg.attributes.push(NsidAttribute::Fd(fd as u32));
        if let Ok(Ok(raw)) = sock.request(RouteNetlinkMessage::GetNsId(msg))
            && let Some(RouteNetlinkMessage::NewNsId(reply)) = parse::<crate::netlink::Route>(&raw)
        {
            fabric_nsid = reply.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                _ => None,
            });
        }
    }
    Ok(Ok(Dumped {
        ns,
        raw_peers,
        fabric_nsid,
        netfilter: false,
    }))
}

/// Reads the static flood entries of the namespace's vxlan devices: the all-zero MAC
/// entries of their forwarding databases, but the one the kernel makes itself for a
/// vxlan's `remote` or `group`.
fn dump_flood(
    sock: &mut RouteSocket,
    by_index: &HashMap<u32, String>,
    ns: &mut Namespace,
) -> io::Result<()> {
    let mut req = NeighbourMessage::default();
    req.header.family = AddressFamily::Bridge;
    let mut found: Vec<(String, std::net::IpAddr)> = Vec::new();
    sock.dump(RouteNetlinkMessage::GetNeighbour(req), |bytes| {
        let Some(RouteNetlinkMessage::NewNeighbour(msg)) = parse::<crate::netlink::Route>(bytes)
        else {
            return;
        };
        let Some(name) = by_index.get(&msg.header.ifindex) else {
            return;
        };
        let mut zero_mac = false;
        let mut dst = None;
        for a in &msg.attributes {
            match a {
                NeighbourAttribute::LinkLayerAddress(mac) => zero_mac = mac.iter().all(|b| *b == 0),
                NeighbourAttribute::Destination(d) => {
                    dst = match d {
                        NeighbourAddress::Inet(a) => Some(std::net::IpAddr::V4(*a)),
                        NeighbourAddress::Inet6(a) => Some(std::net::IpAddr::V6(*a)),
                        NeighbourAddress::Other(b) => crate::netlink::attrs::ip_any(b),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        if let (true, Some(dst)) = (zero_mac, dst) {
            found.push((name.clone(), dst));
        }
    })?;
    for (name, dst) in found {
        if let Some(LinkKind::Vxlan(v)) = ns.links.get_mut(&name).map(|l| &mut l.kind)
            && v.remote.or(v.group) != Some(dst)
        {
            v.flood.insert(dst);
        }
    }
    Ok(())
}

/// Dumps what is in namespace `name` besides its links, from inside: addresses, routes,
/// rules, and the settings the spec asks for.
fn dump_contents(
    spec: &ObserveSpec,
    name: &str,
    sock: &mut RouteSocket,
    by_index: &HashMap<u32, String>,
    ns: &mut Namespace,
) -> Result<(), KernelError> {
    let err = |what: &'static str| {
        move |cause: io::Error| KernelError::Dump {
            ns: name.to_string(),
            what,
            cause,
        }
    };
    let wanted = spec.settings.get(name);
    let mut prefixes = AddressPrefixes::new();
    sock.dump(
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        |bytes| {
            if let Some(p) = address_prefix(bytes, by_index) {
                prefixes.insert(p);
            }
            if let Some((key, addr)) = decode_address(bytes, by_index) {
                ns.addresses.insert(key, addr);
            }
        },
    )
    .map_err(err("addresses"))?;

    let mut alt: HashMap<(u32, ipnet::IpNet, u32), u32> = HashMap::new();
    sock.dump(
        RouteNetlinkMessage::GetRoute(RouteMessage::default()),
        |bytes| {
            if let Some((mut key, route)) = decode_route(bytes, by_index, &prefixes) {
                let n = alt.entry(key.group()).or_insert(0);
                key.alt = *n;
                *n += 1;
                ns.routes.insert(key, Box::new(route));
            }
        },
    )
    .map_err(err("routes"))?;

    sock.dump(
        RouteNetlinkMessage::GetRule(RuleMessage::default()),
        |bytes| {
            if let Some(rule) = decode_rule(bytes) {
                ns.rules.insert(rule);
            }
        },
    )
    .map_err(err("rules"))?;

    // Settings under /proc/sys, read from inside (this thread is in the namespace).
    for key in spec.sysctls.get(name).into_iter().flatten() {
        if let Ok(v) = netns::read_sysctl(&Setting::Namespace(key.clone())) {
            ns.sysctls.insert(key.clone(), v);
        }
    }
    for (ifname, settings) in wanted.into_iter().flatten() {
        let Some(link) = ns.links.get_mut(ifname) else {
            continue;
        };
        for s in settings.iter().filter(|s| !s.is_netlink()) {
            let setting = Setting::Device {
                dev: ifname.clone(),
                setting: s.clone(),
            };
            if let Ok(v) = netns::read_sysctl(&setting) {
                link.settings.insert(s.clone(), v);
            }
        }
    }
    Ok(())
}

/// Fills in veth peers: a link whose peer is in the same namespace, or in the fabric
/// namespace (known by its nsid as seen from the link's namespace). The fabric ends get
/// the reverse reference.
fn resolve_peers(state: &mut NetState, fabric: Option<&str>, peers: Vec<PendingPeer>) {
    let index_name = |state: &NetState, ns: &str, ifindex: u32| -> Option<String> {
        state.namespaces.get(ns).and_then(|n| {
            n.links
                .iter()
                .find(|(_, l)| l.ifindex == Some(ifindex))
                .map(|(name, _)| name.clone())
        })
    };
    let fabric_index: HashMap<u32, String> = fabric
        .and_then(|f| state.namespaces.get(f))
        .map(|n| {
            n.links
                .iter()
                .filter_map(|(name, l)| l.ifindex.map(|i| (i, name.clone())))
                .collect()
        })
        .unwrap_or_default();
    let mut resolved: Vec<(LinkRef, LinkRef)> = Vec::new();
    for (ns, ifname, index, netnsid, fabric_nsid) in &peers {
        let (peer_ns, peer_name) = match netnsid {
            None => (Some(ns.as_str()), index_name(state, ns, *index)),
            Some(id) if Some(*id) == *fabric_nsid => (fabric, fabric_index.get(index).cloned()),
            Some(_) => (None, None),
        };
        if let (Some(peer_ns), Some(peer_name)) = (peer_ns, peer_name) {
            resolved.push((LinkRef::new(ns, ifname), LinkRef::new(peer_ns, &peer_name)));
        }
    }
    for (at, peer) in resolved {
        let set = |state: &mut NetState, at: &LinkRef, peer: &LinkRef| {
            if let Some(link) = state
                .namespaces
                .get_mut(&at.ns)
                .and_then(|n| n.links.get_mut(&at.name))
            {
                link.kind = LinkKind::Veth {
                    peer: Some(peer.clone()),
                };
            }
        };
        set(state, &at, &peer);
        if Some(peer.ns.as_str()) == fabric && at.ns != peer.ns {
            set(state, &peer, &at);
        }
    }
}
