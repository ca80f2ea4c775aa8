//! The lab benchmark (issue #3), run with `cargo bench --bench lab [-- OPTIONS]`: times
//! nshost building, re-planning, changing and destroying a generated lab of 4 routers and
//! N hosts, against the same lab built by `ip` one process per operation and by
//! `ip -batch`, each run in a throwaway sandbox. See `benches/README.md`.
//!
//! The driver re-runs this binary inside each sandbox (`--inner`), so that every program
//! measured is a direct child of the measuring process and its peak RSS comes from
//! `wait4`.

#[path = "../tests/support/labgen.rs"]
mod labgen;
#[path = "../tests/support/sandbox.rs"]
mod sandbox;

#[path = "lab/baselines.rs"]
mod baselines;
#[path = "lab/inner.rs"]
mod inner;
#[path = "lab/parallel.rs"]
mod parallel;
#[path = "lab/pool.rs"]
mod pool;
#[path = "lab/procs.rs"]
mod procs;
#[path = "lab/report.rs"]
mod report;
#[path = "lab/sites.rs"]
mod sites;
#[path = "lab/watch.rs"]
mod watch;

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;

use inner::{Job, Method, SandboxRun};
use labgen::GenLab;

/// Sizes run when `--sizes` is not given.
const DEFAULT_SIZES: [usize; 4] = [10, 100, 1000, 3000];

/// Times nshost against iproute2 on generated labs, each run in a throwaway sandbox.
#[derive(Parser, Debug)]
#[command(name = "cargo bench --bench lab --", about, long_about = None)]
struct Args {
    /// Lab sizes (numbers of hosts), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_SIZES)]
    sizes: Vec<usize>,
    /// Leave out the 3000-host lab.
    #[arg(long)]
    skip_3000: bool,
    /// Runs of each measurement (each in a fresh sandbox).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Methods to run, comma-separated (`floor` is added by --floor-bin).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "nshost,bash,batch,parallel"
    )]
    methods: Vec<Method>,
    /// Where to write the results as JSON.
    #[arg(long, default_value = "target/bench/lab.json")]
    json: PathBuf,
    /// The nshost binary to measure (default: the one Cargo built for this benchmark).
    #[arg(long)]
    nshost_bin: Option<PathBuf>,
    /// Also run this build of the C floor `nsfloor N` in its own sandbox.
    #[arg(long)]
    floor_bin: Option<PathBuf>,
    /// Also run this build of `nsdump` while the ip -batch lab is up (no-op plan floor).
    #[arg(long)]
    dump_bin: Option<PathBuf>,
    /// Write the lab file and both baselines' scripts of each size under DIR/<N>/ (to read
    /// or run them by hand), and measure nothing.
    #[arg(long, value_name = "DIR")]
    write_scripts: Option<PathBuf>,
    /// Give up on a sandbox after this many seconds (default: 600 + N).
    #[arg(long)]
    timeout: Option<u64>,
    /// Set by `cargo bench`; without it (e.g. `cargo test --benches`) nothing is run.
    #[arg(long, hide = true)]
    bench: bool,
    /// Inside a sandbox: run this method and print its figures as JSON.
    #[arg(long, hide = true)]
    inner: Option<Method>,
    /// Inside a sandbox: the number of hosts.
    #[arg(long, hide = true)]
    n: Option<usize>,
}

/// The JSON file.
#[derive(Serialize)]
struct Output {
    benchmark: &'static str,
    /// The command's options, as run.
    runs: usize,
    methods: Vec<Method>,
    system: System,
    sizes: Vec<report::SizeResult>,
}

#[derive(Serialize)]
struct System {
    kernel: String,
    cpus: usize,
    iproute2: String,
    uid: u32,
    nshost_bin: Option<PathBuf>,
    floor_bin: Option<PathBuf>,
    dump_bin: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(method) = args.inner {
        let job = Job {
            method,
            n: args.n.unwrap_or(0),
            nshost_bin: args.nshost_bin,
            floor_bin: args.floor_bin,
            dump_bin: args.dump_bin,
        };
        let result = inner::run(&job);
        println!(
            "{}",
            serde_json::to_string(&result).expect("figures serialize")
        );
        return ExitCode::SUCCESS;
    }
    if !args.bench {
        println!(
            "lab benchmark: not run outside `cargo bench --bench lab` (see benches/README.md)"
        );
        return ExitCode::SUCCESS;
    }
    match drive(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab benchmark: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The nshost binary, when there is one, or why not.
fn nshost_bin(args: &Args) -> Result<PathBuf, String> {
    let path = match (&args.nshost_bin, option_env!("CARGO_BIN_EXE_nshost")) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => {
            return Err(
                "this package has no `nshost` binary target yet (the CLI is not \
                        built), so nshost itself cannot be measured"
                    .to_string(),
            );
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the nshost binary {} does not exist",
            path.display()
        ))
    }
}

