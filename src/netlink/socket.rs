//! A netlink socket of one family, bound to the network namespace of the thread that
//! opened it: batches with their acks, single requests, and dumps.

use std::collections::HashMap;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NetlinkMessage, NetlinkPayload,
};
use nix::sys::socket::{setsockopt, sockopt};

use crate::netlink::batch::Batch;
use crate::netlink::{Family, NlError};

/// Receive buffer we ask for. Replies to a chunk of requests (errors, acks) must fit.
const RCVBUF: usize = 8 << 20;
/// Most requests per `sendmsg`. Each reply, error or ack, costs about 1 KiB of receive
/// buffer (skb truesize), so a chunk's worth of failures fits even when the kernel only
/// grants the default 208 KiB; it also bounds the namespace descriptors a chunk opens.
const CHUNK_MESSAGES: usize = 128;
/// Most bytes per `sendmsg`.
const CHUNK_BYTES: usize = 256 << 10;

thread_local! {
    /// Receive buffer, one per thread rather than per socket: a lab has thousands of
    /// namespaces but only a few threads read at once. Dump datagrams are at most 32 KiB.
    static RECV_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 1 << 16]);
}

/// A netlink socket of family `F`.
pub struct Socket<F: Family> {
    sock: netlink_sys::Socket,
    seq: u32,
    /// Write requests sent on this socket since it was opened.
    pub writes: u64,
    /// Whether the socket was set up for batches (big receive buffer, extended acks);
    /// a socket that only dumps never needs it.
    tuned: bool,
    family: PhantomData<F>,
}

impl<F: Family> std::fmt::Debug for Socket<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("seq", &self.seq).finish()
    }
}

/// Walks the netlink messages in a datagram: (type, flags, seq, whole message bytes).
pub fn for_each_message(buf: &[u8], mut f: impl FnMut(u16, u16, u32, &[u8])) {
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let flags = u16::from_ne_bytes([buf[off + 6], buf[off + 7]]);
        let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().expect("4 bytes"));
        f(ty, flags, seq, &buf[off..off + len]);
        off += (len + 3) & !3;
    }
}

