//! One namespace, read from inside on its own thread: its loopback's mark (whose it
//! is), then its links with their settings, root qdiscs and vxlan flood entries, the
//! rest of its contents, and the fabric's nsid as seen from it.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use nix::sched::{CloneFlags, setns};

use super::contents::dump_contents;
use super::fabric::Fabrics;
use super::{Dumped, ObserveSpec, Seen, Stray};
use crate::kernel::decode::{RawLink, decode_link};
use crate::kernel::message::devconf_read;
use crate::kernel::netns::{self, Entry, Opened};
use crate::kernel::{KernelError, RouteSocket};
use crate::netlink::parse;
use crate::state::{KernelKind, LinkKind, Namespace, parse_namespace_alias};

/// Looks at one entry on the calling (dedicated, short-lived) thread.
pub(super) fn look(
    spec: &ObserveSpec,
    entry: &Entry,
    fabrics: &Fabrics,
) -> Result<Seen, KernelError> {
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
    let err = |what: &'static str| super::dump_error(name, what);
    let wanted = spec.settings.get(name);
    let mut raw: Vec<RawLink> = Vec::new();
    let want = |ifname: &str| spec.early || wanted.is_some_and(|w| w.contains_key(ifname));
    match spec.partial_links.get(name) {
        Some(names) => {
            for ifname in std::iter::once("lo").chain(names.iter().map(String::as_str)) {
                if let Some(bytes) = get_link(sock, ifname).map_err(err("links"))?
                    && let Some(l) = decode_link(&bytes, &want)
                {
                    raw.push(l);
                }
            }
        }
        None => {
            let mut req = LinkMessage::default();
            req.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
            sock.dump(RouteNetlinkMessage::GetLink(req), |bytes| {
                if let Some(l) = decode_link(bytes, &want) {
                    raw.push(l);
                }
            })
            .map_err(err("links"))?;
        }
    }
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
    let mut af_specs = Vec::new();
    let name_at_home = |i: u32| fabrics.home.get(&i).cloned();
    for l in &raw {
        // A vxlan whose socket is in another namespace (the machine's) names its
        // underlay device there.
        let kind = match l.netnsid {
            Some(_) if l.kind(&|_| None).kernel_kind() == Some(KernelKind::Vxlan) => {
                l.kind(&name_at_home)
            }
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
        if let (true, Some(af)) = (spec.early, &l.af_spec) {
            af_specs.push((l.name.clone(), af.clone()));
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
        af_specs,
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

/// One link of the namespace, by name (`RTM_GETLINK`, no dump): its message, or `None`
/// when there is no such link.
fn get_link(sock: &mut RouteSocket, ifname: &str) -> io::Result<Option<Vec<u8>>> {
    let mut req = LinkMessage::default();
    req.attributes
        .push(LinkAttribute::IfName(ifname.to_string()));
    req.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    match sock.request(RouteNetlinkMessage::GetLink(req))? {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.errno == libc::ENODEV => Ok(None),
        Err(e) => Err(e.to_io()),
    }
}
