//! A node's services: each port 1-65535, each address one the node owns (an address
//! of one of its interfaces, or a loopback address), and no two that the kernel would
//! refuse to bind side by side (the same protocol and port on the same address, or on
//! every address and one of them).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use miette::SourceSpan;

use super::values::parse_ip_as;
use super::{Code, Cx};
use crate::lab::LabInterface;
use crate::lab::service::Service;
use crate::topology::{ServiceProto, ServiceSpec};

/// An address a protocol and port are bound on (none: every address), and where.
type Taken = (Option<IpAddr>, SourceSpan);

/// Checks the services of node `node` (its resolved `interfaces`), in file order.
pub(super) fn check_services(
    cx: &mut Cx,
    node: &str,
    specs: &[ServiceSpec],
    interfaces: &BTreeMap<String, LabInterface>,
) -> Vec<Service> {
    let owned: Vec<IpAddr> = interfaces
        .values()
        .flat_map(|i| i.addresses.iter().map(|a| a.addr()))
        .collect();
    let mut out = Vec::with_capacity(specs.len());
    // (proto, port) to the addresses already taken, with where.
    let mut taken: HashMap<(ServiceProto, u16), Vec<Taken>> = HashMap::new();
    for spec in specs {
        let port_span = cx.span(&spec.port);
        let proto = spec.proto.as_ref().map(|p| p.value).unwrap_or_default();
        if spec.port.value == 0 {
            cx.report(Code::BadServicePort, "a service cannot be on port 0")
                .with_label(port_span, "port 0")
                .with_help("give a port from 1 to 65535");
            continue;
        }
        let address = match &spec.address {
            None => None,
            Some(a) => {
                let whose = format!(" of `{node}`");
                let Some(ip) =
                    parse_ip_as(cx, a, Code::InvalidAddress, "the service address", &whose)
                else {
                    continue;
                };
                if !ip.is_loopback() && !owned.contains(&ip) {
                    let span = cx.span(a);
                    let p = cx
                        .report(
                            Code::ServiceAddressNotOwned,
                            format!(
                                "`{node}` cannot listen on {ip}: it is not one of its addresses"
                            ),
                        )
                        .with_label(span, "not an address of the node");
                    if owned.is_empty() {
                        p.with_help("leave `address` out to listen on every address");
                    } else {
                        let list: Vec<String> = owned.iter().map(ToString::to_string).collect();
                        p.with_help(format!(
                            "its addresses are {}; leave `address` out to listen on all of them",
                            list.join(", ")
                        ));
                    }
                    continue;
                }
                Some(ip)
            }
        };
        let slot = taken.entry((proto, spec.port.value)).or_default();
        if let Some(&(_, first)) = slot
            .iter()
            .find(|(a, _)| a.is_none() || address.is_none() || *a == address)
        {
            cx.report(
                Code::DuplicateService,
                format!("`{node}` serves {}/{} twice", proto.name(), spec.port.value),
            )
            .with_label(first, "first here")
            .with_label(port_span, "and again here")
            .with_help(
                "one socket per protocol and port and address: remove one, or give each its \
                 own `address`",
            );
            continue;
        }
        slot.push((address, port_span));
        out.push(Service {
            proto,
            port: spec.port.value,
            address,
        });
    }
    out
}
