//! Saved plans: `plan -o FILE` then `apply FILE` applies exactly the saved plan when
//! the kernel still holds what it was made against, and otherwise refuses, naming what
//! changed, having touched nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nshost::naming::fabric_port_name;
use nshost::plan::Change;
use nshost::state::{Namespace, NetState, NsRole, Route, RouteKey, Rule};
use nshost::workflow::saved::pin::{self, Pinned, Seen};
use serde_json::{Value, json};

use crate::ktest::*;
use crate::small::*;
use crate::*;

/// The small lab edited: `pc2` moved to `10.2.2.20`, a secondary address on `web1`,
/// and a new host `web9`. The plan acts in `pc2`, `web1`, `web9` and the fabric.
fn edited_text() -> String {
    let text = edit(
        &small_text(),
        "pc2: {address: 10.2.2.10/24}",
        "pc2: {address: 10.2.2.20/24}",
    );
    let text = edit(
        &text,
        "web1: {address: 10.1.1.10/24}",
        "web1: {address: 10.1.1.10/24, secondary: [10.1.1.11/24]}",
    );
    format!("{text}  web9: {{address: 10.1.1.99/24}}\n")
}

/// `plan FILE -o OUT`, which must succeed; its output.
fn save(file: &Path, out: &Path) -> String {
    nshost([
        "plan".as_ref(),
        file.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ])
    .ok()
}

/// A path for a saved plan in the scratch folder.
fn plan_path(name: &str) -> PathBuf {
    scratch(name, "")
}

