//! Firewalls: each text parsed enough to report located errors before the kernel sees
//! it (a line that is no iptables-save line, a table never COMMITted, a rule in an
//! undeclared chain, an ipset a rule names that `ipsets` does not create, nft text
//! touching iptables-nft's tables, a directive that reads a file). What only the kernel's loaders can judge (a bad
//! option) is reported at plan time, from loading the text into a scratch namespace.

use std::collections::BTreeMap;

use miette::SourceSpan;

use super::members::Node;
use super::{Code, Cx};
use crate::firewall::{FirewallText, Part, TextError, files, ipset, line_span, nft, xt};
use crate::topology::{FirewallSpec, Spanned};

/// A node's checked firewall texts and their places (none: no firewall).
pub(super) fn check_firewall(
    cx: &mut Cx,
    node: &Node,
    spec: Option<&FirewallSpec>,
) -> (Option<FirewallText>, BTreeMap<Part, SourceSpan>) {
    let Some(spec) = spec else {
        return (None, BTreeMap::new());
    };
    let mut spans = BTreeMap::new();
    let mut text = FirewallText::default();
    type Given<'a> = (Part, &'a Option<Spanned<String>>, &'a mut Option<String>);
    let parts: [Given; 4] = [
        (Part::Ipsets, &spec.ipsets, &mut text.ipsets),
        (Part::Iptables, &spec.iptables, &mut text.iptables),
        (Part::Ip6tables, &spec.ip6tables, &mut text.ip6tables),
        (Part::Nftables, &spec.nftables, &mut text.nftables),
    ];
    let mut set_names = None;
    for (part, given, out) in parts {
        let Some(given) = given else { continue };
        let span = cx.span(given);
        spans.insert(part, span);
        let errors = match part {
            Part::Ipsets => match ipset::parse(&given.value) {
                Ok(sets) => {
                    set_names = Some(sets.into_keys().collect::<Vec<_>>());
                    Vec::new()
                }
                Err(e) => {
                    set_names = Some(Vec::new());
                    e
                }
            },
            Part::Iptables | Part::Ip6tables => match xt::parse(&given.value) {
                Ok(parsed) => {
                    let known = set_names.as_deref().unwrap_or(&[]);
                    parsed
                        .set_refs
                        .iter()
                        .filter(|r| !known.contains(&r.set))
                        .map(|r| {
                            (
                                Code::UnknownIpset,
                                TextError::at(
                                    r.line,
                                    format!("no ipset `{}` in this node's `ipsets`", r.set),
                                ),
                            )
                        })
                        .for_each(|(code, e)| report(cx, code, node, part, span, &e));
                    Vec::new()
                }
                Err(e) => e,
            },
            Part::Nftables => nft::check(&given.value),
        };
        for e in &errors {
            report(cx, Code::BadFirewall, node, part, span, e);
        }
        for e in &files::file_reads(part, &given.value) {
            report(cx, Code::FirewallReadsFile, node, part, span, e);
        }
        *out = Some(given.value.clone());
    }
    (Some(text), spans)
}

fn report(cx: &mut Cx, code: Code, node: &Node, part: Part, span: SourceSpan, e: &TextError) {
    let at = e.line.map_or(span, |l| line_span(cx.text, span, l));
    let line = e.line.map_or(String::new(), |l| format!(" line {}", l + 1));
    cx.report(
        code,
        format!("{} {}{line}: {}", node.name(), part.field(), e.message),
    )
    .with_label(at, e.message.clone());
}

#[cfg(test)]
mod tests {
    use crate::topology::{SourceFile, parse};
    use crate::validate::validate;

    const LAB: &str = "\
name: fw
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
    firewall:
      ipsets: |
        create allowed hash:net
        add allowed 10.1.0.0/16
      iptables: |
        *filter
        :INPUT DROP [0:0]
        -A INPUT -m set --match-set allowed src -j ACCEPT
        -A INPUT -m set --match-set missing src -j ACCEPT
        -A NOCHAIN -j DROP
        -I INPUT -j DROP
        *nat
      nftables: |
        table ip nat {
        }
hosts:
  h1:
    address: 10.1.1.10/24
    firewall:
      ip6tables: \"*filter\\nCOMMIT\\n\"
      iptables: \"*filter\\n-A INPUT -m set --match-set nope src -j DROP\\nCOMMIT\\n\"
      ipsets: \"add x 1.2.3.4\"
";

    /// The problems of `lab`, each as `code: message` and the text its label points at.
    fn located_problems(lab: &str) -> String {
        let src = SourceFile::from_text("fw.yaml", lab);
        let topo = parse(&src).unwrap();
        let err = validate(&src, &topo).unwrap_err();
        let shown: Vec<String> = err
            .problems
            .iter()
            .map(|p| {
                let l = &p.labels[0];
                let at = &lab[l.offset()..l.offset() + l.len()];
                format!("{}: {}\n    at `{at}`", p.code, p.message)
            })
            .collect();
        shown.join("\n")
    }

    /// Each problem as `code: message` and the text its label points at.
    #[test]
    fn every_text_error_is_located_at_its_line() {
        insta::assert_snapshot!(located_problems(LAB));
    }

    /// A text that would make its loader read a file of the machine is refused at the
    /// directive's line (nft's `include` anywhere, xt_bpf's pinned object, ipset's
    /// `-file`), before `plan` loads it as root.
    #[test]
    fn file_directives_are_refused_at_their_lines() {
        let lab = "\
name: fw
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
    firewall:
      nftables: |
        table inet t {
          include \"/etc/shadow\"
        }
        INCLUDE \"/etc/shadow\"
      iptables: |
        *filter
        -A INPUT -m bpf --object-pinned /etc/shadow -j ACCEPT
        COMMIT
      ipsets: |
        create s hash:ip -file /etc/shadow
";
        insta::assert_snapshot!(located_problems(lab));
    }

    #[test]
    fn a_valid_firewall_is_kept_and_lowered() {
        let text = LAB.replace("        -A INPUT -m set --match-set missing src -j ACCEPT\n        -A NOCHAIN -j DROP\n        -I INPUT -j DROP\n        *nat\n", "        COMMIT\n")
            .replace("        table ip nat {\n        }\n", "        table inet t {\n        }\n")
            .replace("      ipsets: \"add x 1.2.3.4\"\n", "")
            .replace("-A INPUT -m set --match-set nope src -j DROP\\n", "");
        let src = SourceFile::from_text("fw.yaml", &text);
        let topo = parse(&src).unwrap();
        let lab = validate(&src, &topo).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
        let fw = lab.nodes["r1"].firewall.as_ref().unwrap();
        assert!(
            fw.iptables
                .as_deref()
                .unwrap()
                .contains("--match-set allowed")
        );
        assert!(lab.nodes["h1"].firewall.as_ref().unwrap().ipsets.is_none());
        let state = crate::lower::lower(&lab);
        let r1 = &state.namespaces["r1"].firewall;
        assert_eq!(r1.iptables.tables["filter"].chains["INPUT"].rules.len(), 1);
        assert_eq!(r1.ipsets["allowed"].members.len(), 1);
        // An empty filter table is no table.
        assert!(state.namespaces["h1"].firewall.is_empty());
        assert_eq!(lab.origins.firewalls["r1"].len(), 3);
    }
}
