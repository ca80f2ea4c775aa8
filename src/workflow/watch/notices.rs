//! What a batch of the kernel's notifications says: when it started, who sent it, and
//! which of the fabric's links it names (read again by name, not by dumping the
//! fabric's thousands).

use std::collections::BTreeSet;
use std::time::Instant;

use crate::kernel::events::{Notice, ObjectClass};
use crate::state::{LinkKind, NetState};

/// When a notice was received.
pub fn noticed_at(n: &Notice) -> Option<Instant> {
    match n {
        Notice::Changed { at, .. } | Notice::Overflow { at } => Some(*at),
    }
}

/// Who sent the notifications about `names`: `pid N (comm)` when the port is a live
/// process's pid, else `netlink port N`; `the kernel` for port 0. The watcher's own
/// changes, notified in the same window, are not named.
pub fn who(notices: &[Notice], names: &BTreeSet<String>) -> String {
    // This process's own changes (its first netlink socket's port is its pid).
    let own = std::process::id();
    let port = notices.iter().find_map(|n| match n {
        Notice::Changed {
            namespace, port, ..
        } if *port != 0 && *port != own && names.contains(namespace) => Some(*port),
        _ => None,
    });
    match port {
        None => "the kernel".into(),
        Some(p) => match std::fs::read_to_string(format!("/proc/{p}/comm")) {
            Ok(comm) => format!("pid {p} ({})", comm.trim_end()),
            Err(_) => format!("netlink port {p}"),
        },
    }
}

/// The fabric's links to read again after `notices`, by name: those they name (a
/// link's own notice, or its configuration's, found by index in `live`), and the
/// fabric's bridges (the masters the ports are read with). `None` (dump the fabric)
/// when a notice about the fabric is about something else (an address, a route, the
/// namespace-wide configuration, the namespace itself), or when they name a good part
/// of it anyway.
pub fn fabric_ports(
    notices: &[Notice],
    fabric: &str,
    desired: &NetState,
    live: &NetState,
) -> Option<BTreeSet<String>> {
    let want = desired.namespaces.get(fabric)?;
    let have = live.namespaces.get(fabric)?;
    let by_index = |index: u32| {
        have.links
            .iter()
            .find(|(_, l)| l.ifindex == Some(index))
            .map(|(name, _)| name.clone())
    };
    let mut ports = BTreeSet::new();
    for n in notices {
        match n {
            Notice::Changed {
                namespace,
                class: ObjectClass::Link,
                link: Some(name),
                ..
            } if namespace == fabric => {
                ports.insert(name.clone());
            }
            Notice::Changed {
                namespace,
                class: ObjectClass::NetConf,
                device: Some(index),
                ..
            } if namespace == fabric => {
                ports.insert(by_index(*index)?);
            }
            Notice::Changed { namespace, .. } if namespace == fabric => return None,
            _ => {}
        }
    }
    if ports.is_empty() {
        return None;
    }
    ports.extend(
        want.links
            .iter()
            .filter(|(_, l)| !matches!(l.kind, LinkKind::Veth { .. }))
            .map(|(name, _)| name.clone()),
    );
    (ports.len() * 4 < want.links.len()).then_some(ports)
}
