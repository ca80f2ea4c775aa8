//! The lab file's reachability checks: each `from` a node of the lab, each `to` a node
//! or an address inside one of the lab's subnets (see `check::spec`), every problem at
//! its place.

use super::Cx;
use crate::check::spec::{Check, Index, Part};
use crate::lab::Lab;
use crate::topology::Topology;

/// Resolves the file's checks against the resolved `lab`.
pub(super) fn check_checks(cx: &mut Cx, topo: &Topology, lab: &Lab) -> Vec<Check> {
    if topo.checks.is_empty() {
        return Vec::new();
    }
    let index = Index::new(lab);
    let mut out = Vec::with_capacity(topo.checks.len());
    for spec in &topo.checks {
        let family = spec.family.as_ref().map(|f| f.value);
        let expect = spec.expect.as_ref().map(|e| e.value).unwrap_or_default();
        match index.resolve(&spec.from.value, &spec.to.value, family, expect) {
            Ok(check) => out.push(check),
            Err(why) => {
                let span = match (why.part(), &spec.family) {
                    (Part::From, _) => cx.span(&spec.from),
                    (Part::Family, Some(f)) => cx.span(f),
                    _ => cx.span(&spec.to),
                };
                let to = cx.span(&spec.to);
                let p = cx
                    .report(why.code(), why.message())
                    .with_label(span, why.label());
                if why.part() == Part::Family {
                    p.with_label(to, "the check's target");
                }
                if let Some(help) = why.help() {
                    p.with_help(help);
                }
            }
        }
    }
    out
}