fn drive(mut args: Args) -> Result<(), String> {
    if args.skip_3000 {
        args.sizes.retain(|&n| n != 3000);
    }
    if args.runs == 0 || args.sizes.is_empty() || args.sizes.iter().any(|&n| n < 2) {
        return Err("need --runs >= 1 and at least one size, each of 2 hosts or more".into());
    }
    if args.floor_bin.is_some() && !args.methods.contains(&Method::Floor) {
        args.methods.push(Method::Floor);
    }
    if args.methods.contains(&Method::Floor) && args.floor_bin.is_none() {
        return Err("method `floor` needs --floor-bin PATH (a build of nsfloor)".into());
    }
    if args.dump_bin.is_some() && !args.methods.contains(&Method::Batch) {
        return Err("--dump-bin runs in the ip -batch sandbox: keep `batch` in --methods".into());
    }
    for bin in [&args.floor_bin, &args.dump_bin].into_iter().flatten() {
        if !bin.is_file() {
            return Err(format!("{} does not exist", bin.display()));
        }
    }
    if let Some(dir) = &args.write_scripts {
        return write_scripts(dir, &args.sizes);
    }
    sandbox::check_available()?;
    let exe =
        std::env::current_exe().map_err(|e| format!("finding this benchmark's binary: {e}"))?;
    let (nshost, nshost_missing) = match nshost_bin(&args) {
        _ if !args.methods.iter().any(|m| {
            matches!(
                m,
                Method::Nshost | Method::Sites | Method::Parallel | Method::Watch | Method::Pool
            )
        }) =>
        {
            (None, None)
        }
        Ok(p) => (Some(p), None),
        Err(why) => {
            eprintln!(
                "lab benchmark: NOTE: {why}; its rows will show FAILED. The baselines run anyway."
            );
            (None, Some(why))
        }
    };
    // Absolute paths: the sandboxed programs run in a work directory under /run.
    let abs = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| std::path::absolute(p).unwrap_or(p.clone()))
    };
    let (nshost, floor, dump) = (abs(&nshost), abs(&args.floor_bin), abs(&args.dump_bin));

    eprintln!(
        "lab benchmark: sizes {:?}, {} run(s), methods {:?}",
        args.sizes, args.runs, args.methods
    );
    let system = system(nshost, floor, dump);
    println!(
        "nshost lab benchmark: wall clock of each program from start to exit, median and \
         spread over {} run(s), each in a fresh sandbox (kernel {}, {} CPUs, {})",
        args.runs, system.kernel, system.cpus, system.iproute2
    );
    let (nshost, floor, dump) = (&system.nshost_bin, &system.floor_bin, &system.dump_bin);
    let mut sizes = Vec::new();
    for &n in &args.sizes {
        let lab = GenLab::new(inner::LAB_NAME, n);
        let timeout = Duration::from_secs(args.timeout.unwrap_or(600 + n as u64));
        let mut runs: Vec<(Method, Vec<inner::Step>)> = Vec::new();
        for run in 1..=args.runs {
            for &method in &args.methods {
                let started = Instant::now();
                let mut cmd = sandbox::command(&exe);
                cmd.arg("--inner")
                    .arg(format!("{method:?}").to_lowercase())
                    .arg("--n")
                    .arg(n.to_string());
                for (flag, path) in [
                    ("--nshost-bin", &nshost),
                    ("--floor-bin", &floor),
                    ("--dump-bin", &dump),
                ] {
                    if let Some(p) = path {
                        cmd.arg(flag).arg(p);
                    }
                }
                let result = match (&nshost_missing, method) {
                    (
                        Some(why),
                        Method::Nshost
                        | Method::Sites
                        | Method::Parallel
                        | Method::Watch
                        | Method::Pool,
                    ) => Err(format!("not measured: {why}")),
                    _ => run_sandbox(cmd, timeout),
                };
                let steps = match result {
                    Ok(r) => r.steps,
                    Err(e) => vec![inner::Step {
                        step: "sandbox".to_string(),
                        error: Some(e),
                        ..Default::default()
                    }],
                };
                let bad = steps.iter().filter(|s| s.error.is_some()).count();
                eprintln!(
                    "  N={n} run {run}/{}: {method:?} done in {:.1} s{}",
                    args.runs,
                    started.elapsed().as_secs_f64(),
                    if bad > 0 {
                        format!(" ({bad} step(s) failed)")
                    } else {
                        String::new()
                    }
                );
                runs.push((method, fill_sandbox_failure(method, steps)));
                // Let the kernel free the previous sandbox's namespaces.
                std::thread::sleep(Duration::from_millis(100 + (n as u64).min(4000)));
            }
        }
        let size = report::summarize(
            n,
            baselines::namespaces(&lab).len(),
            lab.lan_prefix(),
            &runs,
        );
        print!("{}", report::table(&size, args.runs));
        sizes.push(size);
    }

    let output = Output {
        benchmark: "nshost lab (cargo bench --bench lab)",
        runs: args.runs,
        methods: args.methods.clone(),
        system,
        sizes,
    };
    if let Some(dir) = args.json.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&output).expect("results serialize");
    std::fs::write(&args.json, text + "\n")
        .map_err(|e| format!("writing {}: {e}", args.json.display()))?;
    println!("\nresults written to {}", args.json.display());
    Ok(())
}

