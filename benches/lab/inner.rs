//! What runs inside one sandbox: builds (and changes, and removes) the benchmark lab with
//! one method, timing each program it starts from spawn to exit and reading the
//! program's peak RSS from `wait4`, checks after each step that the lab is what it should
//! be, and prints the figures as one JSON object on stdout for the driver.

use std::fs::File;
use std::io;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::baselines::{self, Baseline};
use crate::labgen::GenLab;
use crate::procs::{limit_files, wait_namespaces_freed};
use crate::sandbox;

/// The lab's name, and so its fabric namespace `bench-fabric`.
pub const LAB_NAME: &str = "bench";

/// How long a reachability probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A way of building the lab; each run of each method gets a fresh sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// nshost itself: apply, plan, add a host, change an address, destroy.
    Nshost,
    /// A bash script with one `ip` process per operation (the old tool's way).
    Bash,
    /// `ip -batch`, one batch file per namespace.
    Batch,
    /// The C floor `nsfloor N` (only with `--floor-bin`).
    Floor,
    /// nshost on two sandboxed machines at once, the lab split over two sites.
    Sites,
    /// Four labs of N/4 hosts each, applied (and destroyed) by four nshost at once.
    Parallel,
    /// `nshost watch` on the applied lab: a host added, drift repaired, idle (optional).
    Watch,
    /// A 10-node lab from a warm pool, and build/destroy cycles with and without one.
    Pool,
}

/// One measured step of a run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Step {
    /// `apply`, `plan`, `add_host`, `change_address`, `destroy`, `build`, `teardown`, `dump`.
    pub step: String,
    /// Wall clock of the process, spawn to exit, in milliseconds; `None` when it failed.
    pub wall_ms: Option<f64>,
    /// Peak resident set of the process (`ru_maxrss`), in KiB.
    pub maxrss_kib: Option<u64>,
    /// A time the program measured itself (the C floors), in milliseconds.
    pub own_ms: Option<f64>,
    /// Why there is no figure.
    pub error: Option<String>,
}

impl Step {
    pub fn failed(step: &str, error: impl Into<String>) -> Step {
        Step {
            step: step.to_string(),
            error: Some(error.into()),
            ..Step::default()
        }
    }
}

/// Everything one sandbox measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SandboxRun {
    pub steps: Vec<Step>,
}

/// What the driver tells the sandboxed process.
pub struct Job {
    pub method: Method,
    pub n: usize,
    pub nshost_bin: Option<PathBuf>,
    pub floor_bin: Option<PathBuf>,
    pub dump_bin: Option<PathBuf>,
}

/// A program that ran to its end.
struct Finished {
    wall: Duration,
    maxrss_kib: u64,
    /// `None` on success, else how it ended and the end of its stderr.
    failure: Option<String>,
    stdout: String,
}

