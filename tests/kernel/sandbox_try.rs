//! `nshost try`: a lab built, shown, checked and torn down in a sandbox of nshost's
//! own, as any user; and `try --shell`, a shell in that sandbox.

use std::io::Write;
use std::process::Stdio;

use crate::ktest::*;

/// `try` with no file builds the built-in lab in its own sandbox and leaves nothing in
/// the world it was started from (here, the test's sandbox).
#[test]
fn try_builds_the_default_lab_and_leaves_nothing_behind() {
    sandboxed(|| {
        let out = nshost(["try"]).ok();
        assert!(out.contains("Lab `small` is up: 64 objects added"), "{out}");
        // The status, compared with the file.
        assert!(out.contains("Health: ok"), "{out}");
        assert!(
            out.contains("Drift: none, the kernel matches the file"),
            "{out}"
        );
        // The default checks of the small lab: each host its gateway, and one host
        // behind the other router.
        assert!(out.contains("Checks: 8 passed, 0 failed"), "{out}");
        assert!(
            out.contains("web1  10.1.1.10  pc1 (10.2.1.10)   reachable  pass"),
            "{out}"
        );
        assert!(out.contains("Lab `small` torn down"), "{out}");
        assert_eq!(netns(), Vec::<String>::new(), "try left namespaces behind");
        assert!(
            !std::path::Path::new("/run/nshost").exists(),
            "try left its lock directory here"
        );
    })
}

/// `nshost try --shell` with `/bin/sh` reading `script`, run to its end.
fn try_shell(script: &[u8]) -> Run {
    let mut child = nshost_command()
        .args(["try", "--shell"])
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning nshost try --shell");
    child.stdin.take().unwrap().write_all(script).unwrap();
    finish("nshost try --shell", child)
}

/// The shell of `try --shell` runs inside the sandbox with the lab up, and its exit
/// status is try's.
#[test]
fn try_shell_runs_with_the_lab_up_and_passes_its_exit_status() {
    sandboxed(|| {
        let run = try_shell(
            b"ip netns list | sort | tr '\\n' ' '; echo; echo \"lab=$NSHOST_SANDBOX\"; ip netns exec web1 ip -br addr show eth0; exit 5\n",
        )
        .code(5);
        assert!(
            run.stdout
                .contains("br-gw db1 hq-gw pc1 pc2 small-fabric web1"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains("lab=small"), "{}", run.stdout);
        assert!(run.stdout.contains("10.1.1.10/24"), "{}", run.stdout);
        assert!(
            run.stdout.contains("Lab `small` torn down"),
            "{}",
            run.stdout
        );
        assert_eq!(netns(), Vec::<String>::new(), "try left namespaces behind");
    })
}

/// Nothing started in `try --shell`'s sandbox outlives it: a daemon started in a node
/// and a background job of the shell are stopped and named when the shell exits (and the
/// harness counts the processes left: none).
#[test]
fn try_shell_leaves_no_process_behind() {
    sandboxed(|| {
        let run = try_shell(
            b"nshost exec web1 -- sleep 1000 </dev/null >/dev/null 2>&1 &\nsleep 1000 </dev/null >/dev/null 2>&1 &\nsleep 0.3; exit 0\n",
        )
        .code(0);
        // The one in the node goes with the lab's destroy, the other after it.
        assert!(
            run.stdout
                .contains("Stopped 1 process(es) that ran in the lab's nodes: sleep (pid"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(") in web1"), "{}", run.stdout);
        assert!(
            run.stdout
                .contains("Stopped 1 process(es) still running in the sandbox: sleep (pid"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(") in the sandbox"), "{}", run.stdout);
    })
}

/// A lab whose declared check does not hold: try exits 1, and says which.
#[test]
fn try_exits_1_when_a_check_fails() {
    sandboxed(|| {
        let text = std::fs::read_to_string(topology("small.yaml")).unwrap();
        let file = scratch(
            "walled.yaml",
            &format!(
                "{text}checks:\n  - {{from: web1, to: pc2}}\n  - {{from: web1, to: db1, expect: unreachable}}\n"
            ),
        );
        let run = nshost([
            "try".as_ref(),
            file.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .code(1);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(doc["format_version"], 1);
        assert_eq!(doc["checks"]["passed"], 1, "{}", run.stdout);
        assert_eq!(doc["checks"]["failed"], 1, "{}", run.stdout);
        let failed = &doc["checks"]["checks"][1];
        assert_eq!(failed["to"], "db1", "{}", run.stdout);
        assert_eq!(failed["passed"], false, "{}", run.stdout);
        assert_eq!(netns(), Vec::<String>::new(), "try left namespaces behind");
    })
}

/// An invalid lab is reported as by validate, before any sandbox is made.
#[test]
fn try_of_an_invalid_lab_fails_first() {
    sandboxed(|| {
        let file = scratch(
            "bad.yaml",
            "name: bad\nhosts:\n  h1: {address: 10.1.1.300/24}\n",
        );
        let run = nshost(["try".as_ref(), file.as_os_str()]).code(1);
        assert!(run.stderr.contains("nshost::invalid"), "{}", run.stderr);
        assert!(!run.stdout.contains("Building"), "{}", run.stdout);
    })
}

/// Where the kernel allows no user namespace, try says so and how to allow them, and
/// touches nothing. (Inside the test's sandbox, `user.max_user_namespaces` is this
/// sandbox's own limit.)
#[test]
fn try_says_how_to_enable_user_namespaces_when_they_are_off() {
    sandboxed(|| {
        std::fs::write("/proc/sys/user/max_user_namespaces", "0")
            .expect("setting the sandbox's user namespace limit");
        let run = nshost(["try"]).code(1);
        let err = crate::flat(&run.stderr);
        assert!(err.contains("nshost::no_user_namespaces"), "{}", run.stderr);
        assert!(
            err.contains("sysctl -w user.max_user_namespaces="),
            "{}",
            run.stderr
        );
        assert_eq!(netns(), Vec::<String>::new());
    })
}
