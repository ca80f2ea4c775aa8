//! Services (`services:` on routers and hosts) and the port checks that probe them:
//! the lab's daemon starts with apply, is seen by plan, restarts when the set changes
//! or after it was killed, and is gone after destroy; port checks are open where a
//! service listens and blocked where none does. (Plain assertions, not insta: the
//! suite reruns as `nobody`.)

use std::ffi::OsStr;
use std::path::Path;

use crate::ktest::*;
use crate::*;

/// Two subnets through `r1`; `web1` serves TCP 80 and UDP 53, `r1` UDP 7 on every
/// address (so a client on `eth1`'s side asking `eth0`'s address is answered from it).
const LAB: &str = "\
name: svc
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
      eth1: {addresses: [10.2.2.1/24]}
    services:
      - {port: 7, proto: udp}
hosts:
  web1:
    address: 10.1.1.10/24
    services:
      - {port: 80}
      - {port: 53, proto: udp}
  pc1: {address: 10.2.2.10/24}
checks:
  - {from: pc1, to: web1, tcp: 80}
  - {from: pc1, to: web1, udp: 53}
  - {from: pc1, to: web1, tcp: 81, expect: blocked}
  - {from: pc1, to: web1, udp: 54, expect: unreachable}
  - {from: pc1, to: 10.1.1.1, udp: 7}
  - {from: pc1, to: web1}
";

/// The pids of the nshost daemons running in this sandbox (their network namespace is
/// this process's: another sandbox's daemons, of tests running beside this one, are
/// not counted), with their command lines.
fn daemons() -> Vec<(u32, String)> {
    let here = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let same_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|n| n == here);
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        });
        if same_net && !zombie && cmdline.contains("__serve") {
            out.push((pid, cmdline));
        }
    }
    out
}

/// Kills this sandbox's daemons when dropped, so a failing test leaves no process.
struct KillDaemons;

