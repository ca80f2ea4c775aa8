//! `observe`: dumps the live kernel into a `NetState` — every namespace's owner from its
//! loopback mark, and for the lab's own namespaces their links, addresses, routes,
//! rules and the sysctls the desired state names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use ipnet::IpNet;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NlasIterator};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::devconf;
use crate::kernel::netns::{self, NsHandle, OpenSpec, SysctlValues};
use crate::kernel::{KernelError, Session};
use crate::state::{
    Address, AddressKey, Link, LinkKind, LinkRef, NSHOST_PROTO, Namespace, NetState, PortRange,
    Route, RouteKey, Rule, RuleMeta, alias_owner,
};

/// What to observe.
#[derive(Debug, Clone, Default)]
pub struct ObserveSpec {
    pub lab: String,
    /// The lab's fabric namespace, for resolving veth peers.
    pub fabric: Option<String>,
    /// sysctl keys to read, per namespace.
    pub sysctls: BTreeMap<String, BTreeSet<String>>,
}

/// A veth's peer as the kernel reports it: peer ifindex and the peer namespace's nsid
/// (`None` when the peer is in the same namespace).
#[derive(Debug, Clone, Copy)]
struct RawPeer {
    ifindex: u32,
    netnsid: Option<i32>,
}

/// Reads the live state. Namespaces not yet in `session` are opened (and stay open
/// there, for `apply` and for verification).
pub fn observe(spec: &ObserveSpec, session: &mut Session) -> Result<NetState, KernelError> {
    let t0 = std::time::Instant::now();
    let names = netns::list().map_err(KernelError::ListNamespaces)?;
    let live_names: BTreeSet<&String> = names.iter().collect();
    session.handles.retain(|name, _| live_names.contains(name));
    // sysctls read under /proc/sys; per-interface IPv4 settings come with the link dump.
    let proc_keys = |keys: &BTreeSet<String>| -> Vec<String> {
        keys.iter()
            .filter(|k| devconf::parse_key(k).is_none())
            .cloned()
            .collect()
    };
    let open_spec = |n: &String| OpenSpec {
        name: n.clone(),
        sysctls: spec.sysctls.get(n).map(proc_keys).unwrap_or_default(),
    };
    let mut sysctl_values: HashMap<String, SysctlValues> = HashMap::new();

    // The fabric is opened first: every node's dump asks for its nsid by fd.
    if let Some(fabric) = &spec.fabric
        && live_names.contains(fabric)
        && !session.handles.contains_key(fabric)
    {
        match netns::open_many(&[open_spec(fabric)]).pop() {
            Some(Ok(opened)) => {
                sysctl_values.insert(fabric.clone(), opened.sysctls);
                session.handles.insert(fabric.clone(), opened.handle);
            }
            Some(Err(e)) if !vanished(&e) => return Err(KernelError::Namespace(e)),
            _ => {}
        }
    }
    let fabric_fd = spec
        .fabric
        .as_ref()
        .and_then(|f| session.handles.get(f))
        .map(|h| h.fd.as_raw_fd());

    // Namespaces opened before (verification after apply): read their sysctls now.
    let reread: Vec<(&NsHandle, Vec<String>)> = spec
        .sysctls
        .iter()
        .filter(|(n, _)| !sysctl_values.contains_key(*n))
        .filter_map(|(n, keys)| session.handles.get(n).map(|h| (h, proc_keys(keys))))
        .filter(|(_, keys)| !keys.is_empty())
        .collect();
    for (name, values) in netns::read_sysctls(&reread) {
        sysctl_values.insert(name, values.map_err(KernelError::Namespace)?);
    }

    // One pass over every namespace on a few short-lived threads, each taking the next
    // job from a shared queue: enter and open the namespaces not open yet, then dump.
    // Dumps run without the rtnl lock; the fabric, by far the largest, goes first so it
    // does not end up last on the critical path.
    let to_open: Vec<OpenSpec> = names
        .iter()
        .filter(|n| !session.handles.contains_key(*n))
        .map(open_spec)
        .collect();
    let mut jobs: Vec<Job> = session.handles.values_mut().map(Job::Dump).collect();
    if let Some(fabric) = spec.fabric.as_deref()
        && let Some(pos) = jobs
            .iter()
            .position(|j| matches!(j, Job::Dump(h) if h.name == fabric))
    {
        let f = jobs.remove(pos);
        jobs.insert(0, f);
    }
    jobs.extend(to_open.into_iter().map(Job::Open));
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(jobs.len().max(1));
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let done: Vec<JobResult> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let next = queue.lock().expect("observe queue").next();
                        match next {
                            Some(job) => out.push(run_job(spec, job, fabric_fd)),
                            None => return out,
                        }
                    }
                })
            })
            .collect();
        joins
            .into_iter()
            .flat_map(|j| j.join().expect("observe thread panicked"))
            .collect()
    });
    let mut dumped = Vec::with_capacity(done.len());
    for result in done {
        match result {
            JobResult::Opened(handle, values, d) => {
                sysctl_values.insert(handle.name.clone(), values);
                session.handles.insert(handle.name.clone(), handle);
                dumped.push(d?);
            }
            JobResult::Dumped(d) => dumped.push(d?),
            JobResult::Gone => {}
            JobResult::Failed(e) => return Err(e),
        }
    }
    crate::trace::phase("observe: open and dump", t0);

    let mut state = NetState::default();
    let mut peers: Vec<(String, String, RawPeer, Option<i32>)> = Vec::new();
    for result in dumped {
        let (name, mut ns, raw_peers, fabric_nsid) = result;
        if let Some(values) = sysctl_values.remove(&name) {
            for (k, v) in values {
                if let Some(v) = v {
                    ns.sysctls.insert(k, v);
                }
            }
        }
        for (ifname, raw) in raw_peers {
            peers.push((name.clone(), ifname, raw, fabric_nsid));
        }
        state.namespaces.insert(name, ns);
    }
    resolve_peers(&mut state, spec.fabric.as_deref(), peers);
    Ok(state)
}