impl<F: Family> Socket<F> {
    /// Opens a socket in the calling thread's current network namespace.
    pub fn open() -> io::Result<Self> {
        let mut sock = netlink_sys::Socket::new(F::PROTOCOL)?;
        sock.bind(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(Socket {
            sock,
            seq: 0,
            writes: 0,
            tuned: false,
            family: PhantomData,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn tune(&mut self) {
        if self.tuned {
            return;
        }
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN over the initial namespace; without it,
        // take what rmem_max allows.
        if setsockopt(&self.sock, sockopt::RcvBufForce, &RCVBUF).is_err() {
            let _ = setsockopt(&self.sock, sockopt::RcvBuf, &RCVBUF);
        }
        let _ = self.sock.set_ext_ack(true);
        let _ = self.sock.set_cap_ack(true);
        self.tuned = true;
    }

    /// Sends every request of `batch`, in order, in chunks of many messages per
    /// `sendmsg`, with an ack asked only of each chunk's last message; failures come
    /// back as errors all the same. Descriptors the batch needs are opened with
    /// `open_ns` for each chunk and closed once the chunk is acknowledged. Returns one
    /// `NlError` per failed request.
    pub fn execute(
        &mut self,
        batch: &Batch<F>,
        open_ns: &mut dyn FnMut(&str) -> io::Result<OwnedFd>,
    ) -> io::Result<Vec<NlError>> {
        let mut errors = Vec::new();
        if batch.is_empty() {
            return Ok(errors);
        }
        self.tune();
        let mut buf = batch.buf.clone();
        let first_seq = self.seq.wrapping_add(1);
        let n = batch.starts.len();
        let mut fixups = batch.fixups.iter().peekable();
        let mut i = 0;
        while i < n {
            // One chunk: [i, j).
            let start = batch.starts[i];
            let mut j = i;
            while j < n
                && j - i < CHUNK_MESSAGES
                && (j == i || batch.end_of(j) - start <= CHUNK_BYTES)
            {
                j += 1;
            }
            let end = batch.end_of(j - 1);
            let mut fds: HashMap<&str, OwnedFd> = HashMap::new();
            while let Some(fix) = fixups.next_if(|f| f.offset < end) {
                if !fds.contains_key(fix.ns.as_str()) {
                    fds.insert(&fix.ns, open_ns(&fix.ns)?);
                }
                let fd = fds[fix.ns.as_str()].as_raw_fd();
                buf[fix.offset..fix.offset + 4].copy_from_slice(&fd.to_ne_bytes());
            }
            for k in i..j {
                let at = batch.starts[k];
                let seq = self.next_seq();
                buf[at + 8..at + 12].copy_from_slice(&seq.to_ne_bytes());
                if k + 1 == j {
                    let flags = u16::from_ne_bytes([buf[at + 6], buf[at + 7]]) | NLM_F_ACK;
                    buf[at + 6..at + 8].copy_from_slice(&flags.to_ne_bytes());
                }
            }
            self.sock.send(&buf[start..end], 0)?;
            self.writes += (j - i) as u64;
            let last_seq = self.seq;
            self.wait_ack(last_seq, first_seq, &mut errors)?;
            drop(fds);
            i = j;
        }
        Ok(errors)
    }

    /// Reads replies until the ack (or error) for `last_seq`, collecting errors.
    fn wait_ack(
        &mut self,
        last_seq: u32,
        first_seq: u32,
        errors: &mut Vec<NlError>,
    ) -> io::Result<()> {
        loop {
            let mut done = false;
            self.recv(|data| {
                for_each_message(data, |ty, flags, seq, raw| {
                    if ty == NLMSG_ERROR {
                        if let Some(mut e) = NlError::decode(flags, &raw[16..]) {
                            e.index = seq.wrapping_sub(first_seq) as usize;
                            if e.errno != 0 {
                                errors.push(e);
                            }
                        }
                        if seq == last_seq {
                            done = true;
                        }
                    }
                })
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// Receives one datagram and hands it to `f`.
    fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> io::Result<R> {
        RECV_BUF.with_borrow_mut(|buf| {
            loop {
                match self.sock.recv(&mut &mut buf[..], 0) {
                    Ok(n) => return Ok(f(&buf[..n])),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// Encodes a single request with sequence number `seq`.
    fn encode(&mut self, msg: F::Message, flags: u16) -> (Vec<u8>, u32) {
        let mut batch = Batch::<F>::new();
        batch.push(msg, flags);
        let seq = self.next_seq();
        let mut buf = batch.buf;
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        (buf, seq)
    }

    /// Sends one request and returns its single reply (the whole netlink message), or
    /// the kernel's error.
    pub fn request(&mut self, msg: F::Message) -> io::Result<Result<Vec<u8>, NlError>> {
        let (buf, seq) = self.encode(msg, 0);
        self.sock.send(&buf, 0)?;
        loop {
            let mut out = None;
            self.recv(|data| {
                for_each_message(data, |ty, flags, mseq, raw| {
                    if mseq != seq || out.is_some() {
                        return;
                    }
                    if ty == NLMSG_ERROR {
                        let e = NlError::decode(flags, &raw[16..]).unwrap_or(NlError {
                            index: 0,
                            errno: libc::EIO,
                            message: None,
                        });
                        out = Some(Err(e));
                    } else {
                        out = Some(Ok(raw.to_vec()));
                    }
                })
            })?;
            if let Some(r) = out {
                return Ok(r);
            }
        }
    }

    /// Sends one request that has no reply but its acknowledgement: `Ok(())` on
    /// success, or the kernel's error.
    pub fn request_ack(&mut self, msg: F::Message) -> io::Result<Result<(), NlError>> {
        let (buf, seq) = self.encode(msg, NLM_F_ACK);
        self.sock.send(&buf, 0)?;
        loop {
            let mut out = None;
            self.recv(|data| {
                for_each_message(data, |ty, flags, mseq, raw| {
                    if mseq == seq && ty == NLMSG_ERROR && out.is_none() {
                        out = Some(match NlError::decode(flags, &raw[16..]) {
                            Some(e) if e.errno != 0 => Err(e),
                            _ => Ok(()),
                        });
                    }
                })
            })?;
            if let Some(r) = out {
                return Ok(r);
            }
        }
    }

    /// Dumps: sends a `NLM_F_DUMP` request and calls `f` with each reply message (whole
    /// netlink message bytes), once the dump is whole. A dump the kernel marks
    /// inconsistent (`NLM_F_DUMP_INTR`: the objects changed while it ran, as when another
    /// lab is being applied) is started over, up to [`DUMP_TRIES`] times in all, then
    /// ends in an `Interrupted` error; `f` only ever sees one consistent dump.
    pub fn dump(&mut self, msg: F::Message, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        let (mut buf, _) = self.encode(msg, NLM_F_DUMP);
        let replies = until_consistent(DUMP_TRIES, || self.dump_once(&mut buf))?;
        for_each_message(&replies, |_, _, _, raw| f(raw));
        Ok(())
    }

    /// One run of the dump request `buf` (its sequence number renewed): the reply
    /// messages, and whether the kernel marked any of them interrupted.
    fn dump_once(&mut self, buf: &mut [u8]) -> io::Result<DumpRun> {
        let seq = self.next_seq();
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.sock.send(buf, 0)?;
        let mut run = DumpRun::default();
        loop {
            let mut done = false;
            let mut failure = None;
            self.recv(|data| {
                for_each_message(data, |ty, flags, mseq, raw| {
                    if mseq != seq || done {
                        return;
                    }
                    run.interrupted |= flags & NLM_F_DUMP_INTR != 0;
                    match ty {
                        NLMSG_DONE => done = true,
                        NLMSG_ERROR => {
                            if let Some(e) = NlError::decode(flags, &raw[16..])
                                && e.errno != 0
                            {
                                failure = Some(e);
                            }
                            done = true;
                        }
                        _ => {
                            run.messages.extend_from_slice(raw);
                            // Aligned as in a datagram, for `for_each_message`.
                            run.messages
                                .resize(run.messages.len().next_multiple_of(4), 0);
                        }
                    }
                })
            })?;
            if let Some(e) = failure {
                return Err(e.to_io());
            }
            if done {
                return Ok(run);
            }
        }
    }
}

/// Most runs of a dump the kernel keeps marking interrupted before giving up. Runs
/// after the first wait a little longer each (1 ms more each, up to 20 ms), so that a
/// run can fall between two bursts of another program's changes (a routing daemon's,
/// an apply beside): ten tries in a row lost to a change every 5 ms on a loaded
/// machine.
pub const DUMP_TRIES: usize = 40;

/// The reply messages of one run of a dump, back to back, and whether it was
/// interrupted.
#[derive(Debug, Default)]
struct DumpRun {
    messages: Vec<u8>,
    interrupted: bool,
}

/// Runs a dump until a run is not interrupted, at most `tries` times: its messages, an
/// I/O error at once, or `Interrupted` after `tries` interrupted runs.
fn until_consistent(
    tries: usize,
    mut run: impl FnMut() -> io::Result<DumpRun>,
) -> io::Result<Vec<u8>> {
    for k in 0..tries {
        if k > 0 {
            std::thread::sleep(std::time::Duration::from_millis(k.min(20) as u64));
        }
        let r = run()?;
        if !r.interrupted {
            return Ok(r.messages);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::Interrupted,
        format!("dump interrupted by a concurrent change {tries} times in a row"),
    ))
}

/// Decodes a whole netlink message of family `F` (for the rare replies nshost reads
/// with the crate's types rather than from the bytes).
pub fn parse<F: Family>(raw: &[u8]) -> Option<F::Message> {
    match NetlinkMessage::<F::Message>::deserialize(raw) {
        Ok(msg) => match msg.payload {
            NetlinkPayload::InnerMessage(inner) => Some(inner),
            _ => None,
        },
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::Route;
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::LinkMessage;

    /// A fake reply source: `interrupted` interrupted runs, then a whole one.
    fn runs(interrupted: usize) -> impl FnMut() -> io::Result<DumpRun> {
        let mut n = 0;
        move || {
            n += 1;
            Ok(DumpRun {
                messages: vec![n as u8],
                interrupted: n <= interrupted,
            })
        }
    }

    #[test]
    fn an_interrupted_dump_is_run_again_until_whole_then_given_up() {
        // Three interrupted runs: the fourth, whole, is the answer.
        assert_eq!(until_consistent(DUMP_TRIES, runs(3)).unwrap(), [4]);
        assert_eq!(until_consistent(DUMP_TRIES, runs(0)).unwrap(), [1]);
        assert_eq!(
            until_consistent(DUMP_TRIES, runs(DUMP_TRIES - 1)).unwrap(),
            [DUMP_TRIES as u8]
        );
        // Interrupted every time: the typed error after DUMP_TRIES runs, no more.
        let mut calls = 0;
        let mut always = runs(usize::MAX);
        let e = until_consistent(DUMP_TRIES, || {
            calls += 1;
            always()
        })
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        assert_eq!(calls, DUMP_TRIES);
        // A failure is not retried.
        let mut calls = 0;
        let e = until_consistent(DUMP_TRIES, || {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EPERM))
        })
        .unwrap_err();
        assert_eq!((e.raw_os_error(), calls), (Some(libc::EPERM), 1));
    }

    #[test]
    fn batch_messages_are_aligned_and_counted() {
        let mut b = Batch::<Route>::new();
        b.push(RouteNetlinkMessage::GetLink(LinkMessage::default()), 0);
        b.push(RouteNetlinkMessage::GetLink(LinkMessage::default()), 0);
        assert_eq!(b.len(), 2);
        assert_eq!(b.starts[1] % 4, 0);
        let mut seen = 0;
        for_each_message(b.bytes(), |_, _, _, _| seen += 1);
        assert_eq!(seen, 2);
    }

    #[test]
    fn descriptor_slots_are_found() {
        use netlink_packet_route::link::LinkAttribute;
        let mut b = Batch::<Route>::new();
        b.push(RouteNetlinkMessage::GetLink(LinkMessage::default()), 0);
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName("x".into()));
        msg.attributes.push(LinkAttribute::NetNsFd(
            crate::netlink::batch::FD_PLACEHOLDER,
        ));
        b.push_with_ns_fd(RouteNetlinkMessage::NewLink(msg), 0, 28, "ns1");
        assert_eq!(b.fixups.len(), 1);
        let off = b.fixups[0].offset;
        assert!(off > b.starts[1]);
        assert_eq!(
            i32::from_ne_bytes(b.buf[off..off + 4].try_into().unwrap()),
            crate::netlink::batch::FD_PLACEHOLDER
        );
    }
}
