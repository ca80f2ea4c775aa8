//! Single values: MTUs, prefixes, interface addresses and IP addresses.

use std::net::IpAddr;

use ipnet::IpNet;
use miette::SourceSpan;

use super::{Code, Cx};
use crate::topology::Spanned;

pub(super) fn check_mtu(cx: &mut Cx, mtu: Option<&Spanned<u32>>) -> Option<u32> {
    let mtu = mtu?;
    if (68..=65535).contains(&mtu.value) {
        Some(mtu.value)
    } else {
        let span = cx.span(mtu);
        cx.report(Code::BadMtu, format!("MTU {} is out of range", mtu.value))
            .with_label(span, "must be 68 to 65535");
        None
    }
}

/// A prefix with no host bits (a subnet or a route/rule destination).
pub(super) fn parse_prefix(cx: &mut Cx, s: &Spanned<String>, what: &str) -> Option<IpNet> {
    let span = cx.span(s);
    match s.value.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Some(net),
        Ok(net) => {
            cx.report(
                Code::HostBitsSet,
                format!("the {what} `{}` has host bits set", s.value),
            )
            .with_label(span, "host bits set")
            .with_help(format!("did you mean {}?", net.trunc()));
            // Carry on with the prefix meant, so that it is not reported again.
            Some(net.trunc())
        }
        Err(_) => {
            let p = cx
                .report(
                    Code::InvalidPrefix,
                    format!("the {what} `{}` is not an IP prefix", s.value),
                )
                .with_label(span, "not a prefix");
            if let Ok(ip) = s.value.parse::<IpAddr>() {
                let len = if ip.is_ipv4() { 32 } else { 128 };
                p.with_help(format!("add the prefix length, e.g. `{ip}/{len}`"));
            } else {
                p.with_help("write a prefix like `10.1.1.0/24` or `2001:db8::/64`");
            }
            None
        }
    }
}

/// An interface address with its prefix length.
pub(super) fn parse_address(cx: &mut Cx, s: &Spanned<String>) -> Option<(IpNet, SourceSpan)> {
    let span = cx.span(s);
    match s.value.parse::<IpNet>() {
        Ok(net) => Some((net, span)),
        Err(_) => {
            let p = cx
                .report(
                    Code::InvalidAddress,
                    format!("`{}` is not an IP address with a prefix length", s.value),
                )
                .with_label(span, "not an address/prefix-length");
            if let Ok(ip) = s.value.parse::<IpAddr>() {
                let len = if ip.is_ipv4() { 24 } else { 64 };
                p.with_help(format!("add the prefix length, e.g. `{ip}/{len}`"));
            } else {
                p.with_help("write an address like `10.1.1.1/24` or `2001:db8::1/64`");
            }
            None
        }
    }
}

/// A gateway address.
pub(super) fn parse_ip(cx: &mut Cx, s: &Spanned<String>) -> Option<IpAddr> {
    parse_ip_as(cx, s, Code::InvalidGateway, "the gateway", "")
}

/// An IP address without prefix length (`what` names it: "the gateway", `whose` says
/// whose it is: " of ...", or nothing).
pub(super) fn parse_ip_as(
    cx: &mut Cx,
    s: &Spanned<String>,
    code: Code,
    what: &str,
    whose: &str,
) -> Option<IpAddr> {
    let span = cx.span(s);
    match s.value.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            let p = cx
                .report(
                    code,
                    format!("{what} `{}`{whose} is not an IP address", s.value),
                )
                .with_label(span, "not an IP address");
            if let Ok(net) = s.value.parse::<IpNet>() {
                let any = what.replacen("the ", "a ", 1);
                p.with_help(format!("{any} has no prefix length: `{}`", net.addr()));
            }
            None
        }
    }
}

pub(super) fn family_name(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}
