//! The daemon itself (`nshost __serve --lab LAB`, started by [`super::control::start`]):
//! opens every service's socket in its node's namespace, says `ready` on stdout (or
//! `error: ...` and exits), then serves all of them from one poll loop until it is
//! killed.
//!
//! Sockets are made on short-lived threads that entered the namespace
//! (`kernel::netns::on_threads`); the main thread never changes namespace. A service on
//! every address is one dual-stack IPv6 socket (`IPV6_V6ONLY` off), or an IPv4 one
//! where the kernel has no IPv6: one descriptor per service, whatever the lab's size,
//! and no descriptor kept per namespace. TCP: connections are accepted and what they
//! send is echoed until they close (past the descriptor budget a connection is
//! accepted and closed at once). UDP: each datagram is sent back from the address it
//! was sent to (`IP_PKTINFO` / `IPV6_PKTINFO`), so that a multi-homed node answers
//! from the address the client asked.

use std::collections::BTreeMap;
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    self, AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag,
    SockType, SockaddrIn, SockaddrIn6, SockaddrLike, SockaddrStorage, sockopt,
};

use super::Service;
use super::control;
use crate::kernel::netns;
use crate::topology::ServiceProto;

/// Descriptors kept free for everything else (stdio, the log, threads' namespaces).
const MARGIN: u64 = 32;
/// The most connections held open at once.
const MAX_CONNECTIONS: usize = 4096;

/// One listening socket.
struct Listener {
    fd: OwnedFd,
    proto: ServiceProto,
}

/// Runs the daemon of `lab`; returns only on an error before it is ready (after
/// printing it on stdout for the starter), or if the poll loop fails.
pub fn run(lab: &str) -> io::Result<()> {
    let result = open_all(lab);
    let mut stdout = io::stdout().lock();
    let listeners = match result {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(stdout, "error: {e}");
            let _ = stdout.flush();
            return Err(e);
        }
    };
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    drop(stdout);
    detach_stdout()?;
    serve(&listeners)
}

/// Points stdout at `/dev/null` once the starter has read `ready` and stopped reading.
pub fn detach_stdout() -> io::Result<()> {
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: dup2 onto stdout of a descriptor this function holds open.
    if unsafe { libc::dup2(null.as_raw_fd(), 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Writes the pid file, reads what to serve and opens every socket.
fn open_all(lab: &str) -> io::Result<Vec<Listener>> {
    control::write_pid(lab, std::process::id())?;
    let record = control::read_record(lab);
    if record.lab != lab || record.services.is_empty() {
        return Err(io::Error::other(format!(
            "{} holds no services for lab `{lab}`",
            control::run_dir(lab).join("services.json").display()
        )));
    }
    let total: usize = record.services.values().map(Vec::len).sum();
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    if total as u64 + MARGIN > soft {
        return Err(io::Error::other(format!(
            "{total} services need {} open files, more than the limit of {soft} (raise \
             `ulimit -n`)",
            total as u64 + MARGIN
        )));
    }
    let by_ns: Vec<(&String, &Vec<Service>)> = record.services.iter().collect();
    let opened = netns::on_threads(&by_ns, |(ns, services)| open_in(ns, services));
    let mut out = Vec::with_capacity(total);
    for r in opened {
        out.extend(r?);
    }
    Ok(out)
}

/// Opens the sockets of `services` in namespace `ns`, on the calling (dedicated) thread.
fn open_in(ns: &str, services: &[Service]) -> io::Result<Vec<Listener>> {
    match netns::enter(ns) {
        Ok(Some(())) => {}
        Ok(None) => return Err(io::Error::other(format!("namespace {ns} does not exist"))),
        Err(e) => return Err(io::Error::other(e.to_string())),
    }
    services
        .iter()
        .map(|s| {
            listener(s)
                .map(|fd| Listener { fd, proto: s.proto })
                .map_err(|e| io::Error::new(e.kind(), format!("{s} in {ns}: {e}")))
        })
        .collect()
}

/// A non-blocking socket listening for `s`, in the calling thread's namespace.
fn listener(s: &Service) -> io::Result<OwnedFd> {
    let kind = match s.proto {
        ServiceProto::Tcp => SockType::Stream,
        ServiceProto::Udp => SockType::Datagram,
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let (fd, addr) = match s.address {
        Some(IpAddr::V4(a)) => (
            socket::socket(AddressFamily::Inet, kind, flags, None)?,
            SocketAddr::new(a.into(), s.port),
        ),
        Some(IpAddr::V6(a)) => {
            let fd = socket::socket(AddressFamily::Inet6, kind, flags, None)?;
            socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            (fd, SocketAddr::new(a.into(), s.port))
        }
        None => match socket::socket(AddressFamily::Inet6, kind, flags, None) {
            Ok(fd) => {
                socket::setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
                (fd, SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), s.port))
            }
            // A kernel without IPv6.
            Err(Errno::EAFNOSUPPORT) => (
                socket::socket(AddressFamily::Inet, kind, flags, None)?,
                SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), s.port),
            ),
            Err(e) => return Err(e.into()),
        },
    };
    match s.proto {
        ServiceProto::Tcp => {
            socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        }
        ServiceProto::Udp => {
            // Where each datagram was sent, to answer from there.
            socket::setsockopt(&fd, sockopt::Ipv4PacketInfo, &true)?;
            if addr.is_ipv6() {
                socket::setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true)?;
            }
        }
    }
    socket::bind(fd.as_raw_fd(), &*sockaddr(addr))?;
    if s.proto == ServiceProto::Tcp {
        socket::listen(&fd, Backlog::new(128).expect("a valid backlog"))?;
    }
    Ok(fd)
}

