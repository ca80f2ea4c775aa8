//! The engine: every check's echo requests sent and answered from one poll loop.
//!
//! Sources (the namespaces checks are sent from) are taken in windows of at most
//! [`Options::max_sockets`] raw sockets, and no more than half of what the open-file
//! limit leaves, so a lab of any size runs within a low limit. For a window, short-lived threads enter each source namespace
//! (`kernel::netns`), check its mark when an owner is asked for, learn the source
//! address of each of its checks (a connected UDP socket's own address; the route's
//! own `ENETUNREACH` when there is none), and make one raw socket per family it needs;
//! the sockets stay in their namespaces when the threads end. Then the main thread
//! sends every check's first attempt (at most [`Options::max_in_flight`] at a time), and polls
//! the window's sockets, matching each reply or ICMP error to its check by socket,
//! identifier, sequence and address. An attempt ends with a reply (the check is done),
//! an error, or its timeout; a check gets `1 + retries` attempts, one per timeout,
//! unless an error says another would be answered the same (see
//! [`IcmpError::transient`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::CheckError;
use super::icmp::{self, IcmpError, Message};
use super::report::{CheckResult, Outcome};
use super::source::{Options, enter_source, send_error, socket_budget};
use super::spec::Check;
use crate::kernel::netns;

/// A namespace checks are sent from, and which of them.
struct Source<'c> {
    ns: &'c str,
    checks: Vec<usize>,
    v4: bool,
    v6: bool,
}

impl Source<'_> {
    fn sockets(&self) -> usize {
        usize::from(self.v4) + usize::from(self.v6)
    }
}

/// A source, opened: its sockets and each of its checks' source address.
struct OpenSource<'c> {
    ns: &'c str,
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
    sources: Vec<(usize, io::Result<IpAddr>)>,
}

/// Runs `checks`; with `owner`, each source namespace must carry that lab's mark
/// (checked before anything is sent). Results keep the checks' order.
pub fn run(
    checks: &[Check],
    owner: Option<&str>,
    opts: &Options,
) -> Result<Vec<CheckResult>, CheckError> {
    let mut results: Vec<Option<CheckResult>> = vec![None; checks.len()];
    let ports: Vec<usize> = (0..checks.len())
        .filter(|&i| checks[i].probe != super::spec::Probe::Icmp)
        .collect();
    if !ports.is_empty() {
        for (i, r) in super::ports::run(checks, &ports, owner, opts)? {
            results[i] = Some(r);
        }
    }
    let mut by_ns: BTreeMap<&str, Source> = BTreeMap::new();
    for (i, c) in checks.iter().enumerate() {
        if c.probe != super::spec::Probe::Icmp {
            continue;
        }
        let s = by_ns.entry(&c.ns).or_insert_with(|| Source {
            ns: &c.ns,
            checks: Vec::new(),
            v4: false,
            v6: false,
        });
        s.checks.push(i);
        if c.dst.is_ipv4() {
            s.v4 = true;
        } else {
            s.v6 = true;
        }
    }
    let sources: Vec<Source> = by_ns.into_values().collect();
    let max = opts.max_sockets.min(socket_budget()).max(2);
    let mut start = 0;
    while start < sources.len() {
        let mut end = start;
        let mut sockets = 0;
        while end < sources.len() && (end == start || sockets + sources[end].sockets() <= max) {
            sockets += sources[end].sockets();
            end += 1;
        }
        let window = &sources[start..end];
        let opened = netns::on_threads(window, |s| open(s, checks, owner));
        let opened: Vec<OpenSource> = opened.into_iter().collect::<Result<_, _>>()?;
        for (i, r) in Window::new(checks, &opened, opts).run()? {
            results[i] = Some(r);
        }
        start = end;
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every check ran"))
        .collect())
}

/// Opens a source on the calling (dedicated, short-lived) thread.
fn open<'c>(
    s: &Source<'c>,
    checks: &[Check],
    owner: Option<&str>,
) -> Result<OpenSource<'c>, CheckError> {
    let err = |what: &'static str| {
        move |cause: io::Error| CheckError::Kernel {
            ns: s.ns.to_string(),
            what,
            cause,
        }
    };
    enter_source(s.ns, owner)?;
    let sources = s
        .checks
        .iter()
        .map(|&i| (i, icmp::source_for(checks[i].dst)))
        .collect();
    let v4 =
        s.v4.then(|| icmp::raw_socket(false))
            .transpose()
            .map_err(err("raw ICMP socket"))?;
    let v6 =
        s.v6.then(|| icmp::raw_socket(true))
            .transpose()
            .map_err(err("raw ICMPv6 socket"))?;
    Ok(OpenSource {
        ns: s.ns,
        v4,
        v6,
        sources,
    })
}

