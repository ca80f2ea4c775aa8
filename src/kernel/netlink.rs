//! A rtnetlink socket bound to one namespace: batched requests with their acks, dumps,
//! and the kernel's extended-ack text decoded into errors.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// Receive buffer we ask for. Replies to a chunk of requests (errors, acks) must fit.
const RCVBUF: usize = 8 << 20;
/// Most requests per `sendmsg`. Each reply, error or ack, costs about 1 KiB of receive
/// buffer (skb truesize), so a chunk's worth of failures always fits even when the
/// kernel only grants the default 208 KiB.
const CHUNK_MESSAGES: usize = 128;
/// Most bytes per `sendmsg`.
const CHUNK_BYTES: usize = 256 << 10;

const NLMSGERR_ATTR_MSG: u16 = 1;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;

/// A failed request: errno plus the kernel's extended-ack message, if it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    /// Index of the request in its batch.
    pub index: usize,
    /// Positive errno.
    pub errno: i32,
    /// Extended ack text (`NLMSGERR_ATTR_MSG`), e.g. "Nexthop has invalid gateway".
    pub message: Option<String>,
}

impl NlError {
    /// `strerror` text, followed by the kernel's own explanation when there is one.
    pub fn describe(&self) -> String {
        let base = io::Error::from_raw_os_error(self.errno).to_string();
        match &self.message {
            Some(m) => format!("{base}: {m}"),
            None => base,
        }
    }
}

/// Requests built ahead of sending: one contiguous buffer of netlink messages.
#[derive(Default, Debug, Clone)]
pub struct Batch {
    buf: Vec<u8>,
    /// Byte offset where each message starts.
    starts: Vec<usize>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The encoded messages.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Appends a request; `flags` are added to `NLM_F_REQUEST`. Sequence numbers are
    /// assigned at send time. Returns the message's index in the batch.
    pub fn push(&mut self, msg: RouteNetlinkMessage, flags: u16) -> usize {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let len = nl.buffer_len();
        let start = self.buf.len();
        let padded = (len + 3) & !3;
        self.buf.resize(start + padded, 0);
        nl.serialize(&mut self.buf[start..start + len]);
        self.starts.push(start);
        self.starts.len() - 1
    }
}

/// A NETLINK_ROUTE socket, created in (and so bound to) one network namespace.
pub struct NlSocket {
    sock: Socket,
    seq: u32,
    /// Write requests sent on this socket since it was opened.
    pub writes: u64,
    /// Whether the socket was set up for batches (big receive buffer, extended acks);
    /// a socket that only dumps never needs it.
    tuned: bool,
}

thread_local! {
    /// Receive buffer, one per thread rather than per socket: a lab has thousands of
    /// sockets but only a few threads read at once. Dump datagrams are at most 32 KiB.
    static RECV_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 1 << 16]);
}

impl std::fmt::Debug for NlSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NlSocket").field("seq", &self.seq).finish()
    }
}

