//! Labs and namespaces side by side: foreign namespaces never touched, two labs with
//! the same node names, and commands of one lab or of two running at the same moment.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ktest::*;
use crate::labgen::GenLab;
use crate::small::*;
use crate::*;

/// Scenario 5, namespaces nshost did not create: a name collision stops plan and apply
/// with an error naming it, creating nothing; foreign namespaces and their links survive
/// apply and destroy untouched; `destroy --lab` works without the file.
#[test]
fn foreign_namespaces_are_never_touched() {
    sandboxed(|| {
        ip(&["netns", "add", "foreign"]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fv0", "type", "veth", "peer", "name", "fv1",
        ]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fbr", "type", "bridge",
        ]);
        ip(&["-n", "foreign", "link", "set", "fv0", "master", "fbr", "up"]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fifb", "type", "ifb",
        ]);
        ip(&["-n", "foreign", "addr", "add", "192.0.2.1/24", "dev", "fv1"]);
        // A veth with its other end in a namespace named like a lab node.
        ip(&["netns", "add", "web1"]);
        ip(&[
            "-n", "foreign", "link", "add", "name", "fx0", "type", "veth", "peer", "name", "eth0",
            "netns", "web1",
        ]);
        let foreign = link_snapshot("foreign");
        let web1_links = link_snapshot("web1");

        let file = topology("small.yaml");
        for command in ["plan", "apply"] {
            let run = nshost([command.as_ref(), file.as_os_str()]).code(1);
            let err = flat(&run.stderr);
            assert!(
                err.contains("namespace web1 is owned by nobody (not created by nshost)"),
                "{command}: {}",
                run.stderr
            );
            assert!(
                err.contains("nshost::conflict"),
                "{command}: {}",
                run.stderr
            );
            assert_eq!(netns(), ["foreign", "web1"], "{command} created nothing");
        }
        assert_eq!(link_snapshot("web1"), web1_links);
        assert_eq!(link_snapshot("foreign"), foreign);

        ip(&["-n", "foreign", "link", "del", "fx0"]);
        ip(&["netns", "del", "web1"]);
        let mut foreign_left = foreign.clone();
        foreign_left.remove("fx0");
        assert_eq!(link_snapshot("foreign"), foreign_left);

        apply(&file);
        assert_converged(&file);
        let mut all = small_namespaces("small", "");
        all.push("foreign".into());
        all.sort();
        assert_eq!(netns(), all);
        assert_eq!(
            link_snapshot("foreign"),
            foreign_left,
            "apply left foreign alone"
        );

        let out = nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        assert!(
            out.contains("Destroy complete! Resources: 0 added, 0 changed, 48 destroyed."),
            "{out}"
        );
        assert_eq!(netns(), ["foreign"]);
        assert_eq!(
            link_snapshot("foreign"),
            foreign_left,
            "destroy left foreign alone"
        );

        // Again, destroying by name.
        apply(&file);
        let out = nshost(["destroy", "--lab", "small"]).ok();
        assert!(out.contains("48 destroyed"), "{out}");
        assert_eq!(netns(), ["foreign"]);
        assert_eq!(link_snapshot("foreign"), foreign_left);
        // And once more: no such lab any more, which is an error naming it.
        let run = nshost(["destroy", "--lab", "small"]).code(1);
        assert!(
            flat(&run.stderr).contains("no lab named `small` has anything on this machine"),
            "{}",
            run.stderr
        );
    })
}

/// Scenario 6a: two labs with the same node names under different prefixes run side
/// by side; destroying one leaves the other as it was.
#[test]
fn two_labs_side_by_side() {
    sandboxed(|| {
        let small = topology("small.yaml");
        let other = scratch("other.yaml", &other_text());
        apply(&small);
        apply(&other);
        assert_converged(&small);
        assert_converged(&other);
        let mut all = small_namespaces("small", "");
        all.extend(small_namespaces("other", "o-"));
        all.sort();
        assert_eq!(netns(), all);
        check_small("small", "");
        check_small("other", "o-");

        let other_links: BTreeMap<String, u64> = ifindexes()
            .into_iter()
            .filter(|(k, _)| k.starts_with("o-"))
            .collect();
        nshost(["destroy".as_ref(), small.as_os_str()]).ok();
        assert_eq!(netns(), small_namespaces("other", "o-"));
        assert_eq!(ifindexes(), other_links, "the other lab is untouched");
        assert_converged(&other);
        check_small("other", "o-");
    })
}