impl Finished {
    /// The step's figures, or its failure.
    fn step(&self, step: &str) -> Step {
        Step {
            step: step.to_string(),
            wall_ms: self.failure.is_none().then(|| ms(self.wall)),
            maxrss_kib: Some(self.maxrss_kib),
            own_ms: None,
            error: self.failure.clone(),
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `cmd` as a direct child with stdin closed and its output in `logs/<tag>.out|err`.
/// The clock starts before `edit` (the YAML edit of a step) and stops when `wait4`
/// returns.
fn measure(
    mut cmd: Command,
    logs: &Path,
    tag: &str,
    edit: impl FnOnce() -> io::Result<()>,
) -> io::Result<Finished> {
    let out_path = logs.join(format!("{tag}.out"));
    let err_path = logs.join(format!("{tag}.err"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?);
    let start = Instant::now();
    edit()?;
    let child = cmd
        .spawn()
        .map_err(|e| io::Error::other(format!("cannot start {:?}: {e}", cmd.get_program())))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own child, status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let wall = start.elapsed();
    drop(child);
    let failure = if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        None
    } else {
        let how = if libc::WIFEXITED(status) {
            format!("exit status {}", libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("wait status {status:#x}")
        };
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        Some(format!("{how}{}", tail(&err)))
    };
    Ok(Finished {
        wall,
        maxrss_kib: usage.ru_maxrss as u64,
        failure,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
    })
}

/// Runs `cmd` as [`measure`] does, without an edit: whether it succeeded, its wall
/// clock and its peak RSS in KiB.
pub fn measured(cmd: Command, logs: &Path, tag: &str) -> io::Result<(bool, Duration, u64)> {
    measure(cmd, logs, tag, || Ok(())).map(|f| (f.failure.is_none(), f.wall, f.maxrss_kib))
}

/// The gist of a program's error output for a message: a Rust panic's location and
/// message when there is one, else the last few lines.
pub fn tail(text: &str) -> String {
    // Without miette's box drawing, so that the lines read joined.
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches(|c: char| c.is_whitespace() || "│×╰╭─┬▶".contains(c)))
        .filter(|l| !l.trim().is_empty())
        .collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let end = (i + 3).min(lines.len());
        let msg: Vec<&str> = lines[i..end]
            .iter()
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace"))
            .copied()
            .collect();
        return format!(": {}", msg.join(" "));
    }
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(6);
    format!(": {}", lines[start..].join(" / "))
}

/// Checks that exactly the lab's namespaces exist and that traffic crosses the routers:
/// `h0` reaches `h1` (on `r1`), and the last host reaches `h0`.
pub fn check_lab(lab: &GenLab) -> Result<(), String> {
    let want = baselines::namespaces(lab);
    let have = sandbox::netns_names().map_err(|e| format!("listing /run/netns: {e}"))?;
    let mut want_sorted = want.clone();
    want_sorted.sort();
    if have != want_sorted {
        let missing: Vec<_> = want_sorted
            .iter()
            .filter(|n| !have.contains(n))
            .take(5)
            .collect();
        let extra: Vec<_> = have
            .iter()
            .filter(|n| !want_sorted.contains(n))
            .take(5)
            .collect();
        return Err(format!(
            "{} namespaces instead of {} (missing e.g. {missing:?}, unexpected e.g. {extra:?})",
            have.len(),
            want.len()
        ));
    }
    let hosts = &lab.hosts;
    if hosts.len() >= 2 {
        let last = &hosts[hosts.len() - 1];
        for (from, to) in [(&hosts[0], &hosts[1]), (last, &hosts[0])] {
            sandbox::udp_reachable(&from.name, &to.name, to.address.addr(), PROBE_TIMEOUT)
                .map_err(|e| format!("not reachable: {e}"))?;
        }
    }
    Ok(())
}

/// Checks that no namespace is left.
fn check_empty() -> Result<(), String> {
    let left = sandbox::netns_names().map_err(|e| format!("listing /run/netns: {e}"))?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} namespaces left, e.g. {:?}",
            left.len(),
            &left[..left.len().min(5)]
        ))
    }
}

/// A step's figures if both the program and the check after it succeeded.
fn checked(
    step: &str,
    result: io::Result<Finished>,
    check: impl FnOnce() -> Result<(), String>,
) -> Step {
    match result {
        Err(e) => Step::failed(step, e.to_string()),
        Ok(f) if f.failure.is_some() => f.step(step),
        Ok(f) => match check() {
            Ok(()) => f.step(step),
            Err(e) => Step {
                error: Some(format!("exited 0 but the lab is wrong: {e}")),
                wall_ms: None,
                ..f.step(step)
            },
        },
    }
}

/// Entry point inside the sandbox: sets it up, runs `job`, returns the figures.
pub fn run(job: &Job) -> SandboxRun {
    if let Err(e) = sandbox::enter() {
        return SandboxRun {
            steps: vec![Step::failed("sandbox", e.to_string())],
        };
    }
    let work = PathBuf::from("/run/nshost-bench");
    if let Err(e) = std::fs::create_dir_all(&work) {
        return SandboxRun {
            steps: vec![Step::failed(
                "sandbox",
                format!("creating {}: {e}", work.display()),
            )],
        };
    }
    let lab = GenLab::new(LAB_NAME, job.n);
    let steps = match job.method {
        Method::Nshost => run_nshost(job, lab, &work),
        Method::Bash => run_baseline(job, &lab, &work, baselines::per_operation(&lab)),
        Method::Batch => run_baseline(job, &lab, &work, baselines::batch(&lab)),
        Method::Floor => run_floor(job, &work),
        Method::Sites => crate::sites::run(job, &lab, &work),
        Method::Parallel => crate::parallel::run(job, &work),
        Method::Watch => crate::watch::run(job, job.n, &work),
        Method::Pool => crate::pool::run(job, &work),
    };
    SandboxRun { steps }
}

/// [`measure`] of `cmd` (logs under `tag` = `step`), then `check`.
pub fn measure_checked(
    step: &str,
    cmd: Command,
    logs: &Path,
    check: impl FnOnce() -> Result<(), String>,
) -> Step {
    checked(step, measure(cmd, logs, step, || Ok(())), check)
}

/// Runs `cmd` with its output dropped; an error says how it failed.
pub fn run_quiet(cmd: Command) -> Result<(), String> {
    timed(cmd).map(drop)
}

