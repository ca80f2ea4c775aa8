//! `nshost watch` (issue 20): a watcher run as a child process with `--output json`,
//! its event lines read as they come (each wait has a generous limit against a hang,
//! never an assertion of speed). It applies an edited file, reports an invalid one and
//! changes nothing, repairs a deleted route, a deleted address and a link set down
//! (or only reports them with `--report`), leaves a `proto bird` route alone, resyncs
//! after a flood overflows its receive buffer, converges after a kill -9 in the middle
//! of an apply, and shows in `status` while it runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ktest::*;

/// A router, a host, a route the tests delete.
const LAB: &str = "\
name: w
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
    routes:
      - {to: 10.9.0.0/16, via: 10.1.1.10}
hosts:
  h1: {address: 10.1.1.10/24}
";

/// How long any one event may take to come: a hang, not a speed limit.
const HANG: Duration = Duration::from_secs(60);

/// A running `nshost --output json watch` and the lines it printed.
struct Watcher {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
}

impl Watcher {
    fn start(file: &Path, extra: &[&str]) -> Watcher {
        Watcher::start_env(file, extra, &[])
    }

    /// [`Watcher::start`] with the variables `env` set.
    fn start_env(file: &Path, extra: &[&str], env: &[(&str, &str)]) -> Watcher {
        let mut cmd = nshost_command();
        cmd.envs(env.iter().copied());
        cmd.args(["--output", "json", "watch"])
            .args(extra)
            .arg(file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawning nshost watch");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("watch: {line}");
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        let mut w = Watcher {
            child,
            lines,
            seen: Vec::new(),
        };
        w.next("ready");
        w
    }

    /// The next event named `name`, the others before it kept in `seen`.
    #[track_caller]
    fn next(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + HANG;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(v) if v["event"] == name => return v,
                Ok(v) => self.seen.push(v),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no `{name}` event; saw {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the watcher ended before a `{name}` event; saw {:#?}",
                        self.seen
                    )
                }
            }
        }
    }

    /// The next event named one of `names` whose changes include `change`.
    fn next_of(&mut self, names: &[&str], change: &str) -> Value {
        let deadline = Instant::now() + HANG;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(v)
                    if names.iter().any(|n| v["event"] == *n)
                        && changes(&v).iter().any(|c| c.contains(change)) =>
                {
                    return v;
                }
                Ok(v) => self.seen.push(v),
                Err(e) => panic!(
                    "no {names:?} event with `{change}` ({e:?}); saw {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Every event printed so far and not yet taken (those waited past included).
    fn drain(&mut self) -> Vec<Value> {
        let mut out = std::mem::take(&mut self.seen);
        out.extend(self.lines.try_iter());
        out
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lab() -> PathBuf {
    scratch("w.yaml", LAB)
}

/// The changes of an event, one string each.
fn changes(event: &Value) -> Vec<String> {
    event["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// `plan --detailed-exitcode`: 0 when the kernel matches the file.
fn converged(file: &Path) -> bool {
    nshost([
        "plan".as_ref(),
        "--detailed-exitcode".as_ref(),
        file.as_os_str(),
    ])
    .code
        == 0
}

#[test]
fn applies_an_edited_file() {
    let (event, routes) = sandboxed(|| {
        let file = lab();
        let mut w = Watcher::start(&file, &[]);
        std::fs::write(
            &file,
            edit(
                LAB,
                "      - {to: 10.9.0.0/16, via: 10.1.1.10}\n",
                "      - {to: 10.9.0.0/16, via: 10.1.1.10}\n      - {to: 10.8.0.0/16, via: 10.1.1.10}\n",
            ),
        )
        .unwrap();
        let event = w.next("applied");
        let routes = routes("r1");
        assert!(converged(&file));
        w.kill();
        (event, routes)
    });
    assert_eq!(event["trigger"], "file");
    assert_eq!(event["add"], 1, "{event:#}");
    assert!(
        changes(&event).iter().any(|c| c.contains("10.8.0.0/16")),
        "{event:#}"
    );
    for part in ["load", "diff", "apply", "verify", "total"] {
        assert!(event["ms"][part].is_number(), "{event:#}");
    }
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("10.8.0.0/16 via 10.1.1.10")),
        "{routes:?}"
    );
}

#[test]
fn applies_an_edited_files_source() {
    let (event, before, after) = sandboxed(|| {
        let motd = scratch("motd.txt", "first\n");
        let file = scratch(
            "w.yaml",
            &edit(
                LAB,
                "  h1: {address: 10.1.1.10/24}\n",
                "  h1:\n    address: 10.1.1.10/24\n    files:\n      /etc/motd: {source: motd.txt}\n",
            ),
        );
        let mut w = Watcher::start(&file, &[]);
        let read = || nshost(["exec", "h1", "--", "cat", "/etc/motd"]).ok();
        let before = read();
        std::fs::write(&motd, "second\n").unwrap();
        let event = w.next("applied");
        let after = read();
        w.kill();
        // The node's supervisor goes with the lab.
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        (event, before, after)
    });
    assert_eq!((before.as_str(), after.as_str()), ("first\n", "second\n"));
    assert_eq!(changes(&event), ["h1: change file /etc/motd"], "{event:#}");
}

#[test]
fn an_invalid_edit_is_reported_and_nothing_changes() {
    let (invalid, before, after, applied) = sandboxed(|| {
        let file = lab();
        let mut w = Watcher::start(&file, &[]);
        let before = (routes("r1"), addresses("h1"));
        std::fs::write(&file, edit(LAB, "10.1.1.10/24}", "10.1.1.10}")).unwrap();
        let invalid = w.next("invalid");
        let after = (routes("r1"), addresses("h1"));
        // The previous desired state is still in force: the next valid edit applies
        // against it.
        std::fs::write(&file, edit(LAB, "10.9.0.0/16", "10.7.0.0/16")).unwrap();
        let applied = w.next("applied");
        w.kill();
        (invalid, before, after, applied)
    });
    assert_eq!(before, after);
    assert_eq!(invalid["error"]["code"], "nshost::invalid", "{invalid:#}");
    let problems = invalid["error"]["problems"].as_array().unwrap();
    assert_eq!(
        problems[0]["code"], "nshost::invalid_address",
        "{invalid:#}"
    );
    assert!(problems[0]["line"].is_number(), "{invalid:#}");
    let c = changes(&applied);
    assert!(c.iter().any(|c| c.contains("10.7.0.0/16")), "{c:?}");
    assert!(c.iter().any(|c| c.contains("10.9.0.0/16")), "{c:?}");
    assert_eq!(c.len(), 2, "only the route changed: {c:?}");
}

/// Starts a watcher of the lab with `extra` options, makes `drift` by hand, and returns
/// the drift event and the lab's state after it (h1's addresses, r1's routes, whether
/// h1's eth0 is up).
fn drift(extra: &[&str], drift: impl FnOnce()) -> (Value, Vec<String>, Vec<String>, bool, bool) {
    let file = lab();
    let mut w = Watcher::start(&file, extra);
    drift();
    let event = w.next("drift");
    let state = (
        addresses("h1"),
        routes("r1"),
        is_up(&links("h1")["eth0"]),
        converged(&file),
    );
    w.kill();
    (event, state.0, state.1, state.2, state.3)
}

#[test]
fn repairs_a_deleted_route() {
    let (event, _, routes, _, converged) =
        sandboxed(|| drift(&[], || ip(&["-n", "r1", "route", "del", "10.9.0.0/16"])));
    assert_eq!(event["action"], "repaired", "{event:#}");
    assert_eq!(event["namespaces"], serde_json::json!(["r1"]));
    assert!(
        changes(&event)[0].contains("add route 10.9.0.0/16"),
        "{event:#}"
    );
    assert!(event["by"].is_string(), "{event:#}");
    assert!(
        routes.iter().any(|r| r.starts_with("10.9.0.0/16")),
        "{routes:?}"
    );
    assert!(converged);
}

#[test]
fn repairs_a_deleted_address() {
    let (event, addresses, _, _, converged) = sandboxed(|| {
        drift(&[], || {
            ip(&["-n", "h1", "address", "del", "10.1.1.10/24", "dev", "eth0"])
        })
    });
    assert_eq!(event["action"], "repaired", "{event:#}");
    assert!(
        changes(&event)
            .iter()
            .any(|c| c.contains("add address 10.1.1.10/24")),
        "{event:#}"
    );
    assert!(
        addresses.contains(&"eth0 10.1.1.10/24".to_string()),
        "{addresses:?}"
    );
    assert!(converged);
}

#[test]
fn repairs_a_link_set_down() {
    let (event, _, _, up, converged) =
        sandboxed(|| drift(&[], || ip(&["-n", "h1", "link", "set", "eth0", "down"])));
    assert_eq!(event["action"], "repaired", "{event:#}");
    assert!(up);
    assert!(converged);
}

#[test]
fn repairs_a_deleted_veth_and_a_deleted_namespace() {
    let (veth, after_ns, third, up) = sandboxed(|| {
        let file = lab();
        let mut w = Watcher::start(&file, &[]);
        ip(&["-n", "h1", "link", "del", "eth0"]);
        let veth = w.next("drift");
        // The kernel removes a deleted namespace's links after it says the namespace
        // went: a repair that runs in between may fail, and is retried by a resync.
        // `ip netns del` unmounts, then unlinks the entry: the watcher may remove the
        // empty mount point in between (it is the lab's), and ip then says so.
        let _ = run("ip", &["netns", "del", "h1"]);
        let deadline = Instant::now() + HANG;
        while !(netns().contains(&"h1".to_string()) && converged(&file)) {
            assert!(
                Instant::now() < deadline,
                "h1 never came back: {:#?}",
                w.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let after_ns = w.drain();
        // The namespace made anew is tracked anew: a drift in it is seen too.
        ip(&["-n", "h1", "link", "set", "eth0", "down"]);
        // Seen as a drift, or by the resync that retries the failed repair, whichever
        // runs first.
        let third = w.next_of(&["drift", "resync"], "update link eth0");
        let up = is_up(&links("h1")["eth0"]);
        w.kill();
        (veth, after_ns, third, up)
    });
    assert_eq!(veth["action"], "repaired", "{veth:#}");
    assert!(
        changes(&veth).iter().any(|c| c.contains("eth0")),
        "{veth:#}"
    );
    // Remade by a repair; or by one that failed on the kernel's late removal of the
    // old veth (the error reported; the lab converged all the same, as the wait above
    // saw, and a resync follows).
    let made = after_ns.iter().any(|e| {
        e["action"] == "repaired"
            && changes(e)
                .iter()
                .any(|c| c.contains("create host namespace h1"))
    });
    let retried = after_ns
        .iter()
        .any(|e| e["event"] == "error" && e["error"]["code"] == "nshost::apply_failed");
    assert!(made || retried, "{after_ns:#?}");
    assert_eq!(third["action"], "repaired", "{third:#}");
    assert!(
        changes(&third)
            .iter()
            .any(|c| c.contains("update link eth0")),
        "{third:#}"
    );
    assert!(up);
}

#[test]
fn report_only_reports() {
    let (event, _, routes, _, converged) = sandboxed(|| {
        drift(&["--report"], || {
            ip(&["-n", "r1", "route", "del", "10.9.0.0/16"])
        })
    });
    assert_eq!(event["action"], "reported", "{event:#}");
    assert!(
        !routes.iter().any(|r| r.starts_with("10.9.0.0/16")),
        "{routes:?}"
    );
    assert!(!converged);
}

#[test]
fn leaves_a_bird_route_alone() {
    let (event, seen, routes) = sandboxed(|| {
        let file = lab();
        let mut w = Watcher::start(&file, &[]);
        ip(&[
            "-n",
            "r1",
            "route",
            "add",
            "10.77.0.0/16",
            "via",
            "10.1.1.10",
            "proto",
            "bird",
        ]);
        // Then a drift of the lab's own: its event comes after the bird route's
        // notification was handled.
        ip(&["-n", "r1", "route", "del", "10.9.0.0/16"]);
        let event = w.next("drift");
        let routes = routes("r1");
        let seen = std::mem::take(&mut w.seen);
        w.kill();
        (event, seen, routes)
    });
    assert!(seen.is_empty(), "nothing before the drift: {seen:#?}");
    assert!(
        !changes(&event).iter().any(|c| c.contains("10.77")),
        "{event:#}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("10.77.0.0/16") && r.ends_with("proto bird")),
        "{routes:?}"
    );
}

#[test]
fn survives_a_flood_by_resyncing() {
    let (resync, routes, converged) = sandboxed(|| {
        let file = lab();
        // The smallest receive buffer the kernel grants: a flood overflows it.
        let mut w = Watcher::start_env(&file, &[], &[("NSHOST_EVENTS_RCVBUF", "1")]);
        let mut script = String::from("route del 10.9.0.0/16\n");
        for i in 0..3000 {
            script.push_str(&format!(
                "route add 10.{}.{}.0/24 via 10.1.1.10 proto bird\n",
                100 + i / 256,
                i % 256
            ));
        }
        let batch = scratch("flood.batch", &script);
        ip(&["-n", "r1", "-batch", batch.to_str().unwrap()]);
        let resync = w.next("resync");
        let routes = routes("r1");
        let converged = converged(&file);
        w.kill();
        (resync, routes, converged)
    });
    assert_eq!(resync["count"], 1, "{resync:#}");
    assert!(
        resync["reason"].as_str().unwrap().contains("lost"),
        "{resync:#}"
    );
    // The lab's route is back (by the resync, or by a drift seen before the overflow),
    // and the 3000 routes that are not the lab's are all left.
    assert!(converged);
    assert!(
        routes.iter().any(|r| r.starts_with("10.9.0.0/16")),
        "{routes:?}"
    );
    assert_eq!(
        routes.iter().filter(|r| r.ends_with("proto bird")).count(),
        3000
    );
}

/// The lab with `n` more hosts on r1's network.
fn bigger(n: usize) -> String {
    let mut text = LAB.to_string();
    for i in 0..n {
        text.push_str(&format!("  x{i}: {{address: 10.1.1.{}/24}}\n", 100 + i));
    }
    text
}

#[test]
fn a_restart_after_kill_9_mid_apply_converges() {
    let converged = sandboxed(|| {
        let file = lab();
        let w = Watcher::start(&file, &[]);
        std::fs::write(&file, bigger(40)).unwrap();
        // Killed as soon as the apply has begun: its first new namespace is there.
        let deadline = Instant::now() + HANG;
        while !netns().iter().any(|n| n.starts_with('x')) {
            assert!(Instant::now() < deadline, "the edit was never applied");
            std::thread::sleep(Duration::from_millis(1));
        }
        w.kill();
        // Converged at its start, before it reports ready.
        let again = Watcher::start(&file, &[]);
        let converged = converged(&file);
        again.kill();
        converged
    });
    assert!(converged);
}

/// A SIGTERM that comes while the watcher converges the lab at its start (its claim
/// made, the apply under way) stops it cleanly once the start is over; it used to kill
/// it, as the signal was caught only after `ready`.
#[test]
fn a_sigterm_during_the_start_stops_it_cleanly() {
    let (code, json) = sandboxed(|| {
        let file = lab();
        let mut cmd = nshost_command();
        cmd.args(["--output", "json", "watch"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawning nshost watch");
        let claim = std::path::Path::new("/run/nshost/w/watch.json");
        let deadline = Instant::now() + HANG;
        while !claim.exists() {
            assert!(
                Instant::now() < deadline,
                "the watcher never claimed the lab"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        // SAFETY: kill(2) on the watcher this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let code = child.wait().unwrap().code();
        (code, claim.exists())
    });
    assert_eq!(code, Some(0), "killed by the signal instead of stopping");
    assert!(!json, "watch.json is removed");
}

#[test]
fn sigterm_stops_it_and_leaves_the_lab() {
    let (code, converged, after, json) = sandboxed(|| {
        let file = lab();
        let mut w = Watcher::start(&file, &[]);
        // SAFETY: kill(2) on the watcher this test started.
        unsafe { libc::kill(w.pid() as i32, libc::SIGTERM) };
        let code = w.child.wait().unwrap().code();
        let after = nshost(["status", "--lab", "w"]).ok();
        let json = std::path::Path::new("/run/nshost/w/watch.json").exists();
        (code, converged(&file), after, json)
    });
    assert_eq!(code, Some(0));
    assert!(converged, "the lab is left as it was");
    assert!(!after.contains("Watched"), "{after}");
    assert!(!json, "watch.json is removed");
}

#[test]
fn status_shows_a_running_watcher_and_not_a_dead_one() {
    let (during, second, after) = sandboxed(|| {
        let file = lab();
        let w = Watcher::start(&file, &[]);
        let during = nshost(["status", "--lab", "w"]).ok();
        let second = nshost(["watch".as_ref(), file.as_os_str()]);
        let pid = w.pid();
        w.kill();
        let after = nshost(["status", "--lab", "w"]).ok();
        (during.replace(&pid.to_string(), "PID"), second, after)
    });
    assert!(during.contains("Watched by pid PID since "), "{during}");
    assert!(
        during.contains("(file /run/nshost-ktest/w.yaml)"),
        "{during}"
    );
    assert_eq!(second.code, 1);
    assert!(
        second.stderr.contains("nshost::watched"),
        "{}",
        second.stderr
    );
    assert!(!after.contains("Watched"), "{after}");
}

/// A router and twelve hosts on one network: big enough that one host is a small part
/// of it, so that the watcher compares only the part an edit or a notice reaches (the
/// namespaces it changed, and of the fabric only the ports concerned).
const WIDE: &str = "\
name: w
networks:
  lan: {subnets: [10.1.0.0/24]}
routers:
  r1: {interfaces: {lan: {network: lan}}}
hosts:
  h[1-12]: {network: lan}
";

#[test]
fn edits_adding_and_removing_a_host_of_a_wider_lab_converge() {
    let (added, removed, namespaces, converged) = sandboxed(|| {
        let file = scratch("w.yaml", WIDE);
        let mut w = Watcher::start(&file, &[]);
        std::fs::write(&file, edit(WIDE, "h[1-12]", "h[1-13]")).unwrap();
        let added = w.next("applied");
        std::fs::write(&file, edit(WIDE, "h[1-12]", "h[2-13]")).unwrap();
        let removed = w.next("applied");
        let state = (netns(), converged(&file));
        w.kill();
        (added, removed, state.0, state.1)
    });
    assert!(
        changes(&added).iter().any(|c| c.starts_with("h13:")),
        "{added:#}"
    );
    assert!(
        changes(&removed).iter().any(|c| c.starts_with("h1:")),
        "{removed:#}"
    );
    assert!(namespaces.contains(&"h13".to_string()), "{namespaces:?}");
    assert!(!namespaces.contains(&"h1".to_string()), "{namespaces:?}");
    assert!(
        converged,
        "the kernel does not match the file after the edits"
    );
}

#[test]
fn repairs_a_fabric_port_set_down_reading_that_port_again() {
    let (event, up, others_up, converged) = sandboxed(|| {
        let file = scratch("w.yaml", WIDE);
        let mut w = Watcher::start(&file, &[]);
        let port = links("w-fabric")
            .into_keys()
            .find(|name| name.starts_with("h3-"))
            .expect("h3's port in the fabric");
        ip(&["-n", "w-fabric", "link", "set", &port, "down"]);
        let event = w.next_of(&["drift"], "update link");
        let fabric = links("w-fabric");
        let up = is_up(&fabric[&port]);
        let others_up = fabric
            .iter()
            .filter(|(name, _)| name.starts_with('h'))
            .all(|(_, l)| is_up(l));
        let converged = converged(&file);
        // Memory still holds every other port: an edit after the repair converges too.
        std::fs::write(&file, edit(WIDE, "h[1-12]", "h[1-13]")).unwrap();
        w.next("applied");
        let converged_after_edit = converged && self::converged(&file);
        w.kill();
        (event, up, others_up, converged_after_edit)
    });
    assert_eq!(event["action"], "repaired", "{event:#}");
    assert_eq!(
        event["namespaces"],
        serde_json::json!(["w-fabric"]),
        "{event:#}"
    );
    assert!(up, "the port is not up again");
    assert!(others_up);
    assert!(converged);
}

/// A repair that fails leaves the rest of the lab alone: the watcher's apply starts
/// from the part of the lab it reaches, and a rollback to that part (as if it were the
/// whole lab) went on to change what the repair never touched (it tried to make h1's
/// fabric port again, and failed). No rollback: a resync converges instead.
#[test]
fn a_failed_repair_touches_nothing_else_and_a_resync_converges() {
    let (error, before, after, converged) = sandboxed(|| {
        let file = lab();
        crate::apply(&file);
        let before = netns_id("h1");
        // The first apply of the watcher's process fails (after the kernel did it):
        // the start applies nothing, so that is the repair's.
        let mut w = Watcher::start_env(&file, &[], &[("NSHOST_FAULT", "stage:0")]);
        ip(&["-n", "r1", "route", "del", "10.9.0.0/16"]);
        let error = w.next("error");
        w.next("resync");
        let after = netns_id("h1");
        let converged = converged(&file);
        w.kill();
        (error, before, after, converged)
    });
    assert_eq!(error["error"]["code"], "nshost::apply_failed", "{error:#}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(!message.contains("rolling back"), "{message}");
    assert_eq!(before, after, "h1 was deleted and made again");
    assert!(converged);
}