/// Scenario 6b: two applies of one lab at once both succeed; the lab is created once.
#[test]
fn concurrent_applies_apply_once() {
    sandboxed(|| {
        let file = topology("small.yaml");
        let spawn = || {
            nshost_command()
                .args([
                    "apply".as_ref(),
                    file.as_os_str(),
                    "--output".as_ref(),
                    "json".as_ref(),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning nshost")
        };
        let (a, b) = (spawn(), spawn());
        let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let mut created = 0;
        let mut changed = 0;
        for out in &outputs {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {stderr}", out.status);
            let json: Value = serde_json::from_slice(&out.stdout).unwrap();
            created += json["applied"]["stats"]["namespaces_created"]
                .as_u64()
                .unwrap();
            if !json["plan"]["changes"].as_array().unwrap().is_empty() {
                changed += 1;
            } else {
                assert_eq!(json["applied"]["netlink_writes"], 0, "{json}");
            }
        }
        assert_eq!(changed, 1, "exactly one apply had something to do");
        assert_eq!(created, 7, "each namespace created once");
        assert_eq!(netns(), small_namespaces("small", ""));
        assert_converged(&file);
        check_small("small", "");
    })
}

/// The small lab once more, as lab `third` under the prefix `t-`.
fn third_text() -> String {
    edit(&small_text(), "name: small\n", "name: third\nprefix: t-\n")
}

/// Issue: destroys of two labs at the same moment failed each other: one came upon the
/// other's namespaces as they went (a mount point unmounted and not yet removed). In 6
/// trials, destroys of two labs started together both succeed, each removes exactly its
/// own namespaces, and a third lab is left as it was.
#[test]
fn destroys_of_two_labs_at_once_remove_only_their_own() {
    sandboxed(|| {
        let small = topology("small.yaml");
        let other = scratch("other.yaml", &other_text());
        let third = scratch("third.yaml", &third_text());
        apply(&third);
        let third_links = ifindexes();
        for trial in 0..6 {
            apply(&small);
            apply(&other);
            let destroy = |file: &std::path::Path| {
                spawn_nshost([
                    "destroy".as_ref(),
                    file.as_os_str(),
                    "--output".as_ref(),
                    "json".as_ref(),
                ])
            };
            let (a, b) = (destroy(&small), destroy(&other));
            let runs = [
                (finish("destroy small", a), "small", ""),
                (finish("destroy other", b), "other", "o-"),
            ];
            for (run, lab, prefix) in runs {
                let run = run.code(0);
                let json = run.json();
                let mine = small_namespaces(lab, prefix);
                let mut gone = Vec::new();
                for c in json["plan"]["changes"].as_array().unwrap() {
                    let ns = str_of(c, "ns").to_string();
                    assert!(mine.contains(&ns), "trial {trial}: {lab} touched {ns}: {c}");
                    if c["op"] == "delete_namespace" {
                        gone.push(ns);
                    }
                }
                gone.sort();
                assert_eq!(gone, mine, "trial {trial}: {lab} removed its namespaces");
            }
            assert_eq!(netns(), small_namespaces("third", "t-"), "trial {trial}");
            assert_eq!(
                ifindexes(),
                third_links,
                "trial {trial}: the third lab is untouched"
            );
        }
        assert_converged(&third);
        check_small("third", "t-");
    })
}

/// Issue: a plan run while an apply of the same lab was under way saw its half-made
/// namespaces and reported conflicts or failed. Plans run one after another while a
/// 200-host apply runs each exit 0 or 2, without a conflict (the first starts once the
/// apply has made namespaces).
#[test]
fn plans_during_a_large_apply_see_no_half_made_lab() {
    sandboxed(|| {
        let lab = GenLab::new("big", 200);
        let file = scratch("big.yaml", &lab.to_yaml());
        let mut child = spawn_nshost_quiet(["apply".as_ref(), file.as_os_str()]);
        while netns().is_empty() {
            assert!(child.try_wait().unwrap().is_none(), "the apply ended first");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let mut plans = 0;
        let mut during = 0;
        loop {
            let running = child.try_wait().unwrap().is_none();
            let run = plan_code(&file);
            assert!([0, 2].contains(&run.code), "plan {plans}: {}", run.stderr);
            assert!(
                !run.stderr.contains("conflict") && !run.stdout.contains("owned by"),
                "plan {plans}: {}{}",
                run.stdout,
                run.stderr
            );
            plans += 1;
            during += usize::from(running);
            if !running {
                break;
            }
        }
        assert!(during >= 1, "no plan ran during the apply");
        finish("apply", child).code(0);
        assert_converged(&file);
        eprintln!("{plans} plans, {during} started during the apply");
    })
}
