//! Golden cases: every `cases/invalid/*/lab.yaml` must be rejected, with its rendered
//! diagnostics snapshotted beside it; every `cases/valid/*/lab.yaml` must validate, with
//! its resolved `Lab` and lowered `NetState` snapshotted beside it, and its warnings
//! (as `nshost validate` prints them) in `warnings.snap` when it has any.

use std::fmt::Write;
use std::path::Path;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use nshost::lower::lower;
use nshost::state::{LinkKind, LinkRef, NetState, ObjectId};
use nshost::topology::expand::resolved_yaml;
use nshost::topology::{SourceFile, Topology, parse};
use nshost::validate::{DirReader, Invalid, MAX_FILE_BYTES, Warnings, validate, validate_with};

/// Renders a diagnostic the same way on every machine: no colour, fixed width.
fn render(diagnostic: &dyn Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, diagnostic)
        .expect("rendering into a String cannot fail");
    out
}

/// The case's lab file, named `lab.yaml` whatever the folder, so output is stable.
fn source(path: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path).expect("case file is readable");
    SourceFile::from_text("lab.yaml", &text)
}

fn case_dir(path: &Path) -> &Path {
    path.parent().expect("lab.yaml is in a case folder")
}

/// Reads the case's `source:` files from its folder (its lab file is named `lab.yaml`
/// without one).
fn beside(dir: &Path) -> DirReader {
    DirReader {
        dir: dir.to_path_buf(),
    }
}

/// The source too big to be a node's file, made sparse here rather than kept in the
/// repository (its case's `.gitignore` names it).
fn make_big_source() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/invalid/file_sources/big.bin");
    let file = std::fs::File::create(&path).expect("the case folder is writable");
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
}

#[test]
fn invalid_cases() {
    make_big_source();
    insta::glob!("cases/invalid/*/lab.yaml", |path| {
        let dir = case_dir(path);
        let src = source(path);
        let rendered = match parse(&src) {
            Err(invalid) => render(&invalid),
            Ok(topo) => match validate_with(&src, &topo, &beside(dir)) {
                Ok(_) => panic!("{} was accepted", dir.display()),
                Err(invalid) => render(&invalid),
            },
        };
        insta::with_settings!({
            snapshot_path => dir,
            prepend_module_to_snapshot => false,
            snapshot_suffix => "",
            omit_expression => true,
        }, {
            insta::assert_snapshot!("diagnostics", rendered);
        });
    });
}