impl NlSocket {
    /// Opens a socket in the calling thread's current network namespace.
    pub fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        Ok(NlSocket {
            sock,
            seq: 0,
            writes: 0,
            tuned: false,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends every request of `batch`, in order, in chunks of many messages per
    /// `sendmsg`, with an ack asked only of each chunk's last message; failures come
    /// back as errors all the same. Returns one `NlError` per failed request.
    pub fn execute(&mut self, batch: &Batch) -> io::Result<Vec<NlError>> {
        let mut errors = Vec::new();
        if batch.is_empty() {
            return Ok(errors);
        }
        if !self.tuned {
            set_rcvbuf(&self.sock, RCVBUF);
            self.sock.set_ext_ack(true).ok();
            self.sock.set_cap_ack(true).ok();
            self.tuned = true;
        }
        let mut buf = batch.buf.clone();
        let first_seq = self.seq.wrapping_add(1);
        let n = batch.starts.len();
        let mut i = 0;
        while i < n {
            // One chunk: [i, j).
            let start = batch.starts[i];
            let mut j = i;
            while j < n
                && j - i < CHUNK_MESSAGES
                && (j == i || end_of(batch, j) - start <= CHUNK_BYTES)
            {
                j += 1;
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
            let end = end_of(batch, j - 1);
            self.sock.send(&buf[start..end], 0)?;
            self.writes += (j - i) as u64;
            let last_seq = self.seq;
            self.wait_ack(last_seq, first_seq, &mut errors)?;
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
                for_each_raw(data, |ty, seq, raw| {
                    if ty == NLMSG_ERROR {
                        if let Some(mut e) = decode_error(flags_of(raw), &raw[16..]) {
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

    /// Sends one request and returns its single reply payload (the whole netlink
    /// message), or the kernel's error.
    pub fn request(&mut self, msg: RouteNetlinkMessage) -> io::Result<Result<Vec<u8>, NlError>> {
        let mut batch = Batch::new();
        batch.push(msg, 0);
        let seq = self.next_seq();
        let mut buf = batch.buf;
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.sock.send(&buf, 0)?;
        loop {
            let mut out = None;
            self.recv(|data| {
                for_each_raw(data, |ty, mseq, raw| {
                    if mseq != seq || out.is_some() {
                        return;
                    }
                    if ty == NLMSG_ERROR {
                        let e = decode_error(flags_of(raw), &raw[16..]).unwrap_or(NlError {
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

    /// Dumps: sends a `NLM_F_DUMP` request and calls `f` with each reply message (whole
    /// netlink message bytes) until `NLMSG_DONE`.
    pub fn dump(&mut self, msg: RouteNetlinkMessage, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        let mut batch = Batch::new();
        batch.push(msg, NLM_F_DUMP);
        let seq = self.next_seq();
        let mut buf = batch.buf;
        buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.sock.send(&buf, 0)?;
        loop {
            let mut done = false;
            let mut failure = None;
            self.recv(|data| {
                for_each_raw(data, |ty, mseq, raw| {
                    if mseq != seq || done {
                        return;
                    }
                    match ty {
                        NLMSG_DONE => done = true,
                        NLMSG_ERROR => {
                            if let Some(e) = decode_error(flags_of(raw), &raw[16..])
                                && e.errno != 0
                            {
                                failure = Some(e);
                            }
                            done = true;
                        }
                        _ => f(raw),
                    }
                })
            })?;
            if let Some(e) = failure {
                return Err(io::Error::other(e.describe()));
            }
            if done {
                return Ok(());
            }
        }
    }
}

fn end_of(batch: &Batch, k: usize) -> usize {
    batch.starts.get(k + 1).copied().unwrap_or(batch.buf.len())
}

fn set_rcvbuf(sock: &Socket, size: usize) {
    use std::os::fd::AsRawFd;
    let fd = sock.as_raw_fd();
    let val = size as libc::c_int;
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SO_RCVBUFFORCE needs CAP_NET_ADMIN; fall back to what rmem_max allows.
    // SAFETY: plain setsockopt on a socket we own, with a c_int option value.
    let forced = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&val as *const libc::c_int).cast(),
            len,
        )
    };
    if forced != 0 {
        // SAFETY: as above.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&val as *const libc::c_int).cast(),
                len,
            );
        }
    }
}

/// Walks the netlink messages in a datagram: (type, seq, whole message bytes).
pub fn for_each_raw(buf: &[u8], mut f: impl FnMut(u16, u32, &[u8])) {
    let mut off = 0;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
        f(ty, seq, &buf[off..off + len]);
        off += (len + 3) & !3;
    }
}

fn flags_of(raw: &[u8]) -> u16 {
    u16::from_ne_bytes([raw[6], raw[7]])
}

/// Decodes an `nlmsgerr` payload: errno, then (with `NLM_F_ACK_TLVS` in the outer
/// header's `flags`) the extended ack attributes after the echoed request, which is
/// only its 16-byte header when `NLM_F_CAPPED` is set, else the whole request.
fn decode_error(flags: u16, payload: &[u8]) -> Option<NlError> {
    if payload.len() < 4 + 16 {
        return None;
    }
    let errno = -i32::from_ne_bytes(payload[0..4].try_into().ok()?);
    let mut message = None;
    if flags & NLM_F_ACK_TLVS != 0 {
        let echoed = if flags & NLM_F_CAPPED != 0 {
            16
        } else {
            u32::from_ne_bytes(payload[4..8].try_into().ok()?) as usize
        };
        let mut off = 4 + ((echoed + 3) & !3);
        while off + 4 <= payload.len() {
            let len = u16::from_ne_bytes([payload[off], payload[off + 1]]) as usize;
            let ty = u16::from_ne_bytes([payload[off + 2], payload[off + 3]]) & 0x3fff;
            if len < 4 || off + len > payload.len() {
                break;
            }
            if ty == NLMSGERR_ATTR_MSG {
                let raw = &payload[off + 4..off + len];
                let text = raw.split(|b| *b == 0).next().unwrap_or(raw);
                message = Some(String::from_utf8_lossy(text).into_owned());
            }
            off += (len + 3) & !3;
        }
    }
    Some(NlError {
        index: 0,
        errno,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_extended_ack_text() {
        // errno -22, capped echoed header (len 16), then NLMSGERR_ATTR_MSG "bad".
        let mut p = Vec::new();
        p.extend_from_slice(&(-22i32).to_ne_bytes());
        p.extend_from_slice(&16u32.to_ne_bytes());
        p.extend_from_slice(&[0u8; 12]);
        p.extend_from_slice(&8u16.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(b"bad\0");
        let e = decode_error(NLM_F_CAPPED | NLM_F_ACK_TLVS, &p).unwrap();
        assert_eq!(e.errno, 22);
        assert_eq!(e.message.as_deref(), Some("bad"));
        assert!(e.describe().starts_with("Invalid argument"));
    }

    #[test]
    fn batch_messages_are_aligned_and_counted() {
        use netlink_packet_route::link::LinkMessage;
        let mut b = Batch::new();
        b.push(RouteNetlinkMessage::GetLink(LinkMessage::default()), 0);
        b.push(RouteNetlinkMessage::GetLink(LinkMessage::default()), 0);
        assert_eq!(b.len(), 2);
        assert_eq!(b.starts[1] % 4, 0);
        let mut seen = 0;
        for_each_raw(&b.buf, |_, _, _| seen += 1);
        assert_eq!(seen, 2);
    }
}