fn sockaddr(addr: SocketAddr) -> Box<dyn SockaddrLike> {
    match addr {
        SocketAddr::V4(a) => Box::new(SockaddrIn::from(a)),
        SocketAddr::V6(a) => Box::new(SockaddrIn6::from(a)),
    }
}

/// The poll loop: never returns but on a failure of poll itself.
fn serve(listeners: &[Listener]) -> io::Result<()> {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    let room = soft.saturating_sub(listeners.len() as u64 + MARGIN);
    let max_conns = usize::try_from(room)
        .unwrap_or(usize::MAX)
        .min(MAX_CONNECTIONS);
    let mut conns: BTreeMap<i32, OwnedFd> = BTreeMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let conn_fds: Vec<i32> = conns.keys().copied().collect();
        let mut fds: Vec<PollFd> = listeners
            .iter()
            .map(|l| PollFd::new(l.fd.as_fd(), PollFlags::POLLIN))
            .chain(
                conn_fds
                    .iter()
                    .map(|fd| PollFd::new(conns[fd].as_fd(), PollFlags::POLLIN)),
            )
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<usize> = fds
            .iter()
            .enumerate()
            .filter(|(_, f)| f.any().unwrap_or(false))
            .map(|(i, _)| i)
            .collect();
        drop(fds);
        for i in ready {
            if let Some(l) = listeners.get(i) {
                match l.proto {
                    ServiceProto::Tcp => accept_all(&l.fd, &mut conns, max_conns),
                    ServiceProto::Udp => echo_datagrams(&l.fd, &mut buf),
                }
            } else {
                let key = conn_fds[i - listeners.len()];
                if !echo_stream(&conns[&key], &mut buf) {
                    conns.remove(&key);
                }
            }
        }
    }
}

fn accept_all(fd: &OwnedFd, conns: &mut BTreeMap<i32, OwnedFd>, max: usize) {
    loop {
        match socket::accept4(fd, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC) {
            Ok(conn) => {
                if conns.len() < max {
                    conns.insert(conn.as_raw_fd(), conn);
                }
                // Else dropped: accepted and closed at once.
            }
            Err(Errno::EINTR | Errno::ECONNABORTED) => {}
            Err(_) => return,
        }
    }
}

/// Echoes what a connection sent; false when it is done (closed, or an error).
fn echo_stream(fd: &OwnedFd, buf: &mut [u8]) -> bool {
    loop {
        match socket::recv(fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
            Ok(0) => return false,
            Ok(n) => {
                let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
                if socket::send(fd.as_raw_fd(), &buf[..n], flags).is_err() {
                    return false;
                }
            }
            Err(Errno::EAGAIN) => return true,
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

/// Sends every waiting datagram back to its sender, from the address it was sent to.
fn echo_datagrams(fd: &OwnedFd, buf: &mut [u8]) {
    loop {
        let mut cmsg = nix::cmsg_space!(libc::in_pktinfo, libc::in6_pktinfo);
        let (n, from, v4, v6) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = match socket::recvmsg::<SockaddrStorage>(
                fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(m) => m,
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            };
            let (mut v4, mut v6) = (None, None);
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::Ipv4PacketInfo(i) => v4 = Some(i),
                        ControlMessageOwned::Ipv6PacketInfo(i) => v6 = Some(i),
                        _ => {}
                    }
                }
            }
            (msg.bytes, msg.address, v4, v6)
        };
        let Some(to) = from else { continue };
        let iov = [IoSlice::new(&buf[..n])];
        let reply_v4;
        let reply_v6;
        let cmsgs: Vec<ControlMessage> = if let Some(i) = v4 {
            reply_v4 = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: i.ipi_addr,
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            vec![ControlMessage::Ipv4PacketInfo(&reply_v4)]
        } else if let Some(i) = v6 {
            reply_v6 = libc::in6_pktinfo {
                ipi6_addr: i.ipi6_addr,
                ipi6_ifindex: i.ipi6_ifindex,
            };
            vec![ControlMessage::Ipv6PacketInfo(&reply_v6)]
        } else {
            Vec::new()
        };
        let _ = socket::sendmsg(
            fd.as_raw_fd(),
            &iov,
            &cmsgs,
            MsgFlags::MSG_DONTWAIT,
            Some(&to),
        );
    }
}
