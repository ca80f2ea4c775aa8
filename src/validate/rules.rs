//! Policy rules, as the kernel stores them: it keeps a rule whose `iif`/`oif` does not
//! exist (detached) and one with ports but no protocol, refuses ECN bits in `tos`.

use std::collections::HashMap;

use miette::SourceSpan;

use super::interfaces::Node;
use super::names::check_ifname;
use super::tables::{Tables, resolve_table};
use super::values::parse_prefix;
use super::{Code, Cx};
use crate::state::{Fwmark, PortRange, Rule};
use crate::topology::{Family, Ports, Proto, RuleSpec, Spanned};

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

/// The node's rules as the kernel stores them, with the place of each (its priority).
pub(super) fn check_rules(
    cx: &mut Cx,
    node: &Node,
    specs: &[RuleSpec],
    tables: &Tables,
) -> (Vec<Rule>, Vec<SourceSpan>) {
    let mut rules = Vec::new();
    let mut spans = Vec::new();
    let mut seen: HashMap<Rule, SourceSpan> = HashMap::new();
    for spec in specs {
        let prio_span = cx.span(&spec.priority);
        let mut ok = true;
        let priority = spec.priority.value;
        if !(1..=32765).contains(&priority) {
            cx.report(
                Code::BadRulePriority,
                format!("rule priority {priority} is out of range"),
            )
            .with_label(prio_span, "must be 1 to 32765")
            .with_help("0, 32766 and 32767 are the kernel's local, main and default rules");
            ok = false;
        }
        let from = spec
            .from
            .as_ref()
            .map(|f| (parse_prefix(cx, f, "rule source"), cx.span(f)));
        let to = spec
            .to
            .as_ref()
            .map(|t| (parse_prefix(cx, t, "rule destination"), cx.span(t)));
        ok &= from.is_none_or(|(n, _)| n.is_some()) && to.is_none_or(|(n, _)| n.is_some());
        let mut v6: Option<(bool, SourceSpan)> = None;
        for (net, span) in [from, to].into_iter().flatten() {
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
        if let Some(family) = &spec.family {
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
                    ok = false;
                }
                Some(_) => {}
                None => v6 = Some((fam_v6, cx.span(family))),
            }
        }
        // An interface the node lacks is fine: the kernel keeps the rule, detached,
        // until such an interface appears.
        for dev in [&spec.iif, &spec.oif].into_iter().flatten() {
            let span = cx.span(dev);
            ok &= check_ifname(cx, &dev.value, span, false);
        }
        if let Some(tos) = &spec.tos
            && tos.value & ECN_MASK != 0
        {
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
            ok = false;
        }
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
        let family_v6 = v6.is_some_and(|(v, _)| v);
        if let (Some(p), Some(n)) = (&spec.ipproto, ipproto) {
            let proto_span = cx.span(p);
            warn_portless(cx, spec, n, proto_span);
            warn_icmp_family(cx, n, family_v6, proto_span);
        }
        let fwmark = match (&spec.fwmark, &spec.fwmask) {
            (None, None) => None,
            (mark, mask) => {
                let (m, k) = (
                    mark.as_ref().map(|s| s.value),
                    mask.as_ref().map(|s| s.value),
                );
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
                Fwmark::new(m.unwrap_or(0), k)
            }
        };
        let table = resolve_table(cx, &spec.table, tables);
        let Some(table) = table else { continue };
        if !ok {
            continue;
        }
        let rule = Rule {
            v6: family_v6,
            priority,
            from: Rule::prefix(from.and_then(|(n, _)| n)),
            to: Rule::prefix(to.and_then(|(n, _)| n)),
            iif: spec.iif.as_ref().map(|s| s.value.clone()),
            oif: spec.oif.as_ref().map(|s| s.value.clone()),
            fwmark,
            tos: spec.tos.as_ref().map(|s| s.value),
            ipproto,
            sport: sport.flatten(),
            dport: dport.flatten(),
            table,
        };
        if let Some(first) = seen.get(&rule) {
            cx.report(
                Code::DuplicateRule,
                format!("`{}` has the same rule twice", node.name()),
            )
            .with_label(*first, "first rule")
            .with_label(prio_span, "identical rule")
            .with_help("remove one of them");
            continue;
        }
        seen.insert(rule.clone(), prio_span);
        rules.push(rule);
        spans.push(prio_span);
    }
    (rules, spans)
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