/// One unit of observation work.
enum Job<'a> {
    /// Enter a namespace, open its socket, read its sysctls, then dump it.
    Open(OpenSpec),
    /// Dump a namespace already open.
    Dump(&'a mut NsHandle),
}

enum JobResult {
    Opened(NsHandle, SysctlValues, Result<Dumped, KernelError>),
    Dumped(Result<Dumped, KernelError>),
    /// The namespace vanished between listing and opening.
    Gone,
    Failed(KernelError),
}

fn vanished(e: &netns::NsError) -> bool {
    matches!(e, netns::NsError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}

/// Runs one job on the calling (dedicated, short-lived) thread.
fn run_job(spec: &ObserveSpec, job: Job<'_>, fabric_fd: Option<i32>) -> JobResult {
    match job {
        Job::Dump(h) => JobResult::Dumped(dump_namespace(spec, h, fabric_fd)),
        Job::Open(open) => match netns::open_one(&open) {
            Ok(mut opened) => {
                let d = dump_namespace(spec, &mut opened.handle, fabric_fd);
                JobResult::Opened(opened.handle, opened.sysctls, d)
            }
            Err(e) if vanished(&e) => JobResult::Gone,
            Err(e) => JobResult::Failed(KernelError::Namespace(e)),
        },
    }
}

/// Fills in veth peers: a link whose peer is in the same namespace, or in the fabric
/// namespace (known by its nsid as seen from the link's namespace). The fabric ends get
/// the reverse reference.
fn resolve_peers(
    state: &mut NetState,
    fabric: Option<&str>,
    peers: Vec<(String, String, RawPeer, Option<i32>)>,
) {
    let index_name = |state: &NetState, ns: &str, ifindex: u32| -> Option<String> {
        state.namespaces.get(ns).and_then(|n| {
            n.links
                .iter()
                .find(|(_, l)| l.ifindex == Some(ifindex))
                .map(|(name, _)| name.clone())
        })
    };
    let mut resolved: Vec<(LinkRef, LinkRef)> = Vec::new();
    for (ns, ifname, raw, fabric_nsid) in &peers {
        let peer_ns = match raw.netnsid {
            None => Some(ns.as_str()),
            Some(id) if Some(id) == *fabric_nsid => fabric,
            Some(_) => None,
        };
        if let Some(peer_ns) = peer_ns
            && let Some(peer_name) = index_name(state, peer_ns, raw.ifindex)
        {
            resolved.push((
                LinkRef {
                    ns: ns.clone(),
                    name: ifname.clone(),
                },
                LinkRef {
                    ns: peer_ns.to_string(),
                    name: peer_name,
                },
            ));
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

type Dumped = (String, Namespace, Vec<(String, RawPeer)>, Option<i32>);

fn dump_namespace(
    spec: &ObserveSpec,
    h: &mut NsHandle,
    fabric_fd: Option<i32>,
) -> Result<Dumped, KernelError> {
    let lab = spec.lab.as_str();
    let name = h.name.clone();
    // Per-interface IPv4 settings wanted here, read from the links' IFLA_AF_SPEC.
    let wanted: Vec<(&String, devconf::DevConf<'_>)> = spec
        .sysctls
        .get(&name)
        .into_iter()
        .flatten()
        .filter_map(|k| devconf::parse_key(k).map(|c| (k, c)))
        .collect();
    let mut af_specs: HashMap<String, Vec<u8>> = HashMap::new();
    let err = |what: &'static str| {
        let name = name.clone();
        move |source: std::io::Error| KernelError::Dump {
            ns: name,
            what,
            source,
        }
    };
    let mut ns = Namespace::default();
    let mut raw_peers = Vec::new();
    let mut masters: Vec<(String, u32)> = Vec::new();

    let mut req = LinkMessage::default();
    req.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    let mut lo_alias = None;
    h.sock
        .dump(RouteNetlinkMessage::GetLink(req), |raw| {
            if let Some((ifname, link, peer, master, alias, af_spec)) = decode_link(raw) {
                if let Some(a) = af_spec
                    && wanted.iter().any(|(_, c)| c.dev == ifname)
                {
                    af_specs.insert(ifname.clone(), a.to_vec());
                }
                if link.kind == LinkKind::Loopback {
                    lo_alias = alias;
                }
                if let Some(p) = peer {
                    raw_peers.push((ifname.clone(), p));
                }
                if let Some(m) = master {
                    masters.push((ifname.clone(), m));
                }
                ns.links.insert(ifname, link);
            }
        })
        .map_err(err("links"))?;
    ns.owner = lo_alias
        .as_deref()
        .and_then(alias_owner)
        .map(str::to_string);
    if !ns.owned_by(lab) {
        // Not ours: only its name and owner matter.
        return Ok((
            name,
            Namespace {
                owner: ns.owner,
                ..Namespace::default()
            },
            Vec::new(),
            None,
        ));
    }
    for (key, conf) in &wanted {
        if let Some(v) = af_specs
            .get(conf.dev)
            .and_then(|a| devconf::read(a, conf.index))
        {
            ns.sysctls.insert((*key).clone(), v.to_string());
        }
    }
    let by_index: HashMap<u32, String> = ns
        .links
        .iter()
        .filter_map(|(n, l)| l.ifindex.map(|i| (i, n.clone())))
        .collect();
    for (ifname, master) in masters {
        if let Some(m) = by_index.get(&master)
            && let Some(link) = ns.links.get_mut(&ifname)
        {
            link.master = Some(m.clone());
        }
    }

    h.sock
        .dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            |raw| {
                if let Some(RouteNetlinkMessage::NewAddress(msg)) = parse(raw)
                    && let Some((key, addr)) = decode_address(&msg, &by_index)
                {
                    ns.addresses.insert(key, addr);
                }
            },
        )
        .map_err(err("addresses"))?;

    h.sock
        .dump(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            |raw| {
                if let Some(RouteNetlinkMessage::NewRoute(msg)) = parse(raw)
                    && let Some((key, route)) = decode_route(&msg, &by_index)
                {
                    ns.routes.insert(key, route);
                }
            },
        )
        .map_err(err("routes"))?;

    h.sock
        .dump(
            RouteNetlinkMessage::GetRule(RuleMessage::default()),
            |raw| {
                if let Some(RouteNetlinkMessage::NewRule(msg)) = parse(raw)
                    && let Some((rule, meta)) = decode_rule(&msg)
                {
                    ns.rules.insert(rule, meta);
                }
            },
        )
        .map_err(err("rules"))?;

    // The fabric's nsid as seen from here, to resolve veth peers.
    let mut fabric_nsid = None;
    if let Some(fd) = fabric_fd
        && raw_peers.iter().any(|(_, p)| p.netnsid.is_some())
    {
        let mut msg = NsidMessage::default();
        msg.attributes.push(NsidAttribute::Fd(fd as u32));
        if let Ok(Ok(raw)) = h.sock.request(RouteNetlinkMessage::GetNsId(msg))
            && let Some(RouteNetlinkMessage::NewNsId(reply)) = parse(&raw)
        {
            fabric_nsid = reply.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                _ => None,
            });
        }
    }
    Ok((name, ns, raw_peers, fabric_nsid))
}

fn parse(raw: &[u8]) -> Option<RouteNetlinkMessage> {
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw) {
        Ok(msg) => match msg.payload {
            NetlinkPayload::InnerMessage(inner) => Some(inner),
            _ => None,
        },
        Err(_) => None,
    }
}

