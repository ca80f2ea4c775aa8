//! The desired firewalls in the kernel's canonical form, made at plan time before
//! anything is touched: every tool a lab's firewalls need is checked on `PATH` (a
//! missing one is an error naming its Debian package), and each distinct text is loaded
//! into a scratch network namespace and read back (`kernel::firewall::canonicalize`).
//! A text the kernel's loaders refuse is an error at its place in the lab file, with
//! the tool's own words, at the line it names when it names one.

use std::collections::{BTreeMap, BTreeSet};

use crate::firewall::{FirewallText, Part, line_span};
use crate::kernel::firewall::{self as kfw, ToolError};
use crate::lab::Lab;
use crate::problem::{Code, Invalid, Problem};
use crate::state::NetState;
use crate::topology::SourceFile;
use crate::workflow::Error;

/// Replaces each node's firewall in `desired` with the kernel's canonical form of its
/// texts. Labs without firewalls run nothing.
pub fn canonical(src: &SourceFile, lab: &Lab, desired: &mut NetState) -> Result<(), Error> {
    // Distinct texts, and the nodes that give each.
    let mut by_text: BTreeMap<&FirewallText, Vec<&str>> = BTreeMap::new();
    for (name, node) in &lab.nodes {
        if let Some(text) = &node.firewall
            && !text.is_empty()
        {
            by_text.entry(text).or_default().push(name);
        }
    }
    if by_text.is_empty() {
        return Ok(());
    }
    let parts: BTreeSet<Part> = by_text
        .keys()
        .flat_map(|t| Part::ALL.into_iter().filter(|p| t.get(*p).is_some()))
        .collect();
    let problem = |code: Code, message: String| Problem::new(code, message, src.shared_source());
    if let Err(e) = kfw::backend().check(&parts.iter().copied().collect::<Vec<_>>()) {
        let (node, part) = by_text
            .iter()
            .flat_map(|(t, nodes)| nodes.iter().map(move |n| (*n, *t)))
            .find_map(|(n, t)| {
                parts
                    .iter()
                    .find(|p| {
                        t.get(**p).is_some()
                            && matches!(&e, ToolError::Missing { package, .. } if *package == p.loader().1)
                    })
                    .map(|p| (n, *p))
            })
            .unwrap_or(("", Part::Iptables));
        let mut p = problem(
            Code::FirewallToolMissing,
            format!("{node} {}: {e}", part.field()),
        );
        if let Some(span) = span_of(lab, node, part) {
            p = p.label(span, "needs it");
        }
        let p = p.help_text("the firewall texts are loaded by the kernel's own tools: apt-get install iptables nftables ipset");
        return Err(Invalid::new(src, vec![p]).into());
    }
    let texts: Vec<FirewallText> = by_text.keys().map(|t| (*t).clone()).collect();
    let results = kfw::canonicalize(&texts);
    let mut problems = Vec::new();
    for ((_, nodes), result) in by_text.iter().zip(results) {
        match result {
            Ok(fw) => {
                for node in nodes {
                    let ns = &lab.nodes[*node].ns;
                    if let Some(n) = desired.namespaces.get_mut(ns) {
                        *n.firewall = fw.clone();
                    }
                }
            }
            Err(e) => {
                // Reported at the first node that gives the text.
                let node = nodes[0];
                let line = match &e.error {
                    ToolError::Failed { line, .. } => *line,
                    _ => None,
                };
                let mut p = problem(
                    Code::FirewallRejected,
                    format!(
                        "{node} {}{}: {}",
                        e.part.field(),
                        line.map_or(String::new(), |l| format!(" line {}", l + 1)),
                        e.error
                    ),
                );
                if let Some(span) = span_of(lab, node, e.part) {
                    let at = line.map_or(span, |l| line_span(&src.text, span, l));
                    let what = match &e.error {
                        ToolError::Failed { program, .. } => format!("{program} refuses this"),
                        other => other.to_string(),
                    };
                    p = p.label(at, what);
                }
                if nodes.len() > 1 {
                    p = p.help_text(format!("the same text is given to {}", nodes.join(", ")));
                }
                problems.push(p);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Invalid::new(src, problems).into())
    }
}

fn span_of(lab: &Lab, node: &str, part: Part) -> Option<miette::SourceSpan> {
    let ns = &lab.nodes.get(node)?.ns;
    lab.origins
        .firewalls
        .get(ns)?
        .get(&part)
        .map(|s| (*s).into())
}
