//! Routing daemons in a lab: BIRD 2 running OSPF in the three routers of
//! `topologies/ospf.yaml` (issue 18). BIRD's routes (`proto bird`) are another program's:
//! a re-plan shows no drift and an apply keeps them; and whatever runs in the lab's
//! nodes, started by the lab's `run:` or by hand with `nshost exec`, goes with it.
//!
//! The processes are looked at through `/proc` (each test's sandbox is a pid namespace
//! of its own, so every process of the lab is visible there), BIRD itself through
//! `birdc` in the node, and the routes in the kernel: never through `status`, whose
//! shape for processes is not the subject here. BIRD missing is a failure that names the
//! package (`apt-get install bird2`, which `cargo xtask test` does), never a skip.
//!
//! One test starts BIRD by hand with `nshost exec` (what the issue reported); the others
//! run the lab as shipped, BIRD started by its `run:` from the files of its `files:`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ktest::*;
use crate::*;

/// How long OSPF may take to converge: about 7 s here (BIRD waits 5 s between two
/// originations of a router's LSA), much more on a loaded machine.
const CONVERGENCE: &str = "90s";

/// BIRD's daemon, found as `cargo xtask test` finds it (`PATH`, then the system
/// directories): its absence fails the test, naming the package to install.
fn bird() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("bird"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "BIRD 2 is not installed, and these tests run it: `apt-get install bird2` \
                 (`cargo xtask test` installs it when run as root)"
            )
        })
}

/// `birdc` beside [`bird`].
fn birdc() -> PathBuf {
    let c = bird().with_file_name("birdc");
    assert!(
        c.is_file(),
        "no birdc beside {c:?}: `apt-get install bird2`"
    );
    c
}

/// Copies `topologies/ospf.yaml` (or its text edited by `edit_lab`) and its BIRD
/// configuration into the sandbox's scratch folder; returns the lab file's path.
fn ospf_lab(edit_lab: impl FnOnce(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(topology("ospf.yaml")).expect("topologies/ospf.yaml");
    let conf = std::fs::read_to_string(topology("ospf/bird.conf")).expect("ospf/bird.conf");
    let file = scratch("ospf.yaml", &edit_lab(text));
    let dir = file.parent().unwrap().join("ospf");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bird.conf"), conf).unwrap();
    file
}

/// The lab's text without its `files:` and `run:` (what a user had before the lab
/// could run anything): the same network, and BIRD to be started by hand.
fn without_workload(text: String) -> String {
    let mut out = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if skipping && (indent > 4 || line.trim().is_empty()) {
            continue;
        }
        skipping = line == "    files:" || line == "    run:";
        if !skipping {
            out.push(line);
        }
    }
    let lab = out.join("\n") + "\n";
    assert!(!lab.contains("files:") && !lab.contains("run:"), "{lab}");
    lab
}

/// The pids of the processes called `comm` in the network namespace of node `ns`,
/// sorted.
fn pids_in(ns: &str, comm: &str) -> Vec<u32> {
    let net = netns_id(ns);
    processes(comm)
        .into_iter()
        .filter(|(_, n)| *n == Some(net))
        .map(|(pid, _)| pid)
        .collect()
}

/// Every live process called `comm` in the sandbox, with its network namespace's
/// inode when it can be read.
fn processes(comm: &str) -> Vec<(u32, Option<u64>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap() {
        let name = entry.unwrap().file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let dir = Path::new("/proc").join(pid.to_string());
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            continue;
        }
        if std::fs::read_to_string(dir.join("comm"))
            .unwrap_or_default()
            .trim()
            == comm
        {
            let net = std::fs::metadata(dir.join("ns/net")).ok().map(|m| m.ino());
            out.push((pid, net));
        }
    }
    out.sort();
    out
}

/// The routers' BIRD pids, by router.
fn bird_pids() -> BTreeMap<String, Vec<u32>> {
    ["r1", "r2", "r3"]
        .map(|r| (r.to_string(), pids_in(r, "bird")))
        .into_iter()
        .collect()
}

