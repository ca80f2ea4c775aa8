//! At the edges of what nshost may do: large labs under a low open-file limit, and a
//! user without the privileges namespaces need.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use crate::ktest::*;
use crate::labgen::GenLab;
use crate::*;

/// Runs `nshost <args>` with its open-file limit at 1024, soft and hard (so nshost
/// cannot raise it), as `prlimit --nofile=1024:1024` does.
fn nshost_in_1024_files<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Run {
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let what = format!(
        "prlimit --nofile=1024:1024 nshost {}",
        args.join(OsStr::new(" ")).to_string_lossy()
    );
    let mut cmd = wrapped_nshost("prlimit", &["--nofile=1024:1024", "--"]);
    cmd.args(&args);
    run_command(&what, cmd)
}

/// Applies, plans and destroys a lab of `hosts` hosts under a limit of 1024 open files.
fn lab_within_1024_files(hosts: usize) {
    // The limit really is 1024 for what runs under it.
    let limit = run(
        "prlimit",
        &["--nofile=1024:1024", "--", "sh", "-c", "ulimit -Hn"],
    )
    .ok();
    assert_eq!(limit.trim(), "1024");
    let lab = GenLab::new("big", hosts);
    let file = scratch("big.yaml", &lab.to_yaml());
    let file = file.as_os_str();
    let total = lab.node_names().len() + 1;
    let out = nshost_in_1024_files(["apply".as_ref(), file]).ok();
    assert!(out.contains("Apply complete!"), "{out}");
    assert_eq!(netns().len(), total);
    let plan = nshost_in_1024_files(["plan".as_ref(), file, "--detailed-exitcode".as_ref()]);
    assert_eq!(plan.ok(), "No changes.\n");
    assert_only_namespaces();
    let last = &lab.hosts[hosts - 1];
    assert!(
        reach(&last.name, &last.gateway.to_string()),
        "{} -> its router",
        last.name
    );
    let out = nshost_in_1024_files(["destroy".as_ref(), file]).ok();
    assert!(out.contains("Destroy complete!"), "{out}");
    assert_eq!(entries(), BTreeMap::new(), "destroy left nothing");
}

/// Issue: a lab held two descriptors open per namespace, so a 600-host apply failed
/// under the usual limit of 1024 open files ("Too many open files"). Apply, plan and
/// destroy of 600 hosts all work with the limit at 1024, soft and hard.
#[test]
fn six_hundred_hosts_within_1024_open_files() {
    sandboxed(|| lab_within_1024_files(600))
}

/// Issue: as above, at the scale of the benchmark: 3000 hosts (3005 namespaces) within
/// 1024 open files. The one big lab of the suite.
#[test]
fn three_thousand_hosts_within_1024_open_files() {
    sandboxed(|| lab_within_1024_files(3000))
}

/// Issue: `plan` run by a user without the privileges namespaces need said only
/// "setns: Operation not permitted". Run as a user with no capabilities (a user
/// namespace without a mapping, from inside the sandbox), with its own empty namespace
/// and lock folders, and once more beside the lab's namespaces, `plan` fails with
/// `nshost::not_permitted` and says how to run it; so does `destroy --lab`, which
/// probes nothing and so fails on entering the lab's first namespace.
#[test]
fn plan_without_privileges_says_so() {
    sandboxed(|| {
        let file = topology("small.yaml");
        apply(&file);
        let dirs = Path::new("/run/nshost-ktest");
        let (empty, locks) = (dirs.join("netns-empty"), dirs.join("locks"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&locks).unwrap();
        let netns_dirs = [empty.as_path(), Path::new(crate::sandbox::NETNS_DIR)];
        let plan: &[&OsStr] = &["plan".as_ref(), file.as_os_str()];
        let destroy: &[&OsStr] = &["destroy".as_ref(), "--lab".as_ref(), "small".as_ref()];
        for (dir, args) in [
            (netns_dirs[0], plan),
            (netns_dirs[1], plan),
            (netns_dirs[1], destroy),
        ] {
            // `unshare --user` without a mapping: uid nobody, no capabilities once it
            // runs nshost.
            let mut cmd = wrapped_nshost("unshare", &["--user", "--"]);
            cmd.args(args)
                .env("NSHOST_NETNS_DIR", dir)
                .env("NSHOST_LOCK_DIR", &locks);
            let what = format!(
                "unshare --user nshost {} (NSHOST_NETNS_DIR={})",
                args[0].to_string_lossy(),
                dir.display()
            );
            let run = run_command(&what, cmd).code(1);
            let err = flat(&run.stderr);
            assert!(
                err.contains("nshost::not_permitted"),
                "{what}: {}",
                run.stderr
            );
            assert!(err.contains("permission denied"), "{what}: {}", run.stderr);
            assert!(
                err.contains(
                    "run it as root, or try the lab in a throwaway sandbox, as any user: nshost try"
                ),
                "{what}: {}",
                run.stderr
            );
        }
        // Nothing was touched.
        assert_converged(&file);
        assert_eq!(netns(), crate::small::small_namespaces("small", ""));
        let id = run("unshare", &["--user", "--", "id", "-u"]).ok();
        assert_eq!(id.trim(), "65534", "an unmapped user");
    })
}
