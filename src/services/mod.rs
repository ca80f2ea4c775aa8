//! Services: the small TCP and UDP listeners a lab's nodes declare (`services:` on a
//! router or a host), so that port checks have something to reach.
//!
//! One detached nshost process per lab serves them all ([`daemon`]): started by
//! `apply` (a re-exec of nshost itself with a hidden subcommand, in a session of its
//! own), it opens each listening socket inside its node's namespace from a short-lived
//! thread (a socket stays in the namespace it was made in), then serves every socket
//! from one poll loop: TCP connections are accepted and echoed until the peer closes,
//! UDP datagrams are echoed back from the address they were sent to.
//!
//! It is tracked under the lab's run directory, `/run/nshost/<lab>/` (beside the lab's
//! lock; `NSHOST_LOCK_DIR` moves both): its pid, the set it serves and its log
//! ([`control`]). What a plan compares with the file is read from the kernel
//! ([`observe`]): the listening sockets of each namespace (`/proc/thread-self/net/*`,
//! read from inside it) that belong to the lab's daemon (their inodes among its open
//! descriptors). So a daemon killed, or a socket gone, is drift the next plan shows and
//! apply repairs; a changed set restarts the daemon with the new one; destroy stops it.
//! A lab without services starts nothing and reads nothing.

pub mod control;
pub mod daemon;
pub mod observe;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lab::Lab;
use crate::plan::{Action, Change};
use crate::topology::ServiceProto;

/// One service: a port of a protocol, on one address of its node or on all of them.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct Service {
    pub proto: ServiceProto,
    pub port: u16,
    /// The address it listens on; none for every address of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.proto.name(), self.port)?;
        if let Some(a) = self.address {
            write!(f, " on {a}")?;
        }
        Ok(())
    }
}

/// Services by namespace.
pub type ServiceSet = BTreeMap<String, BTreeSet<Service>>;

/// The services a lab declares, by namespace (namespaces without any left out).
pub fn desired(lab: &Lab) -> ServiceSet {
    lab.nodes
        .values()
        .filter(|n| !n.services.is_empty())
        .map(|n| (n.ns.clone(), n.services.iter().copied().collect()))
        .collect()
}

/// How many services a set holds.
pub fn count(set: &ServiceSet) -> usize {
    set.values().map(BTreeSet::len).sum()
}

/// A service that a plan starts or stops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceChange {
    /// The namespace it is served in.
    pub ns: String,
    /// `add` (started) or `destroy` (stopped).
    pub action: Action,
    pub service: Service,
}

/// What the kernel has of a lab's services: the lab's daemon, if one runs, and the
/// sockets of it that listen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Live {
    /// The daemon's pid, when the run directory names one that is alive and is it.
    pub daemon: Option<u32>,
    /// What its sockets serve, by namespace.
    pub services: ServiceSet,
    /// The run directory holds something (a daemon's files, a stale pid file).
    pub leftovers: bool,
}

/// A plan's services: what the lab wants and what was found.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub desired: ServiceSet,
    pub live: Live,
}

impl Planned {
    /// Whether the daemon must be (re)started or stopped to carry out `changes`.
    pub fn restart(changes: &[ServiceChange]) -> bool {
        !changes.is_empty()
    }
}

/// The service changes that turn `live` into `desired`, given the kernel changes of the
/// same plan: a namespace the plan deletes takes its sockets with it, so one it deletes
/// and makes again has all its services stopped and started again.
pub fn diff(desired: &ServiceSet, live: &ServiceSet, kernel: &[Change]) -> Vec<ServiceChange> {
    let deleted = crate::plan::change::deleted_namespaces(kernel);
    let empty = BTreeSet::new();
    let names: BTreeSet<&String> = desired.keys().chain(live.keys()).collect();
    let mut out = Vec::new();
    for ns in names {
        let want = desired.get(ns).unwrap_or(&empty);
        let have = live.get(ns).unwrap_or(&empty);
        let recreated = deleted.contains(ns.as_str());
        for s in have {
            if recreated || !want.contains(s) {
                out.push(ServiceChange {
                    ns: ns.clone(),
                    action: Action::Destroy,
                    service: *s,
                });
            }
        }
        for s in want {
            if recreated || !have.contains(s) {
                out.push(ServiceChange {
                    ns: ns.clone(),
                    action: Action::Add,
                    service: *s,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NsRole;

    fn svc(proto: ServiceProto, port: u16) -> Service {
        Service {
            proto,
            port,
            address: None,
        }
    }

    fn set(entries: &[(&str, Service)]) -> ServiceSet {
        let mut out = ServiceSet::new();
        for (ns, s) in entries {
            out.entry(ns.to_string()).or_default().insert(*s);
        }
        out
    }

    #[test]
    fn services_are_shown_as_proto_port_and_address() {
        let mut s = svc(ServiceProto::Udp, 53);
        assert_eq!(s.to_string(), "udp/53");
        s.address = Some("10.1.1.10".parse().unwrap());
        assert_eq!(s.to_string(), "udp/53 on 10.1.1.10");
    }

    #[test]
    fn the_diff_starts_what_is_missing_and_stops_what_is_not_wanted() {
        let tcp80 = svc(ServiceProto::Tcp, 80);
        let udp53 = svc(ServiceProto::Udp, 53);
        let desired = set(&[("web1", tcp80), ("db1", udp53)]);
        let live = set(&[("web1", tcp80), ("web1", udp53)]);
        let changes = diff(&desired, &live, &[]);
        let lines: Vec<String> = changes
            .iter()
            .map(|c| format!("{:?} {} {}", c.action, c.ns, c.service))
            .collect();
        assert_eq!(lines, ["Add db1 udp/53", "Destroy web1 udp/53"]);
        assert!(diff(&desired, &desired, &[]).is_empty());
        // A namespace the plan makes again loses its sockets: stopped, started again.
        let recreate = [
            Change::DeleteNamespace {
                ns: "db1".into(),
                role: NsRole::Host,
                contents: Vec::new(),
                stray: false,
            },
            Change::AddNamespace {
                ns: "db1".into(),
                role: NsRole::Host,
            },
        ];
        let changes = diff(&desired, &desired, &recreate);
        let lines: Vec<String> = changes
            .iter()
            .map(|c| format!("{:?} {} {}", c.action, c.ns, c.service))
            .collect();
        assert_eq!(lines, ["Destroy db1 udp/53", "Add db1 udp/53"]);
    }
}