/// Waits until `cond` holds, for at most `limit`.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `nshost check --wait`: the lab's checks (h1 and h2 both ways, r2's loopback from
/// both) hold once OSPF has converged.
fn converged(file: &Path) -> String {
    nshost([
        "check".as_ref(),
        file.as_os_str(),
        "--wait".as_ref(),
        CONVERGENCE.as_ref(),
    ])
    .ok()
}

/// The routes BIRD installed in router `ns`.
fn bird_routes(ns: &str) -> Vec<String> {
    routes(ns)
        .into_iter()
        .filter(|r| r.ends_with(" proto bird"))
        .collect()
}

/// `birdc show ospf neighbors` in router `ns`, through `nshost exec`.
fn neighbours(ns: &str, socket: &str) -> String {
    let birdc = birdc();
    nshost([
        "exec".as_ref(),
        ns.as_ref(),
        "--".as_ref(),
        birdc.as_os_str(),
        "-s".as_ref(),
        socket.as_ref(),
        "show".as_ref(),
        "ospf".as_ref(),
        "neighbors".as_ref(),
    ])
    .ok()
}

/// What the issue reported, with BIRD started by hand in each router (`nshost exec rN
/// -- bird`, which puts itself in the background): OSPF converges; the routes it
/// installs are not drift, so a re-plan is a no-op and an apply keeps them (it deleted
/// all six, an outage of 45 s); `status` calls them dynamic; and destroy stops the
/// three BIRDs, which outlived it.
#[test]
fn bird_started_by_exec_converges_is_left_alone_and_goes_with_destroy() {
    let (before, after, destroyed, left) = sandboxed(|| {
        let bird = bird();
        let file = ospf_lab(without_workload);
        let conf = file.parent().unwrap().join("ospf/bird.conf");
        apply(&file);
        for r in ["r1", "r2", "r3"] {
            let socket = format!("/run/bird-{r}.ctl");
            nshost([
                "exec".as_ref(),
                r.as_ref(),
                "--".as_ref(),
                bird.as_os_str(),
                "-c".as_ref(),
                conf.as_os_str(),
                "-s".as_ref(),
                socket.as_ref(),
            ])
            .ok();
        }
        let pids = bird_pids();
        assert!(pids.values().all(|p| p.len() == 1), "{pids:?}");
        let out = converged(&file);
        assert!(out.contains("Checks: 4 passed, 0 failed"), "{out}");
        let n = neighbours("r1", "/run/bird-r1.ctl");
        assert_eq!(n.matches("Full/PtP").count(), 2, "{n}");
        let before = bird_routes("r1");
        assert_converged(&file);
        let out = apply(&file);
        assert!(out.contains("0 added, 0 changed, 0 destroyed"), "{out}");
        let after = bird_routes("r1");
        let status = nshost([
            "status".as_ref(),
            file.as_os_str(),
            "--show".as_ref(),
            "routes".as_ref(),
        ])
        .ok();
        assert!(status.contains("bird (dynamic)"), "{status}");
        let destroyed = nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        (before, after, destroyed, processes("bird").len())
    });
    // r1 learns r3's LAN, r2's and r3's loopbacks and the r2-r3 link by OSPF.
    for learnt in [
        "10.3.0.0/24 via 10.0.13.2 dev to-r3 metric 32 proto bird",
        "10.255.0.2 via 10.0.12.2 dev to-r2 metric 32 proto bird",
        "10.255.0.3 via 10.0.13.2 dev to-r3 metric 32 proto bird",
    ] {
        assert!(
            before.iter().any(|r| r == learnt),
            "{learnt} in {before:#?}"
        );
    }
    assert_eq!(before, after, "the apply touched BIRD's routes");
    assert!(
        destroyed.contains("Stopped 3 process(es) that ran in the lab's deleted namespaces"),
        "{destroyed}"
    );
    for r in ["r1", "r2", "r3"] {
        assert!(destroyed.contains(&format!(") in {r}")), "{destroyed}");
    }
    assert_eq!(left, 0, "BIRD processes left after destroy");
}

