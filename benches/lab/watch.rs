//! The watch rows (`--methods watch`): `nshost watch lab.yaml --output json` on the applied
//! lab, under the usual open-file limit, read line by line. The lab is the benchmark's
//! shape written compactly, as `topologies/big.yaml` writes it (host ranges `a[1-K]`
//! .. `d[1-K]` on the four routers' LANs, addresses from the names), so that a host
//! added is one number changed. Measured: one host added to
//! the file, from the write to the watcher's `applied` line (and the `ms` it reports:
//! load, diff, apply, verify); a route deleted and a link set down by hand, from
//! starting `ip` to the `drift` line saying `repaired` (and its `since_notice`); the
//! watcher idle for `IDLE`, its CPU time (utime + stime from `/proc/PID/stat`) and its
//! peak RSS (`VmHWM`), next to the peak RSS of a no-op `nshost plan` of the same lab,
//! which holds the lab's desired and live state once each (the in-memory state the
//! watcher keeps).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::inner::{Job, Step, ms, nshost_command};
use crate::procs::limit_files;

/// How long the watcher is left idle.
const IDLE: Duration = Duration::from_secs(60);
/// How long to wait for one line of the watcher.
const LINE_TIMEOUT: Duration = Duration::from_secs(120);

/// The steps of the watch method, in order.
pub const STEPS: [&str; 12] = [
    "apply",
    "plan_rss",
    "ready",
    "add_host",
    "add_host_load",
    "add_host_diff",
    "add_host_apply",
    "add_host_verify",
    "route_deleted",
    "route_since_notice",
    "link_down",
    "idle_cpu",
];

/// A running watcher and its JSON lines.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Watcher {
    fn start(bin: &Path, yaml: &Path, work: &Path) -> std::io::Result<Watcher> {
        let mut cmd = Command::new(bin);
        cmd.args(["watch", "--output", "json"])
            .arg(yaml)
            .current_dir(work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(work.join("watch.err"))?);
        limit_files(&mut cmd);
        let mut child = cmd.spawn()?;
        let out: ChildStdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    return;
                }
            }
        });
        Ok(Watcher { child, lines: rx })
    }

    /// The next line whose `event` is `event` (others are skipped), and when it came.
    fn wait_for(&self, event: &str) -> Result<(Value, Instant), String> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["event"] == event => return Ok((v, Instant::now())),
                Ok(v) if v["event"] == "error" || v["event"] == "invalid" => {
                    return Err(format!("the watcher said {v}"));
                }
                Ok(_) => {}
                Err(_) => return Err(format!("no `{event}` line within {LINE_TIMEOUT:?}")),
            }
        }
    }

    /// CPU time so far (utime + stime), in milliseconds.
    fn cpu_ms(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        let after = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Some(ticks * 1e3 / hz)
    }

    /// Peak resident set so far (`VmHWM`), in KiB.
    fn peak_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn stop(mut self) {
        // SAFETY: our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn figure(step: &str, wall: Option<f64>, own: Option<f64>) -> Step {
    Step {
        step: step.to_string(),
        wall_ms: wall,
        own_ms: own,
        ..Step::default()
    }
}

/// Runs `ip` with `args`, timing from its start; `Err` if it fails.
fn ip(args: &[&str]) -> Result<Instant, String> {
    let start = Instant::now();
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(start)
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A drift made by `args`, until the watcher's `drift` line: the wall clock and the
/// line's `since_notice`.
fn drift(w: &Watcher, args: &[&str]) -> Result<(f64, Option<f64>), String> {
    let start = ip(args)?;
    loop {
        let (v, at) = w.wait_for("drift")?;
        if v["action"] == "repaired" {
            return Ok((ms(at - start), v["ms"]["since_notice"].as_f64()));
        }
    }
}

/// The interface a host of the compact file gets.
const HOST_IFNAME: &str = "eth0";

/// The compact lab file of `n` hosts (`n / 4` per router, at least one), the first
/// router's range one longer with `extra`.
fn compact(n: usize, extra: bool) -> String {
    let per = (n / 4).max(1);
    let prefix = if per + 2 <= 250 { 24 } else { 16 };
    let mut t = String::from(
        "# nshost benchmark lab, compact (see benches/lab/watch.rs)\n\
         name: bench\n\
         x-router: &router {interfaces: {lan: {network: \"lan{i}\"}}}\n\
         networks:\n",
    );
    for r in 1..=4 {
        t += &format!("  lan{r}: {{subnets: [10.{r}.0.0/{prefix}]}}\n");
    }
    t += "links:\n";
    let mut link = 0;
    for a in 1..=4 {
        for b in a + 1..=4 {
            t += &format!("  - {{ends: [r{a}:r{b}, r{b}:r{a}], subnet: 10.255.{link}.0/30}}\n");
            link += 1;
        }
    }
    t += "routers:\n";
    for r in 1..=4 {
        let routes: Vec<String> = (1..=4)
            .filter(|o| *o != r)
            .map(|o| {
                let (lo, hi) = (r.min(o), r.max(o));
                let index = [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)]
                    .iter()
                    .position(|p| *p == (lo, hi))
                    .expect("a pair");
                // The link's .1 is its lower router, .2 the higher.
                let via = if o == lo { 1 } else { 2 };
                format!("{{to: 10.{o}.0.0/{prefix}, via: 10.255.{index}.{via}}}")
            })
            .collect();
        t += &format!("  r{r}: {{<<: *router, routes: [{}]}}\n", routes.join(", "));
    }
    t += "hosts:\n";
    for (r, letter) in ["a", "b", "c", "d"].iter().enumerate() {
        let count = per + usize::from(extra && r == 0);
        t += &format!("  {letter}[1-{count}]: {{network: lan{}}}\n", r + 1);
    }
    t
}