impl Drop for KillDaemons {
    fn drop(&mut self) {
        for (pid, _) in daemons() {
            // SAFETY: kill(2) with a pid and a signal number.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// The lab's daemon's pid, from its run directory.
fn daemon_pid(lab: &str) -> u32 {
    let path = Path::new("/run/nshost").join(lab).join("daemon.pid");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Whether a TCP socket listens on `port` in `ns` (`/proc/net/tcp` and `tcp6`).
fn listens(ns: &str, port: u16) -> bool {
    let hex = format!(":{port:04X} ");
    ["tcp", "tcp6"].iter().any(|f| {
        proc_net(ns, f)
            .lines()
            .any(|l| l.contains(&hex) && l.split_whitespace().nth(3) == Some("0A"))
    })
}

fn check(file: &Path, more: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec!["check".as_ref(), file.as_os_str()];
    args.extend(more.iter().map(OsStr::new));
    nshost(args)
}

/// The rows of a check table, each cut to its FROM..RESULT columns.
fn results(table: &str) -> Vec<String> {
    table
        .lines()
        .filter(|l| l.contains(" pass ") || l.contains(" FAIL "))
        .map(|l| {
            let end = l.find(" pass ").or_else(|| l.find(" FAIL ")).unwrap() + 5;
            l[..end].split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// After apply the daemon runs, one process, its sockets listen in their namespaces,
/// and a second plan is empty; every port check holds: TCP and UDP open where a
/// service listens (UDP answered from the address asked, on a router with two), and
/// blocked on a port nothing serves (a reset, ICMP port unreachable); JSON says so.
#[test]
fn services_listen_after_apply_and_port_checks_hold() {
    let (rows, json, procs, listening) = sandboxed(|| {
        let _guard = KillDaemons;
        let file = scratch("svc.yaml", LAB);
        let out = apply(&file);
        assert!(out.contains("+ service tcp/80"), "{out}");
        assert_converged(&file);
        let procs = daemons();
        assert_eq!(procs.len(), 1, "one daemon: {procs:?}");
        assert_eq!(procs[0].0, daemon_pid("svc"));
        // What the daemon is told and what it says are nobody else's to read.
        for file in ["services.json", "daemon.log", "../svc.settings.json"] {
            let path = Path::new("/run/nshost/svc").join(file);
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
                0o600,
                "{file}"
            );
        }
        let listening = (listens("web1", 80), listens("pc1", 80), listens("web1", 81));
        let table = check(&file, &[]).ok();
        let json = check(&file, &["--output", "json"]).ok();
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        (results(&table), json, procs.len(), listening)
    });
    assert_eq!(procs, 1);
    assert_eq!(listening, (true, false, false));
    assert_eq!(
        rows,
        [
            "pc1 10.2.2.10 web1 (10.1.1.10) tcp/80 open pass",
            "pc1 10.2.2.10 web1 (10.1.1.10) udp/53 open pass",
            "pc1 10.2.2.10 web1 (10.1.1.10) tcp/81 blocked pass",
            "pc1 10.2.2.10 web1 (10.1.1.10) udp/54 blocked pass",
            "pc1 10.2.2.10 10.1.1.1 udp/7 open pass",
            "pc1 10.2.2.10 web1 (10.1.1.10) reachable pass",
        ]
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let c = &json["checks"];
    assert_eq!(
        (c[0]["probe"].as_str(), c[0]["port"].as_u64()),
        (Some("tcp"), Some(80))
    );
    assert_eq!(c[0]["outcome"]["result"], "connected");
    assert_eq!(c[1]["outcome"]["result"], "echoed");
    assert_eq!(c[2]["outcome"]["result"], "refused");
    assert_eq!(c[2]["outcome"]["error"], "connection refused");
    assert_eq!(c[3]["outcome"]["error"], "port unreachable");
    assert_eq!(c[5]["probe"], "icmp");
    assert!(c[5].get("port").is_none());
}

/// A port check expected open fails (exit 1) when the service is not there, and one
/// expected blocked fails when it is; the rest still pass.
#[test]
fn port_checks_that_do_not_hold_fail() {
    let rows = sandboxed(|| {
        let _guard = KillDaemons;
        let text = format!(
            "{LAB}  - {{from: pc1, to: web1, tcp: 8080}}\n  - {{from: pc1, to: web1, udp: 53, expect: blocked}}\n"
        );
        let file = scratch("svc.yaml", &text);
        apply(&file);
        // Time enough for the checks that hold on a loaded machine (with 0.3 s and no
        // retry, every one failed once in CI); the blocked ones wait it out.
        let table = check(&file, &["--timeout", "1", "--retries", "1"])
            .code(1)
            .stdout;
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        results(&table)
    });
    let failed: Vec<&String> = rows.iter().filter(|r| r.ends_with("FAIL")).collect();
    assert_eq!(
        failed,
        [
            "pc1 10.2.2.10 web1 (10.1.1.10) tcp/8080 open FAIL",
            "pc1 10.2.2.10 web1 (10.1.1.10) udp/53 blocked FAIL",
        ]
    );
    assert_eq!(rows.len(), 8);
}

/// A lab without services starts no process and makes no run directory.
#[test]
fn a_lab_without_services_starts_no_daemon() {
    let (procs, run_dir) = sandboxed(|| {
        let _guard = KillDaemons;
        let file = topology("small.yaml");
        apply(&file);
        let found = (daemons().len(), Path::new("/run/nshost/small").exists());
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        found
    });
    assert_eq!((procs, run_dir), (0, false));
}

/// A service removed from the file is a plan change and stops (its port is then
/// blocked); a daemon killed with -9 is drift in the next plan, and apply starts it
/// again; destroy stops it: no process, no run directory left. A destroy after the
/// daemon was killed cleans its run directory too.
#[test]
fn the_daemon_follows_the_file_and_goes_with_destroy() {
    let (removed, drift, after, left) = sandboxed(|| {
        let _guard = KillDaemons;
        let file = scratch("svc.yaml", LAB);
        apply(&file);
        let first = daemon_pid("svc");
        let text = edit(LAB, "      - {port: 53, proto: udp}\n", "");
        std::fs::write(&file, &text).unwrap();
        let removed = plan_code(&file).code(2).stdout;
        apply(&file);
        assert_converged(&file);
        assert_ne!(daemon_pid("svc"), first, "restarted with the new set");
        let one = |args: &[&str]| {
            let mut all = vec!["--from", "pc1", "--to", "web1"];
            all.extend(args);
            check(&file, &all)
        };
        one(&["--udp", "53", "--expect", "blocked", "--timeout", "0.3"]).ok();
        one(&["--tcp", "80"]).ok();
        // SAFETY: kill(2) with a pid and a signal number.
        unsafe { libc::kill(daemon_pid("svc") as i32, libc::SIGKILL) };
        while !daemons().is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let drift = plan_code(&file).code(2).stdout;
        apply(&file);
        assert_converged(&file);
        one(&["--tcp", "80"]).ok();
        let out = nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        let after = (
            out.contains("- service tcp/80"),
            daemons().len(),
            Path::new("/run/nshost/svc").exists(),
        );
        // Killed, then destroyed: nothing left either.
        apply(&file);
        unsafe { libc::kill(daemon_pid("svc") as i32, libc::SIGKILL) };
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        let left = (
            daemons().len(),
            Path::new("/run/nshost/svc").exists(),
            netns().len(),
        );
        (removed, drift, after, left)
    });
    assert_eq!(
        removed,
        "# host web1\n  - service udp/53\n\nPlan: 0 to add, 0 to change, 1 to destroy.\n"
    );
    assert_eq!(
        drift,
        "# router r1\n  + service udp/7\n\n# host web1\n  + service tcp/80\n\n\
         Plan: 2 to add, 0 to change, 0 to destroy.\n"
    );
    assert_eq!(after, (true, 0, false));
    assert_eq!(left, (0, false, 0));
}

/// A service whose port another program already holds in the namespace: the daemon
/// cannot start, the apply fails, says why, and is rolled back (nothing of the lab's
/// second version is left, no daemon runs).
#[test]
fn a_service_that_cannot_listen_fails_the_apply() {
    let (err, procs, plan) = sandboxed(|| {
        let _guard = KillDaemons;
        let base = edit(LAB, "      - {port: 80}\n", "");
        let file = scratch("svc.yaml", &base);
        apply(&file);
        // Someone else's listener on web1's port 80.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let holder = crate::sandbox::in_netns("web1", move || {
            let l = std::net::TcpListener::bind("0.0.0.0:80")?;
            bound_tx.send(()).unwrap();
            let _ = rx.recv();
            drop(l);
            Ok(())
        });
        bound_rx.recv().unwrap();
        std::fs::write(&file, LAB).unwrap();
        let run = nshost(["apply".as_ref(), file.as_os_str()]).code(1);
        let procs = daemons();
        tx.send(()).unwrap();
        holder.join().unwrap().unwrap();
        std::fs::write(&file, &base).unwrap();
        let plan = plan_code(&file);
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        (flat(&run.stderr), procs.len(), plan.code)
    });
    assert!(err.contains("tcp/80 in web1"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    // The daemon of the first version serves again what it served.
    assert_eq!(procs, 1);
    assert_eq!(plan, 0, "the kernel is as before the failed apply");
}

/// A big lab's services fit a limit of 1024 open files (soft and hard, so nothing can
/// raise it): 300 hosts with three services each are 900 sockets in one daemon, which
/// holds one descriptor per service and none per namespace. Apply, the empty second
/// plan, port checks to the last host, and destroy all run under that limit.
#[test]
fn nine_hundred_services_within_1024_open_files() {
    let (plan, checks, procs) = sandboxed(|| {
        let _guard = KillDaemons;
        let lab = crate::labgen::GenLab::new("many", 300);
        let mut text: String = lab
            .to_yaml()
            .lines()
            .map(|l| {
                if l.starts_with("  h") && l.ends_with('}') && l.contains("address:") {
                    format!(
                        "{}, services: [{{port: 80}}, {{port: 443}}, {{port: 53, proto: udp}}]}}\n",
                        &l[..l.len() - 1]
                    )
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let last = &lab.hosts[299].name;
        text += &format!(
            "checks:\n  - {{from: h0, to: {last}, tcp: 443}}\n  - {{from: h0, to: {last}, udp: 53}}\n  - {{from: h0, to: {last}, tcp: 22, expect: blocked}}\n"
        );
        let file = scratch("many.yaml", &text);
        let under = |args: &[&OsStr]| {
            let mut cmd = wrapped_nshost("prlimit", &["--nofile=1024:1024", "--"]);
            cmd.args(args);
            run_command("prlimit --nofile=1024:1024 nshost ...", cmd)
        };
        let f = file.as_os_str();
        let out = under(&["apply".as_ref(), f]).ok();
        assert!(out.contains("Apply complete!"), "{out}");
        let pid = daemon_pid("many");
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        assert!(
            (900..1024).contains(&fds),
            "the daemon holds {fds} descriptors"
        );
        let plan = under(&["plan".as_ref(), f, "-q".as_ref()]).ok();
        let checks = under(&["check".as_ref(), f, "-q".as_ref()]).ok();
        let procs = daemons().len();
        under(&["destroy".as_ref(), f]).ok();
        assert!(daemons().is_empty());
        (plan, checks, procs)
    });
    assert_eq!(plan, "No changes.\n");
    assert!(checks.starts_with("Checks: 3 passed, 0 failed"), "{checks}");
    assert_eq!(procs, 1);
}

/// The lab's namespaces deleted by hand while its daemon runs: `destroy --lab` still
/// finds the lab (its daemon and run directory) and stops it.
#[test]
fn destroy_by_name_stops_a_daemon_whose_namespaces_are_gone() {
    let left = sandboxed(|| {
        let _guard = KillDaemons;
        let file = scratch("svc.yaml", LAB);
        apply(&file);
        daemon_pid("svc");
        for ns in netns() {
            ip(&["netns", "delete", &ns]);
        }
        nshost(["destroy", "--lab", "svc"]).ok();
        (daemons().len(), Path::new("/run/nshost/svc").exists())
    });
    assert_eq!(left, (0, false));
}
