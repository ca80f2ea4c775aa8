//! The lab's services as a plan sees them: the set a lab declares, by namespace, and the
//! starts and stops that turn the live set into it (pure; `crate::services` carries them
//! out and reads the live set).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lab::Lab;
pub use crate::lab::service::Service;
use crate::plan::{Action, Change};

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
    use crate::topology::ServiceProto;

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