/// A decoded link: name, link, raw veth peer, master ifindex, alias, and the raw
/// `IFLA_AF_SPEC` payload (borrowed from the message).
type DecodedLink<'a> = (
    String,
    Link,
    Option<RawPeer>,
    Option<u32>,
    Option<String>,
    Option<&'a [u8]>,
);

const RTM_NEWLINK: u16 = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_IFALIAS: u16 = 20;
const IFLA_LINK_NETNSID: u16 = 37;
const ARPHRD_LOOPBACK: u16 = 772;
const IFF_UP: u32 = 1;

fn nla_str(v: &[u8]) -> String {
    let v = v.split(|b| *b == 0).next().unwrap_or(v);
    String::from_utf8_lossy(v).into_owned()
}

fn nla_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}

/// Decodes only the link attributes the diff needs, straight from the message bytes:
/// a link dump carries kilobytes per link (per-family configuration) that nshost never
/// looks at, and a full decode of a large fabric dominated the no-op plan.
fn decode_link(raw: &[u8]) -> Option<DecodedLink<'_>> {
    if raw.len() < 32 || u16::from_ne_bytes([raw[4], raw[5]]) != RTM_NEWLINK {
        return None;
    }
    let ifi = &raw[16..32];
    let link_type = u16::from_ne_bytes([ifi[2], ifi[3]]);
    let index = u32::from_ne_bytes(ifi[4..8].try_into().ok()?);
    let flags = u32::from_ne_bytes(ifi[8..12].try_into().ok()?);
    let (mut name, mut mtu, mut alias, mut master) = (String::new(), None, None, None);
    let (mut peer_index, mut netnsid, mut kind, mut af_spec) = (None, None, None, None);
    for nla in NlasIterator::new(&raw[32..]) {
        let nla = nla.ok()?;
        let (kind_bits, len) = (nla.kind(), usize::from(nla.length()));
        let v: &[u8] = nla.into_inner().get(4..len)?;
        match kind_bits & 0x3fff {
            IFLA_IFNAME => name = nla_str(v),
            IFLA_MTU => mtu = nla_u32(v),
            IFLA_IFALIAS => alias = Some(nla_str(v)),
            IFLA_MASTER => master = nla_u32(v),
            IFLA_LINK => peer_index = nla_u32(v),
            IFLA_LINK_NETNSID => netnsid = nla_u32(v).map(|i| i as i32),
            IFLA_AF_SPEC => af_spec = Some(v),
            IFLA_LINKINFO => {
                for info in NlasIterator::new(v).flatten() {
                    if info.kind() & 0x3fff == IFLA_INFO_KIND {
                        kind = Some(nla_str(info.value()));
                    }
                }
            }
            _ => {}
        }
    }
    let kind = match kind.as_deref() {
        Some("veth") => LinkKind::Veth { peer: None },
        Some("bridge") => LinkKind::Bridge,
        Some(other) => LinkKind::Other {
            name: other.to_string(),
        },
        None if link_type == ARPHRD_LOOPBACK => LinkKind::Loopback,
        None => LinkKind::Other {
            name: "unknown".to_string(),
        },
    };
    let peer = match (&kind, peer_index) {
        (LinkKind::Veth { .. }, Some(ifindex)) => Some(RawPeer { ifindex, netnsid }),
        _ => None,
    };
    let owner = match kind {
        LinkKind::Loopback => None,
        _ => alias.as_deref().and_then(alias_owner).map(str::to_string),
    };
    let link = Link {
        kind,
        owner,
        mtu,
        up: flags & IFF_UP != 0,
        master: None,
        ifindex: Some(index),
    };
    Some((name, link, peer, master, alias, af_spec))
}