/// `--write-scripts`: the YAML and the baselines, as the sandboxes get them.
fn write_scripts(dir: &std::path::Path, sizes: &[usize]) -> Result<(), String> {
    for &n in sizes {
        let lab = GenLab::new(inner::LAB_NAME, n);
        for (sub, baseline) in [
            ("bash", baselines::per_operation(&lab)),
            ("batch", baselines::batch(&lab)),
        ] {
            let d = dir.join(n.to_string()).join(sub);
            std::fs::create_dir_all(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
            for (name, text) in &baseline.files {
                std::fs::write(d.join(name), text).map_err(|e| format!("writing {name}: {e}"))?;
            }
        }
        let yaml = dir.join(n.to_string()).join("lab.yaml");
        std::fs::write(&yaml, lab.to_yaml())
            .map_err(|e| format!("writing {}: {e}", yaml.display()))?;
        println!("wrote {}", dir.join(n.to_string()).display());
    }
    Ok(())
}

/// When a whole sandbox failed, every step of the method failed with that error, so
/// that each row shows it.
fn fill_sandbox_failure(method: Method, steps: Vec<inner::Step>) -> Vec<inner::Step> {
    let [only] = steps.as_slice() else {
        return steps;
    };
    if only.step != "sandbox" {
        return steps;
    }
    let names: &[&str] = match method {
        Method::Nshost => &[
            "apply",
            "plan",
            "plan_file",
            "plan_observe",
            "add_host",
            "change_address",
            "destroy",
            "destroy_freed",
        ],
        Method::Bash => &["build", "teardown", "teardown_freed"],
        Method::Batch => &["build", "dump", "teardown", "teardown_freed"],
        Method::Parallel => &["apply", "destroy"],
        Method::Floor => &["build", "teardown"],
        Method::Sites => &["apply", "apply_a", "apply_b", "plan", "destroy"],
        Method::Watch => &watch::STEPS,
        Method::Pool => &pool::STEPS,
    };
    names
        .iter()
        .map(|s| inner::Step {
            step: s.to_string(),
            error: only.error.clone(),
            ..Default::default()
        })
        .collect()
}

/// Runs one sandbox to its end (or kills its whole process group at `timeout`) and
/// reads the figures it prints.
fn run_sandbox(mut cmd: std::process::Command, timeout: Duration) -> Result<SandboxRun, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting a sandbox: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                // The sandbox leads its own process group: this kills it and what it ran.
                // SAFETY: plain syscall on our own child's process group.
                unsafe { libc::killpg(child.id() as libc::pid_t, libc::SIGKILL) };
                let _ = child.wait();
                let _ = reader.join();
                return Err(format!("timed out after {} s (killed)", timeout.as_secs()));
            }
            Err(e) => return Err(format!("waiting for the sandbox: {e}")),
        }
    };
    let text = reader.join().unwrap_or_default();
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).map_err(|_| {
        format!(
            "the sandbox ended ({status}) without figures; it printed: {:?}",
            text.trim()
        )
    })
}

fn system(
    nshost_bin: Option<PathBuf>,
    floor_bin: Option<PathBuf>,
    dump_bin: Option<PathBuf>,
) -> System {
    let ip = std::process::Command::new("ip")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    System {
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        iproute2: ip,
        uid: nix::unistd::getuid().as_raw(),
        nshost_bin,
        floor_bin,
        dump_bin,
    }
}
