//! Crash safety: an apply, and a destroy, of a 200-host lab killed (`kill -9`) at 20
//! points spread over their whole run. After each kill the next run finishes the job:
//! the apply converges, the destroy removes everything, nothing half made or half
//! removed stays under `/run/netns`, and no run waits for the lock the dead one held.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::ktest::*;
use crate::labgen::GenLab;
use crate::*;

/// Kill points per command.
const KILLS: u32 = 20;

/// A lock timeout short enough that a lock left held by a dead process would fail the
/// next command (instead of making it wait).
const LOCK_TIMEOUT: &str = "2";

/// `nshost <command> <file> --lock-timeout 2`, which must succeed.
fn run_ok(command: &str, file: &Path) -> String {
    nshost([
        command.as_ref(),
        file.as_os_str(),
        "--lock-timeout".as_ref(),
        LOCK_TIMEOUT.as_ref(),
    ])
    .ok()
}

/// Starts `nshost <command> <file> --lock-timeout 2`, its output thrown away.
fn spawn_quiet(command: &str, file: &Path) -> std::process::Child {
    spawn_nshost_quiet([
        command.as_ref(),
        file.as_os_str(),
        "--lock-timeout".as_ref(),
        LOCK_TIMEOUT.as_ref(),
    ])
}

/// Starts `nshost <command> <file>`, waits `delay`, kills it with SIGKILL and reaps it.
fn killed_after(command: &str, file: &Path, delay: Duration) {
    let mut child = spawn_quiet(command, file);
    std::thread::sleep(delay);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// How long an uninterrupted `nshost <command> <file>` takes.
fn timed(command: &str, file: &Path) -> Duration {
    let t = Instant::now();
    run_ok(command, file);
    t.elapsed()
}

/// Where a killed apply stopped, from what is left to do: `not started` when nothing
/// is under `/run/netns`, else the earliest step of an apply that a plan still finds
/// to do (namespaces, then veth pairs, then in each namespace its links up, settings,
/// addresses and routes), or `finished` when there is nothing.
fn where_apply_stopped(file: &Path) -> String {
    if entries().is_empty() {
        return "not started".into();
    }
    let plan = nshost([
        "plan".as_ref(),
        file.as_os_str(),
        "--output".as_ref(),
        "json".as_ref(),
        "--lock-timeout".as_ref(),
        LOCK_TIMEOUT.as_ref(),
    ])
    .code(0)
    .json();
    let ops: BTreeSet<String> = plan["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| str_of(c, "op").to_string())
        .collect();
    let steps: [(&[&str], &str); 6] = [
        (&["add_namespace", "delete_namespace"], "making namespaces"),
        (&["add_link"], "making veth pairs"),
        (&["update_link"], "bringing links up"),
        (&["set_sysctl", "set_link_setting"], "writing settings"),
        (&["add_address"], "adding addresses"),
        (&["add_route", "replace_route"], "adding routes"),
    ];
    steps
        .iter()
        .find(|(kinds, _)| kinds.iter().any(|k| ops.contains(*k)))
        .map_or_else(
            || {
                assert!(ops.is_empty(), "unexpected changes left: {ops:?}");
                "finished".to_string()
            },
            |(_, what)| what.to_string(),
        )
}

/// Issue: a run killed part-way left the lab in a state its next apply refused or could
/// not finish. An apply of 200 hosts is killed after 1/21, 2/21, ... 20/21 of the time an
/// uninterrupted apply takes; after each, the next apply converges, and only mounted
/// namespaces are under `/run/netns`. Returns how many kills stopped the apply where.
#[test]
fn apply_killed_anywhere_is_finished_by_the_next_apply() {
    let spread = sandboxed(|| {
        let lab = GenLab::new("big", 200);
        let file = scratch("big.yaml", &lab.to_yaml());
        let total = lab.node_names().len() + 1;
        // Timed as every killed apply runs: right after a destroy, while the kernel is
        // still freeing the namespaces it removed.
        run_ok("apply", &file);
        run_ok("destroy", &file);
        let t = timed("apply", &file);
        run_ok("destroy", &file);
        let mut spread: BTreeMap<String, u32> = BTreeMap::new();
        for i in 1..=KILLS {
            killed_after("apply", &file, t * i / (KILLS + 1));
            *spread.entry(where_apply_stopped(&file)).or_default() += 1;
            run_ok("apply", &file);
            assert_converged(&file);
            assert_only_namespaces();
            assert_eq!(netns().len(), total, "kill {i}");
            run_ok("destroy", &file);
            assert_eq!(entries(), BTreeMap::new(), "kill {i}: destroyed");
        }
        let partial: u32 = spread
            .iter()
            .filter(|(at, _)| !["not started", "finished"].contains(&at.as_str()))
            .map(|(_, n)| n)
            .sum();
        assert!(
            partial > 0,
            "no kill stopped the apply part-way: {spread:?}"
        );
        eprintln!("apply of 200 hosts, {t:?} uninterrupted; killed while {spread:?}");
        spread
    });
    eprintln!("apply kill points: {spread:?}");
}

/// Issue: a destroy killed part-way left mount points without a namespace, which the
/// next commands of every lab failed on. A destroy of 200 hosts is killed after 1/21,
/// 2/21, ... 20/21 of the time an uninterrupted one takes, and once more as soon as it
/// has removed a namespace; after each, the next destroy
/// removes everything (no namespace, nothing at all under `/run/netns`), and the next
/// apply, with a short lock timeout, does not wait for the dead one's lock.
#[test]
fn destroy_killed_anywhere_is_finished_by_the_next_destroy() {
    let spread = sandboxed(|| {
        let lab = GenLab::new("big", 200);
        let file = scratch("big.yaml", &lab.to_yaml());
        let total = lab.node_names().len() + 1;
        run_ok("apply", &file);
        let t = timed("destroy", &file);
        let mut spread: BTreeMap<String, u32> = BTreeMap::new();
        // The 20 spread kills, then one more as soon as the destroy has removed a
        // namespace: its removals are the last tenth of its run, which the spread may
        // only just reach.
        for i in 1..=KILLS + 1 {
            run_ok("apply", &file);
            assert_eq!(netns().len(), total);
            if i <= KILLS {
                killed_after("destroy", &file, t * i / (KILLS + 1));
            } else {
                let mut child = spawn_quiet("destroy", &file);
                while netns().len() == total && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(Duration::from_micros(200));
                }
                child.kill().unwrap();
                child.wait().unwrap();
            }
            let left = entries();
            let unmounted = left.values().filter(|w| **w != "namespace").count();
            let at = match left.len() {
                0 => "finished".to_string(),
                n if n == total && unmounted == 0 => "not started".to_string(),
                n => format!(
                    "removing namespaces ({}-{} left, {unmounted} unmounted)",
                    n / 50 * 50,
                    n / 50 * 50 + 49
                ),
            };
            *spread.entry(at).or_default() += 1;
            run_ok("destroy", &file);
            assert_eq!(entries(), BTreeMap::new(), "kill {i}: nothing left");
        }
        let partial: u32 = spread
            .iter()
            .filter(|(at, _)| at.starts_with("removing"))
            .map(|(_, n)| n)
            .sum();
        assert!(
            partial > 0,
            "no kill stopped the destroy part-way: {spread:?}"
        );
        // And an apply after it all does not wait for any lock either.
        run_ok("apply", &file);
        assert_converged(&file);
        eprintln!("destroy of 200 hosts, {t:?} uninterrupted; killed {spread:?}");
        spread
    });
    eprintln!("destroy kill points: {spread:?}");
}
