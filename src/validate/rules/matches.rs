//! What a policy rule matches: its prefixes and family, interfaces, `tos`, protocol and
//! ports, firewall mark and uids, each checked as the kernel takes it.

use ipnet::IpNet;
use miette::SourceSpan;

use super::super::names::check_ifname;
use super::super::values::parse_prefix;
use super::super::{Code, Cx};
use crate::state::{Fwmark, PortRange, UidRange};
use crate::topology::{Family, Ports, Proto, RuleSpec, Spanned, Uids};

pub(super) fn ipproto_number(cx: &mut Cx, p: &Spanned<Proto>) -> Option<u8> {
    match &p.value {
        Proto::Number(n) => Some(*n),
        Proto::Name(name) => match name.as_str() {
            "tcp" => Some(6),
            "udp" => Some(17),
            "icmp" => Some(1),
            "icmpv6" => Some(58),
            "sctp" => Some(132),
            _ => {
                let span = cx.span(p);
                cx.report(
                    Code::UnknownIpproto,
                    format!("unknown IP protocol `{name}`"),
                )
                .with_label(span, "unknown protocol")
                .with_help("use `tcp`, `udp`, `icmp`, `icmpv6`, `sctp` or a protocol number");
                None
            }
        },
    }
}

/// The ports a rule can match: the kernel rejects 0 and 65535 in a rule's port range.
pub(super) const RULE_PORTS: std::ops::RangeInclusive<u16> = 1..=65534;

pub(super) fn port_range(cx: &mut Cx, p: &Spanned<Ports>) -> Option<PortRange> {
    let span = cx.span(p);
    let text = match &p.value {
        Ports::Port(n) => {
            let n = *n;
            if !RULE_PORTS.contains(&n) {
                cx.report(
                    Code::BadPortRange,
                    format!("port {n} cannot be matched by a rule"),
                )
                .with_label(span, "out of range")
                .with_help("rule ports are 1-65534 (the kernel rejects 0 and 65535)");
                return None;
            }
            return Some(PortRange { start: n, end: n });
        }
        Ports::Range(s) => s,
    };
    let parsed = match text.split_once('-') {
        Some((lo, hi)) => lo
            .trim()
            .parse::<u16>()
            .ok()
            .zip(hi.trim().parse::<u16>().ok()),
        None => text.trim().parse::<u16>().ok().map(|n| (n, n)),
    };
    match parsed {
        Some((start, end)) if !RULE_PORTS.contains(&start) || !RULE_PORTS.contains(&end) => {
            cx.report(
                Code::BadPortRange,
                format!("the port range `{text}` cannot be matched by a rule"),
            )
            .with_label(span, "out of range")
            .with_help("rule ports are 1-65534 (the kernel rejects 0 and 65535)");
            None
        }
        Some((start, end)) if start <= end => Some(PortRange { start, end }),
        Some((start, end)) => {
            cx.report(
                Code::BadPortRange,
                format!("the port range `{text}` is backwards"),
            )
            .with_label(span, "start above end")
            .with_help(format!("did you mean `{end}-{start}`?"));
            None
        }
        None => {
            cx.report(
                Code::BadPortRange,
                format!("`{text}` is not a port or a port range"),
            )
            .with_label(span, "not a port range")
            .with_help("write a port (`80`) or an inclusive range (`\"1000-2000\"`)");
            None
        }
    }
}

/// A rule's prefixes and its family; `ok` is false once a wrong one is reported.
pub(super) struct Addresses {
    pub(super) from: Option<IpNet>,
    pub(super) to: Option<IpNet>,
    /// An IPv6 rule, as its prefixes (or else its `family`) say.
    pub(super) v6: bool,
    pub(super) ok: bool,
}

/// The rule's `from` and `to`, of one family, and `family` if given agreeing with them.
pub(super) fn addresses(cx: &mut Cx, spec: &RuleSpec) -> Addresses {
    let from = spec
        .from
        .as_ref()
        .map(|f| (parse_prefix(cx, f, "rule source"), cx.span(f)));
    let to = spec
        .to
        .as_ref()
        .map(|t| (parse_prefix(cx, t, "rule destination"), cx.span(t)));
    let mut ok = from.is_none_or(|(n, _)| n.is_some()) && to.is_none_or(|(n, _)| n.is_some());
    let (v6, same) = prefixes_family(cx, [from, to]);
    ok &= same;
    let (v6, agrees) = declared_family(cx, spec, v6);
    ok &= agrees;
    Addresses {
        from: from.and_then(|(n, _)| n),
        to: to.and_then(|(n, _)| n),
        v6: v6.is_some_and(|(v, _)| v),
        ok,
    }
}

