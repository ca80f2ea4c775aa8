//! `observe`: dumps the live kernel into a `NetState` — every namespace's owner from its
//! loopback mark, and for the lab's own namespaces their links, addresses, routes,
//! rules and the sysctls the desired state names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::AsRawFd;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;

use crate::devconf;
use crate::kernel::decode::{RawPeer, decode_address, decode_link, decode_route, decode_rule};
use crate::kernel::netns::{self, NsHandle, OpenSpec, SysctlValues};
use crate::kernel::{KernelError, Session};
use crate::state::{LinkKind, LinkRef, Namespace, NetState, NsRole, alias_owner, alias_role};

/// What to observe.
#[derive(Debug, Clone, Default)]
pub struct ObserveSpec {
    pub lab: String,
    /// The lab's fabric namespace, for resolving veth peers.
    pub fabric: Option<String>,
    /// sysctl keys to read, per namespace.
    pub sysctls: BTreeMap<String, BTreeSet<String>>,
    /// Only these namespaces (verification after an apply re-reads what it touched);
    /// `None` for all.
    pub only: Option<BTreeSet<String>>,
}

/// Reads the live state. Namespaces not yet in `session` are opened (and stay open
/// there, for `apply` and for verification).
pub fn observe(spec: &ObserveSpec, session: &mut Session) -> Result<NetState, KernelError> {
    let t0 = std::time::Instant::now();
    let mut names = netns::list().map_err(KernelError::ListNamespaces)?;
    session
        .handles
        .retain(|name, _| names.binary_search(name).is_ok());
    if let Some(only) = &spec.only {
        names.retain(|n| only.contains(n));
    }
    let live_names: BTreeSet<&String> = names.iter().collect();
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
    let mut jobs: Vec<Job> = session
        .handles
        .values_mut()
        .filter(|h| live_names.contains(&h.name))
        .map(Job::Dump)
        .collect();
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
    matches!(e, netns::NsError::Io { cause: source, .. } if source.kind() == std::io::ErrorKind::NotFound)
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
            cause: source,
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
    ns.role = lo_alias.as_deref().map_or(NsRole::Unknown, alias_role);
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
                if let Some((key, addr)) = decode_address(raw, &by_index) {
                    ns.addresses.insert(key, addr);
                }
            },
        )
        .map_err(err("addresses"))?;

    h.sock
        .dump(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            |raw| {
                if let Some((key, route)) = decode_route(raw, &by_index) {
                    ns.routes.insert(key, route);
                }
            },
        )
        .map_err(err("routes"))?;

    h.sock
        .dump(
            RouteNetlinkMessage::GetRule(RuleMessage::default()),
            |raw| {
                if let Some((rule, meta)) = decode_rule(raw) {
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
