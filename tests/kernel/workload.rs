//! Files and processes in nodes (`files:`, `run:`): each node's supervisor starts them
//! after the network is up, restarts what exits, keeps logs, and takes everything
//! with it when the lab goes; plans show them like any attribute.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ktest::*;
use crate::*;

const LAB: &str = "\
name: work
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
    files:
      /etc/nshost-demo/a.conf: \"alpha 1\\n\"
      /etc/hostname: \"r1\\n\"
      /run/demo/b.conf: \"beta 1\\n\"
    run:
      a: \"exec sleep 1001 # reads /etc/nshost-demo/a.conf\"
      b: [sh, -c, exec sleep 1002, /run/demo/b.conf]
hosts:
  h1: {address: 10.1.1.10/24}
";

/// The node's processes as `status --output json` reports them.
fn processes(file: &std::path::Path, node: &str) -> Vec<Value> {
    let v = nshost(["status", file.to_str().unwrap(), "--output", "json"]).json();
    v["status"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .map(|n| n["processes"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn pid_of(file: &std::path::Path, node: &str, name: &str) -> Option<u64> {
    processes(file, node)
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["pid"].as_u64())
}

/// Waits until `f` holds (up to 20 s).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every process of this (sandbox's) pid namespace but the test's own.
fn sleepers() -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|s| s.parse::<u32>().is_ok())
        {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.starts_with("sleep 100") {
                // A supervisor's child, or a user's.
                out.push(cmd.trim().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn files_and_processes_run_in_the_node_and_go_with_the_lab() {
    let out = sandboxed(|| {
        let file = scratch("work.yaml", LAB);
        let plan = nshost(["plan", file.to_str().unwrap()]).ok();
        let applied = apply(&file);
        assert_converged(&file);
        // The node sees its files: over an existing one, in a new directory of /etc,
        // and in its private /run; the machine sees none of them.
        let seen = nshost([
            "exec",
            "r1",
            "--",
            "sh",
            "-c",
            "cat /etc/nshost-demo/a.conf /etc/hostname /run/demo/b.conf; ps -e -o pid=,comm= | sort -n",
        ])
        .ok();
        assert!(!std::path::Path::new("/etc/nshost-demo").exists());
        assert!(!std::path::Path::new("/run/demo").exists());
        // Scratch files of the node's own: the sandbox's /var/tmp (a tmpfs of the
        // test's, so that nothing reaches the machine's even if this failed; /tmp holds
        // the unprivileged pass's nshost) gets none.
        run("mount", &["-t", "tmpfs", "tmpfs", "/var/tmp"]).ok();
        nshost(["exec", "r1", "--", "sh", "-c", "echo x > /var/tmp/scratch"]).ok();
        assert!(!std::path::Path::new("/var/tmp/scratch").exists());
        let running = sleepers();
        let status = nshost(["status", file.to_str().unwrap()]).ok();
        let destroyed = nshost(["destroy", file.to_str().unwrap()]).ok();
        let after = sleepers();
        (plan, applied, seen, running, status, destroyed, after)
    });
    let (plan, applied, seen, running, status, destroyed, after) = out;
    assert!(plan.contains("+ file /etc/nshost-demo/a.conf"), "{plan}");
    assert!(plan.contains("+ process a"), "{plan}");
    assert!(plan.contains("+ process b"), "{plan}");
    assert!(applied.contains("Apply complete"), "{applied}");
    assert!(seen.starts_with("alpha 1\nr1\nbeta 1\n"), "{seen}");
    // The node's own pid namespace: its supervisor is 1, and only its processes show.
    assert!(seen.contains("1 nshost"), "{seen}");
    assert!(!seen.contains("cargo"), "{seen}");
    assert_eq!(running, ["sleep 1001", "sleep 1002"]);
    assert!(status.contains("Processes:"), "{status}");
    assert!(status.contains("running"), "{status}");
    assert!(destroyed.contains("- process a"), "{destroyed}");
    assert!(destroyed.contains("Destroy complete"), "{destroyed}");
    assert!(after.is_empty(), "{after:?}");
}

#[test]
fn a_process_killed_by_hand_is_restarted_and_a_changed_file_restarts_only_its_reader() {
    let (killed, restarted, plan, applied, a_after, b_after, b_before) = sandboxed(|| {
        let file = scratch("work.yaml", LAB);
        apply(&file);
        wait_for("a runs", || pid_of(&file, "r1", "a").is_some());
        let a = pid_of(&file, "r1", "a").unwrap();
        let b_before = pid_of(&file, "r1", "b").unwrap();
        run("kill", &["-9", &a.to_string()]).ok();
        wait_for("a restarted", || {
            pid_of(&file, "r1", "a").is_some_and(|p| p != a)
        });
        let restarted = processes(&file, "r1")
            .iter()
            .find(|p| p["name"] == "a")
            .unwrap()["restarts"]
            .as_u64()
            .unwrap();
        // The restart is not drift.
        assert_converged(&file);
        let edited = scratch("work.yaml", &edit(LAB, "alpha 1", "alpha 2"));
        let plan = nshost(["plan", edited.to_str().unwrap()]).ok();
        let applied = apply(&edited);
        assert_converged(&edited);
        let seen = nshost(["exec", "r1", "--", "cat", "/etc/nshost-demo/a.conf"]).ok();
        assert_eq!(seen, "alpha 2\n");
        let a_after = pid_of(&edited, "r1", "a").unwrap();
        let b_after = pid_of(&edited, "r1", "b").unwrap();
        nshost(["destroy", edited.to_str().unwrap()]).ok();
        (a, restarted, plan, applied, a_after, b_after, b_before)
    });
    assert_eq!(restarted, 1);
    assert!(plan.contains("~ file /etc/nshost-demo/a.conf"), "{plan}");
    assert!(
        plan.contains("~ process a (restart: /etc/nshost-demo/a.conf changed)"),
        "{plan}"
    );
    assert!(!plan.contains("process b"), "{plan}");
    assert!(applied.contains("Apply complete"), "{applied}");
    assert_ne!(a_after, killed);
    assert_eq!(b_after, b_before, "b was restarted too");
}

#[test]
fn a_process_that_keeps_exiting_fails_and_shows_its_log() {
    let (status, json, logs, plan) = sandboxed(|| {
        let lab = "\
name: fails
hosts:
  h1:
    address: 10.1.1.10/24
    run:
      broken: echo cannot start; exit 3
  h2: {address: 10.1.1.11/24}
";
        let file = scratch("fails.yaml", lab);
        apply(&file);
        wait_for("broken fails", || {
            processes(&file, "h1")
                .iter()
                .any(|p| p["state"] == "failed")
        });
        let status = nshost(["status", file.to_str().unwrap()]).ok();
        let json = processes(&file, "h1");
        let logs = nshost(["logs", "h1", "broken"]).ok();
        let plan = plan_code(&file).code(2).stdout;
        nshost(["destroy", file.to_str().unwrap()]).ok();
        (status, json, logs, plan)
    });
    assert!(status.contains("failed (exit 3)"), "{status}");
    assert!(status.contains("cannot start"), "{status}");
    assert_eq!(json[0]["restarts"], 5, "{json:?}");
    assert!(
        logs.contains("[nshost] failed: 5 quick exits in a row"),
        "{logs}"
    );
    assert_eq!(
        logs.lines().filter(|l| *l == "cannot start").count(),
        5,
        "{logs}"
    );
    assert!(
        plan.contains("~ process broken (restart: failed after 5 restarts, last exit 3)"),
        "{plan}"
    );
}

#[test]
fn what_exec_starts_in_a_supervised_node_is_stopped_with_it() {
    let (left, removed_plan, stopped) = sandboxed(|| {
        let file = scratch("work.yaml", LAB);
        apply(&file);
        // A daemon of the user's own, started in the background by exec.
        let mut child = nshost_command()
            .args(["exec", "r1", "--", "sh", "-c", "sleep 1003 & exit 0"])
            .spawn()
            .unwrap();
        child.wait().unwrap();
        wait_for("the user's sleep runs", || {
            sleepers().iter().any(|s| s == "sleep 1003")
        });
        // The file stops asking for processes and files: the supervisor goes, and
        // everything of the node's pid namespace with it.
        let bare = "\
name: work
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
hosts:
  h1: {address: 10.1.1.10/24}
";
        let bare = scratch("bare.yaml", bare);
        let removed_plan = nshost(["plan", bare.to_str().unwrap()]).ok();
        apply(&bare);
        let stopped = sleepers();
        assert_converged(&bare);
        nshost(["destroy", bare.to_str().unwrap()]).ok();
        (sleepers(), removed_plan, stopped)
    });
    assert!(removed_plan.contains("- process a"), "{removed_plan}");
    assert!(
        removed_plan.contains("- file /run/demo/b.conf"),
        "{removed_plan}"
    );
    assert!(stopped.is_empty(), "{stopped:?}");
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_program_the_node_lacks_is_a_located_error_at_plan_time() {
    let out = sandboxed(|| {
        let lab = "\
name: noprog
hosts:
  h1:
    address: 10.1.1.10/24
    run:
      d: no-such-daemon --foreground
  h2: {address: 10.1.1.11/24}
";
        let file = scratch("noprog.yaml", lab);
        let out = nshost(["plan", file.to_str().unwrap()]).code(1).stderr;
        assert!(netns().is_empty(), "nothing was made");
        out
    });
    let flat = flat(&out);
    assert!(flat.contains("nshost::program_not_found"), "{out}");
    assert!(
        flat.contains("process `d` of h1: `no-such-daemon` is not found in the node"),
        "{out}"
    );
    assert!(out.contains("no-such-daemon --foreground"), "{out}");
}

#[test]
fn a_file_that_cannot_be_put_in_place_rolls_the_node_back() {
    let (failed, content, running) = sandboxed(|| {
        let file = scratch("work.yaml", LAB);
        apply(&file);
        wait_for("a runs", || pid_of(&file, "r1", "a").is_some());
        // A directory of the machine where the file wants a file: only the node's
        // supervisor can tell, when it tries.
        let bad = edit(LAB, "      /etc/hostname:", "      /etc/ssl:");
        let bad = scratch("bad.yaml", &edit(&bad, "alpha 1", "alpha 2"));
        let failed = nshost(["apply", bad.to_str().unwrap()]).code(1).stderr;
        // Back as it was: the old content, both processes running, nothing to do.
        assert_converged(&file);
        let content = nshost([
            "exec",
            "r1",
            "--",
            "cat",
            "/etc/nshost-demo/a.conf",
            "/etc/hostname",
        ])
        .ok();
        let running = sleepers();
        nshost(["destroy", file.to_str().unwrap()]).ok();
        (failed, content, running)
    });
    let flat = flat(&failed);
    assert!(
        flat.contains("/etc/ssl: something other than a file is there"),
        "{failed}"
    );
    assert!(flat.contains("rolled back"), "{failed}");
    assert_eq!(content, "alpha 1\nr1\n");
    assert_eq!(running, ["sleep 1001", "sleep 1002"]);
}