/// Runs `cmd` with its output dropped and returns its wall clock, spawn to exit.
pub fn timed(mut cmd: Command) -> Result<Duration, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output().map_err(|e| e.to_string())?;
    let wall = start.elapsed();
    if out.status.success() {
        Ok(wall)
    } else {
        Err(format!(
            "{}{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr))
        ))
    }
}

/// The phases `NSHOST_TRACE` logged to a command's stderr (`<phase>: <ms> ms`).
fn phases(stderr: &str) -> Vec<(String, f64)> {
    stderr
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.rsplit_once(": ")?;
            let ms = rest.strip_suffix(" ms")?.trim().parse().ok()?;
            Some((name.split_whitespace().last()?.to_string(), ms))
        })
        .collect()
}

/// The nshost command `verb lab.yaml`, run in `work` under the usual open-file limit.
pub fn nshost_command(bin: &Path, verb: &str, yaml: &Path, work: &Path) -> Command {
    let mut c = Command::new(bin);
    c.arg(verb).arg(yaml).current_dir(work);
    if verb == "plan" {
        // Exit 2 if the plan is not empty: a no-op plan must find nothing to do.
        c.arg("--detailed-exitcode");
    }
    limit_files(&mut c);
    c
}

fn run_nshost(job: &Job, mut lab: GenLab, work: &Path) -> Vec<Step> {
    const STEPS: [&str; 5] = ["apply", "plan", "add_host", "change_address", "destroy"];
    let Some(bin) = job.nshost_bin.clone() else {
        return STEPS
            .iter()
            .map(|s| Step::failed(s, "no nshost binary (see the message at the start)"))
            .collect();
    };
    let yaml = work.join("lab.yaml");
    if let Err(e) = std::fs::write(&yaml, lab.to_yaml()) {
        return vec![Step::failed(
            "apply",
            format!("writing {}: {e}", yaml.display()),
        )];
    }
    let nshost = |verb: &str| nshost_command(&bin, verb, &yaml, work);
    let no_edit = || Ok(());
    let mut steps = Vec::new();

    let apply = checked(
        "apply",
        measure(nshost("apply"), work, "apply", no_edit),
        || check_lab(&lab),
    );
    let applied = apply.error.is_none();
    steps.push(apply);
    if !applied {
        for s in &STEPS[1..] {
            steps.push(Step::failed(s, "skipped: the cold apply failed"));
        }
        return steps;
    }

    let mut plan = nshost("plan");
    plan.env("NSHOST_TRACE", "1");
    steps.push(checked(
        "plan",
        measure(plan, work, "plan", no_edit),
        || Ok(()),
    ));
    // Where the no-op plan's time went: the file's part, and reading the kernel.
    let logged = phases(&std::fs::read_to_string(work.join("plan.err")).unwrap_or_default());
    let sum = |names: &[&str]| -> Option<f64> {
        let found: Vec<f64> = names
            .iter()
            .filter_map(|n| logged.iter().find(|(p, _)| p == n).map(|(_, ms)| *ms))
            .collect();
        (found.len() == names.len()).then(|| found.iter().sum())
    };
    for (step, names) in [
        ("plan_file", &["parse", "validate", "lower", "diff"][..]),
        ("plan_observe", &["observe"][..]),
    ] {
        steps.push(match sum(names) {
            Some(ms) => Step {
                step: step.to_string(),
                own_ms: Some(ms),
                ..Step::default()
            },
            None => Step::failed(step, format!("no {names:?} phases in plan.err")),
        });
    }

    lab.add_host();
    let text = lab.to_yaml();
    steps.push(checked(
        "add_host",
        measure(nshost("apply"), work, "add_host", || {
            std::fs::write(&yaml, &text)
        }),
        || check_lab(&lab),
    ));

    let old = lab.hosts[0].address.addr();
    lab.hosts[0].address = lab.spare_address(0);
    let text = lab.to_yaml();
    steps.push(checked(
        "change_address",
        measure(nshost("apply"), work, "change_address", || {
            std::fs::write(&yaml, &text)
        }),
        || {
            check_lab(&lab)?;
            let old_gone = sandbox::in_netns("h0", move || Ok(UdpSocket::bind((old, 0)).is_err()));
            match old_gone.join() {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(format!("h0 still has its old address {old}")),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("check thread panicked".to_string()),
            }
        },
    ));

    let destroy = checked(
        "destroy",
        measure(nshost("destroy"), work, "destroy", no_edit),
        check_empty,
    );
    steps.push(freed(&destroy, "destroy_freed"));
    steps.push(destroy);
    steps
}