/// The family of the rule's prefixes (IPv6 or not, where the first says it), and whether
/// they agree.
fn prefixes_family(
    cx: &mut Cx,
    prefixes: [Option<(Option<IpNet>, SourceSpan)>; 2],
) -> (Option<(bool, SourceSpan)>, bool) {
    let mut ok = true;
    let mut v6: Option<(bool, SourceSpan)> = None;
    for (net, span) in prefixes.into_iter().flatten() {
        let Some(net) = net else { continue };
        let is_v6 = net.addr().is_ipv6();
        match v6 {
            Some((other, other_span)) if other != is_v6 => {
                cx.report(
                    Code::FamilyMismatch,
                    "the rule's `from` and `to` are of different address families",
                )
                .with_label(other_span, if other { "IPv6" } else { "IPv4" })
                .with_label(span, if is_v6 { "IPv6" } else { "IPv4" });
                ok = false;
            }
            Some(_) => {}
            None => v6 = Some((is_v6, span)),
        }
    }
    (v6, ok)
}

/// The rule's `family`, which says the family when no prefix does, and must agree when
/// one does.
fn declared_family(
    cx: &mut Cx,
    spec: &RuleSpec,
    v6: Option<(bool, SourceSpan)>,
) -> (Option<(bool, SourceSpan)>, bool) {
    let Some(family) = &spec.family else {
        return (v6, true);
    };
    let fam_v6 = family.value == Family::Ipv6;
    match v6 {
        Some((is_v6, span)) if is_v6 != fam_v6 => {
            let fam_span = cx.span(family);
            cx.report(
                Code::FamilyMismatch,
                "the rule's `family` does not match its prefixes",
            )
            .with_label(fam_span, if fam_v6 { "IPv6" } else { "IPv4" })
            .with_label(span, if is_v6 { "IPv6" } else { "IPv4" })
            .with_help("leave `family` out: the prefixes already say it");
            (v6, false)
        }
        Some(_) => (v6, true),
        None => (Some((fam_v6, cx.span(family))), true),
    }
}

/// The rule's `iif` and `oif` are interface names. An interface the node lacks is fine:
/// the kernel keeps the rule, detached, until such an interface appears.
pub(super) fn check_devices(cx: &mut Cx, spec: &RuleSpec) -> bool {
    let mut ok = true;
    for dev in [&spec.iif, &spec.oif].into_iter().flatten() {
        let span = cx.span(dev);
        ok &= check_ifname(cx, &dev.value, span, false);
    }
    ok
}

/// The rule's `tos` has no ECN bit, which the kernel refuses.
pub(super) fn check_tos(cx: &mut Cx, spec: &RuleSpec) -> bool {
    let Some(tos) = &spec.tos else { return true };
    if tos.value & ECN_MASK == 0 {
        return true;
    }
    let span = cx.span(tos);
    cx.report(
        Code::BadTos,
        format!("the rule's `tos` {} has ECN bits set", tos.value),
    )
    .with_label(
        span,
        format!("{:#04x}: the two low bits are ECN", tos.value),
    )
    .with_help(format!(
        "the kernel matches only the DSCP bits (\"ECN bits must be 0\"): did you mean {}?",
        tos.value & !ECN_MASK
    ));
    false
}

/// What the rule matches of the packet's protocol; `ok` is false once a wrong one is
/// reported.
pub(super) struct Protocol {
    pub(super) ipproto: Option<u8>,
    pub(super) sport: Option<PortRange>,
    pub(super) dport: Option<PortRange>,
    pub(super) ok: bool,
}

/// The rule's `ipproto` and ports, with a warning where they can never match.
pub(super) fn protocol(cx: &mut Cx, spec: &RuleSpec, v6: bool) -> Protocol {
    let mut ok = true;
    let ipproto = match &spec.ipproto {
        Some(p) => {
            let n = ipproto_number(cx, p);
            ok &= n.is_some();
            n
        }
        None => None,
    };
    let sport = spec.sport.as_ref().map(|p| port_range(cx, p));
    let dport = spec.dport.as_ref().map(|p| port_range(cx, p));
    ok &= sport.is_none_or(|p| p.is_some()) && dport.is_none_or(|p| p.is_some());
    if let (Some(p), Some(n)) = (&spec.ipproto, ipproto) {
        let proto_span = cx.span(p);
        warn_portless(cx, spec, n, proto_span);
        warn_icmp_family(cx, n, v6, proto_span);
    }
    Protocol {
        ipproto,
        sport: sport.flatten(),
        dport: dport.flatten(),
        ok,
    }
}

