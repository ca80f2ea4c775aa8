//! The firewall backend of the kernel's own tools (see the parent module): each tool
//! runs in a node's namespace without a shell, from a short-lived thread that entered it
//! (or unshared a scratch one); the tools are looked for on `PATH`, then in `/usr/sbin`
//! and `/sbin` ([`crate::tools`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::{FirewallBackend, PartError, ToolError};
use crate::firewall::{Firewall, FirewallText, Part, ipset, nft, xt};

/// The kernel's own tools: `ipset`, `iptables-restore`/`iptables-save`,
/// `ip6tables-restore`/`ip6tables-save` and `nft`, each run without a shell in the
/// calling thread's network namespace, its input on a pipe.
pub struct Tools;

impl FirewallBackend for Tools {
    fn check(&self, parts: &[Part]) -> Result<(), ToolError> {
        check_tools(parts.iter().copied())
    }

    fn readable_parts(&self) -> Vec<Part> {
        readable_parts()
    }

    fn read_here(&self, parts: &[Part]) -> Result<Firewall, PartError> {
        read_here(parts)
    }

    fn load_text_here(&self, text: &FirewallText) -> Result<Firewall, PartError> {
        load_text_here(text)
    }

    fn load_here(&self, from: &Firewall, to: &Firewall) -> Result<(), PartError> {
        load_here(from, to)
    }
}

/// Where `program` is: on `PATH`, then in `/usr/sbin` and `/sbin` ([`crate::tools`]).
fn find_tool(program: &str) -> Option<PathBuf> {
    crate::tools::find(program)
}

/// The tools a firewall's parts need, each looked for with [`find_tool`]: the first
/// missing one.
fn check_tools(parts: impl IntoIterator<Item = Part>) -> Result<(), ToolError> {
    for part in parts {
        for program in [part.loader().0, part.reader()] {
            if find_tool(program).is_none() {
                return Err(ToolError::Missing {
                    program: static_name(program),
                    package: part.loader().1,
                });
            }
        }
    }
    Ok(())
}

fn static_name(program: &str) -> &'static str {
    Part::ALL
        .iter()
        .flat_map(|p| [p.loader().0, p.reader()])
        .find(|n| *n == program)
        .unwrap_or("tool")
}

/// The line of its input a tool's error names (0-based).
fn error_line(program: &str, stderr: &str) -> Option<usize> {
    let n: Option<usize> = match program {
        "iptables-restore" | "ip6tables-restore" => stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("Error occurred at line: "))
            .and_then(|n| n.trim().parse().ok()),
        "nft" => stderr.lines().find_map(|l| {
            let rest = l.strip_prefix("/dev/stdin:")?;
            rest.split(':').next()?.parse().ok()
        }),
        "ipset" => stderr.lines().find_map(|l| {
            let at = l.find("Error in line ")?;
            let rest = &l[at + "Error in line ".len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        }),
        _ => None,
    };
    n.and_then(|n| n.checked_sub(1))
}