/// `text` with the first `from` replaced by `to` (which must be there).
fn damaged(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` in the plan");
    text.replacen(from, to, 1)
}

/// What the kernel holds in the sandbox, as `ip -j` shows it (less what changes by
/// itself): every entry under `/run/netns`, and each namespace's identity, links, IPv4
/// addresses and routes, and rules.
fn world() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    out.insert("entries".into(), json!(entries()));
    // Without what the kernel changes by itself (operational states, bridge port
    // timers).
    let steady = |mut v: Value| {
        for item in v.as_array_mut().unwrap() {
            item.as_object_mut().unwrap().remove("operstate");
        }
        v
    };
    for ns in netns() {
        let state = json!({
            "id": netns_id(&ns),
            "links": steady(ip_json(&ns, &["link", "show"])),
            "addresses": steady(ip_json(&ns, &["-4", "addr", "show"])),
            "routes": ip_json(&ns, &["-4", "route", "show", "table", "all"]),
            "rules": ip_json(&ns, &["rule", "show"]),
        });
        out.insert(ns, state);
    }
    out
}

/// `apply PLAN`, which must be refused as stale, changing nothing; its report, flat.
#[track_caller]
fn refused(plan: &Path) -> String {
    let before = world();
    let run = nshost(["apply".as_ref(), plan.as_os_str()]).code(1);
    assert_eq!(run.stdout, "", "a refused plan prints no plan");
    let err = flat(&run.stderr);
    assert!(err.contains("nshost::stale_plan"), "{}", run.stderr);
    assert!(err.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(world(), before, "a refused plan touches nothing");
    err
}

/// A saved plan applied with the kernel unchanged converges: on an empty kernel, for
/// an edit of a live lab, and for a plan with no changes (a no-op).
#[test]
fn a_saved_plan_applied_unchanged_converges() {
    sandboxed(|| {
        let small = scratch("small.yaml", &small_text());
        let cold = plan_path("cold.plan");
        let out = save(&small, &cold);
        assert!(
            out.contains("Plan: 64 to add, 0 to change, 0 to destroy.\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "\nSaved the plan to /run/nshost-ktest/cold.plan, pinned to 7 namespaces (sha256:"
            ),
            "{out}"
        );
        assert_eq!(netns(), Vec::<String>::new(), "plan -o changes nothing");
        let applied = nshost(["apply".as_ref(), cold.as_os_str()]).ok();
        assert!(
            applied.contains("Apply complete! Resources: 64 added, 0 changed, 0 destroyed."),
            "{applied}"
        );
        assert_converged(&small);
        check_small("small", "");

        // An edit of the live lab, saved with --output json: the document printed is
        // the plan's, with where it was saved; the file is the saved plan.
        let edited = scratch("edited.yaml", &edited_text());
        let saved = plan_path("edited.plan");
        let run = nshost([
            "plan".as_ref(),
            edited.as_os_str(),
            "-o".as_ref(),
            saved.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ]);
        let doc = run.json();
        assert_eq!(doc["saved"]["path"], "/run/nshost-ktest/edited.plan");
        assert_eq!(
            doc["saved"]["pinned"],
            json!(["pc2", "small-fabric", "web1", "web9"])
        );
        let file: Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
        assert_eq!(file["nshost_plan"], 1);
        assert_eq!(file["pinned"]["digest"], doc["saved"]["digest"]);
        assert_eq!(file["plan"]["changes"], doc["plan"]["changes"]);
        let ids = netns_ids();
        let applied = nshost(["apply".as_ref(), saved.as_os_str()]).ok();
        assert!(
            applied.contains("Apply complete! Resources: 8 added, 0 changed, 1 destroyed."),
            "{applied}"
        );
        assert_converged(&edited);
        let after = netns_ids();
        for (ns, id) in &ids {
            assert_eq!(after.get(ns), Some(id), "{ns} is the same namespace");
        }
        assert_eq!(
            ip_json("pc2", &["-4", "addr", "show", "dev", "eth0"])[0]["addr_info"][0]["local"],
            "10.2.2.20"
        );

        // Nothing to do: the plan pins nothing and applies as a no-op.
        let noop = plan_path("noop.plan");
        let out = save(&edited, &noop);
        assert!(out.starts_with("No changes.\n"), "{out}");
        assert!(out.contains("pinned to 0 namespaces"), "{out}");
        let before = world();
        let applied = nshost(["apply".as_ref(), noop.as_os_str()]).ok();
        assert!(applied.starts_with("No changes.\n"), "{applied}");
        assert!(
            applied.contains("Apply complete! Resources: 0 added, 0 changed, 0 destroyed."),
            "{applied}"
        );
        assert_eq!(world(), before);
    })
}

/// A change made outside nshost to what the plan acts on refuses the plan, naming the
/// change, and leaves the kernel as it is: an address deleted, a link deleted, a
/// namespace made under a name the plan creates. Once the change is undone (the
/// address back in place), the same plan applies.
#[test]
fn a_saved_plan_is_refused_after_an_out_of_band_change() {
    sandboxed(|| {
        let small = scratch("small.yaml", &small_text());
        let edited = scratch("edited.yaml", &edited_text());
        apply(&small);
        let plan = plan_path("edited.plan");

        // An address deleted by hand (its default route goes with it).
        save(&edited, &plan);
        ip(&["-n", "web1", "addr", "del", "10.1.1.10/24", "dev", "eth0"]);
        let err = refused(&plan);
        for said in [
            "namespace web1: address 10.1.1.10/24 on eth0 was removed since the plan was made",
            "namespace web1: route default via 10.1.1.1 dev eth0 was removed since the plan was made",
        ] {
            assert!(err.contains(said), "{said}: {err}");
        }
        assert!(
            err.contains("the kernel changed in 2 objects it was made against"),
            "{err}"
        );
        // Put back by hand, exactly: the kernel holds what the plan was made against
        // again, and the plan applies.
        ip(&["-n", "web1", "addr", "add", "10.1.1.10/24", "dev", "eth0"]);
        ip(&["-n", "web1", "route", "add", "default", "via", "10.1.1.1"]);
        nshost(["apply".as_ref(), plan.as_os_str()]).ok();
        assert_converged(&edited);

        // A link deleted by hand: both ends of the pair go.
        apply(&small);
        save(&edited, &plan);
        ip(&["-n", "pc2", "link", "del", "eth0"]);
        let err = refused(&plan);
        let port = fabric_port_name("pc2", "eth0");
        for said in [
            "namespace pc2: link eth0 (veth, peer small-fabric/".to_string(),
            "namespace pc2: address 10.2.2.10/24 on eth0 was removed since the plan was made"
                .to_string(),
            format!("namespace small-fabric: link {port} (veth, peer pc2/eth0,"),
        ] {
            assert!(err.contains(&said), "{said}: {err}");
        }

        // A namespace made under a name the plan creates.
        apply(&small);
        save(&edited, &plan);
        ip(&["netns", "add", "web9"]);
        let err = refused(&plan);
        assert!(
            err.contains(
                "namespace web9 appeared since the plan was made (a namespace nshost did not create)"
            ),
            "{err}"
        );
        assert!(
            err.contains("the kernel changed in 1 object it was made against"),
            "{err}"
        );
        ip(&["netns", "del", "web9"]);
        nshost(["apply".as_ref(), plan.as_os_str()]).ok();
        assert_converged(&edited);
    })
}

/// An applied plan applied again is refused: what it acted on has changed since (by
/// the plan itself).
#[test]
fn applying_the_same_plan_twice_is_refused_the_second_time() {
    sandboxed(|| {
        let small = scratch("small.yaml", &small_text());
        let plan = plan_path("small.plan");
        save(&small, &plan);
        nshost(["apply".as_ref(), plan.as_os_str()]).ok();
        let err = refused(&plan);
        assert!(
            err.contains(
                "namespace web1 appeared since the plan was made (a namespace of lab small)"
            ),
            "{err}"
        );
        assert!(
            err.contains("the kernel changed in 7 objects it was made against"),
            "{err}"
        );
        assert_converged(&small);
    })
}

/// A damaged file, one from another nshost and one that is no plan at all are refused
/// before anything is read of the kernel or made in it; and a saved plan is no lab
/// file.
#[test]
fn a_damaged_plan_is_refused() {
    sandboxed(|| {
        let small = scratch("small.yaml", &small_text());
        let plan = plan_path("small.plan");
        save(&small, &plan);
        let good = std::fs::read_to_string(&plan).unwrap();
        let refuse = |name: &str, text: &str, code: &str| -> String {
            let path = scratch(name, text);
            let run = nshost(["apply".as_ref(), path.as_os_str()]).code(1);
            let err = flat(&run.stderr);
            assert!(err.contains(code), "{name}: {}", run.stderr);
            assert_eq!(netns(), Vec::<String>::new(), "{name}: nothing made");
            err
        };
        let err = refuse("cut.plan", &good[..good.len() / 3], "nshost::bad_plan");
        assert!(err.contains("it is cut short (truncated at line"), "{err}");
        let err = refuse(
            "edited.plan",
            &damaged(&good, "\"10.1.1.10/24\"", "\"10.1.1.11/24\""),
            "nshost::bad_plan",
        );
        assert!(
            err.contains("its checksum does not match its contents"),
            "{err}"
        );
        let version = format!("\"nshost_version\": \"{}\"", env!("CARGO_PKG_VERSION"));
        let err = refuse(
            "old.plan",
            &damaged(&good, &version, "\"nshost_version\": \"0.0.1\""),
            "nshost::plan_version",
        );
        assert!(
            err.contains("was saved by nshost 0.0.1; this is nshost"),
            "{err}"
        );
        // A lab file named like a plan is read as one, and refused as one.
        let err = refuse("lab.plan", &small_text(), "nshost::bad_plan");
        assert!(
            err.contains("it does not begin with the `nshost_plan` field of a saved plan"),
            "{err}"
        );
        // Whatever its name, a saved plan is read as one, and is no lab file for plan.
        let renamed = scratch("renamed.yaml", &good);
        nshost(["apply".as_ref(), renamed.as_os_str()]).ok();
        assert_converged(&small);
        let run = nshost(["plan".as_ref(), plan.as_os_str()]).code(1);
        assert!(
            flat(&run.stderr).contains("nshost::not_a_lab_file"),
            "{}",
            run.stderr
        );
    })
}

/// A saved plan forged from `base` (a saved plan of lab `small`), as anyone holding a
/// plan can forge one: its changes replaced by `changes`, scheduled as `plan` schedules
/// them, its pin replaced by `pinned`, and the pin's digest and the file's checksum
/// computed again exactly as nshost computes them.
fn forge(base: &Path, name: &str, changes: Vec<Change>, pinned: Pinned) -> PathBuf {
    let mut v: Value = serde_json::from_slice(&std::fs::read(base).unwrap()).unwrap();
    let plan = nshost::plan::order("small", changes, &NetState::default());
    v["plan"]["changes"] = serde_json::to_value(&plan.changes).unwrap();
    v["plan"]["stages"] = serde_json::to_value(&plan.stages).unwrap();
    v["pinned"] = json!({
        "digest": pin::digest(&pinned),
        "namespaces": pin::wire_pinned(&pinned),
    });
    v["checksum"] = json!("");
    let sum = pin::sha256_of(&serde_json::to_vec(&v).unwrap());
    v["checksum"] = json!(sum);
    scratch(name, &serde_json::to_string_pretty(&v).unwrap())
}

/// The small lab applied, and a plan of it with no changes to forge others from.
fn forgeable() -> PathBuf {
    let small = scratch("small.yaml", &small_text());
    apply(&small);
    let base = plan_path("base.plan");
    save(&small, &base);
    base
}

/// `apply PLAN` of a forged plan, which must be refused with `code`, changing nothing;
/// its report, flat.
#[track_caller]
fn forged_refused(plan: &Path, code: &str) -> String {
    let before = world();
    let run = nshost(["apply".as_ref(), plan.as_os_str()]).code(1);
    assert_eq!(run.stdout, "", "a refused plan prints no plan");
    let err = flat(&run.stderr);
    assert!(err.contains(code), "{}", run.stderr);
    assert_eq!(world(), before, "a refused plan touches nothing");
    err
}

/// A namespace of no lab (`ip netns add`), as a plan's pin sees it.
fn unmarked() -> Seen {
    Seen::Namespace(Box::default())
}

/// A plan that deletes "the namespace `../victimfile`" would delete `/run/victimfile`:
/// it is refused for its name before the kernel is read.
#[test]
fn a_forged_plan_cannot_delete_a_file_outside_the_namespace_directory() {
    sandboxed(|| {
        let base = forgeable();
        std::fs::write("/run/victimfile", "keep me").unwrap();
        let ns = "../victimfile".to_string();
        let plan = forge(
            &base,
            "victim.plan",
            vec![Change::DeleteNamespace {
                ns: ns.clone(),
                role: NsRole::Host,
                contents: Vec::new(),
                stray: false,
            }],
            [(ns, Seen::Absent)].into(),
        );
        let err = forged_refused(&plan, "nshost::plan_bad_name");
        assert!(
            err.contains("victimfile` of change 1 contains `/`"),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string("/run/victimfile").unwrap(),
            "keep me"
        );
    })
}

