//! The Rust API (`nshost::Lab`) end to end, outside any test sandbox: `Lab::sandbox` is
//! its own. Every bundled lab a sandbox can build is built, exec'd in, checked, edited
//! and re-applied, then dropped, and nothing of it is left: no process of its pid
//! namespace, no mount namespace (its `/run`). Run again as an unprivileged user.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nshost::Lab;

/// Where the bundled labs are (a copy of them for the unprivileged run).
fn topologies() -> PathBuf {
    std::env::var_os("NSHOST_TOPOLOGIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies"))
}

/// The namespace `kind` of `pid` (`pid:[4026...]`), if it can be read.
fn ns(pid: u32, kind: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

/// Every process whose namespace `kind` is `id`.
fn in_ns(kind: &str, id: &str) -> BTreeSet<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| ns(pid, kind).as_deref() == Some(id))
        .collect()
}

/// The sandbox's first process: the session's child.
fn inner(pid: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    children.split_whitespace().next().unwrap().parse().unwrap()
}

/// The checks `nshost try` sees fail in the lab, as (from, to).
fn try_failures(path: &Path) -> BTreeSet<(String, String)> {
    let out = std::process::Command::new(nshost::api::find_binary().unwrap())
        .args(["try", "--output", "json"])
        .arg(path)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["checks"]["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("nshost try {}: {report}\n{out:?}", path.display()))
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| {
            (
                c["from"].as_str().unwrap().into(),
                c["to"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Builds `lab` in a sandbox, execs, checks, edits (`from` becomes `to` in its text),
/// re-applies, drops it, and proves that nothing is left.
fn round_trip(lab: &str, from: &str, to: &str, wait: Duration) {
    let path = topologies().join(lab);
    let session = Lab::sandbox(&path).unwrap_or_else(|e| panic!("{lab}: {}", e.report()));
    let pid = session.pid();
    let first = inner(pid);
    let (pid_ns, mnt_ns) = (ns(first, "pid").unwrap(), ns(first, "mnt").unwrap());
    assert!(in_ns("pid", &pid_ns).contains(&first));

    let status = session.status().unwrap();
    let nodes = status["status"]["nodes"].as_array().unwrap();
    assert!(
        !nodes.is_empty() && nodes.iter().all(|n| n["presence"] == "present"),
        "{lab}: {nodes:?}"
    );
    let node = status["status"]["nodes"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let out = session.exec(&node, &["ip", "-br", "addr"]).unwrap();
    assert!(out.status.success(), "{lab}: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("lo "),
        "{lab}: {out:?}"
    );
    let checks = session.check_wait(wait).unwrap();
    assert!(checks.passed > 0, "{lab}: {checks:?}");
    if lab == "full.yaml" {
        // Two of its checks fail in any sandbox: the same as `nshost try` has.
        let failing: BTreeSet<(String, String)> = checks
            .failures()
            .iter()
            .map(|c| (c.from.clone(), c.to.clone()))
            .collect();
        assert_eq!(
            failing,
            try_failures(&path),
            "{lab}: {:?}",
            checks.failures()
        );
    } else {
        assert!(checks.passed(), "{lab}: {:?}", checks.failures());
    }

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{lab} has no {from}");
    let applied = session
        .apply_text_in(&text.replacen(from, to, 1), path.parent().unwrap())
        .unwrap_or_else(|e| panic!("{lab}: {}", e.report()));
    let summary = &applied["plan"]["summary"];
    assert!(
        summary["change"].as_u64().unwrap() + summary["add"].as_u64().unwrap() > 0,
        "{lab}: {summary}"
    );
    let found = session.exec(&node, &["true"]).unwrap();
    assert!(found.status.success());
    let addr = to.split('/').next().unwrap();
    let status = session.status_text().unwrap();
    assert!(status.contains(addr), "{lab}: {status}");

    drop(session);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "{lab}: the session is still there"
    );
    assert_eq!(
        in_ns("pid", &pid_ns),
        BTreeSet::new(),
        "{lab}: processes left"
    );
    assert_eq!(
        in_ns("mnt", &mnt_ns),
        BTreeSet::new(),
        "{lab}: its /run is still mounted"
    );
}

#[test]
fn small_round_trip() {
    round_trip("small.yaml", "10.1.1.10/24", "10.1.1.11/24", Duration::ZERO);
}

#[test]
fn two_sites_round_trip() {
    // Without a site: both sites' nodes on this one machine, as `nshost try` builds it.
    round_trip(
        "two-sites.yaml",
        "10.70.1.1/24",
        "10.70.1.2/24",
        Duration::ZERO,
    );
}

#[test]
fn full_round_trip() {
    round_trip(
        "full.yaml",
        "172.16.42.1/24",
        "172.16.42.2/24",
        Duration::ZERO,
    );
}

#[test]
fn enterprise_round_trip() {
    round_trip(
        "enterprise.yaml",
        "198.51.100.10/24",
        "198.51.100.11/24",
        Duration::ZERO,
    );
}

#[test]
fn ospf_round_trip() {
    round_trip(
        "ospf.yaml",
        "10.1.0.10/24",
        "10.1.0.11/24",
        Duration::from_secs(60),
    );
}

#[test]
fn errors_carry_code_and_report() {
    let err = Lab::sandbox_text("name: x\nrouters: 5\n").unwrap_err();
    assert_eq!(err.code(), "nshost::invalid");
    assert!(err.report().contains("lab.yaml:2:10"), "{}", err.report());
    let err = Lab::sandbox(topologies().join("nothing.yaml")).unwrap_err();
    assert_eq!(err.code(), "nshost::read");
}

#[test]
fn a_failing_test_keeps_its_lab() {
    let small = topologies().join("small.yaml");
    let name = "a_failing_test_keeps_its_lab_inner";
    let dir = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let lab = nshost::testing::sandbox(&small).unwrap();
            let dir = lab.kept_in();
            let _ = std::fs::remove_dir_all(&dir);
            let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let _lab = lab;
                panic!("deliberately");
            }));
            assert!(failed.is_err());
            dir
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(
        dir.ends_with(format!("nshost-tests/{name}")),
        "{}",
        dir.display()
    );
    for file in ["plan.json", "status.json", "status.txt", "checks.json"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(!text.is_empty(), "{file} was not kept in {}", dir.display());
    }
    let status = std::fs::read_to_string(dir.join("status.txt")).unwrap();
    assert!(status.starts_with("Lab small:"), "{status}");
    let checks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checks.json")).unwrap()).unwrap();
    // The small lab's eight default checks, kept whatever they gave (on a loaded
    // machine an echo can time out: this test is about what is kept).
    let (passed, failed) = (checks["passed"].as_u64(), checks["failed"].as_u64());
    assert_eq!(passed.zip(failed).map(|(p, f)| p + f), Some(8), "{checks}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn api_tests_pass_unprivileged() {
    const ME: &str = "api_tests_pass_unprivileged";
    let dir = std::env::temp_dir().join(format!("nshost-api-{}", std::process::id()));
    let mode =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    std::fs::create_dir_all(dir.join("topologies/ospf")).unwrap();
    for d in [
        dir.clone(),
        dir.join("topologies"),
        dir.join("topologies/ospf"),
    ] {
        mode(&d, 0o777);
    }
    let copy = |from: &Path, to: PathBuf, m: u32| {
        std::fs::copy(from, &to).unwrap();
        mode(&to, m);
        to
    };
    let tests = copy(
        &std::env::current_exe().unwrap(),
        dir.join("api-tests"),
        0o755,
    );
    let bin = copy(
        Path::new(env!("CARGO_BIN_EXE_nshost")),
        dir.join("nshost"),
        0o755,
    );
    for lab in [
        "small.yaml",
        "two-sites.yaml",
        "full.yaml",
        "enterprise.yaml",
        "ospf.yaml",
        "ospf/bird.conf",
    ] {
        copy(
            &topologies().join(lab),
            dir.join("topologies").join(lab),
            0o644,
        );
    }
    let root = nix::unistd::geteuid().is_root();
    let mut cmd = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&tests);
        c
    } else {
        std::process::Command::new(&tests)
    };
    let out = cmd
        .args(["--skip", ME])
        .env("NSHOST_BIN", &bin)
        .env("NSHOST_TOPOLOGIES", dir.join("topologies"))
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .current_dir(&dir)
        .output()
        .expect("running the API tests unprivileged");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "API tests failed as an unprivileged user (root: {root}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("test result: ok. 7 passed"), "{stdout}");
}
