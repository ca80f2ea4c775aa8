//! Addresses on a router's loopback (`loopback:`): router IDs and anycast addresses. One
//! may be on several routers' loopbacks (anycast), but not twice on one, and never on an
//! interface of the lab.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use miette::SourceSpan;

use super::members::Member;
use super::values::parse_address;
use super::{Code, Cx};
use crate::topology::Spanned;

/// The loopback addresses of one router, each valid and used once there, and where each
/// is written.
pub(super) fn check_loopback(
    cx: &mut Cx,
    written: &[Spanned<String>],
    members: &[Member],
) -> (Vec<IpNet>, Vec<SourceSpan>) {
    let mut out = (Vec::new(), Vec::new());
    let mut seen: HashMap<IpAddr, SourceSpan> = HashMap::new();
    for s in written {
        let Some((net, span)) = parse_address(cx, s) else {
            continue;
        };
        if let Some(first) = seen.get(&net.addr()) {
            cx.report(
                Code::DuplicateAddress,
                format!("the address {} is on this loopback twice", net.addr()),
            )
            .with_label(*first, "here")
            .with_label(span, "and again here")
            .with_help("remove one");
            continue;
        }
        if let Some((m, (_, at))) = members.iter().find_map(|m| {
            m.addrs
                .iter()
                .find(|(a, _)| a.addr() == net.addr())
                .map(|hit| (m, hit))
        }) {
            cx.report(
                Code::DuplicateAddress,
                format!(
                    "the loopback address {} is also on {}",
                    net.addr(),
                    m.describe()
                ),
            )
            .with_label(*at, format!("on {}", m.describe()))
            .with_label(span, "and on the loopback")
            .with_help("an address of the lab's networks cannot be a loopback address too");
            continue;
        }
        seen.insert(net.addr(), span);
        out.0.push(net);
        out.1.push(span);
    }
    out
}
