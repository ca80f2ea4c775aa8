//! Resetting a namespace to a fresh one's state, and proving it, before destroy gives it
//! back to the pool. The proof compares the namespace with a fresh one (read at fill
//! time): every link, address, route (of every table), rule and neighbour, each by its
//! header and attributes (timers and counters left out); every namespace-wide sysctl
//! and loopback setting nshost knows (those the lab's settings record names, and
//! [`BASE_SYSCTLS`]); no nftables table, ipset or legacy iptables table; no process.
//! What cannot be reset (a device that cannot be deleted, a firewall, a process, a
//! sysctl the fresh namespace does not have) makes the namespace be deleted instead.
//!
//! The namespace ids a namespace holds for others (given by the kernel to veth peers'
//! namespaces) cannot be removed from user space: they go when the other namespace
//! dies. They are checked when a namespace is taken from the pool ([`readiness_here`]):
//! one that still holds any is left in the pool until they are gone, never handed out.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::MetadataExt;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::nsid::NsidMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::rule::RuleMessage;
use serde::{Deserialize, Serialize};

use crate::kernel::decode::decode_link;
use crate::kernel::{RouteBatch, RouteSocket, netns};
use crate::netlink::{Route, parse};
use crate::state::settings::Setting;

/// Sysctls always compared with a fresh namespace's, besides those a lab sets.
pub const BASE_SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.default.forwarding",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.default.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv6.conf.default.disable_ipv6",
];

/// A namespace's objects, each as one line: what a reset must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objects {
    pub links: BTreeSet<String>,
    pub addresses: BTreeSet<String>,
    pub routes: BTreeSet<String>,
    pub rules: BTreeSet<String>,
    pub neighbours: BTreeSet<String>,
}

/// A fresh namespace's state (loopback up).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fresh {
    pub objects: Objects,
    /// Every readable sysctl under `/proc/sys/net` but those of devices other than
    /// `lo`, `all` and `default`, by key.
    pub sysctls: BTreeMap<String, String>,
}

/// Reads the calling thread's namespace after unsharing a new one (the thread must be
/// a dedicated one that ends afterwards).
pub fn fresh_state() -> io::Result<Fresh> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    super::mark_lo_here(super::POOL_ALIAS)?;
    let mut sysctls = BTreeMap::new();
    read_tree(std::path::Path::new("/proc/sys/net"), "net", &mut sysctls);
    Ok(Fresh {
        objects: objects_here()?,
        sysctls,
    })
}

fn read_tree(dir: &std::path::Path, key: &str, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let parent_is_devices = key.ends_with(".conf") || key.ends_with(".neigh");
        if parent_is_devices && !matches!(name.as_str(), "all" | "default" | "lo") {
            continue;
        }
        let sub = format!("{key}.{name}");
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => read_tree(&path, &sub, out),
            Ok(_) => {
                if let Ok(v) = std::fs::read_to_string(&path) {
                    out.insert(sub, crate::state::settings::normalize(v.trim()));
                }
            }
            Err(_) => {}
        }
    }
}

