//! Addresses: each used once in the lab.

use std::collections::HashMap;
use std::net::IpAddr;

use miette::SourceSpan;

use super::interfaces::Member;
use super::{Code, Cx};

pub(super) fn check_duplicate_addresses(cx: &mut Cx, members: &[Member]) {
    let mut all: Vec<(IpAddr, SourceSpan, String)> = members
        .iter()
        .flat_map(|m| {
            m.addrs
                .iter()
                .map(move |(a, span)| (a.addr(), *span, m.describe()))
        })
        .collect();
    all.sort_by_key(|(_, span, _)| span.offset());
    let mut first: HashMap<IpAddr, (SourceSpan, &str)> = HashMap::new();
    for (ip, span, who) in &all {
        if let Some((first_span, first_who)) = first.get(ip) {
            cx.report(
                Code::DuplicateAddress,
                format!("the address {ip} is used twice"),
            )
            .with_label(*first_span, format!("on {first_who}"))
            .with_label(*span, format!("and again on {who}"))
            .with_help("every address in a lab must be unique");
        } else {
            first.insert(*ip, (*span, who));
        }
    }
}