/// The rule's `fwmark` and `fwmask`, with a warning where they match every packet.
pub(super) fn fwmark(cx: &mut Cx, spec: &RuleSpec) -> Option<Fwmark> {
    let (mark, mask) = (&spec.fwmark, &spec.fwmask);
    if mark.is_none() && mask.is_none() {
        return None;
    }
    if let (Some(mark), None) = (mark, mask)
        && mark.value == 0
    {
        let span = cx.span(mark);
        cx.warn(
            Code::FwmarkMatchesAll,
            "`fwmark: 0` without `fwmask` matches every packet",
        )
        .with_label(span, "no mark to compare: the kernel matches all packets")
        .with_help(
            "to match the unmarked packets, add `fwmask: 0xffffffff`; to match \
             every packet, leave `fwmark` out",
        );
    }
    if let Some(mask) = mask
        && mask.value == 0
    {
        let span = cx.span(mask);
        cx.warn(
            Code::FwmarkMatchesAll,
            "`fwmask: 0` compares no bit of the mark: it matches every packet",
        )
        .with_label(span, "no bit to compare")
        .with_help(
            "name the bits to compare in `fwmask` (`0xffffffff` for all of them); \
             to match every packet, leave `fwmark` and `fwmask` out",
        );
    }
    Fwmark::new(
        mark.as_ref().map_or(0, |s| s.value),
        mask.as_ref().map(|s| s.value),
    )
}

/// The uid range of a rule, as the kernel takes it: start at most end.
pub(super) fn uid_range(cx: &mut Cx, u: &Spanned<Uids>) -> Option<UidRange> {
    let span = cx.span(u);
    let (start, end) = match &u.value {
        Uids::Uid(n) => (*n, *n),
        Uids::Range(text) => {
            let parse = |t: &str| t.parse::<u32>().ok();
            let parsed = match text.split_once('-') {
                Some((lo, hi)) => parse(lo).zip(parse(hi)),
                None => parse(text).map(|n| (n, n)),
            };
            let Some(pair) = parsed else {
                cx.report(
                    Code::BadUidRange,
                    format!("`{text}` is not a uid or a uid range"),
                )
                .with_label(span, "not a uid range")
                .with_help("write a uid (`1000`) or an inclusive range (`\"1000-2000\"`), uids 0 to 4294967295");
                return None;
            };
            pair
        }
    };
    if start > end {
        cx.report(
            Code::BadUidRange,
            format!("the uid range {start}-{end} is backwards"),
        )
        .with_label(span, "start above end")
        .with_help(format!(
            "did you mean `{end}-{start}`? (\"Invalid uid range\")"
        ));
        return None;
    }
    if (start, end) == (0, u32::MAX) {
        cx.report(Code::BadUidRange, "the uid range 0-4294967295 is every uid")
            .with_label(span, "matches every socket")
            .with_help(
                "the kernel takes the whole range for no range at all: leave `uidrange` out",
            );
        return None;
    }
    Some(UidRange { start, end })
}

/// The ECN bits of a `tos` byte, which the kernel refuses in a rule.
const ECN_MASK: u8 = 0b11;

/// The protocols whose packets carry ports a rule can match.
fn has_ports(ipproto: u8) -> bool {
    matches!(ipproto, 6 | 17 | 33 | 132 | 136)
}

/// Ports with a protocol that has none: the kernel takes the rule, which never matches.
fn warn_portless(cx: &mut Cx, spec: &RuleSpec, ipproto: u8, proto_span: SourceSpan) {
    if has_ports(ipproto) {
        return;
    }
    let ports: Vec<SourceSpan> = [&spec.sport, &spec.dport]
        .into_iter()
        .flatten()
        .map(|p| cx.span(p))
        .collect();
    if ports.is_empty() {
        return;
    }
    let p = cx
        .warn(
            Code::PortsNeverMatch,
            format!("the rule matches ports of IP protocol {ipproto}, which has none"),
        )
        .with_label(proto_span, "a protocol without ports");
    for span in ports {
        p.with_label(span, "compared with what the packet holds there");
    }
    p.with_help(
        "ports belong to tcp, udp, sctp, dccp and udplite: change `ipproto`, or remove \
         `sport` and `dport`",
    );
}

/// ICMP of the other family: the kernel takes the rule, which never matches.
fn warn_icmp_family(cx: &mut Cx, ipproto: u8, v6: bool, proto_span: SourceSpan) {
    let meant = match (ipproto, v6) {
        (1, true) => "icmpv6",
        (58, false) => "icmp",
        _ => return,
    };
    let family = if v6 { "IPv6" } else { "IPv4" };
    cx.warn(
        Code::IpprotoFamily,
        format!("an {family} rule matches the ICMP of the other family"),
    )
    .with_label(proto_span, format!("no {family} packet carries it"))
    .with_help(format!("for {family}, write `ipproto: {meant}`"));
}
