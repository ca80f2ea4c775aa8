//! ICMP echo on raw sockets: building echo requests, reading what comes back (echo
//! replies, and the errors that quote a request), and the sockets themselves.
//!
//! Raw sockets (`SOCK_RAW`, `IPPROTO_ICMP` / `IPPROTO_ICMPV6`), not datagram ICMP
//! sockets, which need `net.ipv4.ping_group_range`, lab state nshost does not touch. A
//! raw socket stays in the namespace it was made in, and sees every ICMP message of
//! that namespace: a filter keeps only replies and errors, and the engine matches them
//! by identifier, sequence and address. An IPv4 raw socket receives the IP header and
//! the ICMP checksum unchecked (verified here); on an ICMPv6 socket the kernel computes
//! and verifies checksums itself.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, SockaddrIn6,
    SockaddrLike, SockaddrStorage,
};

pub const V4_ECHO_REPLY: u8 = 0;
pub const V4_DEST_UNREACH: u8 = 3;
pub const V4_ECHO_REQUEST: u8 = 8;
pub const V4_TIME_EXCEEDED: u8 = 11;
pub const V4_PARAM_PROBLEM: u8 = 12;
pub const V6_DEST_UNREACH: u8 = 1;
pub const V6_PACKET_TOO_BIG: u8 = 2;
pub const V6_TIME_EXCEEDED: u8 = 3;
pub const V6_PARAM_PROBLEM: u8 = 4;
pub const V6_ECHO_REQUEST: u8 = 128;
pub const V6_ECHO_REPLY: u8 = 129;

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request with `id`, `seq` and `payload`. IPv4's carries its checksum; an
/// IPv6 one leaves it zero, for the kernel to fill in (it covers a pseudo-header of
/// addresses only the kernel knows for sure).
pub fn echo_request(v6: bool, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let kind = if v6 { V6_ECHO_REQUEST } else { V4_ECHO_REQUEST };
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&[kind, 0, 0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// An ICMP error, as its type and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpError {
    pub v6: bool,
    pub kind: u8,
    pub code: u8,
}

impl IcmpError {
    /// In words: "destination unreachable (host unreachable)".
    pub fn describe(&self) -> String {
        let (what, detail) = if self.v6 {
            match (self.kind, self.code) {
                (V6_DEST_UNREACH, c) => (
                    "destination unreachable",
                    match c {
                        0 => Some("no route"),
                        1 => Some("administratively prohibited"),
                        2 => Some("beyond scope"),
                        3 => Some("address unreachable"),
                        4 => Some("port unreachable"),
                        5 => Some("source address failed policy"),
                        6 => Some("reject route"),
                        _ => None,
                    },
                ),
                (V6_PACKET_TOO_BIG, _) => ("packet too big", None),
                (V6_TIME_EXCEEDED, 0) => ("time exceeded", Some("hop limit")),
                (V6_TIME_EXCEEDED, _) => ("time exceeded", None),
                (V6_PARAM_PROBLEM, _) => ("parameter problem", None),
                _ => ("ICMPv6 error", None),
            }
        } else {
            match (self.kind, self.code) {
                (V4_DEST_UNREACH, c) => (
                    "destination unreachable",
                    match c {
                        0 => Some("network unreachable"),
                        1 => Some("host unreachable"),
                        2 => Some("protocol unreachable"),
                        3 => Some("port unreachable"),
                        4 => Some("fragmentation needed"),
                        9 | 10 | 13 => Some("administratively prohibited"),
                        _ => None,
                    },
                ),
                (V4_TIME_EXCEEDED, 0) => ("time exceeded", Some("TTL")),
                (V4_TIME_EXCEEDED, _) => ("time exceeded", None),
                (V4_PARAM_PROBLEM, _) => ("parameter problem", None),
                _ => ("ICMP error", None),
            }
        };
        match detail {
            Some(d) => format!("{what} ({d})"),
            None => format!("{what} (type {}, code {})", self.kind, self.code),
        }
    }

    /// Whether another attempt could be answered differently: a neighbour that did not
    /// answer (ARP or neighbour discovery, while links come up) may answer next time; a
    /// missing route, a filter or a loop stays as it is.
    pub fn transient(&self) -> bool {
        if self.v6 {
            self.kind == V6_DEST_UNREACH && self.code == 3
        } else {
            self.kind == V4_DEST_UNREACH && self.code == 1
        }
    }
}

/// What an ICMP message says about an echo request of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// An echo reply.
    Reply { id: u16, seq: u16, payload: Vec<u8> },
    /// An error quoting an echo request sent to `dst`.
    Error {
        error: IcmpError,
        id: u16,
        seq: u16,
        dst: IpAddr,
    },
}