// ----- The lab's own `run:` and `files:` -----

/// `topologies/ospf.yaml` as shipped: each router runs BIRD from its `run:`, with the
/// configuration its `files:` puts in `/run/bird`. It converges, a re-plan is a no-op,
/// an apply keeps BIRD's routes, restarts nothing and keeps BIRD's log.
#[test]
fn the_ospf_lab_converges_and_a_replan_is_a_noop() {
    let (before, after) = sandboxed(|| {
        bird();
        let file = ospf_lab(|t| t);
        apply(&file);
        let out = converged(&file);
        assert!(out.contains("Checks: 4 passed, 0 failed"), "{out}");
        for r in ["r1", "r2", "r3"] {
            let n = neighbours(r, "/run/bird/bird.ctl");
            assert_eq!(n.matches("Full/PtP").count(), 2, "{r}: {n}");
        }
        let pids = bird_pids();
        assert!(pids.values().all(|p| p.len() == 1), "{pids:?}");
        let before = bird_routes("r1");
        assert_converged(&file);
        let out = apply(&file);
        assert!(out.contains("0 added, 0 changed, 0 destroyed"), "{out}");
        assert_eq!(bird_pids(), pids, "the apply restarted BIRD");
        // The no-op apply left the supervisors' records alone: the plan still sees the
        // processes, and BIRD's log is still there.
        assert_converged(&file);
        let log = nshost(["logs", "r1", "bird"]).ok();
        assert!(log.contains("Started"), "{log}");
        let after = bird_routes("r1");
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        (before, after)
    });
    assert!(
        before
            .iter()
            .any(|r| r == "10.3.0.0/24 via 10.0.13.2 dev to-r3 metric 32 proto bird"),
        "{before:#?}"
    );
    assert_eq!(before, after, "the apply touched BIRD's routes");
}

/// BIRD killed by hand (SIGKILL, no goodbye) is started again by the lab's
/// supervisor, and OSPF converges again.
#[test]
fn killing_bird_restarts_it() {
    sandboxed(|| {
        bird();
        let file = ospf_lab(|t| t);
        apply(&file);
        converged(&file);
        let old = pids_in("r2", "bird");
        assert_eq!(old.len(), 1, "{old:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old[0] as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_for("BIRD started again in r2", Duration::from_secs(30), || {
            let now = pids_in("r2", "bird");
            now.len() == 1 && now != old
        });
        let out = converged(&file);
        assert!(out.contains("Checks: 4 passed, 0 failed"), "{out}");
        let n = neighbours("r2", "/run/bird/bird.ctl");
        assert_eq!(n.matches("Full/PtP").count(), 2, "{n}");
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
    })
}

/// A change to one router's BIRD configuration restarts that router's BIRD and
/// nothing else: the other BIRDs, the namespaces and the links stay as they were.
#[test]
fn editing_a_routers_bird_conf_restarts_that_bird_and_nothing_else() {
    sandboxed(|| {
        bird();
        // r2 reads its own copy of the configuration.
        let file = ospf_lab(|t| {
            edit(
                &t,
                "  r2: {}\n",
                "  r2:\n    files:\n      /run/bird/bird.conf: {source: ospf/bird-r2.conf}\n",
            )
        });
        let r2_conf = file.parent().unwrap().join("ospf/bird-r2.conf");
        let conf = std::fs::read_to_string(file.parent().unwrap().join("ospf/bird.conf")).unwrap();
        std::fs::write(&r2_conf, &conf).unwrap();
        apply(&file);
        converged(&file);
        let (pids, namespaces, links) = (bird_pids(), netns_ids(), ifindexes());
        assert!(pids.values().all(|p| p.len() == 1), "{pids:?}");

        std::fs::write(&r2_conf, edit(&conf, "scan time 10;", "scan time 20;")).unwrap();
        let plan = plan_code(&file).code(2).stdout;
        assert!(plan.contains("bird"), "{plan}");
        apply(&file);
        wait_for("BIRD running again in r2", Duration::from_secs(30), || {
            pids_in("r2", "bird").len() == 1
        });
        let now = bird_pids();
        assert_ne!(now["r2"], pids["r2"], "r2's BIRD was not restarted");
        assert_eq!(now["r1"], pids["r1"], "r1's BIRD was restarted");
        assert_eq!(now["r3"], pids["r3"], "r3's BIRD was restarted");
        assert_eq!(netns_ids(), namespaces, "namespaces were made again");
        assert_eq!(ifindexes(), links, "links were made again");
        assert_converged(&file);
        let out = converged(&file);
        assert!(out.contains("Checks: 4 passed, 0 failed"), "{out}");
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
    })
}

