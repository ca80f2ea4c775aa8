//! The kernel's change notifications for a whole lab on one socket: a `NETLINK_ROUTE`
//! socket (and a `NETLINK_NETFILTER` one for labs with firewalls) with
//! `NETLINK_LISTEN_ALL_NSID`, which receives the notifications of every namespace that
//! has an nsid in the socket's own namespace and says which one each came from. A lab
//! of 10,000 namespaces costs two descriptors, not 10,000.
//!
//! [`Listener::track`] gives each of the lab's namespaces an nsid here (opening one
//! namespace descriptor at a time) and learns which name it stands for. A thread of its
//! own waits in `poll` (no timer: an idle lab costs no CPU), turns each notification
//! into a [`Notice`] naming the namespace and the class of object, and hands it on. A
//! receive-buffer overflow (`ENOBUFS`: notifications were lost) becomes
//! [`Notice::Overflow`], on which the caller reads the kernel again.
//!
//! Only what notifies is seen: links, addresses, routes, rules, neighbours (when
//! asked), qdiscs, the few settings the kernel reports as netconf (forwarding,
//! rp_filter, ...) and nftables. Other sysctls and ipsets send nothing.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::kernel::KernelError;
use crate::kernel::netns;
use crate::netlink::{Route, Socket, attrs, for_each_message, parse};

/// What kind of object a notification is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ObjectClass {
    Link,
    Address,
    Route,
    Rule,
    Neighbour,
    /// A queueing discipline (impairments).
    Qdisc,
    /// A setting the kernel reports (`RTM_NEWNETCONF`: forwarding, rp_filter, ...).
    NetConf,
    /// nftables (and iptables, which is nftables underneath).
    Firewall,
    /// The namespace itself went away (its nsid here was released).
    Namespace,
}

impl ObjectClass {
    /// The name people read ("route", "address", ...).
    pub fn name(self) -> &'static str {
        match self {
            ObjectClass::Link => "link",
            ObjectClass::Address => "address",
            ObjectClass::Route => "route",
            ObjectClass::Rule => "rule",
            ObjectClass::Neighbour => "neighbour",
            ObjectClass::Qdisc => "qdisc",
            ObjectClass::NetConf => "setting",
            ObjectClass::Firewall => "firewall",
            ObjectClass::Namespace => "namespace",
        }
    }
}

/// One notification, or the news that some were lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something changed in a tracked namespace.
    Changed {
        namespace: String,
        class: ObjectClass,
        /// A removal (`RTM_DEL*`), not an addition or change.
        deleted: bool,
        /// The interface, for a link's notice (`IFLA_IFNAME`): a change to a few of a
        /// namespace's thousands of links is read again by name.
        link: Option<String>,
        /// The device a namespace's configuration notice is about (`NETCONFA_IFINDEX`):
        /// a new link's own configuration, not the namespace-wide one.
        device: Option<u32>,
        /// The netlink port of the sender: for most tools the sender's pid; 0 for the
        /// kernel itself.
        port: u32,
        /// When it was received.
        at: Instant,
    },
    /// The receive buffer overflowed (`ENOBUFS`): notifications were lost, read the
    /// kernel again.
    Overflow { at: Instant },
}

/// What to listen to besides links, addresses, routes, rules, qdiscs and settings.
#[derive(Debug, Clone, Default)]
pub struct ListenOptions {
    /// nftables changes (a second socket, `NETLINK_NETFILTER`).
    pub netfilter: bool,
    /// Neighbour entries: only for labs that declare some (every ARP resolution of
    /// traffic notifies).
    pub neighbours: bool,
    /// The receive buffer to ask for, in bytes (0: 8 MiB). Without `CAP_NET_ADMIN` over
    /// the machine's first namespace the kernel grants at most `net.core.rmem_max`.
    /// `NSHOST_EVENTS_RCVBUF` overrides it (tests make it overflow on purpose).
    pub receive_buffer: usize,
}