/// A plan that creates "the namespace `../evilns`" would mount one at `/run/evilns`.
#[test]
fn a_forged_plan_cannot_create_a_namespace_outside_the_namespace_directory() {
    sandboxed(|| {
        let base = forgeable();
        let ns = "../evilns".to_string();
        let plan = forge(
            &base,
            "evil.plan",
            vec![Change::AddNamespace {
                ns: ns.clone(),
                role: NsRole::Host,
            }],
            [(ns, Seen::Absent)].into(),
        );
        let err = forged_refused(&plan, "nshost::plan_bad_name");
        assert!(err.contains("`../evilns`"), "{err}");
        assert!(!Path::new("/run/evilns").exists());
    })
}

/// A plan that deletes a namespace nshost did not make, pinned as the kernel shows it.
#[test]
fn a_forged_plan_cannot_delete_an_unmarked_namespace() {
    sandboxed(|| {
        let base = forgeable();
        ip(&["netns", "add", "plain"]);
        let plan = forge(
            &base,
            "plain.plan",
            vec![Change::DeleteNamespace {
                ns: "plain".into(),
                role: NsRole::Unknown,
                contents: Vec::new(),
                stray: false,
            }],
            [("plain".to_string(), unmarked())].into(),
        );
        let err = forged_refused(&plan, "nshost::plan_outside_lab");
        assert!(
            err.contains("namespace plain is not lab small's: nshost did not create it"),
            "{err}"
        );
        assert!(netns().contains(&"plain".to_string()));
    })
}

