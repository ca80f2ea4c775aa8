//! The link kinds with attributes of their own (vxlan, macvlan), one file each: their
//! blocks resolved against the other interfaces of their router, with the checks the
//! kernel would otherwise make when creating them.

#![warn(clippy::wildcard_enum_match_arm)]

mod macvlan;
mod vxlan;

use std::collections::{BTreeMap, HashMap};

use super::interfaces::plain_mtu;
use super::members::{Member, Node};
use super::names::check_if_ref;
use super::{Code, Cx};
use crate::lab::{IfaceKind, LabInterface};
use crate::topology::{Kind, Spanned};

/// The kind of each stacked interface of `node` (by index in its members) whose block
/// is valid.
pub(super) fn resolve(cx: &mut Cx, node: &Node) -> HashMap<usize, IfaceKind> {
    let mut kinds = HashMap::new();
    let mut vxlans = Vec::new();
    let mut macvlans = Vec::new();
    for (i, m) in node.members.iter().enumerate() {
        if let Some(block) = m.vxlan
            && let Some(v) = vxlan::resolve(cx, node, m, block)
        {
            vxlans.push((i, v.clone(), cx.span(&block.value.id)));
            kinds.insert(i, IfaceKind::Vxlan(v));
        }
        if let Some(block) = m.macvlan
            && let Some(v) = macvlan::resolve(cx, node, m, block)
        {
            macvlans.push((i, v.clone(), block));
            kinds.insert(i, IfaceKind::Macvlan(v));
        }
    }
    vxlan::check_vnis(cx, node, &vxlans);
    macvlan::check_passthru(cx, node, &macvlans);
    kinds
}

/// Stacked interfaces whose MTU is more than the link below carries: the kernel caps a
/// vxlan's (silently, so it would never match) and refuses a macvlan's.
pub(super) fn check_mtus(cx: &mut Cx, node: &Node, interfaces: &BTreeMap<String, LabInterface>) {
    for m in node.members {
        let (Some(mtu), Some(mtu_span)) = (m.mtu, m.mtu_span) else {
            continue;
        };
        let Some(iface) = interfaces.get(&m.ifname) else {
            continue;
        };
        let (lower, max, why, lower_mtu) = match &iface.kind {
            IfaceKind::Vxlan(v) => {
                let Some(dev) = &v.dev else { continue };
                let Some(dev_mtu) = plain_mtu(interfaces, dev) else {
                    continue;
                };
                (
                    dev.as_str(),
                    v.max_mtu(dev_mtu),
                    format!("{dev_mtu} less {} bytes of encapsulation", v.overhead()),
                    dev_mtu,
                )
            }
            IfaceKind::Macvlan(v) => {
                let Some(parent_mtu) = plain_mtu(interfaces, &v.parent) else {
                    continue;
                };
                (
                    v.parent.as_str(),
                    parent_mtu,
                    format!("the MTU of `{}`", v.parent),
                    parent_mtu,
                )
            }
            IfaceKind::Veth { .. } | IfaceKind::Dummy | IfaceKind::Ifb => continue,
        };
        if mtu <= max {
            continue;
        }
        let below = node.iface(lower).map(|l| l.mtu_span.unwrap_or(l.name_span));
        let p = cx
            .report(
                Code::MtuAboveLower,
                format!(
                    "the MTU {mtu} of {} is more than `{lower}` below it carries",
                    m.describe()
                ),
            )
            .with_label(mtu_span, format!("at most {max}: {why}"));
        if let Some(span) = below {
            p.with_label(span, format!("`{lower}` has MTU {lower_mtu}"));
        }
        p.with_help(format!(
            "lower the MTU to {max} or less, or raise the MTU of `{lower}`"
        ));
    }
}

/// Checks the interface a stacked one sits on (`field` is `dev` or `parent`): one of
/// the node's, not itself, not stacked itself. `None` when it is not usable.
fn lower_link<'n>(
    cx: &mut Cx,
    node: &'n Node,
    me: &Member,
    lower: &'n Spanned<String>,
    field: &str,
) -> Option<&'n str> {
    let span = cx.span(lower);
    if lower.value == me.ifname {
        cx.report(
            Code::StackedOnItself,
            format!("{} sits on itself", me.describe()),
        )
        .with_label(span, format!("`{field}` is the interface itself"))
        .with_help(format!(
            "`{field}` names another interface of `{}`",
            node.name()
        ));
        return None;
    }
    if !check_if_ref(cx, lower, node) {
        return None;
    }
    if let Some(below) = node.iface(&lower.value)
        && below.kind.stacked()
    {
        cx.report(
            Code::StackedOnStacked,
            format!(
                "{} sits on `{}`, which is a {} itself",
                me.describe(),
                lower.value,
                below.kind.name()
            ),
        )
        .with_label(
            span,
            format!("a {} sits on another link", below.kind.name()),
        )
        .with_label(below.kind_or_name_span(), "stacked here")
        .with_help(format!(
            "put it on the interface `{}` sits on, or on a {}",
            lower.value,
            plain_kinds()
        ));
        return None;
    }
    Some(&lower.value)
}

/// The kinds a stacked link can sit on, for a help text: `veth, dummy or ifb`.
pub(super) fn plain_kinds() -> String {
    let names: Vec<&str> = Kind::all()
        .filter(|k| !k.stacked())
        .map(Kind::name)
        .collect();
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
