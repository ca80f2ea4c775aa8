//! Crash safety: an apply, and a destroy, of a 200-host lab killed (`kill -9`) at 20
//! points each, spread over their whole run. After each kill the next run finishes the
//! job: the apply converges, the destroy removes everything, nothing half made or half
//! removed stays under `/run/netns`, and no run waits for the lock the dead one held.

use std::collections::BTreeMap;
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

/// Where a killed apply stopped, from what the kernel holds (read without running
/// nshost or `ip`): `not started` when nothing is under `/run/netns`, `making
/// namespaces` while some are missing or unmounted, `making veth pairs` while the fabric
/// lacks some, `configuring nodes` while some host has no default route yet (the last
/// thing made in each), and `finished` otherwise (killed while verifying, or after).
fn where_apply_stopped(lab: &GenLab) -> String {
    let seen = entries();
    let total = lab.node_names().len() + 1;
    let mounted = seen.values().filter(|w| **w == "namespace").count();
    // The fabric: its loopback, a bridge per network, a port per interface.
    let fabric_links = 1 + lab.networks.len() + lab.hosts.len() + lab.routers.len() * 4;
    let routed = |h: &&crate::labgen::GenHost| {
        proc_net(&h.name, "route")
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some("00000000"))
    };
    if seen.is_empty() {
        "not started".into()
    } else if mounted < total || seen.len() > mounted {
        "making namespaces".into()
    } else if link_count(&format!("{}-fabric", lab.name)) < fabric_links {
        "making veth pairs".into()
    } else if lab.hosts.iter().filter(routed).count() < lab.hosts.len() {
        "configuring nodes".into()
    } else {
        "finished".into()
    }
}

/// Where a killed destroy stopped: `not started` while every namespace is there,
/// `finished` when nothing is left, else how many entries are left and how many of them
/// are mount points already unmounted.
fn where_destroy_stopped(total: usize) -> String {
    let left = entries();
    let unmounted = left.values().filter(|w| **w != "namespace").count();
    match left.len() {
        0 => "finished".to_string(),
        n if n == total && unmounted == 0 => "not started".to_string(),
        n => format!(
            "removing namespaces ({}-{} left, {unmounted} unmounted)",
            n / 50 * 50,
            n / 50 * 50 + 49
        ),
    }
}

/// How many kills of `spread` stopped their command part-way.
fn part_way(spread: &BTreeMap<String, u32>) -> u32 {
    spread
        .iter()
        .filter(|(at, _)| !["not started", "finished"].contains(&at.as_str()))
        .map(|(_, n)| n)
        .sum()
}

/// Issue: a run killed part-way left the lab in a state its next run refused or could
/// not finish (namespaces or links "owned by nobody", mount points without a namespace
/// that every lab's commands then failed on). With a 200-host lab, 20 times: an apply
/// is killed after i/21 of the time an uninterrupted one takes, and the next apply
/// converges, leaving only mounted namespaces; then a destroy is killed after i/21 of
/// its own time (the last time, as soon as it has removed a namespace, as removals are
/// only the end of its run), and the next destroy removes everything under
/// `/run/netns`. Every command has a lock timeout of 2 s: none waits for the lock the
/// dead one held. Returns where the kills landed.
#[test]
fn killed_applies_and_destroys_are_finished_by_the_next_run() {
    let (applies, destroys) = sandboxed(|| {
        let lab = GenLab::new("big", 200);
        let file = scratch("big.yaml", &lab.to_yaml());
        let total = lab.node_names().len() + 1;
        // Timed as the killed ones run: an apply right after a destroy (while the
        // kernel still frees the namespaces it removed), a destroy after an apply.
        run_ok("apply", &file);
        run_ok("destroy", &file);
        let t_apply = timed("apply", &file);
        let t_destroy = timed("destroy", &file);
        let mut applies: BTreeMap<String, u32> = BTreeMap::new();
        let mut destroys: BTreeMap<String, u32> = BTreeMap::new();
        for i in 1..=KILLS {
            killed_after("apply", &file, t_apply * i / (KILLS + 1));
            *applies.entry(where_apply_stopped(&lab)).or_default() += 1;
            run_ok("apply", &file);
            assert_converged(&file);
            assert_only_namespaces();
            assert_eq!(netns().len(), total, "apply kill {i}");

            if i < KILLS {
                killed_after("destroy", &file, t_destroy * i / (KILLS + 1));
            } else {
                let mut child = spawn_quiet("destroy", &file);
                while netns().len() == total && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(Duration::from_micros(200));
                }
                child.kill().unwrap();
                child.wait().unwrap();
            }
            *destroys.entry(where_destroy_stopped(total)).or_default() += 1;
            run_ok("destroy", &file);
            assert_eq!(entries(), BTreeMap::new(), "destroy kill {i}: nothing left");
        }
        assert!(
            part_way(&applies) > 0,
            "no apply was killed part-way: {applies:?}"
        );
        assert!(
            part_way(&destroys) > 0,
            "no destroy was killed part-way: {destroys:?}"
        );
        eprintln!(
            "200 hosts: apply {t_apply:?}, destroy {t_destroy:?} uninterrupted; \
             applies killed {applies:?}; destroys killed {destroys:?}"
        );
        (applies, destroys)
    });
    eprintln!("apply kill points: {applies:?}\ndestroy kill points: {destroys:?}");
}
