//! The lab file's reachability checks: each `from` a node of the lab, each `to` a node
//! or an address inside one of the lab's subnets (see `lab::check`), every problem at
//! its place.

use super::{Code, Cx};
use crate::lab::Lab;
use crate::lab::check::{Check, Index, Part, Probe};
use crate::topology::{Expect, ServiceProto, Topology};

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
        let probe = match (&spec.tcp, &spec.udp) {
            (Some(t), Some(u)) => {
                let (ts, us) = (cx.span(t), cx.span(u));
                cx.report(
                    Code::CheckTcpAndUdp,
                    "a check probes a TCP or a UDP port, not both",
                )
                .with_label(ts, "a TCP probe")
                .with_label(us, "and a UDP one")
                .with_help("write two checks, one with `tcp` and one with `udp`");
                continue;
            }
            (Some(t), None) => Probe::Port {
                proto: ServiceProto::Tcp,
                port: t.value,
            },
            (None, Some(u)) => Probe::Port {
                proto: ServiceProto::Udp,
                port: u.value,
            },
            (None, None) => Probe::Icmp,
        };
        if let Some(p) = [&spec.tcp, &spec.udp]
            .into_iter()
            .flatten()
            .find(|p| p.value == 0)
        {
            let span = cx.span(p);
            cx.report(Code::BadServicePort, "a check cannot probe port 0")
                .with_label(span, "port 0")
                .with_help("give a port from 1 to 65535");
            continue;
        }
        if probe == Probe::Icmp
            && matches!(expect, Expect::Open | Expect::Blocked)
            && let Some(e) = &spec.expect
        {
            let span = cx.span(e);
            cx.report(
                Code::CheckExpectForPort,
                format!(
                    "`expect: {}` is for a port probe, and this check sends an ICMP echo",
                    expect.name()
                ),
            )
            .with_label(span, "needs `tcp` or `udp`")
            .with_help(
                "add `tcp: PORT` or `udp: PORT` to probe a port, or expect `reachable` or \
                 `unreachable`",
            );
            continue;
        }
        match index.resolve(&spec.from.value, &spec.to.value, family, expect, probe) {
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