/// Destroy leaves no process that ran in the lab: the three BIRDs of its `run:` and a
/// process a user left in the background of `nshost exec`, counted before and after.
#[test]
fn destroy_leaves_no_process_of_the_lab() {
    let (during, after) = sandboxed(|| {
        bird();
        let file = ospf_lab(|t| t);
        apply(&file);
        converged(&file);
        nshost([
            "exec",
            "r1",
            "--",
            "sh",
            "-c",
            "sleep 1000 </dev/null >/dev/null 2>&1 &",
        ])
        .ok();
        wait_for("the background sleep in r1", Duration::from_secs(5), || {
            pids_in("r1", "sleep").len() == 1
        });
        let during = (processes("bird").len(), processes("sleep").len());
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        let after = (
            processes("bird").len(),
            processes("sleep").len(),
            crate::sandbox::other_processes().unwrap(),
        );
        (during, after)
    });
    assert_eq!(during, (3, 1), "(bird, sleep) processes while the lab ran");
    assert_eq!(after, (0, 0, Vec::new()), "processes left after destroy");
}

/// `try --shell` of the OSPF lab: BIRD runs in the sandbox (birdc answers from r1), and
/// nothing of it outlives the sandbox.
#[test]
fn try_shell_of_the_ospf_lab_leaves_no_process() {
    use std::io::Write;
    let (run, left) = sandboxed(|| {
        let birdc = birdc();
        let file = ospf_lab(|t| t);
        let mut child = nshost_command()
            .arg("try")
            .arg(&file)
            .arg("--shell")
            .env("SHELL", "/bin/sh")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawning nshost try --shell");
        let script = format!(
            "nshost check {} --wait {CONVERGENCE} -q\nnshost exec r1 -- {} show protocols\nexit 0\n",
            file.display(),
            birdc.display()
        );
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let run = finish("nshost try --shell", child).code(0);
        (run, crate::sandbox::other_processes().unwrap())
    });
    assert!(run.stdout.contains("ospf1"), "{}", run.stdout);
    assert!(
        run.stdout.contains("Lab `ospf` torn down"),
        "{}",
        run.stdout
    );
    assert_eq!(left, Vec::<String>::new(), "processes left after try");
}

/// The lab's processes start with no signal blocked: the supervisor blocks the ones it
/// reads from a signalfd, and a child that kept that mask ignored SIGTERM (BIRD took the
/// whole grace period and SIGKILL at every destroy and restart) and SIGHUP.
#[test]
fn bird_starts_with_no_signal_blocked() {
    let masks = sandboxed(|| {
        bird();
        let file = ospf_lab(|t| t);
        apply(&file);
        wait_for("three BIRDs", Duration::from_secs(10), || {
            processes("bird").len() == 3
        });
        let masks: Vec<String> = processes("bird")
            .into_iter()
            .map(|(pid, _)| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
                let blocked = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
                blocked.split_whitespace().nth(1).unwrap().to_string()
            })
            .collect();
        nshost(["destroy".as_ref(), file.as_os_str()]).ok();
        masks
    });
    assert_eq!(masks, vec!["0000000000000000"; 3], "BIRD's blocked signals");
}
