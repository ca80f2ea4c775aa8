//! Policy rules, as the kernel stores them: it keeps a rule whose `iif`/`oif` does not
//! exist (detached) and one with ports but no protocol, refuses ECN bits in `tos`.

use std::collections::HashMap;

use miette::SourceSpan;

use super::interfaces::Node;
use super::names::check_ifname;
use super::tables::{Tables, resolve_table};
use super::values::parse_prefix;
use super::{Code, Cx};
use crate::state::{Fwmark, PortRange, Rule, RuleAction, UidRange};
use crate::topology::{Family, Ports, Proto, RuleActionSpec, RuleSpec, Spanned, Uids};

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
        let Some((action, table)) = rule_action(cx, spec, tables) else {
            continue;
        };
        let goto = spec.goto.as_ref().map(|g| g.value);
        if let Some(g) = &spec.goto
            && g.value <= priority
        {
            let span = cx.span(g);
            let what = if g.value == priority {
                "itself"
            } else {
                "an earlier rule"
            };
            cx.report(
                Code::BadGoto,
                format!("the rule of priority {priority} goes to {what}"),
            )
            .with_label(span, format!("priority {}: not after {priority}", g.value))
            .with_help(
                "the kernel refuses a jump backwards, which could loop (\"Backward goto not \
                 supported\"): go to a rule of a higher priority number",
            );
            ok = false;
        }
        if let Some(n) = &spec.suppress_prefixlength
            && n.value > 128
        {
            let span = cx.span(n);
            cx.report(
                Code::BadSuppressPrefixlength,
                format!(
                    "`suppress_prefixlength` {} is longer than any prefix",
                    n.value
                ),
            )
            .with_label(span, "must be 0 to 128")
            .with_help("a prefix is at most 32 bits long (IPv4) or 128 (IPv6)");
            ok = false;
        }
        let uidrange = spec.uidrange.as_ref().and_then(|u| uid_range(cx, u));
        ok &= spec.uidrange.is_none() || uidrange.is_some();
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
            not: spec.not.as_ref().is_some_and(|n| n.value),
            action,
            goto,
            uidrange,
            suppress_prefixlength: spec
                .suppress_prefixlength
                .as_ref()
                .map(|s| u32::from(s.value)),
            proto: 0,
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
    warn_unresolved_gotos(cx, specs, &rules, &spans);
    (rules, spans)
}

/// The rule's action and the table it looks up (0 for the other actions).
fn rule_action(cx: &mut Cx, spec: &RuleSpec, tables: &Tables) -> Option<(RuleAction, u32)> {
    let action = match (spec.action.as_ref().map(|a| a.value), &spec.goto) {
        (None, Some(_)) | (Some(RuleActionSpec::Goto), _) => RuleAction::Goto,
        (None | Some(RuleActionSpec::Lookup), _) => RuleAction::Lookup,
        (Some(RuleActionSpec::Nop), _) => RuleAction::Nop,
        (Some(RuleActionSpec::Blackhole), _) => RuleAction::Blackhole,
        (Some(RuleActionSpec::Unreachable), _) => RuleAction::Unreachable,
        (Some(RuleActionSpec::Prohibit), _) => RuleAction::Prohibit,
    };
    let name = action.name();
    let a = super::route_parts::article(&name);
    let at = |cx: &mut Cx| {
        spec.action
            .as_ref()
            .map(|a| cx.span(a))
            .unwrap_or_else(|| cx.span(&spec.priority))
    };
    let mut ok = true;
    if let Some(g) = &spec.goto
        && action != RuleAction::Goto
    {
        let (span, action_span) = (cx.span(g), at(cx));
        cx.report(Code::BadGoto, format!("{a} {name} rule has a `goto`"))
            .with_label(span, "a jump")
            .with_label(action_span, format!("action {name}"))
            .with_help("`goto` goes with `action: goto` (or alone, which implies it)");
        ok = false;
    }
    if action == RuleAction::Goto && spec.goto.is_none() {
        let span = at(cx);
        cx.report(Code::BadGoto, "a goto rule says not where to go")
            .with_label(span, "action goto")
            .with_help(
                "add `goto: <priority>`, the priority of the rule to go on at (\"Missing goto \
                 target for action goto\")",
            );
        ok = false;
    }
    let table = match (&spec.table, action) {
        (Some(t), RuleAction::Lookup) => resolve_table(cx, t, tables)?,
        (None, RuleAction::Lookup) => {
            let span = cx.span(&spec.priority);
            cx.report(Code::RuleTable, "the rule looks up no table")
                .with_label(span, "a lookup rule")
                .with_help(
                    "add `table: <name or number>`, or give the rule another `action` (`goto`, \
                     `nop`, `blackhole`, `unreachable`, `prohibit`)",
                );
            return None;
        }
        (Some(t), _) => {
            let (span, action_span) = (cx.span(t), at(cx));
            cx.report(Code::RuleTable, format!("{a} {name} rule has a `table`"))
                .with_label(span, "a table to look up")
                .with_label(action_span, format!("action {name}"))
                .with_help("only a `lookup` rule looks up a table: remove `table`");
            return None;
        }
        (None, _) => 0,
    };
    ok.then_some((action, table))
}

/// The uid range of a rule, as the kernel takes it: start at most end.
fn uid_range(cx: &mut Cx, u: &Spanned<Uids>) -> Option<UidRange> {
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

/// The kernel's default rules of each family a goto may jump to: main and default.
const DEFAULT_PRIORITIES: [u32; 2] = [32766, 32767];

/// A goto to a priority no rule of its family has: the kernel keeps the rule, marked
/// unresolved, and passes over it until such a rule appears.
fn warn_unresolved_gotos(cx: &mut Cx, specs: &[RuleSpec], rules: &[Rule], spans: &[SourceSpan]) {
    for (rule, span) in rules.iter().zip(spans) {
        let Some(target) = rule.goto else { continue };
        let found = DEFAULT_PRIORITIES.contains(&target)
            || rules
                .iter()
                .any(|r| r.v6 == rule.v6 && r.priority == target);
        if found {
            continue;
        }
        let goto_span = specs
            .iter()
            .find(|s| cx.span(&s.priority) == *span)
            .and_then(|s| s.goto.as_ref())
            .map(|g| cx.span(g))
            .unwrap_or(*span);
        let family = if rule.v6 { "IPv6" } else { "IPv4" };
        cx.warn(
            Code::GotoNoRule,
            format!("no {family} rule has the priority {target} this rule goes to"),
        )
        .with_label(goto_span, "no rule here")
        .with_help(
            "the kernel keeps the rule but marks it unresolved, and passes over it until a rule \
             of that priority exists: add one, or fix the priority",
        );
    }
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
