//! The traceroute simulator's facts: a directory of `<router>_facts.txt` files, each a
//! series of sections (see [`sections`]) holding the raw output of `ip addr show`,
//! `ip route show` (main, and one `routing_table_<name>` section per policy table, its
//! number in the section's title), `ip rule show`, `iptables-save` and `ipset save`.

mod sections;

use std::path::Path;

use super::ImportError;
use super::facts::{At, Facts, RouterFacts, Text, Unread};
use super::iproute;
use crate::state::RT_TABLE_MAIN;

pub use sections::{Section, sections, title_number};

/// The files of a facts directory: every `*_facts.txt`, sorted by name.
pub fn fact_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, ImportError> {
    let read = |source| ImportError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_facts.txt"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ImportError::NoFacts {
            path: dir.display().to_string(),
        });
    }
    Ok(files)
}

/// Reads every `*_facts.txt` of `dir`.
pub fn read_dir(dir: &Path) -> Result<Facts, ImportError> {
    let mut facts = Facts::default();
    for path in fact_files(dir)? {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).map_err(|source| ImportError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let router = read_file(&file, &text, &mut facts.unread);
        facts.files.push(file);
        facts.routers.push(router);
    }
    Ok(facts)
}

/// One facts file: a router.
pub fn read_file(file: &str, text: &str, unread: &mut Vec<Unread>) -> RouterFacts {
    let all = sections(text);
    let mut router = RouterFacts {
        name: hostname(file, &all),
        file: file.to_string(),
        ..RouterFacts::default()
    };
    let at = |line| At {
        file: file.to_string(),
        line,
    };
    for s in &all {
        if matches!(s.exit_code, Some(c) if c != 0) && is_read(&s.name) {
            unread.push(Unread {
                at: at(s.start),
                text: format!("section {}", s.name),
                reason: format!("the command exited with {}", s.exit_code.unwrap_or(-1)),
            });
            continue;
        }
        match s.name.as_str() {
            "interfaces" => {
                let (links, bad) = iproute::interfaces(file, &s.body);
                router.interfaces = links;
                unread.extend(bad);
            }
            "routing_table" => {
                let (routes, bad) = iproute::routes(file, RT_TABLE_MAIN, &s.body);
                router.routes.extend(routes);
                unread.extend(bad);
            }
            "policy_rules" => {
                let (rules, bad) = iproute::rules(file, &s.body);
                router.rules = rules;
                unread.extend(bad);
            }
            "iptables_save" => router.iptables = netfilter_text(file, s),
            "ipset_save" => router.ipsets = netfilter_text(file, s),
            name => {
                let Some(table) = name.strip_prefix("routing_table_") else {
                    continue;
                };
                let Some(number) = s.title.as_deref().and_then(title_number) else {
                    unread.push(Unread {
                        at: at(s.start),
                        text: format!("section {name}"),
                        reason: "no table number `(N)` in the section's TITLE".into(),
                    });
                    continue;
                };
                router.tables.push((table.to_string(), number, at(s.start)));
                let (routes, bad) = iproute::routes(file, number, &s.body);
                router.routes.extend(routes);
                unread.extend(bad);
            }
        }
    }
    router
}

/// Whether the importer reads a section of this name.
fn is_read(name: &str) -> bool {
    matches!(
        name,
        "interfaces" | "routing_table" | "policy_rules" | "iptables_save" | "ipset_save"
    ) || name.starts_with("routing_table_")
}

/// The router's name: the `hostname` section, else the file's name before `_facts.txt`.
fn hostname(file: &str, all: &[Section]) -> String {
    all.iter()
        .find(|s| s.name == "hostname")
        .and_then(|s| s.body.iter().map(|(_, l)| l.trim()).find(|l| !l.is_empty()))
        .map(str::to_string)
        .unwrap_or_else(|| file.trim_end_matches("_facts.txt").to_string())
}

/// A netfilter dump's text without its comments and blank lines, or none if empty.
fn netfilter_text(file: &str, s: &Section) -> Option<Text> {
    let lines: Vec<&(usize, String)> = s
        .body
        .iter()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let first = lines.first()?.0;
    let mut text = String::new();
    for (_, l) in &lines {
        text.push_str(l.trim_end());
        text.push('\n');
    }
    Some(Text {
        text,
        at: At {
            file: file.to_string(),
            line: first,
        },
        lines: lines.iter().map(|(n, _)| *n).collect(),
    })
}
