//! Kernel tests: the real `nshost` binary against a real kernel, each test in a fresh
//! sandbox of its own (user + network + mount namespace with a private tmpfs on
//! `/run`; see `support/ktest.rs`), so nothing touches the machine's own namespaces,
//! links or `/run/netns`. Works as root and as an unprivileged user.
//!
//! Each test applies labs as a user would, then checks the kernel directly with
//! `ip -j` and reachability with nshost's own checks (`ktest::reach`, and `nshost
//! check`), only ever between namespaces it created: no `ping` needed.
//! One test binary, in modules by subject (so `kernel_tests_pass_unprivileged`, here,
//! reruns them all). Run them with `cargo test --test kernel`.

#[path = "../support/ktest.rs"]
mod ktest;
#[path = "../support/labgen.rs"]
mod labgen;
#[path = "../support/sandbox.rs"]
mod sandbox;

mod dump;
mod events;
mod small;

mod basics;
mod bird;
mod bridges;
mod checks;
mod convergence;
mod crash;
mod early;
mod enterprise;
mod firewall;
mod graph;
mod impairments;
mod limits;
mod loopback;
mod neighbours;
mod ownership;
mod pool;
mod processes;
mod recovery;
mod rollback;
mod routes;
mod sandbox_try;
mod session;
mod saved;
mod services;
mod shorthand;
mod sites;
mod status;
mod strays;
mod valid_cases;
mod watch;
mod workload;

use std::collections::BTreeMap;

use ktest::*;
use serde_json::Value;

/// Applies a lab file, which must succeed.
pub fn apply(file: &std::path::Path) -> String {
    nshost(["apply".as_ref(), file.as_os_str()]).ok()
}

/// `plan --detailed-exitcode`: its exit code and output.
pub fn plan_code(file: &std::path::Path) -> Run {
    nshost([
        "plan".as_ref(),
        file.as_os_str(),
        "--detailed-exitcode".as_ref(),
    ])
}

/// Asserts that the kernel matches `file`: `plan` says `No changes.` and exits 0.
#[track_caller]
pub fn assert_converged(file: &std::path::Path) {
    assert_eq!(plan_code(file).ok(), "No changes.\n");
}

/// A report's text with miette's gutter and line wrapping taken out.
pub fn flat(report: &str) -> String {
    report
        .lines()
        .map(|l| l.trim().trim_start_matches(['×', '│']).trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The changes of a `--output json` plan, one short line each.
pub fn change_lines(plan: &Value) -> Vec<String> {
    let mut out: Vec<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let op = str_of(c, "op");
            let ns = str_of(c, "ns");
            match op {
                "add_namespace" | "delete_namespace" => format!("{op} {ns}"),
                "add_link" | "update_link" | "delete_link" => {
                    let mut s = format!("{op} {ns}/{}", str_of(c, "name"));
                    if let Some(peer) = c.get("peer") {
                        s += &format!(
                            " + {}/{}",
                            str_of(&peer["at"], "ns"),
                            str_of(&peer["at"], "name")
                        );
                    }
                    s
                }
                "add_address" | "delete_address" => format!(
                    "{op} {ns} {} {}",
                    str_of(&c["key"], "ifname"),
                    str_of(&c["key"], "addr")
                ),
                "add_route" | "replace_route" | "delete_route" => {
                    format!("{op} {ns} {}", str_of(&c["key"], "dst"))
                }
                "add_rule" | "delete_rule" => format!("{op} {ns} {}", c["rule"]["priority"]),
                "set_sysctl" => format!("{op} {ns} {}", str_of(c, "key")),
                "set_qdisc" => format!("{op} {ns}/{}", str_of(c, "link")),
                "set_link_setting" => {
                    format!("{op} {ns}/{} {}", str_of(c, "link"), str_of(c, "setting"))
                }
                _ => panic!("unknown change {c}"),
            }
        })
        .collect();
    out.sort();
    out
}

