//! What a lab's services are in the kernel: in each namespace, the listening TCP
//! sockets and the bound UDP ones (`/proc/thread-self/net/{tcp,tcp6,udp,udp6}`, read
//! by a thread inside the namespace, which is what that file shows), kept when their
//! inode is one of the lab daemon's open descriptors. Another program's listener on
//! the same port is not the lab's and is not counted.

use std::collections::{BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Live, Service, ServiceSet, control};
use crate::kernel::netns;
use crate::topology::ServiceProto;

/// `TCP_LISTEN` in `/proc/net/tcp`'s `st` column.
const TCP_LISTEN: &str = "0A";
/// `TCP_CLOSE`: an unconnected UDP socket.
const UDP_UNCONNECTED: &str = "07";

/// One socket line of `/proc/net/{tcp,udp}[6]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketLine {
    pub local: IpAddr,
    pub port: u16,
    pub state: String,
    pub inode: u64,
}

/// The socket lines of one such file (its header skipped, malformed lines too).
pub fn parse_proc_net(text: &str) -> Vec<SocketLine> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (addr, port) = f.get(1)?.split_once(':')?;
            Some(SocketLine {
                local: parse_hex_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
                state: f.get(3)?.to_string(),
                inode: f.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// An address as the kernel prints it there: 32-bit words in hex, each in the
/// machine's byte order.
fn parse_hex_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// The services among `lines` of `proto` whose inode is in `ours`.
pub fn services_of(
    proto: ServiceProto,
    lines: &[SocketLine],
    ours: &HashSet<u64>,
) -> BTreeSet<Service> {
    let state = match proto {
        ServiceProto::Tcp => TCP_LISTEN,
        ServiceProto::Udp => UDP_UNCONNECTED,
    };
    lines
        .iter()
        .filter(|l| l.state == state && ours.contains(&l.inode))
        .map(|l| Service {
            proto,
            port: l.port,
            address: (!l.local.is_unspecified()).then_some(l.local),
        })
        .collect()
}

/// The services `lab`'s daemon serves in `namespaces`, read from the kernel; nothing
/// is read when no daemon runs.
pub fn observe(lab: &str, namespaces: &BTreeSet<String>) -> Live {
    let leftovers = control::has_leftovers(lab);
    let Some(pid) = control::find(lab) else {
        return Live {
            daemon: None,
            services: ServiceSet::new(),
            leftovers,
        };
    };
    let ours = control::socket_inodes(pid);
    let list: Vec<&String> = namespaces.iter().collect();
    let found = netns::on_threads(&list, |ns| in_namespace(ns, &ours));
    let services = list
        .into_iter()
        .zip(found)
        .filter(|(_, s)| !s.is_empty())
        .map(|(ns, s)| (ns.clone(), s))
        .collect();
    Live {
        daemon: Some(pid),
        services,
        leftovers,
    }
}

/// On the calling (dedicated) thread: enters `ns` and reads its sockets.
fn in_namespace(ns: &str, ours: &HashSet<u64>) -> BTreeSet<Service> {
    if !matches!(netns::enter(ns), Ok(Some(()))) {
        return BTreeSet::new();
    }
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
            .map(|t| parse_proc_net(&t))
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for (proto, files) in [
        (ServiceProto::Tcp, ["tcp", "tcp6"]),
        (ServiceProto::Udp, ["udp", "udp6"]),
    ] {
        for file in files {
            out.extend(services_of(proto, &read(file), ours));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // As this kernel prints them (x86, little-endian): a listener on 0.0.0.0:80, a
    // connection, one on 127.0.0.1:8080.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 100 0 0 10 0
   2: 0A01010A:0050 0A02020A:C350 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000A01010A:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2002 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn reads_proc_net_lines() {
        let lines = parse_proc_net(TCP);
        assert_eq!(lines.len(), 3);
        if cfg!(target_endian = "little") {
            assert_eq!(lines[1].local, IpAddr::from([127, 0, 0, 1]));
            assert_eq!(lines[2].local, IpAddr::from([10, 1, 1, 10]));
            let v6 = parse_proc_net(TCP6);
            assert_eq!(v6[1].local, "::ffff:10.1.1.10".parse::<IpAddr>().unwrap());
        }
        assert_eq!((lines[0].port, lines[0].inode), (80, 1001));
        assert_eq!(lines[2].state, "01");
        assert!(parse_proc_net("header\ngarbage line\n").is_empty());
    }

    #[test]
    fn only_the_daemons_listeners_count() {
        let ours: HashSet<u64> = [1001, 1003, 2001].into();
        let tcp = services_of(ServiceProto::Tcp, &parse_proc_net(TCP), &ours);
        // 1002 is someone else's; 1003 is a connection, not a listener.
        let shown: Vec<String> = tcp.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["tcp/80"]);
        let tcp6 = services_of(ServiceProto::Tcp, &parse_proc_net(TCP6), &ours);
        let shown: Vec<String> = tcp6.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["tcp/22"]);
        // A UDP socket is unconnected in state 07, never 0A.
        assert!(services_of(ServiceProto::Udp, &parse_proc_net(TCP), &ours).is_empty());
    }
}
