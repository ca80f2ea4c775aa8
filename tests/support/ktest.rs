//! Kernel test harness: runs a test's body in a sandbox of its own (see `sandbox.rs`)
//! and gives the body what it needs to drive the real `nshost` binary and look at the
//! kernel with `ip -j`, all inside that sandbox.
//!
//! [`sandboxed`] is the one entry point. Called from a `#[test]`, it re-runs the test
//! binary under [`sandbox::command`] with only that test selected and an environment
//! variable naming it; in that child the same call finds the variable, enters the
//! sandbox (fresh user, network and mount namespace, private tmpfs on `/run`), runs the
//! body, prints its result as one JSON line and exits. The parent checks the child's
//! exit status and returns the result, so a test can assert on it outside the sandbox
//! too (`insta` snapshots, for one). Nothing ever runs in the machine's own namespaces:
//! the parent only spawns the child.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::sandbox;

/// Names the test a sandboxed child runs.
const ENV_TEST: &str = "NSHOST_KTEST";
/// Marks the line on which a child prints its result.
const RESULT_MARK: &str = "NSHOST_KTEST_RESULT:";
/// How long one sandboxed test may take before it is killed (a hang, not a speed limit:
/// the crash test takes about 70 s alone, and twice that on a loaded machine).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The name of the running test: libtest runs each test on a thread named after it.
fn current_test() -> Option<String> {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map(str::to_string)
}

/// Runs `body` in a fresh sandbox and returns what it returned. See the module docs.
pub fn sandboxed<T: Serialize + DeserializeOwned>(body: impl FnOnce() -> T) -> T {
    sandboxed_with(Neighbours::Few, body)
}

/// How many entries of the kernel's neighbour (ARP) table a test makes. The table is
/// one for the whole machine, sandboxes or not, and refuses new entries past
/// `gc_thresh3` (1024 by default): a test that fills hundreds of them runs alone
/// (an exclusive `flock`, across the root and the unprivileged passes), and the others
/// (a shared one) never see their first ARP request dropped because of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Neighbours {
    Few,
    Hundreds,
}

/// [`sandboxed`], for a test that makes hundreds of neighbour entries: no other kernel
/// test runs beside it.
pub fn sandboxed_alone<T: Serialize + DeserializeOwned>(body: impl FnOnce() -> T) -> T {
    sandboxed_with(Neighbours::Hundreds, body)
}

/// The lock [`Neighbours`] speaks of, held until dropped.
fn neighbour_lock(kind: Neighbours) -> nix::fcntl::Flock<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = std::env::temp_dir().join("nshost-ktest-neighbours.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .open(&path)
        .or_else(|_| std::fs::File::open(&path))
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    // Whoever made it, both passes can open it (the umask may have narrowed the mode).
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666));
    let arg = match kind {
        Neighbours::Few => nix::fcntl::FlockArg::LockShared,
        Neighbours::Hundreds => nix::fcntl::FlockArg::LockExclusive,
    };
    nix::fcntl::Flock::lock(file, arg)
        .unwrap_or_else(|(_, e)| panic!("locking {}: {e}", path.display()))
}

fn sandboxed_with<T: Serialize + DeserializeOwned>(
    kind: Neighbours,
    body: impl FnOnce() -> T,
) -> T {
    match std::env::var(ENV_TEST) {
        // The child: `--exact` selected the one test, whatever its thread is called.
        Ok(selected) => {
            if let Some(test) = current_test() {
                assert_eq!(test, selected, "the sandboxed child ran another test");
            }
            run_inside(body)
        }
        Err(_) => {
            let test = current_test().expect(
                "sandboxed() must be called from a #[test] running on a thread named after it",
            );
            let _lock = neighbour_lock(kind);
            run_outside::<T>(&test)
        }
    }
}

fn run_inside<T: Serialize>(body: impl FnOnce() -> T) -> T {
    sandbox::enter().expect("entering the sandbox");
    assert_eq!(
        sandbox::netns_names().unwrap(),
        Vec::<String>::new(),
        "a fresh sandbox has no namespaces"
    );
    let value = body();
    assert_no_process_left();
    let json = serde_json::to_string(&value).expect("the result serializes");
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{RESULT_MARK}{json}")
        .and_then(|()| out.flush())
        .unwrap();
    // Nothing after `sandboxed` runs in here: the caller's code after it is for the
    // parent (snapshots, say), which gets the result.
    std::process::exit(0);
}