/// A received IPv4 packet (with its IP header): its source, destination and message;
/// `None` for anything else (another ICMP type, a bad checksum, a truncated packet).
pub fn parse_v4(packet: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, Message)> {
    let (src, dst, icmp) = ipv4_header(packet, 1)?;
    if checksum(icmp) != 0 || icmp.len() < 8 {
        return None;
    }
    let message = match icmp[0] {
        V4_ECHO_REPLY => Message::Reply {
            id: u16::from_be_bytes([icmp[4], icmp[5]]),
            seq: u16::from_be_bytes([icmp[6], icmp[7]]),
            payload: icmp[8..].to_vec(),
        },
        kind @ (V4_DEST_UNREACH | V4_TIME_EXCEEDED | V4_PARAM_PROBLEM) => {
            let (_, quoted_dst, quoted) = ipv4_header(&icmp[8..], 1)?;
            if quoted.len() < 8 || quoted[0] != V4_ECHO_REQUEST {
                return None;
            }
            Message::Error {
                error: IcmpError {
                    v6: false,
                    kind,
                    code: icmp[1],
                },
                id: u16::from_be_bytes([quoted[4], quoted[5]]),
                seq: u16::from_be_bytes([quoted[6], quoted[7]]),
                dst: quoted_dst.into(),
            }
        }
        _ => return None,
    };
    Some((src, dst, message))
}

