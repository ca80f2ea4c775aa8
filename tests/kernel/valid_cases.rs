//! "Valid" means "applies": every golden case of `tests/cases/valid/` is applied in a
//! sandbox, must converge (a following `plan --detailed-exitcode` exits 0), and is
//! destroyed with nothing left. A case this kernel cannot apply is named in
//! [`KNOWN_FAILURES`] with its reason, and must fail with it: none is skipped. The cases
//! run one after another in a few sandboxes (each sandbox has a time limit).

use std::path::{Path, PathBuf};

use crate::flat;
use crate::ktest::*;

/// Why a case does not apply here.
enum Known {
    /// It fails wherever it runs: its failed apply shows `words`, for the reason `why`.
    Fails {
        words: &'static str,
        why: &'static str,
    },
    /// It needs a link kind some kernels lack (this kind of machine's lacks `dummy`): on
    /// such a kernel it must fail with validation's `nshost::unsupported_kind` naming
    /// the kind; on one that has the kind it must apply like any other.
    NeedsKind(&'static str),
}

/// The cases that may not apply, each with why.
const KNOWN_FAILURES: &[(&str, Known)] = &[
    (
        "rules_of_every_action",
        Known::Fails {
            words: "Invalid uid range",
            why: "the sandbox's user namespace maps uid 0 alone (`unshare --map-root-user`): \
                  a rule's `uidrange: 1000-2000` holds no uid of it",
        },
    ),
    ("null_collections", Known::NeedsKind("dummy")),
    ("policy_routing", Known::NeedsKind("dummy")),
    ("stacked_links", Known::NeedsKind("dummy")),
    ("standalone_only", Known::NeedsKind("dummy")),
];

/// Whether the kernel creates links of `kind` here (in the sandbox).
fn kernel_has(kind: &str) -> bool {
    let made = run_quiet("ip", &["link", "add", "nshost-probe", "type", kind]);
    if made {
        run_quiet("ip", &["link", "del", "nshost-probe"]);
    }
    made
}

fn run_quiet(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// How many sandboxes the cases are shared among.
const GROUPS: usize = 3;

/// The valid cases' folder names, sorted.
fn cases() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/valid");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A case read outside the sandbox: its name, its lab file's text and the other files
/// of its folder (the sources of its `files:`), by name.
struct Case {
    name: String,
    text: String,
    sources: Vec<(String, Vec<u8>)>,
}

/// The files of a case's folder that are not its lab file, snapshots or dotfiles.
fn sources(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let skip = name == "lab.yaml" || name.ends_with(".snap") || name.starts_with('.');
            (!skip).then(|| (name, std::fs::read(&p).unwrap()))
        })
        .collect();
    files.sort();
    files
}

/// Each case of group `k`, read outside the sandbox.
fn group(k: usize) -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/valid");
    cases()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % GROUPS == k)
        .map(|(_, name)| {
            let path: PathBuf = dir.join(&name).join("lab.yaml");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let sources = sources(&dir.join(&name));
            Case {
                name,
                text,
                sources,
            }
        })
        .collect()
}

/// Applies, plans and destroys each case: one line per case that went otherwise than
/// it should.
fn apply_each(cases: Vec<Case>) -> Vec<String> {
    let mut wrong = Vec::new();
    for Case {
        name,
        text,
        sources,
    } in cases
    {
        let file = scratch(&format!("{name}.yaml"), &text);
        // The sources beside the lab file, where its `files:` read them.
        let dir = file.parent().expect("a scratch file is in a folder");
        for (source, bytes) in &sources {
            std::fs::write(dir.join(source), bytes).unwrap();
        }
        // The words a known failure must show, and why it fails; none: it must apply.
        let expected: Option<(String, String)> = match KNOWN_FAILURES
            .iter()
            .find(|(n, _)| *n == name)
        {
            None => None,
            Some((_, Known::Fails { words, why })) => Some((words.to_string(), why.to_string())),
            Some((_, Known::NeedsKind(kind))) if kernel_has(kind) => None,
            Some((_, Known::NeedsKind(kind))) => Some((
                format!("this kernel cannot create `{kind}` links"),
                format!("this kernel lacks `{kind}` links"),
            )),
        };
        let applied = nshost(["apply".as_ref(), file.as_os_str()]);
        let said = format!("{}{}", applied.stdout, flat(&applied.stderr));
        match (expected, applied.code) {
            (None, 0) => {
                let plan = nshost([
                    "plan".as_ref(),
                    file.as_os_str(),
                    "--detailed-exitcode".as_ref(),
                ]);
                if plan.code != 0 {
                    wrong.push(format!(
                        "{name}: not converged, plan exits {}:\n{}{}",
                        plan.code, plan.stdout, plan.stderr
                    ));
                }
            }
            (None, code) => wrong.push(format!("{name}: apply exits {code}:\n{}", applied.stderr)),
            (Some((_, why)), 0) => wrong.push(format!(
                "{name}: applies, but is listed as failing ({why}): take it off the list"
            )),
            (Some((words, _)), _) if said.contains(&words) => {}
            (Some((words, why)), code) => wrong.push(format!(
                "{name}: apply exits {code} without `{words}` ({why}):\n{}",
                applied.stderr
            )),
        }
        let destroyed = nshost(["destroy".as_ref(), file.as_os_str()]);
        if destroyed.code != 0 {
            wrong.push(format!(
                "{name}: destroy exits {}:\n{}",
                destroyed.code, destroyed.stderr
            ));
        }
        let left = netns();
        if !left.is_empty() {
            wrong.push(format!("{name}: left after destroy: {left:?}"));
        }
    }
    wrong
}

/// The case `name`, as its group reads it.
fn group_of(name: &str) -> Case {
    (0..GROUPS)
        .flat_map(group)
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn run_group(k: usize) {
    let cases = group(k);
    assert!(!cases.is_empty(), "group {k} has cases");
    let wrong = sandboxed(|| apply_each(cases));
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn every_valid_case_applies_group_0() {
    run_group(0);
}

#[test]
fn every_valid_case_applies_group_1() {
    run_group(1);
}

#[test]
fn every_valid_case_applies_group_2() {
    run_group(2);
}

/// The groups cover every case, and every listed failure is a case.
#[test]
fn the_groups_cover_every_case_and_the_list_names_cases() {
    let all = cases();
    let grouped: usize = (0..GROUPS).map(|k| group(k).len()).sum();
    assert!(
        group_of("workload")
            .sources
            .iter()
            .any(|(name, _)| name == "bird.conf"),
        "a case's sources are applied with it"
    );
    assert_eq!(grouped, all.len());
    assert!(all.len() >= 20, "{all:?}");
    for (name, _) in KNOWN_FAILURES {
        assert!(all.iter().any(|c| c == name), "{name} is not a valid case");
    }
}