/// One object as a line: its header and attributes, timers and counters left out.
fn line(header: &impl std::fmt::Debug, attrs: &[impl std::fmt::Debug]) -> String {
    let mut s = format!("{header:?}");
    for a in attrs {
        let a = format!("{a:?}");
        let volatile = ["CacheInfo", "Stats", "Expires", "Alias(", "IfAlias("];
        if !volatile.iter().any(|v| a.starts_with(v)) {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Every object of the calling thread's namespace, each as its line, and the raw
/// messages by line (to delete those a fresh namespace does not have).
fn dump_here(sock: &mut RouteSocket) -> io::Result<(Objects, Vec<RouteNetlinkMessage>)> {
    let mut objects = Objects::default();
    let mut extra: Vec<(String, RouteNetlinkMessage)> = Vec::new();
    let mut take = |raw: &[u8]| {
        let Some(msg) = parse::<Route>(raw) else {
            return;
        };
        let (set, l) = match &msg {
            RouteNetlinkMessage::NewLink(m) => {
                let link = decode_link(raw, &|_| false);
                let l = link.map_or_else(
                    || line(&m.header, &m.attributes),
                    |k| {
                        format!(
                            "{} #{} up={} mtu={:?} qdisc={} kind={:?}",
                            k.name, k.index, k.up, k.mtu, k.lab_qdisc, k.linkinfo
                        )
                    },
                );
                (&mut objects.links, l)
            }
            RouteNetlinkMessage::NewAddress(m) => {
                (&mut objects.addresses, line(&m.header, &m.attributes))
            }
            RouteNetlinkMessage::NewRoute(m) => {
                (&mut objects.routes, line(&m.header, &m.attributes))
            }
            RouteNetlinkMessage::NewRule(m) => (&mut objects.rules, line(&m.header, &m.attributes)),
            RouteNetlinkMessage::NewNeighbour(m) => {
                (&mut objects.neighbours, line(&m.header, &m.attributes))
            }
            _ => return,
        };
        set.insert(l.clone());
        extra.push((l, msg));
    };
    for request in [
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        RouteNetlinkMessage::GetRoute(RouteMessage::default()),
        RouteNetlinkMessage::GetRule(RuleMessage::default()),
        RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
    ] {
        sock.dump(request, &mut take)?;
    }
    Ok((objects, extra.into_iter().map(|(_, m)| m).collect()))
}

/// The device group links are moved to, to be deleted at once.
const DOOMED_GROUP: u32 = 0x6e73_686f;

/// Deletes every link of the calling thread's namespace but those a fresh namespace
/// has, in one request: each is put in one device group, then the group is deleted,
/// so the kernel unregisters them (and a veth's peer, wherever it is) in one batch,
/// waiting for one grace period, not one per link. Failures show in the comparison
/// that follows.
pub fn delete_links_here(fresh: &Fresh) -> io::Result<()> {
    use netlink_packet_route::link::LinkAttribute;
    let mut sock = RouteSocket::open()?;
    let mut batch = RouteBatch::new();
    sock.dump(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        |raw| {
            let Some(RouteNetlinkMessage::NewLink(m)) = parse::<Route>(raw) else {
                return;
            };
            if is_fresh_link(&m, fresh) {
                return;
            }
            let mut set = LinkMessage::default();
            set.header.index = m.header.index;
            set.attributes.push(LinkAttribute::Group(DOOMED_GROUP));
            batch.push(RouteNetlinkMessage::SetLink(set), 0);
        },
    )?;
    if batch.is_empty() {
        return Ok(());
    }
    let mut del = LinkMessage::default();
    del.attributes.push(LinkAttribute::Group(DOOMED_GROUP));
    batch.push(RouteNetlinkMessage::DelLink(del), 0);
    sock.execute(&batch, &mut netns::open_fd).map(drop)
}

/// Whether link `m` is one a fresh namespace has (lo, and the fallback devices of the
/// kernel's modules), by name and index.
fn is_fresh_link(m: &LinkMessage, fresh: &Fresh) -> bool {
    let name = m.attributes.iter().find_map(|a| match a {
        netlink_packet_route::link::LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    });
    m.header.index == 1
        || name.is_some_and(|n| {
            let head = format!("{n} #{} ", m.header.index);
            fresh.objects.links.iter().any(|l| l.starts_with(&head))
        })
}

/// The objects of the calling thread's namespace.
pub fn objects_here() -> io::Result<Objects> {
    Ok(dump_here(&mut RouteSocket::open()?)?.0)
}

/// Whether a pooled namespace may be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Its loopback is not marked as the pool's (a give-back killed half-way).
    NotPools,
    /// It holds namespace ids for other namespaces (that are not freed yet).
    Nsids,
}

/// Whether the namespace the calling thread is in may be handed out: its loopback
/// marked as the pool's, and no namespace id held for another namespace.
pub fn readiness_here() -> Readiness {
    let marked = (|| -> Option<bool> {
        let mut sock = RouteSocket::open().ok()?;
        let mut lo = LinkMessage::default();
        lo.header.index = 1;
        let raw = sock.request(RouteNetlinkMessage::GetLink(lo)).ok()?.ok()?;
        Some(decode_link(&raw, &|_| false)?.alias.as_deref() == Some(super::POOL_ALIAS))
    })();
    if marked != Some(true) {
        return Readiness::NotPools;
    }
    match nsids_here() {
        Ok(0) => Readiness::Ready,
        _ => Readiness::Nsids,
    }
}

/// How many namespace ids the calling thread's namespace holds.
pub fn nsids_here() -> io::Result<usize> {
    let mut n = 0;
    RouteSocket::open()?.dump(RouteNetlinkMessage::GetNsId(NsidMessage::default()), |_| {
        n += 1
    })?;
    Ok(n)
}

/// Resets the calling thread's namespace to `fresh`, then proves it: `Err` says what
/// could not be reset (the namespace must then be deleted). `keys` are the settings
/// the lab set in it.
pub fn reset_here(fresh: &Fresh, keys: &[Setting]) -> Result<(), String> {
    if let Some(pid) = process_here() {
        return Err(format!("process {pid} runs in it"));
    }
    match crate::kernel::netfilter::in_use_here() {
        Ok(false) => {}
        Ok(true) => return Err("it holds nftables tables or ipsets".into()),
        Err(e) => return Err(format!("reading its netfilter state: {e}")),
    }
    for table in ["ip_tables_names", "ip6_tables_names", "arp_tables_names"] {
        let path = format!("/proc/thread-self/net/{table}");
        if std::fs::read_to_string(&path).is_ok_and(|t| !t.trim().is_empty()) {
            return Err(format!("it holds legacy tables ({table})"));
        }
    }
    let io = |e: io::Error| e.to_string();
    delete_links_here(fresh).map_err(io)?;
    let mut sock = RouteSocket::open().map_err(io)?;
    // Links first (their addresses, routes and neighbours go with them), then what is
    // left of the rest; lo is set back to a fresh one's attributes.
    for round in 0..2 {
        let (objects, messages) = dump_here(&mut sock).map_err(io)?;
        if objects == fresh.objects {
            break;
        }
        let mut batch = RouteBatch::new();
        for msg in messages {
            if let Some(del) = deletion(&msg, fresh, round == 0) {
                batch.push(del, 0);
            }
        }
        let mut lo = LinkMessage::default();
        lo.header.index = 1;
        lo.header.flags = netlink_packet_route::link::LinkFlags::Up;
        lo.header.change_mask = netlink_packet_route::link::LinkFlags::Up;
        lo.attributes
            .push(netlink_packet_route::link::LinkAttribute::Mtu(65536));
        batch.push(RouteNetlinkMessage::SetLink(lo), 0);
        // Failures show in the comparison that follows.
        let _ = sock.execute(&batch, &mut netns::open_fd);
    }
    let now = objects_here().map_err(io)?;
    if now != fresh.objects {
        return Err(difference(&fresh.objects, &now));
    }
    let mut wanted: BTreeSet<String> = BASE_SYSCTLS.iter().map(|s| s.to_string()).collect();
    wanted.extend(keys.iter().filter_map(|s| match s {
        Setting::Namespace(k) => Some(k.clone()),
        Setting::Device { dev, setting } if dev == "lo" => Some(setting.key("lo")),
        Setting::Device { .. } => None,
    }));
    for key in wanted {
        let Some(value) = fresh.sysctls.get(&key) else {
            return Err(format!("sysctl {key}: a fresh namespace has none"));
        };
        let setting = Setting::of_key(&key);
        let read =
            |s: &Setting| netns::read_sysctl(s).map(|v| crate::state::settings::normalize(&v));
        if read(&setting).map_err(|e| format!("{key}: {e}"))? != *value {
            netns::write_sysctl(&setting, value).map_err(|e| format!("{key}: {e}"))?;
            if read(&setting).map_err(|e| format!("{key}: {e}"))? != *value {
                return Err(format!("sysctl {key} did not go back to {value}"));
            }
        }
    }
    Ok(())
}

/// The request that removes `msg`'s object, if a fresh namespace does not have it.
/// Links go in the first round; the rest in both (what a link took with it is gone).
fn deletion(msg: &RouteNetlinkMessage, fresh: &Fresh, links: bool) -> Option<RouteNetlinkMessage> {
    let has = |set: &BTreeSet<String>, l: String| set.contains(&l);
    let f = &fresh.objects;
    Some(match msg {
        RouteNetlinkMessage::NewLink(m) if links => {
            if is_fresh_link(m, fresh) {
                return None;
            }
            let mut del = LinkMessage::default();
            del.header.index = m.header.index;
            RouteNetlinkMessage::DelLink(del)
        }
        RouteNetlinkMessage::NewAddress(m) if !links => {
            if has(&f.addresses, line(&m.header, &m.attributes)) {
                return None;
            }
            RouteNetlinkMessage::DelAddress(m.clone())
        }
        RouteNetlinkMessage::NewRoute(m) if !links => {
            if has(&f.routes, line(&m.header, &m.attributes)) {
                return None;
            }
            RouteNetlinkMessage::DelRoute(m.clone())
        }
        RouteNetlinkMessage::NewRule(m) if !links => {
            if has(&f.rules, line(&m.header, &m.attributes)) {
                return None;
            }
            RouteNetlinkMessage::DelRule(m.clone())
        }
        RouteNetlinkMessage::NewNeighbour(m) if !links => {
            if has(&f.neighbours, line(&m.header, &m.attributes)) {
                return None;
            }
            RouteNetlinkMessage::DelNeighbour(m.clone())
        }
        _ => return None,
    })
}

/// The first object in which `now` differs from `fresh`, in words.
fn difference(fresh: &Objects, now: &Objects) -> String {
    let pairs = [
        ("link", &fresh.links, &now.links),
        ("address", &fresh.addresses, &now.addresses),
        ("route", &fresh.routes, &now.routes),
        ("rule", &fresh.rules, &now.rules),
        ("neighbour", &fresh.neighbours, &now.neighbours),
    ];
    for (what, f, n) in pairs {
        if let Some(extra) = n.difference(f).next() {
            return format!("{what} left: {extra}");
        }
        if let Some(missing) = f.difference(n).next() {
            return format!("{what} missing: {missing}");
        }
    }
    "it differs from a fresh namespace".into()
}

/// A process (other than this one) whose network namespace is the calling thread's.
fn process_here() -> Option<u32> {
    let me = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    let own = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != own)
        .find(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.dev() == me.dev() && m.ino() == me.ino())
        })
}

/// Resets namespace `ns`, which the calling thread has entered, and gives it back to
/// the pool; `Err` says why not (the caller then deletes it).
pub fn recycle_here(ns: &str, fresh: &Fresh, keys: &[Setting]) -> Result<(), String> {
    reset_here(fresh, keys)?;
    give_back_here(ns).map_err(|e| e.to_string())
}

/// Gives the namespace the calling thread is in (named `ns` under `/run/netns`, reset)
/// back to the pool: mounted under the pool first, then its name removed, then its
/// loopback marked as the pool's (until then no taker hands it out).
pub fn give_back_here(ns: &str) -> io::Result<()> {
    let path = super::dir().join(super::new_entry_name());
    let mark = format!("{}\n", super::POOL_ALIAS);
    netns::mount_here(&path, mark.as_bytes())
        .map_err(|(what, e)| io::Error::new(e.kind(), format!("{what}: {e}")))?;
    if let Err(e) = netns::delete(ns) {
        let _ = netns::unmount_path(&path);
        return Err(e.cause);
    }
    super::mark_lo_here(super::POOL_ALIAS)
}
