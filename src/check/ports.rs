//! Port probes: a TCP connection or a UDP datagram from a source namespace to a port of
//! the target, every probe of a window driven from one poll loop.
//!
//! As for ICMP (see `run`), sources are taken in windows within the socket budget (one
//! socket per probe), and short-lived threads enter each source namespace, check its
//! mark, learn each probe's source address and make its socket, which stays in that
//! namespace. Then the main thread starts the probes (at most
//! [`Options::max_in_flight`] at a time) and polls them:
//!
//! - TCP: a non-blocking `connect`. Open when it completes; blocked on a reset
//!   ("connection refused"), an ICMP error (the kernel's `EHOSTUNREACH`,
//!   `ENETUNREACH`...) or when `timeout × (1 + retries)` has passed: one connection,
//!   whose SYN the kernel itself sends again meanwhile.
//! - UDP: a connected socket sends a datagram carrying a key and waits `timeout` for it
//!   to come back (an nshost service echoes it), `1 + retries` times. Blocked on ICMP
//!   port unreachable (`ECONNREFUSED` on the socket), another ICMP error, or no echo.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrLike,
    sockopt,
};

use super::CheckError;
use super::icmp;
use super::report::{CheckResult, Outcome};
use super::source::{Options, enter_source, send_error, socket_budget};
use super::spec::Check;
use crate::kernel::netns;
use crate::topology::ServiceProto;

/// A source namespace and its probes.
struct Source<'c> {
    ns: &'c str,
    checks: Vec<usize>,
}

/// A probe made ready on its source's thread: its source address and socket, or why
/// it cannot be sent.
struct Ready {
    check: usize,
    made: Result<(IpAddr, OwnedFd), io::Error>,
}

