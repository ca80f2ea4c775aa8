//! Policy rules, as the kernel stores them: it keeps a rule whose `iif`/`oif` does not
//! exist (detached) and one with ports but no protocol, refuses ECN bits in `tos`.

use std::collections::HashMap;

use miette::SourceSpan;

use super::members::Node;
use super::tables::{Tables, resolve_table};
use super::{Code, Cx};
use crate::state::{Rule, RuleAction};
use crate::topology::{RuleActionSpec, RuleSpec, Spanned};

mod matches;

use matches::{addresses, check_devices, check_tos, fwmark, protocol, uid_range};

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
        let Some(rule) = rule(cx, spec, tables) else {
            continue;
        };
        if let Some(first) = seen.get(&rule) {
            report_duplicate(cx, node, *first, prio_span);
            continue;
        }
        seen.insert(rule.clone(), prio_span);
        rules.push(rule);
        spans.push(prio_span);
    }
    warn_unresolved_gotos(cx, specs, &rules, &spans);
    (rules, spans)
}

/// One rule as the kernel stores it, or `None` once what is wrong with it is reported:
/// what it matches, then what it does.
fn rule(cx: &mut Cx, spec: &RuleSpec, tables: &Tables) -> Option<Rule> {
    let priority = spec.priority.value;
    let mut ok = check_priority(cx, &spec.priority);
    let addresses = addresses(cx, spec);
    ok &= addresses.ok;
    ok &= check_devices(cx, spec);
    ok &= check_tos(cx, spec);
    let protocol = protocol(cx, spec, addresses.v6);
    ok &= protocol.ok;
    let fwmark = fwmark(cx, spec);
    let (action, table) = rule_action(cx, spec, tables)?;
    ok &= check_goto(cx, spec);
    ok &= check_suppress_prefixlength(cx, spec);
    let uidrange = spec.uidrange.as_ref().and_then(|u| uid_range(cx, u));
    ok &= spec.uidrange.is_none() || uidrange.is_some();
    ok.then(|| Rule {
        v6: addresses.v6,
        priority,
        from: Rule::prefix(addresses.from),
        to: Rule::prefix(addresses.to),
        iif: spec.iif.as_ref().map(|s| s.value.clone()),
        oif: spec.oif.as_ref().map(|s| s.value.clone()),
        fwmark,
        tos: spec.tos.as_ref().map(|s| s.value),
        ipproto: protocol.ipproto,
        sport: protocol.sport,
        dport: protocol.dport,
        table,
        not: spec.not.as_ref().is_some_and(|n| n.value),
        action,
        goto: spec.goto.as_ref().map(|g| g.value),
        uidrange,
        suppress_prefixlength: spec
            .suppress_prefixlength
            .as_ref()
            .map(|s| u32::from(s.value)),
        proto: 0,
    })
}

/// A second rule identical to an earlier one of the node.
fn report_duplicate(cx: &mut Cx, node: &Node, first: SourceSpan, span: SourceSpan) {
    cx.report(
        Code::DuplicateRule,
        format!("`{}` has the same rule twice", node.name()),
    )
    .with_label(first, "first rule")
    .with_label(span, "identical rule")
    .with_help("remove one of them");
}

/// A priority the kernel leaves to rules of the lab: not its own local, main and default.
fn check_priority(cx: &mut Cx, priority: &Spanned<u32>) -> bool {
    let value = priority.value;
    if (1..=32765).contains(&value) {
        return true;
    }
    let span = cx.span(priority);
    cx.report(
        Code::BadRulePriority,
        format!("rule priority {value} is out of range"),
    )
    .with_label(span, "must be 1 to 32765")
    .with_help("0, 32766 and 32767 are the kernel's local, main and default rules");
    false
}

/// The rule's `goto` jumps forwards, as the kernel requires.
fn check_goto(cx: &mut Cx, spec: &RuleSpec) -> bool {
    let priority = spec.priority.value;
    let Some(g) = &spec.goto else { return true };
    if g.value > priority {
        return true;
    }
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
    false
}

/// The rule's `suppress_prefixlength` is no longer than a prefix can be.
fn check_suppress_prefixlength(cx: &mut Cx, spec: &RuleSpec) -> bool {
    let Some(n) = &spec.suppress_prefixlength else {
        return true;
    };
    if n.value <= 128 {
        return true;
    }
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
    false
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
