//! A `kind: macvlan` interface's block: its parent (an Ethernet link of the same router,
//! not the loopback) and mode, a passthru macvlan being its parent's only one.

use std::collections::HashMap;

use super::{lower_link, plain_kinds};
use crate::state::kinds::{Macvlan, MacvlanMode};
use crate::topology::{self, MacvlanSpec, Spanned};
use crate::validate::members::{Member, Node};
use crate::validate::{Code, Cx};

/// The macvlan of member `me` of `node`, if its block is valid.
pub(super) fn resolve(
    cx: &mut Cx,
    node: &Node,
    me: &Member,
    block: &Spanned<MacvlanSpec>,
) -> Option<Macvlan> {
    let spec = &block.value;
    if spec.parent.value == "lo" {
        let span = cx.span(&spec.parent);
        cx.report(
            Code::MacvlanOnLoopback,
            format!("{} sits on the loopback", me.describe()),
        )
        .with_label(span, "not an Ethernet link")
        .with_help(format!(
            "a macvlan's parent is a {} of the router",
            plain_kinds()
        ));
        return None;
    }
    let parent = lower_link(cx, node, me, &spec.parent, "parent")?;
    Some(Macvlan {
        parent: parent.to_string(),
        mode: mode(spec.mode.as_ref().map(|m| m.value)),
    })
}

fn mode(mode: Option<topology::MacvlanMode>) -> MacvlanMode {
    match mode {
        Some(topology::MacvlanMode::Private) => MacvlanMode::Private,
        Some(topology::MacvlanMode::Vepa) => MacvlanMode::Vepa,
        None | Some(topology::MacvlanMode::Bridge) => MacvlanMode::Bridge,
        Some(topology::MacvlanMode::Passthru) => MacvlanMode::Passthru,
        Some(topology::MacvlanMode::Source) => MacvlanMode::Source,
    }
}

/// A passthru macvlan takes its parent alone: the kernel refuses a second macvlan on
/// it, and a passthru one on a parent that has one.
pub(super) fn check_passthru(
    cx: &mut Cx,
    node: &Node,
    macvlans: &[(usize, Macvlan, &Spanned<MacvlanSpec>)],
) {
    let mut by_parent: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, (_, m, _)) in macvlans.iter().enumerate() {
        by_parent.entry(m.parent.as_str()).or_default().push(k);
    }
    for (k, (i, m, block)) in macvlans.iter().enumerate() {
        let siblings = &by_parent[m.parent.as_str()];
        if m.mode != MacvlanMode::Passthru || siblings.len() < 2 {
            continue;
        }
        let mode_span = block.value.mode.as_ref().map(|s| cx.span(s));
        let others: Vec<_> = siblings
            .iter()
            .filter(|&&o| o != k)
            .map(|&o| cx.span(&macvlans[o].2.value.parent))
            .collect();
        let p = cx.report(
            Code::MacvlanPassthruShared,
            format!(
                "`{}` of `{}` is a passthru macvlan on `{}`, which has other macvlans",
                node.members[*i].ifname,
                node.name(),
                m.parent
            ),
        );
        if let Some(span) = mode_span {
            p.with_label(span, "passthru: the parent's only macvlan");
        }
        for span in others {
            p.with_label(span, "another macvlan on it");
        }
        p.with_help(
            "the kernel gives a passthru macvlan its parent alone; \
             give the others another parent, or this one another mode",
        );
    }
}