/// Runs the port probes `which` (indices into `checks`); results come back with their
/// index.
pub fn run(
    checks: &[Check],
    which: &[usize],
    owner: Option<&str>,
    opts: &Options,
) -> Result<Vec<(usize, CheckResult)>, CheckError> {
    let mut by_ns: BTreeMap<&str, Source> = BTreeMap::new();
    for &i in which {
        by_ns
            .entry(&checks[i].ns)
            .or_insert_with(|| Source {
                ns: &checks[i].ns,
                checks: Vec::new(),
            })
            .checks
            .push(i);
    }
    let max = opts.max_sockets.min(socket_budget()).max(2);
    // One socket per probe: a source with more probes than the budget is cut in pieces.
    let pieces: Vec<Source> = by_ns
        .into_values()
        .flat_map(|s| {
            s.checks
                .chunks(max)
                .map(|c| Source {
                    ns: s.ns,
                    checks: c.to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out = Vec::with_capacity(which.len());
    let mut start = 0;
    while start < pieces.len() {
        let mut end = start;
        let mut sockets = 0;
        while end < pieces.len() && (end == start || sockets + pieces[end].checks.len() <= max) {
            sockets += pieces[end].checks.len();
            end += 1;
        }
        let opened = netns::on_threads(&pieces[start..end], |s| open(s, checks, owner));
        let ready: Vec<Ready> = opened
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        out.extend(Window::new(checks, opts).run(ready)?);
        start = end;
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// On the calling (dedicated) thread: enters the source and makes its probes' sockets.
fn open(s: &Source, checks: &[Check], owner: Option<&str>) -> Result<Vec<Ready>, CheckError> {
    enter_source(s.ns, owner)?;
    Ok(s.checks
        .iter()
        .map(|&i| {
            let c = &checks[i];
            let (proto, _) = c.probe.port().expect("a port probe");
            let made =
                icmp::source_for(c.dst).and_then(|src| Ok((src, probe_socket(c.dst, proto)?)));
            Ready { check: i, made }
        })
        .collect())
}

/// A non-blocking socket for a probe of `dst`, in the calling thread's namespace.
fn probe_socket(dst: IpAddr, proto: ServiceProto) -> io::Result<OwnedFd> {
    let family = if dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let kind = match proto {
        ServiceProto::Tcp => SockType::Stream,
        ServiceProto::Udp => SockType::Datagram,
    };
    Ok(socket::socket(
        family,
        kind,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

fn sockaddr(addr: SocketAddr) -> Box<dyn SockaddrLike> {
    match addr {
        SocketAddr::V4(a) => Box::new(SockaddrIn::from(a)),
        SocketAddr::V6(a) => Box::new(SockaddrIn6::from(a)),
    }
}

/// A probe under way.
struct Probe {
    check: usize,
    proto: ServiceProto,
    source: Option<IpAddr>,
    fd: Option<OwnedFd>,
    attempts: u32,
    /// When the current attempt started, and when it times out.
    started: Instant,
    deadline: Instant,
    done: Option<Outcome>,
}

/// The probes of one window.
struct Window<'a> {
    checks: &'a [Check],
    opts: &'a Options,
    probes: Vec<Probe>,
}

impl<'a> Window<'a> {
    fn new(checks: &'a [Check], opts: &'a Options) -> Self {
        Window {
            checks,
            opts,
            probes: Vec::new(),
        }
    }

    fn run(mut self, ready: Vec<Ready>) -> Result<Vec<(usize, CheckResult)>, CheckError> {
        let now = Instant::now();
        let mut waiting: VecDeque<usize> = VecDeque::new();
        for r in ready {
            let (proto, _) = self.checks[r.check].probe.port().expect("a port probe");
            let mut p = Probe {
                check: r.check,
                proto,
                source: None,
                fd: None,
                attempts: 0,
                started: now,
                deadline: now,
                done: None,
            };
            match r.made {
                Ok((src, fd)) => {
                    p.source = Some(src);
                    p.fd = Some(fd);
                    waiting.push_back(self.probes.len());
                }
                Err(e) => p.done = Some(send_error(&e)),
            }
            self.probes.push(p);
        }
        let mut active: Vec<usize> = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            let now = Instant::now();
            // Start what may start.
            while active.len() < self.opts.max_in_flight {
                let Some(i) = waiting.pop_front() else { break };
                self.attempt(i, now);
                if self.probes[i].done.is_none() {
                    active.push(i);
                }
            }
            // Time out, or try again.
            for &i in &active {
                let p = &self.probes[i];
                if p.done.is_none() && p.deadline <= now {
                    if p.proto == ServiceProto::Udp && p.attempts < 1 + self.opts.retries {
                        self.attempt(i, now);
                    } else {
                        self.finish(i, Outcome::Timeout);
                    }
                }
            }
            active.retain(|&i| self.probes[i].done.is_none());
            if active.is_empty() && waiting.is_empty() {
                break;
            }
            let next = active
                .iter()
                .map(|&i| self.probes[i].deadline)
                .min()
                .unwrap_or(now);
            let wait = next.saturating_duration_since(now);
            let ms = wait.as_micros().div_ceil(1000).min(60_000) as u16;
            let events: Vec<(usize, bool)> = {
                let mut fds: Vec<PollFd> = active
                    .iter()
                    .map(|&i| {
                        let p = &self.probes[i];
                        let flags = match p.proto {
                            ServiceProto::Tcp => PollFlags::POLLOUT,
                            ServiceProto::Udp => PollFlags::POLLIN,
                        };
                        PollFd::new(
                            p.fd.as_ref().expect("an active probe's socket").as_fd(),
                            flags,
                        )
                    })
                    .collect();
                match poll(&mut fds, PollTimeout::from(ms)) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => {
                        return Err(CheckError::Kernel {
                            ns: String::new(),
                            what: "poll",
                            cause: e.into(),
                        });
                    }
                }
                fds.iter()
                    .zip(&active)
                    .map(|(f, &i)| (i, f.any().unwrap_or(false)))
                    .collect()
            };
            for (i, ready) in events {
                if ready {
                    self.answer(i, &mut buf);
                }
            }
        }
        let checks = self.checks;
        Ok(self
            .probes
            .into_iter()
            .map(|p| {
                let outcome = p.done.expect("every probe ends");
                (
                    p.check,
                    CheckResult::new(&checks[p.check], p.source, outcome, p.attempts),
                )
            })
            .collect())
    }

    fn finish(&mut self, i: usize, outcome: Outcome) {
        let p = &mut self.probes[i];
        p.done = Some(outcome);
        // Its descriptor is not needed any more.
        p.fd = None;
    }

    /// Starts an attempt of probe `i`: a connection, or a datagram.
    fn attempt(&mut self, i: usize, now: Instant) {
        let c = &self.checks[self.probes[i].check];
        let (_, port) = c.probe.port().expect("a port probe");
        let to = sockaddr(SocketAddr::new(c.dst, port));
        let timeout = self.opts.timeout;
        let retries = self.opts.retries;
        let p = &mut self.probes[i];
        let fd = p.fd.as_ref().expect("a probe's socket").as_raw_fd();
        p.attempts += 1;
        p.started = now;
        let result = match p.proto {
            ServiceProto::Tcp => {
                p.deadline = now + timeout * (1 + retries);
                match socket::connect(fd, &*to) {
                    Ok(()) => Err(None),
                    Err(Errno::EINPROGRESS) => Ok(()),
                    Err(e) => Err(Some(e)),
                }
            }
            ServiceProto::Udp => {
                p.deadline = now + timeout;
                let key = payload(p.check, p.attempts);
                let sent = if p.attempts == 1 {
                    socket::connect(fd, &*to)
                } else {
                    Ok(())
                }
                .and_then(|()| socket::send(fd, &key, MsgFlags::MSG_DONTWAIT).map(drop));
                match sent {
                    Ok(()) | Err(Errno::EAGAIN | Errno::ENOBUFS) => Ok(()),
                    Err(e) => Err(Some(e)),
                }
            }
        };
        match result {
            Ok(()) => {}
            // Connected at once (the target is this namespace).
            Err(None) => {
                let ms = now.elapsed().as_secs_f64() * 1e3;
                self.finish(i, Outcome::Connected { ms });
            }
            Err(Some(e)) => {
                let outcome = refused_or(p_proto(self, i), e);
                self.finish(i, outcome);
            }
        }
    }

    /// Probe `i`'s socket is ready: a connection made or refused, a datagram back.
    fn answer(&mut self, i: usize, buf: &mut [u8]) {
        let p = &self.probes[i];
        let Some(fd) = p.fd.as_ref() else { return };
        let ms = p.started.elapsed().as_secs_f64() * 1e3;
        match p.proto {
            ServiceProto::Tcp => {
                let error = socket::getsockopt(fd, sockopt::SocketError).unwrap_or(0);
                let outcome = if error == 0 {
                    Outcome::Connected { ms }
                } else {
                    refused_or(ServiceProto::Tcp, Errno::from_raw(error))
                };
                self.finish(i, outcome);
            }
            ServiceProto::Udp => loop {
                let p = &self.probes[i];
                let Some(fd) = p.fd.as_ref() else { return };
                match socket::recv(fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => {
                        let want = payload(p.check, 0);
                        // Any attempt's echo will do: the key's attempt byte is not compared.
                        if n == want.len() && buf[..n - 1] == want[..n - 1] {
                            self.finish(i, Outcome::Echoed { ms });
                            return;
                        }
                    }
                    Err(Errno::EAGAIN) => return,
                    Err(Errno::EINTR) => {}
                    Err(e) => {
                        self.finish(i, refused_or(ServiceProto::Udp, e));
                        return;
                    }
                }
            },
        }
    }
}

fn p_proto(w: &Window, i: usize) -> ServiceProto {
    w.probes[i].proto
}

/// A refused probe (`ECONNREFUSED`: a TCP reset, or ICMP port unreachable for UDP),
/// or another error in words.
fn refused_or(proto: ServiceProto, e: Errno) -> Outcome {
    match (e, proto) {
        (Errno::ECONNREFUSED, ServiceProto::Tcp) => Outcome::Refused {
            error: "connection refused".to_string(),
        },
        (Errno::ECONNREFUSED, ServiceProto::Udp) => Outcome::Refused {
            error: "port unreachable".to_string(),
        },
        (e, _) => send_error(&io::Error::from(e)),
    }
}

/// The datagram of probe `check`'s attempt: a UDP service must echo it.
fn payload(check: usize, attempt: u32) -> [u8; 16] {
    let mut p = *b"nshost-probe\0\0\0\0";
    p[12..15].copy_from_slice(&(check as u32).to_be_bytes()[1..]);
    p[15] = attempt as u8;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_carry_their_check() {
        let a = payload(7, 1);
        assert_eq!(&a[..12], b"nshost-probe");
        assert_eq!(&a[12..15], &[0, 0, 7]);
        assert_eq!(a[15], 1);
        // Attempts differ only in their last byte.
        assert_eq!(a[..15], payload(7, 2)[..15]);
        assert_ne!(a[..15], payload(8, 1)[..15]);
    }

    #[test]
    fn a_reset_is_a_refusal_and_other_errors_are_said() {
        assert_eq!(
            refused_or(ServiceProto::Tcp, Errno::ECONNREFUSED),
            Outcome::Refused {
                error: "connection refused".into()
            }
        );
        assert_eq!(
            refused_or(ServiceProto::Udp, Errno::ECONNREFUSED),
            Outcome::Refused {
                error: "port unreachable".into()
            }
        );
        assert_eq!(
            refused_or(ServiceProto::Tcp, Errno::EHOSTUNREACH),
            Outcome::SendError {
                error: "host unreachable".into()
            }
        );
    }
}