/// Where a check is.
#[derive(Clone, Debug)]
struct State {
    source: Option<IpAddr>,
    attempts: u32,
    /// The socket (index into `Window::sockets`) its requests go out on.
    socket: usize,
    /// The key of its current attempt, while that attempt is outstanding.
    current: Option<u32>,
    /// How the last attempt ended, when it ended without a reply.
    last: Option<Outcome>,
    done: Option<Outcome>,
}

/// One socket of a window.
struct Socket<'o> {
    fd: &'o OwnedFd,
    v6: bool,
    /// The next key (identifier and sequence) to use.
    next: u32,
    /// Every key sent on it: the check and when.
    sent: HashMap<u32, (usize, Instant)>,
}

/// The checks of one window, from sending to their outcome.
struct Window<'a> {
    checks: &'a [Check],
    opts: &'a Options,
    sockets: Vec<Socket<'a>>,
    states: HashMap<usize, State>,
    /// Checks ready for an attempt, in order.
    ready: VecDeque<usize>,
    /// Attempts by deadline (the same timeout for all, so in sending order): check,
    /// key and deadline.
    deadlines: VecDeque<(usize, u32, Instant)>,
    in_flight: usize,
    base_id: u16,
}

impl<'a> Window<'a> {
    fn new(checks: &'a [Check], opened: &'a [OpenSource], opts: &'a Options) -> Self {
        let mut w = Window {
            checks,
            opts,
            sockets: Vec::new(),
            states: HashMap::new(),
            ready: VecDeque::new(),
            deadlines: VecDeque::new(),
            in_flight: 0,
            base_id: (std::process::id() as u16) ^ 0x6e73,
        };
        for o in opened {
            let mut socket_of = |fd: &'a Option<OwnedFd>, v6: bool| {
                fd.as_ref().map(|fd| {
                    w.sockets.push(Socket {
                        fd,
                        v6,
                        next: 0,
                        sent: HashMap::new(),
                    });
                    w.sockets.len() - 1
                })
            };
            let (v4, v6) = (socket_of(&o.v4, false), socket_of(&o.v6, true));
            for (i, source) in &o.sources {
                let socket = if checks[*i].dst.is_ipv4() { v4 } else { v6 };
                let socket = socket.unwrap_or_else(|| panic!("a socket in {}", o.ns));
                let mut state = State {
                    source: None,
                    attempts: 0,
                    socket,
                    current: None,
                    last: None,
                    done: None,
                };
                match source {
                    Ok(addr) => {
                        state.source = Some(*addr);
                        w.ready.push_back(*i);
                    }
                    // No route: sending would fail the same way, every time.
                    Err(e) => state.done = Some(send_error(e)),
                }
                w.states.insert(*i, state);
            }
        }
        w
    }

    fn run(mut self) -> Result<Vec<(usize, CheckResult)>, CheckError> {
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            self.expire(now);
            self.send(now);
            if self.in_flight == 0 && self.ready.is_empty() {
                break;
            }
            let wait = match self.deadlines.front() {
                _ if !self.ready.is_empty() && self.in_flight < self.opts.max_in_flight => {
                    Duration::ZERO
                }
                Some((_, _, deadline)) => deadline.saturating_duration_since(now),
                None => Duration::ZERO,
            };
            // Rounded up: a deadline is never polled for as passed before it is.
            let ms = wait.as_micros().div_ceil(1000).min(60_000) as u16;
            let mut fds: Vec<PollFd> = self
                .sockets
                .iter()
                .map(|s| PollFd::new(s.fd.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(CheckError::Kernel {
                        ns: String::new(),
                        what: "poll",
                        cause: e.into(),
                    });
                }
            }
            let readable: Vec<usize> = fds
                .iter()
                .enumerate()
                .filter(|(_, f)| f.any().unwrap_or(false))
                .map(|(i, _)| i)
                .collect();
            drop(fds);
            for s in readable {
                self.drain(s, &mut buf);
            }
        }
        let checks = self.checks;
        let mut out: Vec<(usize, CheckResult)> = self
            .states
            .into_iter()
            .map(|(i, s)| {
                let outcome = s.done.expect("a finished check has an outcome");
                (
                    i,
                    CheckResult::new(&checks[i], s.source, outcome, s.attempts),
                )
            })
            .collect();
        out.sort_by_key(|(i, _)| *i);
        Ok(out)
    }

    /// Ends the attempts whose time is up.
    fn expire(&mut self, now: Instant) {
        while let Some(&(i, key, deadline)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let attempts = 1 + self.opts.retries;
            let state = self.states.get_mut(&i).expect("a state per check");
            if state.done.is_some() || state.current != Some(key) {
                continue;
            }
            state.current = None;
            self.in_flight -= 1;
            let last = state.last.take().unwrap_or(Outcome::Timeout);
            if state.attempts < attempts {
                self.ready.push_back(i);
            } else {
                state.done = Some(last);
            }
        }
    }

    /// Sends the next attempts, as many as may be in flight.
    fn send(&mut self, now: Instant) {
        while self.in_flight < self.opts.max_in_flight {
            let Some(i) = self.ready.pop_front() else {
                return;
            };
            let check = &self.checks[i];
            let state = self.states.get_mut(&i).expect("a state per check");
            if state.done.is_some() {
                // Answered late, by an earlier attempt.
                continue;
            }
            let socket = &mut self.sockets[state.socket];
            let key = socket.next;
            socket.next = socket.next.wrapping_add(1);
            let (id, seq) = (self.base_id.wrapping_add((key >> 16) as u16), key as u16);
            let packet = icmp::echo_request(socket.v6, id, seq, &payload(key));
            state.attempts += 1;
            match icmp::send(socket.fd, check.dst, &packet) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EHOSTUNREACH) => {
                    // The neighbour did not answer: an attempt without a reply.
                    state.last = Some(send_error(&e));
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::EAGAIN)) => {}
                Err(e) => {
                    state.done = Some(send_error(&e));
                    continue;
                }
            }
            socket.sent.insert(key, (i, now));
            state.current = Some(key);
            self.in_flight += 1;
            self.deadlines.push_back((i, key, now + self.opts.timeout));
        }
    }

    /// Reads everything waiting on socket `s`.
    fn drain(&mut self, s: usize, buf: &mut [u8]) {
        loop {
            let (n, from) = match icmp::receive(self.sockets[s].fd, buf) {
                Ok(Some(got)) => got,
                Ok(None) | Err(_) => return,
            };
            let now = Instant::now();
            let packet = &buf[..n];
            let parsed = if self.sockets[s].v6 {
                from.and_then(|src| Some((src, None, icmp::parse_v6(packet)?)))
            } else {
                icmp::parse_v4(packet)
                    .map(|(src, dst, m)| (IpAddr::V4(src), Some(IpAddr::V4(dst)), m))
            };
            if let Some((src, dst, message)) = parsed {
                self.answer(s, src, dst, message, now);
            }
        }
    }

    /// What came back on socket `s` from `src` (to `dst`, when known).
    fn answer(&mut self, s: usize, src: IpAddr, dst: Option<IpAddr>, m: Message, now: Instant) {
        let base = self.base_id;
        let key_of = |id: u16, seq: u16| (u32::from(id.wrapping_sub(base)) << 16) | u32::from(seq);
        let socket = &self.sockets[s];
        match m {
            Message::Reply {
                id,
                seq,
                payload: p,
            } => {
                let key = key_of(id, seq);
                let Some(&(i, sent)) = socket.sent.get(&key) else {
                    return;
                };
                if src != self.checks[i].dst || p != payload(key) {
                    return;
                }
                let state = self.states.get_mut(&i).expect("a state per check");
                if state.done.is_some() {
                    return;
                }
                if let Some(dst) = dst {
                    state.source = Some(dst);
                }
                state.done = Some(Outcome::Reply {
                    from: src,
                    ms: (now - sent).as_secs_f64() * 1e3,
                });
                if state.current.take().is_some() {
                    self.in_flight -= 1;
                }
            }
            Message::Error {
                error,
                id,
                seq,
                dst,
            } => {
                let key = key_of(id, seq);
                let Some(&(i, _)) = socket.sent.get(&key) else {
                    return;
                };
                let state = self.states.get_mut(&i).expect("a state per check");
                if dst != self.checks[i].dst || state.done.is_some() || state.current != Some(key) {
                    return;
                }
                let outcome = icmp_error(error, src);
                let more = state.attempts < 1 + self.opts.retries;
                if error.transient() && more {
                    // Tried again when the attempt's time is up.
                    state.last = Some(outcome);
                } else {
                    state.done = Some(outcome);
                    state.current = None;
                    self.in_flight -= 1;
                }
            }
        }
    }
}

/// The payload of the request with `key`: a reply must echo it.
fn payload(key: u32) -> [u8; 16] {
    let mut p = *b"nshost-check\0\0\0\0";
    p[12..].copy_from_slice(&key.to_be_bytes());
    p
}

fn icmp_error(error: IcmpError, from: IpAddr) -> Outcome {
    Outcome::IcmpError {
        from,
        error: error.describe(),
    }
}