/// Receive buffer asked for by default.
const RCVBUF: usize = 8 << 20;
/// `SOL_NETLINK` option: receive the notifications of every namespace with an nsid.
const NETLINK_LISTEN_ALL_NSID: libc::c_int = 8;

/// The nsids of tracked namespaces, both ways.
#[derive(Debug, Default)]
struct Names {
    by_nsid: HashMap<i32, String>,
    by_name: HashMap<String, i32>,
}

/// The listening thread and what it shares. Dropping it stops the thread.
pub struct Listener {
    names: Arc<Mutex<Names>>,
    overflows: Arc<AtomicU64>,
    /// Written to on drop, to wake the thread out of `poll`.
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("overflows", &self.overflows())
            .finish()
    }
}

/// Opens the sockets in the calling thread's namespace and starts the thread that
/// receives on them, calling `send` for each notice.
pub fn listen(
    opts: ListenOptions,
    send: impl Fn(Notice) + Send + 'static,
) -> Result<Listener, KernelError> {
    let probe = |e: io::Error| KernelError::Probe(e);
    let rcvbuf = std::env::var("NSHOST_EVENTS_RCVBUF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if opts.receive_buffer == 0 {
            RCVBUF
        } else {
            opts.receive_buffer
        });
    let mut groups = vec![
        libc::RTNLGRP_LINK,
        libc::RTNLGRP_IPV4_IFADDR,
        libc::RTNLGRP_IPV6_IFADDR,
        libc::RTNLGRP_IPV4_ROUTE,
        libc::RTNLGRP_IPV6_ROUTE,
        libc::RTNLGRP_IPV4_RULE,
        libc::RTNLGRP_IPV6_RULE,
        libc::RTNLGRP_TC,
        libc::RTNLGRP_IPV4_NETCONF,
        libc::RTNLGRP_IPV6_NETCONF,
        libc::RTNLGRP_NSID,
    ];
    if opts.neighbours {
        groups.push(libc::RTNLGRP_NEIGH);
    }
    let route =
        subscribed(netlink_sys::protocols::NETLINK_ROUTE, &groups, rcvbuf).map_err(probe)?;
    let netfilter = if opts.netfilter {
        let groups = [libc::NFNLGRP_NFTABLES as u32];
        Some(
            subscribed(netlink_sys::protocols::NETLINK_NETFILTER, &groups, rcvbuf)
                .map_err(probe)?,
        )
    } else {
        None
    };
    let (stop_rx, stop_tx) = nix::unistd::pipe().map_err(|e| probe(e.into()))?;
    let names = Arc::new(Mutex::new(Names::default()));
    let overflows = Arc::new(AtomicU64::new(0));
    let receiver = Receiver {
        route,
        netfilter,
        stop: stop_rx,
        names: Arc::clone(&names),
        overflows: Arc::clone(&overflows),
    };
    let thread = std::thread::Builder::new()
        .name("nshost-events".into())
        .spawn(move || receiver.run(send))
        .map_err(probe)?;
    Ok(Listener {
        names,
        overflows,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// A netlink socket of `protocol` joined to `groups`, listening in every namespace
/// that has an nsid here.
fn subscribed(protocol: isize, groups: &[u32], rcvbuf: usize) -> io::Result<netlink_sys::Socket> {
    let mut sock = netlink_sys::Socket::new(protocol)?;
    sock.bind(&netlink_sys::SocketAddr::new(0, 0))?;
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(&sock, sockopt::RcvBufForce, &rcvbuf).is_err() {
        let _ = setsockopt(&sock, sockopt::RcvBuf, &rcvbuf);
    }
    for g in groups {
        sock.add_membership(*g)?;
    }
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_NETLINK,
            NETLINK_LISTEN_ALL_NSID,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.set_non_blocking(true)?;
    Ok(sock)
}

impl Listener {
    /// Gives each named namespace (an entry of [`netns::run_dir`]) an nsid in this
    /// namespace, unless it has one, so that its notifications reach the listener, and
    /// learns which name it stands for. One namespace descriptor is open at a time.
    /// Names already tracked are read again (a namespace made anew under the same name
    /// has a new nsid).
    pub fn track(&self, names: &[String]) -> Result<(), KernelError> {
        let mut sock = Socket::<Route>::open().map_err(KernelError::Probe)?;
        for name in names {
            let fd = match netns::open_fd(name) {
                Ok(fd) => fd,
                // Gone since it was named: nothing to listen to.
                Err(_) => continue,
            };
            let id = nsid_of(&mut sock, &fd, name)?;
            let mut known = self.names.lock().expect("names lock");
            if let Some(old) = known.by_name.insert(name.clone(), id)
                && old != id
            {
                known.by_nsid.remove(&old);
            }
            known.by_nsid.insert(id, name.clone());
        }
        Ok(())
    }

    /// Stops reporting the named namespaces.
    pub fn forget(&self, names: &[String]) {
        let mut known = self.names.lock().expect("names lock");
        for name in names {
            if let Some(id) = known.by_name.remove(name) {
                known.by_nsid.remove(&id);
            }
        }
    }

    /// How many times the receive buffer overflowed.
    pub fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// How many namespaces are tracked.
    pub fn tracked(&self) -> usize {
        self.names.lock().expect("names lock").by_name.len()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = nix::unistd::write(&stop, &[1]);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The nsid the namespace behind `fd` has here, given one (`RTM_NEWNSID` with id -1:
/// the kernel picks) when it has none.
fn nsid_of(sock: &mut Socket<Route>, fd: &OwnedFd, name: &str) -> Result<i32, KernelError> {
    let dump_error = |cause| KernelError::Dump {
        ns: name.to_string(),
        what: "its nsid",
        cause,
    };
    let by_fd = |id: Option<i32>| {
        let mut msg = NsidMessage::default();
        msg.attributes
            .push(NsidAttribute::Fd(fd.as_fd().as_raw_fd() as u32));
        if let Some(id) = id {
            msg.attributes.push(NsidAttribute::Id(id));
        }
        msg
    };
    for _ in 0..2 {
        let reply = sock
            .request(RouteNetlinkMessage::GetNsId(by_fd(None)))
            .map_err(dump_error)?
            .map_err(|e| dump_error(e.to_io()))?;
        if let Some(RouteNetlinkMessage::NewNsId(m)) = parse::<Route>(&reply)
            && let Some(id) = m.attributes.iter().find_map(|a| match a {
                NsidAttribute::Id(id) if *id >= 0 => Some(*id),
                _ => None,
            })
        {
            return Ok(id);
        }
        // None yet: ask for one. Another process may give it one first (EEXIST).
        match sock.request_ack(RouteNetlinkMessage::NewNsId(by_fd(Some(-1)))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.errno == libc::EEXIST => {}
            Ok(Err(e)) => return Err(dump_error(e.to_io())),
            Err(e) => return Err(dump_error(e)),
        }
    }
    Err(dump_error(io::Error::other("the kernel gave it no nsid")))
}

/// The receiving side, moved to its thread.
struct Receiver {
    route: netlink_sys::Socket,
    netfilter: Option<netlink_sys::Socket>,
    stop: OwnedFd,
    names: Arc<Mutex<Names>>,
    overflows: Arc<AtomicU64>,
}

/// `RTM_*` message types.
const RTM_NEWNSID: u16 = 88;
const RTM_DELNSID: u16 = 89;
/// `NETNSA_NSID`.
const NETNSA_NSID: u16 = 1;
/// The header of `struct rtgenmsg` before an nsid message's attributes.
const RTGENMSG_LEN: usize = 4;

impl Receiver {
    fn run(self, send: impl Fn(Notice)) {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let mut fds = vec![
                PollFd::new(self.stop.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.route.as_fd(), PollFlags::POLLIN),
            ];
            if let Some(nf) = &self.netfilter {
                fds.push(PollFd::new(nf.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(PollFd::revents)
                    .is_some_and(|r| !r.is_empty())
            };
            if ready(0) {
                return;
            }
            let (route_ready, nf_ready) = (ready(1), ready(2));
            drop(fds);
            if route_ready {
                self.drain(&self.route, false, &mut buf, &send);
            }
            if nf_ready && let Some(nf) = &self.netfilter {
                self.drain(nf, true, &mut buf, &send);
            }
        }
    }

    /// Receives every datagram waiting on `sock`.
    fn drain(
        &self,
        sock: &netlink_sys::Socket,
        netfilter: bool,
        buf: &mut [u8],
        send: &impl Fn(Notice),
    ) {
        loop {
            match recv_with_nsid(sock.as_raw_fd(), buf) {
                Ok((len, nsid)) => {
                    let at = Instant::now();
                    for_each_message(&buf[..len], |ty, _, _, raw| {
                        if let Some(n) = self.notice(ty, raw, nsid, netfilter, at) {
                            send(n);
                        }
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.overflows.fetch_add(1, Ordering::Relaxed);
                    send(Notice::Overflow { at: Instant::now() });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// The notice a message stands for, if it is about a tracked namespace.
    fn notice(
        &self,
        ty: u16,
        raw: &[u8],
        nsid: Option<i32>,
        netfilter: bool,
        at: Instant,
    ) -> Option<Notice> {
        let port = u32::from_ne_bytes(raw.get(12..16)?.try_into().ok()?);
        let Some(nsid) = nsid else {
            // From this namespace itself: only the release of a tracked namespace's
            // nsid is news (it went away).
            return (ty == RTM_DELNSID)
                .then(|| released_nsid(raw))
                .flatten()
                .and_then(|id| self.release(id))
                .map(|namespace| Notice::Changed {
                    namespace,
                    class: ObjectClass::Namespace,
                    deleted: true,
                    link: None,
                    device: None,
                    port,
                    at,
                });
        };
        let (class, deleted) = if netfilter {
            (ObjectClass::Firewall, false)
        } else if bridge_port_news(ty, raw) {
            return None;
        } else {
            classify(ty)?
        };
        let namespace = self.names.lock().ok()?.by_nsid.get(&nsid)?.clone();
        let link = (class == ObjectClass::Link)
            .then(|| link_name(raw))
            .flatten();
        let device = (class == ObjectClass::NetConf)
            .then(|| netconf_device(raw))
            .flatten();
        Some(Notice::Changed {
            namespace,
            class,
            deleted,
            link,
            device,
            port,
            at,
        })
    }

    /// Forgets the namespace whose nsid was released, returning its name.
    fn release(&self, id: i32) -> Option<String> {
        let mut known = self.names.lock().ok()?;
        let name = known.by_nsid.remove(&id)?;
        known.by_name.remove(&name);
        Some(name)
    }
}

/// The class of an `RTM_*` notification and whether it is a removal.
fn classify(ty: u16) -> Option<(ObjectClass, bool)> {
    let class = match ty {
        16 | 17 => ObjectClass::Link,
        20 | 21 => ObjectClass::Address,
        24 | 25 => ObjectClass::Route,
        28 | 29 => ObjectClass::Neighbour,
        32 | 33 => ObjectClass::Rule,
        36 | 37 => ObjectClass::Qdisc,
        80 | 81 => ObjectClass::NetConf,
        // A namespace's own nsids (of its peers) are not the lab's objects.
        RTM_NEWNSID | RTM_DELNSID => return None,
        _ => return None,
    };
    Some((class, ty % 2 == 1))
}

/// Whether a link message is a bridge's news of one of its ports (family
/// `AF_BRIDGE`: the port's forwarding state, which a bridge changes by itself, for
/// every port at once, some seconds after they join). nshost sets none of it; a
/// port's joining or leaving comes as a plain link message too.
fn bridge_port_news(ty: u16, raw: &[u8]) -> bool {
    matches!(ty, 16 | 17) && raw.get(16) == Some(&(libc::AF_BRIDGE as u8))
}

/// The interface name (`IFLA_IFNAME`) a link message (`RTM_NEWLINK`/`RTM_DELLINK`)
/// carries.
fn link_name(raw: &[u8]) -> Option<String> {
    const IFINFOMSG_LEN: usize = 16;
    const IFLA_IFNAME: u16 = 3;
    let body = raw.get(16 + IFINFOMSG_LEN..)?;
    attrs::attrs(body)
        .find(|(kind, _)| *kind == IFLA_IFNAME)
        .map(|(_, v)| String::from_utf8_lossy(v.split(|b| *b == 0).next().unwrap_or(v)).into())
}

/// The device a netconf message (`RTM_NEWNETCONF`) is about, if one (not the
/// namespace-wide `all` or `default` configuration, negative indexes).
fn netconf_device(raw: &[u8]) -> Option<u32> {
    const NETCONFMSG_LEN: usize = 4;
    const NETCONFA_IFINDEX: u16 = 1;
    let body = raw.get(16 + NETCONFMSG_LEN..)?;
    attrs::attrs(body)
        .find(|(kind, _)| *kind == NETCONFA_IFINDEX)
        .and_then(|(_, v)| attrs::nla_u32(v))
        .map(|v| v as i32)
        .filter(|i| *i > 0)
        .map(|i| i as u32)
}

/// The nsid an `RTM_DELNSID` message names.
fn released_nsid(raw: &[u8]) -> Option<i32> {
    let body = raw.get(16 + RTGENMSG_LEN..)?;
    attrs::attrs(body)
        .find(|(kind, _)| *kind == NETNSA_NSID)
        .and_then(|(_, v)| attrs::nla_u32(v))
        .map(|v| v as i32)
}

/// `recvmsg` on a netlink socket: the datagram's length and the nsid of the namespace
/// it came from (`NETLINK_LISTEN_ALL_NSID`'s control message), `None` for this one.
fn recv_with_nsid(fd: i32, buf: &mut [u8]) -> io::Result<(usize, Option<i32>)> {
    // Room for one control message holding an int.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: zeroed msghdr, then pointed at live buffers for the call's duration.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: fd is a socket; msg points at buffers that outlive the call.
    let len = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if len < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut nsid = None;
    // SAFETY: walking the control buffer the kernel filled, with the libc macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_NETLINK
                && (*cmsg).cmsg_type == NETLINK_LISTEN_ALL_NSID
            {
                nsid = Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(cmsg).cast::<i32>(),
                ));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((len as usize, nsid.filter(|id| *id >= 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_are_classified() {
        assert_eq!(classify(16), Some((ObjectClass::Link, false)));
        assert_eq!(classify(17), Some((ObjectClass::Link, true)));
        assert_eq!(classify(25), Some((ObjectClass::Route, true)));
        assert_eq!(classify(32), Some((ObjectClass::Rule, false)));
        assert_eq!(classify(21), Some((ObjectClass::Address, true)));
        assert_eq!(classify(80), Some((ObjectClass::NetConf, false)));
        assert_eq!(classify(RTM_NEWNSID), None);
        assert_eq!(classify(2), None);
    }

    #[test]
    fn a_bridge_s_news_of_its_ports_is_not_a_change() {
        let mut raw = vec![0u8; 32];
        raw[16] = libc::AF_BRIDGE as u8;
        assert!(bridge_port_news(16, &raw));
        raw[16] = libc::AF_UNSPEC as u8;
        assert!(!bridge_port_news(16, &raw));
        raw[16] = libc::AF_BRIDGE as u8;
        assert!(!bridge_port_news(24, &raw));
    }

    #[test]
    fn a_released_nsid_is_read_from_its_attribute() {
        // nlmsghdr (16) + rtgenmsg (4) + NETNSA_NSID = 7.
        let mut raw = vec![0u8; 20];
        raw.extend_from_slice(&8u16.to_ne_bytes());
        raw.extend_from_slice(&NETNSA_NSID.to_ne_bytes());
        raw.extend_from_slice(&7i32.to_ne_bytes());
        assert_eq!(released_nsid(&raw), Some(7));
        assert_eq!(released_nsid(&raw[..20]), None);
    }
}