/// A plan of lab `small` that deletes a namespace of lab `other`.
#[test]
fn a_forged_plan_cannot_delete_another_labs_namespace() {
    sandboxed(|| {
        let base = forgeable();
        apply(&scratch("other.yaml", &other_text()));
        let theirs = Namespace {
            owner: Some("other".into()),
            ..Namespace::default()
        };
        let plan = forge(
            &base,
            "theirs.plan",
            vec![Change::DeleteNamespace {
                ns: "o-web1".into(),
                role: NsRole::Host,
                contents: Vec::new(),
                stray: false,
            }],
            [("o-web1".to_string(), Seen::Namespace(Box::new(theirs)))].into(),
        );
        let err = forged_refused(&plan, "nshost::plan_outside_lab");
        assert!(
            err.contains("namespace o-web1 is not lab small's: it is lab other's"),
            "{err}"
        );
        check_small("other", "o-");
    })
}

/// A plan that adds a route and a rule in a namespace the lab does not own.
#[test]
fn a_forged_plan_cannot_add_routes_or_rules_in_a_namespace_it_does_not_own() {
    sandboxed(|| {
        let base = forgeable();
        ip(&["netns", "add", "plain"]);
        ip(&["-n", "plain", "link", "set", "lo", "up"]);
        let rule = Rule {
            priority: 100,
            table: 254,
            ..Rule::default()
        };
        let plan = forge(
            &base,
            "route.plan",
            vec![
                Change::AddRoute {
                    ns: "plain".into(),
                    key: RouteKey::new(254, "10.99.0.0/16".parse().unwrap(), 0),
                    route: Box::new(Route {
                        dev: Some("lo".into()),
                        ..Route::default()
                    }),
                },
                Change::AddRule {
                    ns: "plain".into(),
                    rule: Box::new(rule),
                },
            ],
            [("plain".to_string(), unmarked())].into(),
        );
        let err = forged_refused(&plan, "nshost::plan_outside_lab");
        assert!(err.contains("namespace plain is not lab small's"), "{err}");
    })
}