/// An IPv4 header carrying `protocol`: source, destination and what follows it (no
/// more than the header's total length says).
fn ipv4_header(p: &[u8], protocol: u8) -> Option<(Ipv4Addr, Ipv4Addr, &[u8])> {
    if p.len() < 20 || p[0] >> 4 != 4 || p[9] != protocol {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if ihl < 20 || p.len() < ihl {
        return None;
    }
    // A quoted header's total length is the original packet's, often more than quoted.
    let end = total.clamp(ihl, p.len());
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    Some((src, dst, &p[ihl..end]))
}

/// A received ICMPv6 message (without its IPv6 header, as a raw socket delivers it);
/// `None` for anything else.
pub fn parse_v6(icmp: &[u8]) -> Option<Message> {
    if icmp.len() < 8 {
        return None;
    }
    match icmp[0] {
        V6_ECHO_REPLY => Some(Message::Reply {
            id: u16::from_be_bytes([icmp[4], icmp[5]]),
            seq: u16::from_be_bytes([icmp[6], icmp[7]]),
            payload: icmp[8..].to_vec(),
        }),
        kind @ (V6_DEST_UNREACH | V6_PACKET_TOO_BIG | V6_TIME_EXCEEDED | V6_PARAM_PROBLEM) => {
            // The quoted packet: a fixed IPv6 header, then (without extension headers)
            // the echo request.
            let q = &icmp[8..];
            if q.len() < 48 || q[0] >> 4 != 6 || q[6] != 58 || q[40] != V6_ECHO_REQUEST {
                return None;
            }
            let dst: [u8; 16] = q[24..40].try_into().ok()?;
            Some(Message::Error {
                error: IcmpError {
                    v6: true,
                    kind,
                    code: icmp[1],
                },
                id: u16::from_be_bytes([q[44], q[45]]),
                seq: u16::from_be_bytes([q[46], q[47]]),
                dst: Ipv6Addr::from(dst).into(),
            })
        }
        _ => None,
    }
}

// Socket options libc does not name: `ICMP_FILTER` (level `SOL_RAW`) and
// `ICMPV6_FILTER` (level `IPPROTO_ICMPV6`), from <linux/icmp.h> and <linux/icmpv6.h>.
const SOL_RAW: libc::c_int = 255;
const ICMP_FILTER: libc::c_int = 1;
const ICMPV6_FILTER: libc::c_int = 1;

/// A non-blocking raw ICMP (or ICMPv6) socket in the calling thread's namespace, that
/// receives echo replies and errors only.
pub fn raw_socket(v6: bool) -> io::Result<OwnedFd> {
    let (family, protocol) = if v6 {
        (AddressFamily::Inet6, SockProtocol::IcmpV6)
    } else {
        (AddressFamily::Inet, SockProtocol::Icmp)
    };
    let fd = socket::socket(
        family,
        SockType::Raw,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        protocol,
    )?;
    if v6 {
        // A bit set blocks the type.
        let mut filter = [u32::MAX; 8];
        for kind in [
            V6_ECHO_REPLY,
            V6_DEST_UNREACH,
            V6_PACKET_TOO_BIG,
            V6_TIME_EXCEEDED,
            V6_PARAM_PROBLEM,
        ] {
            filter[usize::from(kind >> 5)] &= !(1 << (kind & 31));
        }
        set_option(&fd, libc::IPPROTO_ICMPV6, ICMPV6_FILTER, &filter)?;
    } else {
        let pass = [
            V4_ECHO_REPLY,
            V4_DEST_UNREACH,
            V4_TIME_EXCEEDED,
            V4_PARAM_PROBLEM,
        ]
        .iter()
        .fold(0u32, |m, &k| m | 1 << k);
        set_option(&fd, SOL_RAW, ICMP_FILTER, &!pass)?;
    }
    Ok(fd)
}

fn set_option<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` of the size passed, and `fd` an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The source address the calling thread's namespace would use towards `dst`: a UDP
/// socket connected there (which sends nothing) and asked for its own address. Fails
/// as sending would: `ENETUNREACH` without a route.
pub fn source_for(dst: IpAddr) -> io::Result<IpAddr> {
    let family = if dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    socket::connect(fd.as_raw_fd(), &*sockaddr(SocketAddr::new(dst, 9)))?;
    let local: SockaddrStorage = socket::getsockname(fd.as_raw_fd())?;
    address_of(&local).ok_or_else(|| io::Error::other("no local address"))
}

fn sockaddr(addr: SocketAddr) -> Box<dyn SockaddrLike> {
    match addr {
        SocketAddr::V4(a) => Box::new(SockaddrIn::from(a)),
        SocketAddr::V6(a) => Box::new(SockaddrIn6::from(a)),
    }
}

fn address_of(s: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(a) = s.as_sockaddr_in() {
        Some(IpAddr::V4(a.ip()))
    } else {
        s.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip()))
    }
}

/// Sends `packet` to `dst` on a raw socket.
pub fn send(fd: &OwnedFd, dst: IpAddr, packet: &[u8]) -> io::Result<()> {
    socket::sendto(
        fd.as_raw_fd(),
        packet,
        &*sockaddr(SocketAddr::new(dst, 0)),
        MsgFlags::empty(),
    )?;
    Ok(())
}

/// Receives one packet, if one is waiting: its length and sender.
pub fn receive(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Option<(usize, Option<IpAddr>)>> {
    match socket::recvfrom::<SockaddrStorage>(fd.as_raw_fd(), buf) {
        Ok((n, from)) => Ok(Some((n, from.as_ref().and_then(address_of)))),
        Err(nix::errno::Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_as_rfc_1071() {
        // RFC 1071's example: 0001 f203 f4f5 f6f7 sums to ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // An odd length pads with a zero byte.
        assert_eq!(checksum(&[0x01]), !0x0100);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn echo_requests_carry_their_checksum() {
        let p = echo_request(false, 0x1234, 7, b"nshost");
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(&p[8..], b"nshost");
        // A packet with its checksum sums to zero.
        assert_eq!(checksum(&p), 0);
        // As `ping` builds it: id 0x0001 seq 1, no payload.
        assert_eq!(
            echo_request(false, 1, 1, &[]),
            [8, 0, 0xf7, 0xfd, 0, 1, 0, 1]
        );
        let v6 = echo_request(true, 1, 2, b"x");
        assert_eq!(v6, [128, 0, 0, 0, 0, 1, 0, 2, b'x']);
    }

    /// An IPv4 header from `src` to `dst` around `body`, protocol ICMP.
    fn ipv4(src: [u8; 4], dst: [u8; 4], body: &[u8]) -> Vec<u8> {
        let total = (20 + body.len()) as u16;
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&src);
        h.extend_from_slice(&dst);
        let sum = checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    fn with_checksum(mut icmp: Vec<u8>) -> Vec<u8> {
        icmp[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        icmp
    }

    #[test]
    fn reads_echo_replies() {
        let reply = with_checksum(vec![0, 0, 0, 0, 0xab, 0xcd, 0, 3, b'h', b'i']);
        let packet = ipv4([10, 2, 2, 10], [10, 1, 1, 10], &reply);
        let (src, dst, m) = parse_v4(&packet).unwrap();
        assert_eq!(
            (src.to_string(), dst.to_string()),
            ("10.2.2.10".into(), "10.1.1.10".into())
        );
        assert_eq!(
            m,
            Message::Reply {
                id: 0xabcd,
                seq: 3,
                payload: b"hi".to_vec()
            }
        );
        // A wrong checksum, a truncated packet, another protocol or type: nothing.
        let mut bad = packet.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(parse_v4(&bad), None);
        assert_eq!(parse_v4(&packet[..24]), None);
        let mut udp = packet.clone();
        udp[9] = 17;
        assert_eq!(parse_v4(&udp), None);
        let request = echo_request(false, 1, 1, b"");
        assert_eq!(
            parse_v4(&ipv4([10, 0, 0, 1], [10, 0, 0, 2], &request)),
            None
        );
        // Padding after the IP datagram (a short frame) is not part of the message.
        let mut padded = packet.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        assert_eq!(parse_v4(&padded).unwrap().2, m);
    }

    #[test]
    fn reads_errors_that_quote_our_requests() {
        let request = echo_request(false, 0x0102, 9, b"nshost-check....");
        let quoted = ipv4([10, 1, 1, 10], [10, 9, 9, 9], &request);
        // A router quotes the header and the first 8 bytes of what follows.
        let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted[..28]);
        let packet = ipv4([10, 1, 1, 1], [10, 1, 1, 10], &with_checksum(icmp));
        let (src, _, m) = parse_v4(&packet).unwrap();
        assert_eq!(src, Ipv4Addr::new(10, 1, 1, 1));
        let Message::Error {
            error,
            id,
            seq,
            dst,
        } = m
        else {
            panic!("an error: {m:?}");
        };
        assert_eq!((id, seq, dst), (0x0102, 9, "10.9.9.9".parse().unwrap()));
        assert_eq!(
            error.describe(),
            "destination unreachable (host unreachable)"
        );
        assert!(error.transient());
        let net = IcmpError {
            v6: false,
            kind: 3,
            code: 0,
        };
        assert_eq!(
            net.describe(),
            "destination unreachable (network unreachable)"
        );
        assert!(!net.transient());
        let odd = IcmpError {
            v6: false,
            kind: 3,
            code: 7,
        };
        assert_eq!(odd.describe(), "destination unreachable (type 3, code 7)");
        // An error quoting something else than an echo request is not ours.
        let mut other = vec![3, 1, 0, 0, 0, 0, 0, 0];
        let mut udp = quoted.clone();
        udp[9] = 17;
        other.extend_from_slice(&udp[..28]);
        assert_eq!(
            parse_v4(&ipv4([10, 1, 1, 1], [10, 1, 1, 10], &with_checksum(other))),
            None
        );
    }

    #[test]
    fn reads_icmpv6() {
        let reply = [129, 0, 0x12, 0x34, 0, 5, 0, 6, b'z'];
        assert_eq!(
            parse_v6(&reply),
            Some(Message::Reply {
                id: 5,
                seq: 6,
                payload: b"z".to_vec()
            })
        );
        // Address unreachable, quoting an IPv6 header to fd00:2::10 and our request.
        let mut icmp = vec![1, 3, 0, 0, 0, 0, 0, 0];
        let mut header = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
        header.extend_from_slice(&"fd00:1::10".parse::<Ipv6Addr>().unwrap().octets());
        header.extend_from_slice(&"fd00:2::10".parse::<Ipv6Addr>().unwrap().octets());
        icmp.extend_from_slice(&header);
        icmp.extend_from_slice(&echo_request(true, 7, 8, b""));
        let Some(Message::Error {
            error,
            id,
            seq,
            dst,
        }) = parse_v6(&icmp)
        else {
            panic!("an error");
        };
        assert_eq!((id, seq, dst), (7, 8, "fd00:2::10".parse().unwrap()));
        assert_eq!(
            error.describe(),
            "destination unreachable (address unreachable)"
        );
        assert!(error.transient());
        assert_eq!(parse_v6(&icmp[..40]), None);
        assert_eq!(
            parse_v6(&[128, 0, 0, 0, 0, 1, 0, 1]),
            None,
            "a request is not ours"
        );
    }
}