fn run_baseline(job: &Job, lab: &GenLab, work: &Path, baseline: Baseline) -> Vec<Step> {
    let dir = work.join("baseline");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        baseline
            .files
            .iter()
            .try_for_each(|(name, text)| std::fs::write(dir.join(name), text))
    });
    if let Err(e) = written {
        return vec![Step::failed("build", format!("writing the scripts: {e}"))];
    }
    let bash = |script: &str| {
        let mut c = Command::new("bash");
        c.arg(script).current_dir(&dir);
        c
    };
    let mut steps = Vec::new();
    let build = checked(
        "build",
        measure(bash(baseline.build), work, "build", || Ok(())),
        || check_lab(lab),
    );
    let built = build.error.is_none();
    steps.push(build);
    if let (true, Method::Batch, Some(dump)) = (built, job.method, &job.dump_bin) {
        steps.push(run_dump(dump, lab, work));
    }
    if built {
        let teardown = checked(
            "teardown",
            measure(bash(baseline.teardown), work, "teardown", || Ok(())),
            check_empty,
        );
        steps.push(freed(&teardown, "teardown_freed"));
        steps.push(teardown);
    } else {
        steps.push(Step::failed("teardown", "skipped: the build failed"));
    }
    steps
}

/// A destroy or teardown timed until the kernel has freed its namespaces: `done`'s
/// wall clock plus the wait that follows it (see [`wait_namespaces_freed`]).
pub fn freed(done: &Step, step: &str) -> Step {
    let Some(wall) = done.wall_ms else {
        return Step::failed(step, "skipped: the step before failed");
    };
    match wait_namespaces_freed(Duration::from_secs(600)) {
        Ok(waited) => Step {
            step: step.to_string(),
            wall_ms: Some(wall + ms(waited)),
            maxrss_kib: done.maxrss_kib,
            ..Step::default()
        },
        Err(e) => Step::failed(step, e),
    }
}

/// A `key value` line of a C floor's output, as a number.
fn reported(stdout: &str, key: &str) -> Option<f64> {
    stdout.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some(key))
            .then(|| words.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}

/// `nsdump` while the lab is up: the floor for a no-op plan's reading of the kernel.
fn run_dump(bin: &Path, lab: &GenLab, work: &Path) -> Step {
    match measure(Command::new(bin), work, "dump", || Ok(())) {
        Err(e) => Step::failed("dump", e.to_string()),
        Ok(f) if f.failure.is_some() => f.step("dump"),
        Ok(f) => {
            let mut step = f.step("dump");
            let want = baselines::namespaces(lab).len() as f64;
            match (
                reported(&f.stdout, "dump_cold_us"),
                reported(&f.stdout, "namespaces"),
            ) {
                (Some(us), Some(n)) if n == want => step.own_ms = Some(us / 1e3),
                (_, n) => {
                    step.wall_ms = None;
                    step.error = Some(format!(
                        "unexpected output (namespaces {n:?}, want {want}): {}",
                        f.stdout.trim()
                    ));
                }
            }
            step
        }
    }
}

/// `nsfloor N`: builds its own version of the lab from one C process and tears it down,
/// reporting both times itself.
fn run_floor(job: &Job, work: &Path) -> Vec<Step> {
    let Some(bin) = &job.floor_bin else {
        return vec![Step::failed("build", "no --floor-bin given")];
    };
    let mut cmd = Command::new(bin);
    // --nowait: report and exit, rather than poll until the kernel frees the
    // namespaces, which this kernel does lazily (minutes at 1000 namespaces).
    cmd.arg(job.n.to_string()).arg("--nowait");
    let f = match measure(cmd, work, "floor", || Ok(())) {
        Err(e) => return vec![Step::failed("build", e.to_string())],
        Ok(f) => f,
    };
    if f.failure.is_some() {
        return vec![f.step("build")];
    }
    let errors = reported(&f.stdout, "netlink_errors");
    let own = |key: &str, step: &str| match (reported(&f.stdout, key), errors) {
        (Some(us), Some(0.0)) => Step {
            step: step.to_string(),
            wall_ms: None,
            maxrss_kib: Some(f.maxrss_kib),
            own_ms: Some(us / 1e3),
            error: None,
        },
        _ => Step::failed(
            step,
            format!(
                "unexpected output (no {key}, or netlink errors): {}",
                f.stdout.trim()
            ),
        ),
    };
    vec![
        own("build_us", "build"),
        own("teardown_us", "teardown"),
        Step {
            wall_ms: Some(ms(f.wall)),
            ..f.step("process")
        },
    ]
}