/// Fails the test if a process it started still runs once its body returned (a lab's
/// daemon it did not destroy, a process left in a node): the sandbox is a pid namespace
/// of its own, so every such process is visible here, and dies with the sandbox anyway.
/// A process stopping on its own is given a moment.
fn assert_no_process_left() {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = sandbox::other_processes().expect("listing the sandbox's processes");
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "the test left {} process(es) running in its sandbox:\n  {}",
                left.len(),
                left.join("\n  ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_outside<T: DeserializeOwned>(test: &str) -> T {
    if let Err(why) = sandbox::check_available() {
        panic!("kernel tests need a sandbox: {why}");
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = sandbox::command(&exe)
        .args([
            test,
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_TEST, test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the sandboxed test");
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().unwrap()));
    let stderr = reader(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the sandboxed test") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    // Shown by libtest when the test fails (or with --nocapture).
    print!("--- sandboxed `{test}`: stdout\n{stdout}--- stderr\n{stderr}---\n");
    let Some(status) = status else {
        panic!("sandboxed `{test}` did not finish within {TIMEOUT:?}; killed");
    };
    assert!(status.success(), "sandboxed `{test}` failed: {status}");
    let json = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_MARK))
        .unwrap_or_else(|| panic!("sandboxed `{test}` exited without running its body"));
    serde_json::from_str(json).expect("the sandboxed result deserializes")
}

// ----- Inside the sandbox -----

/// Overrides where the tests find the `nshost` binary (for a copy run by another user).
pub const ENV_NSHOST_BIN: &str = "NSHOST_TEST_BIN";
/// Overrides where the tests find `topologies/` (likewise).
pub const ENV_TOPOLOGIES: &str = "NSHOST_TEST_TOPOLOGIES";

/// The lab files shipped in `topologies/`.
pub fn topology(name: &str) -> PathBuf {
    std::env::var_os(ENV_TOPOLOGIES)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies"))
        .join(name)
}

/// The `nshost` binary under test.
pub fn nshost_bin() -> PathBuf {
    std::env::var_os(ENV_NSHOST_BIN)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_nshost")))
}

/// Writes `text` to `name` in a scratch folder on the sandbox's private `/run`, which
/// disappears with the sandbox. Returns its path.
pub fn scratch(name: &str, text: &str) -> PathBuf {
    assert!(sandbox::inside(), "scratch files are for sandboxed tests");
    let dir = Path::new("/run/nshost-ktest");
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Replaces `from` by `to` in `text`, which must contain it exactly once.
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` once in:\n{text}");
    text.replacen(from, to, 1)
}

/// One finished command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(what: &str, out: Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!(
            "$ {what}  -> exit {}\n{}{}",
            run.code, run.stdout, run.stderr
        );
        run
    }

    /// Asserts the exit code and returns the run.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        self.code(0).stdout
    }

    /// Stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// The `nshost` command as a user runs it, with an environment that makes its output
/// the same everywhere: no colour, no terminal (so miette's width is its default 80
/// columns), and none of nshost's own overrides.
pub fn nshost_command() -> Command {
    let mut cmd = Command::new(nshost_bin());
    user_env(&mut cmd);
    cmd
}

/// `nshost` run by `wrapper` (`prlimit ...`, `unshare ...`): `wrapper`, its arguments,
/// then the nshost binary, with the environment of [`nshost_command`]. Add nshost's
/// arguments.
pub fn wrapped_nshost(wrapper: &str, wrapper_args: &[&str]) -> Command {
    let mut cmd = Command::new(wrapper);
    cmd.args(wrapper_args).arg(nshost_bin());
    user_env(&mut cmd);
    cmd
}

/// The environment nshost runs in for the tests: see [`nshost_command`].
fn user_env(cmd: &mut Command) {
    cmd.env("NO_COLOR", "1")
        .env_remove("FORCE_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FORCE_HYPERLINK")
        .env_remove("NO_GRAPHICS")
        .env_remove("NSHOST_NETNS_DIR")
        .env_remove("NSHOST_LOCK_DIR")
        .env_remove("NSHOST_TRACE")
        .env_remove("NSHOST_FAULT")
        .stdin(Stdio::null());
}

/// Runs `nshost` with `args` and waits for it.
pub fn nshost<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Run {
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let what = format!("nshost {}", args.join(OsStr::new(" ")).to_string_lossy());
    Run::of(
        &what,
        nshost_command()
            .args(&args)
            .output()
            .expect("running nshost"),
    )
}

/// Runs `nshost` with `args` and the variables `env` set (`NSHOST_FAULT`, say), and
/// waits for it.
pub fn nshost_env<S: AsRef<OsStr>>(env: &[(&str, &str)], args: impl IntoIterator<Item = S>) -> Run {
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let vars: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let what = format!(
        "{} nshost {}",
        vars.join(" "),
        args.join(OsStr::new(" ")).to_string_lossy()
    );
    let mut cmd = nshost_command();
    cmd.args(&args).envs(env.iter().copied());
    Run::of(&what, cmd.output().expect("running nshost"))
}

/// Runs a command built by [`wrapped_nshost`] and waits for it.
pub fn run_command(what: &str, mut cmd: Command) -> Run {
    Run::of(what, cmd.output().unwrap_or_else(|e| panic!("{what}: {e}")))
}

/// Starts `nshost` with `args`, its output piped, without waiting for it.
pub fn spawn_nshost<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> std::process::Child {
    nshost_command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning nshost")
}

/// Starts `nshost` with `args`, its output thrown away (a big lab's plan can fill a
/// pipe nobody reads, and stop nshost), without waiting for it.
pub fn spawn_nshost_quiet<S: AsRef<OsStr>>(
    args: impl IntoIterator<Item = S>,
) -> std::process::Child {
    nshost_command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning nshost")
}

/// Waits for a spawned command and returns what it did.
pub fn finish(what: &str, child: std::process::Child) -> Run {
    Run::of(what, child.wait_with_output().expect("waiting for nshost"))
}

/// Runs a program (`ip`, `unshare`) and waits for it.
pub fn run(program: &str, args: &[&str]) -> Run {
    let what = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    Run::of(&what, out)
}

/// `ip` with `args`, which must succeed.
#[track_caller]
pub fn ip(args: &[&str]) {
    run("ip", args).ok();
}

/// `ip -j -n <ns> <args>` as JSON.
#[track_caller]
pub fn ip_json(ns: &str, args: &[&str]) -> Value {
    let mut all = vec!["-j", "-n", ns];
    all.extend_from_slice(args);
    let out = run("ip", &all).ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ip {all:?}: not JSON ({e}): {out}"))
}

/// Names of the namespaces under `/run/netns`, sorted.
pub fn netns() -> Vec<String> {
    sandbox::netns_names().unwrap()
}

/// Every entry under `/run/netns` and what it is: `namespace` (a mounted network
/// namespace), `file` (a regular file with no namespace on it), `directory`, `symlink`,
/// `fifo` or `other`. Nothing is opened but regular files, and those without blocking.
pub fn entries() -> BTreeMap<String, &'static str> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(sandbox::NETNS_DIR).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ty = entry.file_type().unwrap();
        let what = if ty.is_file() {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
                .open(entry.path())
                .unwrap();
            let fs = nix::sys::statfs::fstatfs(&file).unwrap();
            if fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC {
                "namespace"
            } else {
                "file"
            }
        } else if ty.is_dir() {
            "directory"
        } else if ty.is_symlink() {
            "symlink"
        } else if ty.is_fifo() {
            "fifo"
        } else {
            "other"
        };
        out.insert(name, what);
    }
    out
}

/// Asserts that every entry under `/run/netns` is a mounted namespace: nothing left
/// half made or half removed.
#[track_caller]
pub fn assert_only_namespaces() {
    let odd: BTreeMap<String, &str> = entries()
        .into_iter()
        .filter(|(_, what)| *what != "namespace")
        .collect();
    assert_eq!(
        odd,
        BTreeMap::new(),
        "entries under /run/netns that hold no namespace"
    );
}

/// The namespace bound at `/run/netns/<ns>`, as its nsfs inode: the same number means
/// the same namespace, never recreated.
pub fn netns_id(ns: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new(sandbox::NETNS_DIR).join(ns))
        .unwrap()
        .ino()
}

/// Reads `/proc/thread-self/net/<file>` inside namespace `ns` (`dev`, `route`, ...): a
/// quick look, without running `ip`. Empty if the namespace is not there.
pub fn proc_net(ns: &str, file: &str) -> String {
    let path = format!("/proc/thread-self/net/{file}");
    sandbox::in_netns(ns, move || std::fs::read_to_string(path))
        .join()
        .unwrap()
        .unwrap_or_default()
}

/// The number of links in namespace `ns` (lines of its `/proc/net/dev`).
pub fn link_count(ns: &str) -> usize {
    proc_net(ns, "dev").lines().count().saturating_sub(2)
}

/// The links of `ns`, by name (`ip -d link`).
pub fn links(ns: &str) -> BTreeMap<String, Value> {
    ip_json(ns, &["-d", "link", "show"])
        .as_array()
        .expect("a list of links")
        .iter()
        .map(|l| (str_of(l, "ifname").to_string(), l.clone()))
        .collect()
}

/// Every link of every namespace as `ns/ifname` -> ifindex.
pub fn ifindexes() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for ns in netns() {
        for (name, link) in links(&ns) {
            out.insert(format!("{ns}/{name}"), link["ifindex"].as_u64().unwrap());
        }
    }
    out
}

/// A string field of a JSON object.
#[track_caller]
pub fn str_of<'v>(v: &'v Value, field: &str) -> &'v str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string `{field}` in {v}"))
}

/// The link kind `ip -d` reports (`veth`, `bridge`, ...; `""` for the loopback).
pub fn kind(link: &Value) -> &str {
    link["linkinfo"]["info_kind"].as_str().unwrap_or("")
}

/// Whether the link is administratively up.
pub fn is_up(link: &Value) -> bool {
    link["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == "UP"))
}

/// The global addresses of `ns` as `ifname address/prefix`, sorted.
pub fn addresses(ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for link in ip_json(ns, &["addr", "show"]).as_array().unwrap() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if a["scope"] == "global" {
                out.push(format!(
                    "{} {}/{}",
                    str_of(link, "ifname"),
                    str_of(a, "local"),
                    a["prefixlen"]
                ));
            }
        }
    }
    out.sort();
    out
}

/// The routes of `ns` in every table and both families, except the kernel's own, as
/// `[table ]dst[ via gw][ dev d][ metric m] proto p`, sorted.
pub fn routes(ns: &str) -> Vec<String> {
    let mut out = Vec::new();
    for family in ["-4", "-6"] {
        for r in ip_json(ns, &[family, "route", "show", "table", "all"])
            .as_array()
            .unwrap()
        {
            let proto = r["protocol"].as_str().unwrap_or("boot");
            if proto == "kernel" || r["table"] == "local" {
                continue;
            }
            let mut s = String::new();
            if let Some(t) = r["table"].as_str() {
                s.push_str(&format!("table {t} "));
            }
            s.push_str(str_of(r, "dst"));
            if let Some(gw) = r["gateway"].as_str() {
                s.push_str(&format!(" via {gw}"));
            }
            if let Some(dev) = r["dev"].as_str() {
                s.push_str(&format!(" dev {dev}"));
            }
            if let Some(m) = r["metric"].as_u64() {
                s.push_str(&format!(" metric {m}"));
            }
            s.push_str(&format!(" proto {proto}"));
            out.push(s);
        }
    }
    out.sort();
    out
}

/// The policy rules of `ns` (both families) that are not the kernel's defaults, as
/// `ip -j rule` objects.
pub fn rules(ns: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for family in ["-4", "-6"] {
        for r in ip_json(ns, &[family, "rule", "show"]).as_array().unwrap() {
            let prio = r["priority"].as_u64().unwrap();
            if ![0, 32766, 32767].contains(&prio) {
                let mut r = r.clone();
                r["family"] = Value::from(family);
                out.push(r);
            }
        }
    }
    out
}

/// A sysctl of namespace `ns`.
pub fn sysctl(ns: &str, key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    run("ip", &["netns", "exec", ns, "cat", &path])
        .ok()
        .trim()
        .to_string()
}

/// Whether `addr` answers an ICMP echo from namespace `from`, asked through nshost's
/// own checks (the library's engine: a raw socket made inside `from`; no `ping`), tried
/// until one reply comes back, for at most 10 s. The kernel brings new links' carrier
/// up asynchronously (its link watch, one queue for the whole machine, which also opens
/// bridge ports): on a loaded machine a first ARP request can be lost, and the attempt
/// then ends without a reply, so it is tried again until the deadline.
pub fn reach(from: &str, addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if reach_once(from, addr) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One echo request from namespace `from` to `addr`, answered within a second: what
/// `ping -c1 -W1` would say, through nshost's own checks.
pub fn reach_once(from: &str, addr: &str) -> bool {
    use nshost::check::{Check, Options, run};
    let check = Check {
        from: from.to_string(),
        ns: from.to_string(),
        to: addr.to_string(),
        to_node: false,
        dst: addr.parse().expect("an address"),
        expect: nshost::topology::Expect::Reachable,
        probe: nshost::check::spec::Probe::Icmp,
    };
    let opts = Options {
        timeout: Duration::from_secs(1),
        retries: 0,
        ..Options::default()
    };
    let results = run::run(std::slice::from_ref(&check), None, &opts)
        .unwrap_or_else(|e| panic!("checking {from} -> {addr}: {e}"));
    eprintln!(
        "reach {from} -> {addr}: {}",
        results[0].outcome.detail(results[0].attempts)
    );
    results[0].passed
}