/// A symlink planted at `<lab>.settings.json.tmp` in the lock directory (which may be
/// writable by others) pointing at a root-only file: apply does not write through it,
/// refuses before changing anything, and says what is there; with it gone, apply
/// writes the record with mode 0600.
#[test]
fn apply_does_not_write_through_a_planted_symlink() {
    sandboxed(|| {
        let small = scratch("small.yaml", &small_text());
        std::fs::create_dir_all("/run/nshost").unwrap();
        std::fs::write("/run/root-only", "secret").unwrap();
        let tmp = Path::new("/run/nshost/small.settings.json.tmp");
        std::os::unix::fs::symlink("/run/root-only", tmp).unwrap();
        let run = nshost(["apply".as_ref(), small.as_os_str()]).code(1);
        let err = flat(&run.stderr);
        assert!(err.contains("nshost::record"), "{}", run.stderr);
        assert!(
            err.contains("is a symlink that nshost did not create"),
            "{}",
            run.stderr
        );
        assert_eq!(std::fs::read_to_string("/run/root-only").unwrap(), "secret");
        assert_eq!(netns(), Vec::<String>::new(), "nothing was changed");
        std::fs::remove_file(tmp).unwrap();
        apply(&small);
        let meta = std::fs::symlink_metadata("/run/nshost/small.settings.json").unwrap();
        assert!(meta.is_file());
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_to_string("/run/root-only").unwrap(), "secret");
    })
}