fn decode_address(
    msg: &AddressMessage,
    by_index: &HashMap<u32, String>,
) -> Option<(AddressKey, Address)> {
    let ifname = by_index.get(&msg.header.index)?.clone();
    let mut local = None;
    let mut address = None;
    let mut proto = 0u8;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Protocol(p) => proto = u8::from(*p),
            _ => {}
        }
    }
    let ip = local.or(address)?;
    let addr = IpNet::new(ip, msg.header.prefix_len).ok()?;
    Some((
        AddressKey { ifname, addr },
        Address {
            owned: proto == NSHOST_PROTO,
        },
    ))
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The local table holds the kernel's own local and broadcast routes.
const RT_TABLE_LOCAL: u32 = 255;

fn decode_route(msg: &RouteMessage, by_index: &HashMap<u32, String>) -> Option<(RouteKey, Route)> {
    let family = msg.header.address_family;
    if family != AddressFamily::Inet && family != AddressFamily::Inet6 {
        return None;
    }
    let mut table = u32::from(msg.header.table);
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    let mut metric = 0;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dst = route_ip(a),
            RouteAttribute::Gateway(a) => gateway = route_ip(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            _ => {}
        }
    }
    if table == RT_TABLE_LOCAL {
        return None;
    }
    let dst = dst.unwrap_or(if family == AddressFamily::Inet6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    });
    let dst = IpNet::new(dst, msg.header.destination_prefix_length).ok()?;
    let owned = u8::from(msg.header.protocol) == NSHOST_PROTO;
    Some((
        RouteKey { table, dst, metric },
        Route {
            gateway,
            dev: oif.and_then(|i| by_index.get(&i).cloned()),
            owned,
        },
    ))
}