/// Every namespace's identity, by name.
pub fn netns_ids() -> BTreeMap<String, u64> {
    netns()
        .into_iter()
        .map(|n| (n.clone(), netns_id(&n)))
        .collect()
}

/// The bridge a fabric port is enslaved to.
pub fn master_of(fabric: &str, port: &str) -> String {
    str_of(&links(fabric)[port], "master").to_string()
}

/// A rule of `ip -j rule` in `ip rule`'s words.
pub fn rule_text(r: &Value) -> String {
    let mut s = format!("{}: from {}", r["priority"], str_of(r, "src"));
    if let Some(len) = r["srclen"].as_u64() {
        s += &format!("/{len}");
    }
    if let Some(dst) = r["dst"].as_str() {
        s += &format!(" to {dst}/{}", r["dstlen"]);
    }
    for key in ["iif", "oif", "fwmark", "tos", "ipproto"] {
        if let Some(v) = r[key].as_str() {
            s += &format!(" {key} {v}");
            if let Some(mask) = r["fwmask"].as_str().filter(|_| key == "fwmark") {
                s += &format!("/{mask}");
            }
        }
    }
    for key in ["sport", "dport"] {
        if let Some(p) = r[key].as_u64() {
            s += &format!(" {key} {p}");
        } else if let Some(start) = r[format!("{key}_start")].as_u64() {
            s += &format!(" {key} {start}-{}", r[format!("{key}_end")]);
        }
    }
    s += &format!(" lookup {}", str_of(r, "table"));
    if let Some(p) = r["protocol"].as_str() {
        s += &format!(" proto {p}");
    }
    s
}

/// The links of a namespace as `ip -d link` shows them, minus what changes by itself.
pub fn link_snapshot(ns: &str) -> BTreeMap<String, Value> {
    links(ns)
        .into_iter()
        .map(|(name, mut l)| {
            for volatile in ["operstate", "stats64", "stats"] {
                l.as_object_mut().unwrap().remove(volatile);
            }
            (name, l)
        })
        .collect()
}

/// The kernel tests pass as an unprivileged user too. As root, this copies the test
/// binary, nshost and the lab files into a fresh world-readable folder and runs every
/// other kernel test from there as `nobody` (util-linux `setpriv`); as any other user
/// the suite already runs unprivileged, and this runs it once more from the copy. One
/// test at a time: the rest of the suite runs beside it, and the big labs and the crash
/// sequence, four at once on a two-core machine, came near their sandbox's timeout.
#[test]
fn kernel_tests_pass_unprivileged() {
    use std::os::unix::fs::PermissionsExt;
    const ME: &str = "kernel_tests_pass_unprivileged";
    let dir = std::env::temp_dir().join(format!("nshost-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("topologies")).unwrap();
    let copy = |from: &std::path::Path, to: std::path::PathBuf, mode: u32| {
        std::fs::copy(from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
        to
    };
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("topologies"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let tests = copy(
        &std::env::current_exe().unwrap(),
        dir.join("kernel-tests"),
        0o755,
    );
    let nshost = copy(&ktest::nshost_bin(), dir.join("nshost"), 0o755);
    for lab in [
        "small.yaml",
        "full.yaml",
        "two-sites.yaml",
        "enterprise.yaml",
        "ospf.yaml",
        "ospf/bird.conf",
    ] {
        let to = dir.join("topologies").join(lab);
        let parent = to.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
        copy(&topology(lab), to, 0o644);
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
        .args(["--skip", ME, "--test-threads=1"])
        .env(ktest::ENV_NSHOST_BIN, &nshost)
        .env(ktest::ENV_TOPOLOGIES, dir.join("topologies"))
        .current_dir(&dir)
        .output()
        .expect("running the kernel tests unprivileged");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kernel tests failed as an unprivileged user (root: {root}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passed: usize = stdout
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        passed >= 30,
        "expected every other kernel test to run and pass:\n{stdout}"
    );
}