/// Runs `program args` on the calling thread's network namespace, `input` on its
/// standard input; its standard output.
fn run(program: &'static str, args: &[&str], input: Option<&str>) -> Result<String, ToolError> {
    let io = |cause: std::io::Error| ToolError::Io {
        program,
        cause: cause.to_string(),
    };
    let path = find_tool(program).ok_or(ToolError::Missing {
        program,
        package: Part::ALL
            .iter()
            .find(|p| p.loader().0 == program || p.reader() == program)
            .map_or("iptables", |p| p.loader().1),
    })?;
    let mut child = Command::new(path)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .spawn()
        .map_err(io)?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A tool that stops reading early reports why on stderr.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(io)?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(ToolError::Failed {
            program,
            line: error_line(program, &stderr),
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads the firewall of the calling thread's namespace: the parts in `parts` (each
/// tool once).
fn read_here(parts: &[Part]) -> Result<Firewall, PartError> {
    let mut fw = Firewall::default();
    let failed = |part| move |error| PartError { part, error };
    let unparsable = |part: Part, program| {
        move |errors: Vec<crate::firewall::TextError>| PartError {
            part,
            error: ToolError::Failed {
                program,
                stderr: format!(
                    "nshost cannot read its output: {}",
                    errors.first().map_or("", |e| e.message.as_str())
                ),
                line: None,
            },
        }
    };
    for &part in parts {
        match part {
            Part::Ipsets => {
                let text = run("ipset", &["save"], None).map_err(failed(part))?;
                fw.ipsets = ipset::parse(&text).map_err(unparsable(part, "ipset"))?;
            }
            Part::Iptables | Part::Ip6tables => {
                let program = part.reader();
                let text = run(static_name(program), &[], None).map_err(failed(part))?;
                let rs = xt::parse(&text)
                    .map_err(unparsable(part, static_name(program)))?
                    .ruleset;
                if part == Part::Iptables {
                    fw.iptables = rs;
                } else {
                    fw.ip6tables = rs;
                }
            }
            Part::Nftables => {
                let text = run("nft", &["list", "ruleset"], None).map_err(failed(part))?;
                fw.nftables = nft::parse_listing(&text).map_err(unparsable(part, "nft"))?;
            }
        }
    }
    Ok(fw)
}

/// The parts to read of a namespace: every one whose tools are installed (a missing
/// tool means that part cannot have been made by nshost either).
fn readable_parts() -> Vec<Part> {
    Part::ALL
        .into_iter()
        .filter(|p| find_tool(p.reader()).is_some() && find_tool(p.loader().0).is_some())
        .collect()
}

/// Loads texts as written into the calling thread's namespace (a scratch one), then
/// reads them back: the kernel's canonical form of `text`.
fn load_text_here(text: &FirewallText) -> Result<Firewall, PartError> {
    let mut parts = Vec::new();
    for part in Part::ALL {
        let Some(t) = text.get(part) else { continue };
        parts.push(part);
        let result = match part {
            Part::Ipsets => run("ipset", &["restore"], Some(t)),
            Part::Iptables => run("iptables-restore", &[], Some(t)),
            Part::Ip6tables => run("ip6tables-restore", &[], Some(t)),
            Part::Nftables => run("nft", &["-f", "-"], Some(t)),
        };
        result.map_err(|error| PartError { part, error })?;
    }
    read_here(&parts)
}

/// Whether the kernel swaps two sets of these headers: the same type and family
/// (`ipset swap` refuses others: "their type does not match").
fn swappable(a: &str, b: &str) -> bool {
    fn type_and_family(h: &str) -> (Option<&str>, Option<&str>) {
        let w: Vec<&str> = h.split_whitespace().collect();
        let family = w.windows(2).find(|p| p[0] == "family").map(|p| p[1]);
        (w.first().copied(), family)
    }
    type_and_family(a) == type_and_family(b)
}

/// Makes the calling thread's namespace hold `to`, from `from` (what it holds now).
fn load_here(from: &Firewall, to: &Firewall) -> Result<(), PartError> {
    let err = |part| move |error| PartError { part, error };
    // 0. A set whose type or family changes cannot be swapped: it is destroyed and made
    // anew, so what names it lets go first. Its rules are taken out (they come back with
    // the rules of step 2), and the list:sets holding it are emptied (refilled in step 1).
    let replaced: Vec<&str> = to
        .ipsets
        .iter()
        .filter(|(n, s)| {
            from.ipsets
                .get(*n)
                .is_some_and(|l| !swappable(&l.header, &s.header))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    let mut live_xt = [from.iptables.clone(), from.ip6tables.clone()];
    let mut first = String::new();
    let mut emptied = Vec::new();
    if !replaced.is_empty() {
        for (part, live) in [Part::Iptables, Part::Ip6tables]
            .into_iter()
            .zip(&mut live_xt)
        {
            let without = xt::without_sets(live, &replaced);
            if without != *live {
                run(
                    part.loader().0,
                    &[],
                    Some(&xt::restore_text(&without, live)),
                )
                .map_err(err(part))?;
                *live = without;
            }
        }
        for (name, set) in &from.ipsets {
            let holds = |m: &String| replaced.contains(&m.split_whitespace().next().unwrap_or(""));
            if set.header.starts_with("list:") && set.members.iter().any(holds) {
                first.push_str(&format!("flush {name}\n"));
                emptied.push(name.as_str());
            }
        }
        for name in &replaced {
            first.push_str(&format!("destroy {name}\n"));
        }
    }
    // 1. Sets: new ones made, changed ones refilled, a changed header swapped in (a
    // replaced one made anew).
    let mut swapped = Vec::new();
    // A list:set names other sets as members: those are made first.
    let mut sets: Vec<(&String, &crate::firewall::IpSet)> = to.ipsets.iter().collect();
    sets.sort_by_key(|(_, set)| set.header.starts_with("list:"));
    for (name, set) in sets {
        match from.ipsets.get(name) {
            _ if replaced.contains(&name.as_str()) => {
                first.push_str(&ipset::restore_text([(name, set)]));
            }
            Some(live) if live == set && !emptied.contains(&name.as_str()) => {}
            Some(live) if live.header == set.header => {
                first.push_str(&format!("flush {name}\n"));
                for m in &set.members {
                    first.push_str(&format!("add {name} {m}\n"));
                }
            }
            Some(_) => {
                let tmp = format!("nshost-swap-{}", swapped.len());
                first.push_str(&ipset::restore_text([(&tmp, set)]));
                first.push_str(&format!("swap {tmp} {name}\n"));
                swapped.push(tmp);
            }
            None => first.push_str(&ipset::restore_text([(name, set)])),
        }
    }
    if !first.is_empty() {
        run("ipset", &["restore"], Some(&first)).map_err(err(Part::Ipsets))?;
    }
    // 2. iptables and ip6tables, each table replaced whole.
    let [live4, live6] = &live_xt;
    for (part, program, want, live) in [
        (Part::Iptables, "iptables-restore", &to.iptables, live4),
        (Part::Ip6tables, "ip6tables-restore", &to.ip6tables, live6),
    ] {
        if want != live {
            run(program, &[], Some(&xt::restore_text(want, live))).map_err(err(part))?;
        }
    }
    // 3. nft, one transaction.
    if to.nftables != from.nftables {
        run(
            "nft",
            &["-f", "-"],
            Some(&nft::load_text(&to.nftables, &from.nftables)),
        )
        .map_err(err(Part::Nftables))?;
    }
    // 4. Sets no rule uses any more, and the old halves of swaps.
    let stale: Vec<&String> = from
        .ipsets
        .keys()
        .filter(|n| !to.ipsets.contains_key(*n))
        .chain(swapped.iter())
        .collect();
    if !stale.is_empty() {
        let text: String = stale.iter().map(|n| format!("destroy {n}\n")).collect();
        run("ipset", &["restore"], Some(&text)).map_err(err(Part::Ipsets))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_of_each_tool() {
        assert_eq!(
            error_line(
                "iptables-restore",
                "iptables-restore v1.8.9 (nf_tables): invalid port/service `bogus' specified\nError occurred at line: 5\n"
            ),
            Some(4)
        );
        assert_eq!(
            error_line(
                "nft",
                "/dev/stdin:3:107-107: Error: syntax error, unexpected '}'\n"
            ),
            Some(2)
        );
        assert_eq!(
            error_line(
                "ipset",
                "ipset v7.17: Error in line 2: Syntax error: 'bogus' is invalid\n"
            ),
            Some(1)
        );
        assert_eq!(error_line("ipset", "ipset v7.17: Kernel error\n"), None);
    }
}