fn decode_rule(msg: &RuleMessage) -> Option<(Rule, RuleMeta)> {
    let v6 = match msg.header.family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let mut rule = Rule {
        v6,
        table: u32::from(msg.header.table),
        tos: (msg.header.tos != 0).then_some(msg.header.tos),
        ..Rule::default()
    };
    if msg.header.action != RuleAction::ToTable {
        rule.table = 0;
    }
    let mut owned = false;
    for attr in &msg.attributes {
        match attr {
            RuleAttribute::Priority(p) => rule.priority = *p,
            RuleAttribute::Source(ip) => rule.from = IpNet::new(*ip, msg.header.src_len).ok(),
            RuleAttribute::Destination(ip) => rule.to = IpNet::new(*ip, msg.header.dst_len).ok(),
            RuleAttribute::Iifname(n) => rule.iif = Some(n.clone()),
            RuleAttribute::Oifname(n) => rule.oif = Some(n.clone()),
            RuleAttribute::FwMark(m) => rule.fwmark = Some(*m),
            RuleAttribute::Table(t) if msg.header.action == RuleAction::ToTable => rule.table = *t,
            RuleAttribute::IpProtocol(p) => rule.ipproto = Some(u8::from(*p)),
            RuleAttribute::SourcePortRange(r) => {
                rule.sport = Some(PortRange {
                    start: r.start,
                    end: r.end,
                })
            }
            RuleAttribute::DestinationPortRange(r) => {
                rule.dport = Some(PortRange {
                    start: r.start,
                    end: r.end,
                })
            }
            RuleAttribute::Protocol(p) => owned = u8::from(*p) == NSHOST_PROTO,
            _ => {}
        }
    }
    Some((rule, RuleMeta { owned }))
}