/// The YAML check never refuses what serde-saphyr would accept: every invalid case it
/// rejects, serde-saphyr rejects too (the check only finds all the problems at once).
#[test]
fn parse_problems_are_problems_for_serde_saphyr_too() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/invalid");
    let mut checked = 0;
    for case in std::fs::read_dir(dir).unwrap() {
        let path = case.unwrap().path().join("lab.yaml");
        let src = source(&path);
        if nshost::topology::parse_written(&src).is_err() {
            let typed = serde_saphyr::from_str::<Topology>(&src.text);
            assert!(
                typed.is_err(),
                "{}: serde-saphyr accepts it",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} cases fail to parse");
}

/// Renders at most 50 problems of a large `Invalid`, then says how many more there are.
fn assert_capped(invalid: &Invalid, total: usize) {
    assert_eq!(invalid.problems.len(), total);
    let out = render(invalid);
    assert!(
        out.contains(&format!("× {} problems in lab.yaml", total)),
        "{out}"
    );
    assert_eq!(out.matches("\nError: nshost::").count(), Invalid::SHOWN);
    let more = total - Invalid::SHOWN;
    let last = format!(
        "... and {} more problems (the first 50 are shown)",
        thousands(more)
    );
    assert!(
        out.trim_end().ends_with(&last),
        "{}",
        &out[out.len() - 300..]
    );
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let (head, tail) = s.split_at(s.len() - 3);
    format!("{head},{tail}")
}

/// 20,000 hosts, each with an address that is not one: 20,000 problems from `validate`.
#[test]
fn twenty_thousand_bad_addresses_are_counted_and_capped() {
    let mut yaml = String::from("name: big\nhosts:\n");
    for i in 0..20_000 {
        writeln!(
            yaml,
            "  h{i}: {{address: 10.{}.{}.300/24}}",
            i / 250,
            i % 250
        )
        .unwrap();
    }
    let src = SourceFile::from_text("lab.yaml", &yaml);
    let topo = parse(&src).expect("the YAML is fine");
    let invalid = validate(&src, &topo).expect_err("every address is bad");
    assert_capped(&invalid, 20_000);
}

/// 20,000 unknown fields: 20,000 problems from the YAML check.
#[test]
fn twenty_thousand_unknown_fields_are_counted_and_capped() {
    let mut yaml = String::from("name: big\nhosts:\n  h1:\n    address: 10.1.1.1/24\n");
    for i in 0..20_000 {
        writeln!(yaml, "    field{i}: x").unwrap();
    }
    let src = SourceFile::from_text("lab.yaml", &yaml);
    let invalid = parse(&src).expect_err("every field is unknown");
    assert!(
        invalid
            .problems
            .iter()
            .all(|p| p.code.as_str() == "nshost::unknown_field")
    );
    assert_capped(&invalid, 20_000);
}

#[test]
fn valid_cases() {
    insta::glob!("cases/valid/*/lab.yaml", |path| {
        let dir = case_dir(path);
        let src = source(path);
        let topo = parse(&src).unwrap_or_else(|e| panic!("{}: {}", dir.display(), render(&e)));
        let lab = validate_with(&src, &topo, &beside(dir))
            .unwrap_or_else(|e| panic!("{}: {}", dir.display(), render(&e)));
        let state = lower(&lab);
        check_veth_pairs(&state);
        check_origins(&src, &topo, &state, dir);
        // The explicit lab `validate --resolved` prints is a lab file of its own, with
        // the same plan.
        let explicit = resolved_yaml(&topo);
        let again = SourceFile::from_text("explicit.yaml", &explicit);
        let relab = parse(&again)
            .and_then(|t| validate_with(&again, &t, &beside(dir)))
            .unwrap_or_else(|e| {
                panic!(
                    "{}: the explicit lab: {}\n{explicit}",
                    dir.display(),
                    render(&e)
                )
            });
        assert_eq!(
            lower(&relab),
            state,
            "{}: the explicit lab plans otherwise",
            dir.display()
        );
        let warnings = Warnings::new(&src, &lab.warnings);
        assert!(
            warnings.is_some() || !dir.join("warnings.snap").exists(),
            "{}: warnings.snap, but the lab has no warnings",
            dir.display()
        );
        insta::with_settings!({
            snapshot_path => dir,
            prepend_module_to_snapshot => false,
            snapshot_suffix => "",
            omit_expression => true,
        }, {
            insta::assert_yaml_snapshot!("resolved", lab);
            insta::assert_yaml_snapshot!("netstate", state);
            insta::assert_snapshot!("explicit", explicit);
            if let Some(warnings) = &warnings {
                insta::assert_snapshot!("warnings", render(warnings));
            }
        });
    });
}

/// Every object of the lowered state has a place in the file it comes from.
fn check_origins(src: &SourceFile, topo: &Topology, state: &NetState, dir: &Path) {
    let origins = nshost::validate::object_origins(src, topo).expect("the lab is valid");
    let missing: Vec<ObjectId> = object_ids(state)
        .into_iter()
        .filter(|id| !origins.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{}: no origin for {missing:#?}",
        dir.display()
    );
}

/// The id of every object of a state.
fn object_ids(state: &NetState) -> Vec<ObjectId> {
    let mut ids = Vec::new();
    for (ns_name, ns) in &state.namespaces {
        let ns_name = ns_name.clone();
        ids.push(ObjectId::Namespace {
            ns: ns_name.clone(),
        });
        for (name, link) in &ns.links {
            ids.push(ObjectId::Link {
                ns: ns_name.clone(),
                name: name.clone(),
            });
            for setting in link.settings.keys() {
                ids.push(ObjectId::LinkSetting {
                    ns: ns_name.clone(),
                    link: name.clone(),
                    setting: setting.clone(),
                });
            }
        }
        for key in ns.addresses.keys() {
            ids.push(ObjectId::Address {
                ns: ns_name.clone(),
                key: key.clone(),
            });
        }
        for key in ns.routes.keys() {
            ids.push(ObjectId::Route {
                ns: ns_name.clone(),
                key: key.clone(),
            });
        }
        for rule in &ns.rules {
            ids.push(ObjectId::Rule {
                ns: ns_name.clone(),
                rule: rule.clone(),
            });
        }
        for key in ns.sysctls.keys() {
            ids.push(ObjectId::Sysctl {
                ns: ns_name.clone(),
                key: key.clone(),
            });
        }
    }
    ids
}

/// Every veth end names a peer that exists and names it back, and every master is a
/// bridge in the same namespace.
fn check_veth_pairs(state: &NetState) {
    for (ns_name, ns) in &state.namespaces {
        for (name, link) in &ns.links {
            let here = LinkRef {
                ns: ns_name.clone(),
                name: name.clone(),
            };
            if let LinkKind::Veth { peer } = &link.kind {
                let peer = peer.as_ref().expect("desired veth has a peer");
                let other = state
                    .namespaces
                    .get(&peer.ns)
                    .and_then(|ns| ns.links.get(&peer.name))
                    .unwrap_or_else(|| panic!("{here}: peer {peer} missing"));
                assert_eq!(
                    other.kind,
                    LinkKind::Veth {
                        peer: Some(here.clone())
                    },
                    "{here}: peer {peer} does not point back"
                );
                assert_eq!(link.mtu, other.mtu, "{here}: ends differ in MTU");
            }
            if let Some(master) = &link.master {
                assert_eq!(
                    ns.links.get(master).map(|l| &l.kind),
                    Some(&LinkKind::Bridge),
                    "{here}: master {master} is not a bridge here"
                );
            }
        }
    }
}