pub fn run(job: &Job, n: usize, work: &Path) -> Vec<Step> {
    let Some(bin) = job.nshost_bin.clone() else {
        return STEPS
            .iter()
            .map(|s| Step::failed(s, "no nshost binary"))
            .collect();
    };
    let yaml = work.join("lab.yaml");
    let mut steps = Vec::new();
    let fail_rest = |steps: &mut Vec<Step>, why: &str| {
        for s in &STEPS[steps.len()..] {
            steps.push(Step::failed(s, why));
        }
    };
    if let Err(e) = std::fs::write(&yaml, compact(n, false)) {
        steps.push(Step::failed("apply", e.to_string()));
        fail_rest(&mut steps, "skipped: no lab file");
        return steps;
    }
    let run = |verb: &str| {
        let mut c = nshost_command(&bin, verb, &yaml, work);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let start = Instant::now();
        c.status().map(|s| (s.success(), start.elapsed()))
    };
    match run("apply") {
        Ok((true, took)) => steps.push(figure("apply", Some(ms(took)), None)),
        other => {
            steps.push(Step::failed("apply", format!("{other:?}")));
            fail_rest(&mut steps, "skipped: the apply failed");
            return steps;
        }
    }
    // The in-memory state's yardstick: a no-op plan's peak RSS.
    let plan = crate::inner::measured(nshost_command(&bin, "plan", &yaml, work), work, "plan");
    steps.push(match plan {
        Ok((true, took, rss)) => Step {
            maxrss_kib: Some(rss),
            ..figure("plan_rss", Some(ms(took)), None)
        },
        other => Step::failed("plan_rss", format!("{other:?}")),
    });

    let start = Instant::now();
    let w = match Watcher::start(&bin, &yaml, work) {
        Ok(w) => w,
        Err(e) => {
            steps.push(Step::failed("ready", e.to_string()));
            fail_rest(&mut steps, "skipped: no watcher");
            return steps;
        }
    };
    match w.wait_for("ready") {
        Ok((_, at)) => steps.push(figure("ready", Some(ms(at - start)), None)),
        Err(e) => {
            steps.push(Step::failed("ready", e));
            fail_rest(&mut steps, "skipped: the watcher never was ready");
            w.stop();
            return steps;
        }
    }

    let text = compact(n, true);
    let start = Instant::now();
    let applied = std::fs::write(&yaml, &text)
        .map_err(|e| e.to_string())
        .and_then(|()| w.wait_for("applied"));
    match applied {
        Ok((v, at)) => {
            steps.push(figure("add_host", Some(ms(at - start)), None));
            for part in ["load", "diff", "apply", "verify"] {
                steps.push(figure(
                    &format!("add_host_{part}"),
                    None,
                    v["ms"][part].as_f64(),
                ));
            }
        }
        Err(e) => {
            for s in &STEPS[3..8] {
                steps.push(Step::failed(s, e.clone()));
            }
        }
    }

    match drift(&w, &["-n", "a1", "route", "del", "default"]) {
        Ok((wall, since)) => {
            steps.push(figure("route_deleted", Some(wall), None));
            steps.push(figure("route_since_notice", None, since));
        }
        Err(e) => {
            steps.push(Step::failed("route_deleted", e.clone()));
            steps.push(Step::failed("route_since_notice", e));
        }
    }
    steps.push(
        match drift(&w, &["-n", "b1", "link", "set", HOST_IFNAME, "down"]) {
            Ok((wall, since)) => figure("link_down", Some(wall), since),
            Err(e) => Step::failed("link_down", e),
        },
    );

    let before = w.cpu_ms();
    std::thread::sleep(IDLE);
    let after = w.cpu_ms();
    steps.push(match (before, after) {
        (Some(a), Some(b)) => Step {
            maxrss_kib: w.peak_kib(),
            ..figure("idle_cpu", None, Some(b - a))
        },
        _ => Step::failed("idle_cpu", "cannot read /proc/PID/stat"),
    });
    w.stop();
    let _ = run("destroy");
    steps
}
