//! A lab driven from Rust code, for tests and programs: [`Lab`] runs a child
//! `nshost session` (in a throwaway sandbox with [`Lab::sandbox`], any user) and speaks
//! the session protocol to it (`docs/src/protocol.md`). A test process has threads, so
//! it cannot unshare itself into a sandbox: the child does, and everything it made ends
//! with it.
//!
//! ```
//! # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
//! let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
//! let out = lab.exec("web1", &["ip", "-br", "addr", "show", "eth0"])?;
//! assert!(String::from_utf8_lossy(&out.stdout).contains("10.1.1.10/24"));
//! assert!(lab.check()?.passed());
//! drop(lab); // torn down: nothing left behind
//! # Ok::<(), nshost::api::Error>(())
//! ```

mod conn;
mod error;

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

pub use self::conn::{BIN_ENV, find_binary};
pub use self::error::{Error, SessionError};
pub use crate::session::protocol::{Domain, SocketType};
use crate::session::protocol::{ExecResult, LabSource};

/// How long a dropped lab's session may take to tear down before it is killed (its
/// sandbox goes with it either way).
const TEARDOWN: Duration = Duration::from_secs(120);

/// A lab of a running `nshost session`: applied, exec'd in, checked, changed, and torn
/// down when dropped (see the [module](self)).
pub struct Lab {
    conn: Mutex<conn::Conn>,
    /// The lab last applied, as it was given, and its name.
    source: Mutex<Option<(LabSource, String)>>,
    closed: bool,
}

/// The result of [`Lab::check`]: each check, and whether every expectation held.
#[derive(Debug, Clone, Deserialize)]
pub struct Checks {
    /// The lab checked.
    pub lab: String,
    /// How many checks passed and failed.
    pub passed: usize,
    pub failed: usize,
    /// Each check, as `nshost check --output json` reports it.
    pub checks: Vec<Check>,
}

/// One check of [`Checks`].
#[derive(Debug, Clone, Deserialize)]
pub struct Check {
    /// The node it was sent from.
    pub from: String,
    /// The target as written: a node or an address.
    pub to: String,
    /// `reachable` or `unreachable`.
    pub expect: String,
    /// Whether the expectation held.
    pub passed: bool,
    /// What happened, as `nshost check --output json` says it.
    pub outcome: Value,
}

impl Checks {
    /// Whether every expectation held.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let checks = lab.check()?;
    /// assert!(checks.passed(), "{:?}", checks.failures());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn passed(&self) -> bool {
        self.failed == 0
    }

    /// The checks whose expectation did not hold.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// assert!(lab.check()?.failures().is_empty());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.passed).collect()
    }
}

impl Lab {
    /// Builds the lab file `path` in a throwaway sandbox (a user, network, mount and
    /// pid namespace of a child nshost's own): any user, nothing outside it touched.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// assert_eq!(lab.name(), "small");
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn sandbox(path: impl AsRef<Path>) -> Result<Lab, Error> {
        let lab = Lab::start(true)?;
        lab.apply_file(path)?;
        Ok(lab)
    }

    /// [`Lab::sandbox`] of a lab's YAML text (its relative paths start in the current
    /// directory).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox_text("name: tiny\nhosts:\n  h1: {address: 10.0.0.1/24}\n")?;
    /// assert_eq!(lab.name(), "tiny");
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn sandbox_text(yaml: &str) -> Result<Lab, Error> {
        let lab = Lab::start(true)?;
        lab.apply_text(yaml)?;
        Ok(lab)
    }

    /// Applies the lab file `path` on this machine, as `nshost apply` does (root
    /// needed); it is destroyed when the lab is dropped.
    ///
    /// ```no_run
    /// // On the real machine: not run by the doctests.
    /// let lab = nshost::Lab::apply("topologies/small.yaml")?;
    /// assert!(lab.check()?.passed());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn apply(path: impl AsRef<Path>) -> Result<Lab, Error> {
        let lab = Lab::start(false)?;
        lab.apply_file(path)?;
        Ok(lab)
    }

    /// A session with no lab yet (`sandbox`: in a sandbox of its own), for
    /// [`Lab::apply_file`] or [`Lab::apply_text`] to fill.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::start(true)?;
    /// assert_eq!(lab.name(), "");
    /// lab.apply_file("topologies/small.yaml")?;
    /// assert_eq!(lab.name(), "small");
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn start(sandbox: bool) -> Result<Lab, Error> {
        let bin = find_binary()?;
        Ok(Lab {
            conn: Mutex::new(conn::Conn::start(&bin, sandbox)?),
            source: Mutex::new(None),
            closed: false,
        })
    }

    fn conn(&self) -> MutexGuard<'_, conn::Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn call(&self, request: Value) -> Result<Value, Error> {
        self.conn().call(request).map(|(v, _)| v)
    }

    fn call_fd(&self, request: Value) -> Result<OwnedFd, Error> {
        let mut conn = self.conn();
        match conn.call(request)? {
            (_, Some(fd)) => Ok(fd),
            (_, None) => Err(Error::Protocol {
                message: "no descriptor came with the response".into(),
                stderr: conn.stderr(),
            }),
        }
    }

    /// The name of the lab last applied (empty before any).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// assert_eq!(nshost::Lab::sandbox("topologies/small.yaml")?.name(), "small");
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn name(&self) -> String {
        self.source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, name)| name.clone())
            .unwrap_or_default()
    }

    /// The session's process id (the sandbox's outer process with `sandbox`).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::start(true)?;
    /// let pid = lab.pid();
    /// assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    /// drop(lab);
    /// assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn pid(&self) -> u32 {
        self.conn().hello.pid
    }

    /// What the session wrote on standard error so far (nshost's own diagnostics).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let _said: String = lab.stderr();
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn stderr(&self) -> String {
        self.conn().stderr()
    }

    fn apply_source(&self, source: LabSource) -> Result<Value, Error> {
        let mut request = serde_json::to_value(&source).expect("a lab serializes");
        request["op"] = "apply".into();
        let applied = self.call(request)?;
        let name = applied["plan"]["lab"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        *self.source.lock().unwrap_or_else(|p| p.into_inner()) = Some((source, name));
        Ok(applied)
    }

    /// Reconciles the session's lab to the lab file `path` (a new lab, or an edit of
    /// the current one); the document `nshost apply --output json` prints.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let again = lab.apply_file("topologies/small.yaml")?;
    /// assert_eq!(again["plan"]["summary"]["add"], 0); // nothing to do
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn apply_file(&self, path: impl AsRef<Path>) -> Result<Value, Error> {
        self.apply_source(LabSource {
            file: Some(path.as_ref().to_path_buf()),
            ..LabSource::default()
        })
    }

    /// [`Lab::apply_file`] of a lab's YAML text (relative paths from the current
    /// directory).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let text = std::fs::read_to_string("topologies/small.yaml").unwrap();
    /// let edited = text.replace("10.1.1.10/24", "10.1.1.11/24");
    /// lab.apply_text(&edited)?;
    /// let out = lab.exec("web1", &["ip", "-br", "addr", "show", "eth0"])?;
    /// assert!(String::from_utf8_lossy(&out.stdout).contains("10.1.1.11/24"));
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn apply_text(&self, yaml: &str) -> Result<Value, Error> {
        self.apply_source(LabSource {
            text: Some(yaml.to_string()),
            ..LabSource::default()
        })
    }

    /// [`Lab::apply_text`], with the text's relative paths (its `files:` sources)
    /// starting in `dir`.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::start(true)?;
    /// let text = std::fs::read_to_string("topologies/small.yaml").unwrap();
    /// lab.apply_text_in(&text, "topologies")?;
    /// assert_eq!(lab.name(), "small");
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn apply_text_in(&self, yaml: &str, dir: impl AsRef<Path>) -> Result<Value, Error> {
        self.apply_source(LabSource {
            text: Some(yaml.to_string()),
            dir: Some(dir.as_ref().to_path_buf()),
            ..LabSource::default()
        })
    }

    /// What applying the lab file `path` would change: the document `nshost plan
    /// --output json` prints.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let plan = lab.plan("topologies/small.yaml")?;
    /// assert_eq!(plan["plan"]["changes"].as_array().map(Vec::len), Some(0));
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn plan(&self, path: impl AsRef<Path>) -> Result<Value, Error> {
        self.call(json!({"op": "plan", "file": path.as_ref()}))
    }

    /// The plan of the lab as last applied (file or text), against the kernel now.
    fn plan_current(&self) -> Result<Value, Error> {
        let source = self
            .source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some((source, _)) = source else {
            return Ok(Value::Null);
        };
        let mut request = serde_json::to_value(&source).expect("a lab serializes");
        request["op"] = "plan".into();
        self.call(request)
    }

    /// The lab node by node: the document `nshost status --lab LAB --output json`
    /// prints.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// assert_eq!(lab.status()?["status"]["health"]["state"], "ok");
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn status(&self) -> Result<Value, Error> {
        self.call(json!({"op": "status"}))
    }

    /// The table `nshost status --lab LAB` prints.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// assert!(lab.status_text()?.starts_with("Lab small:"));
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn status_text(&self) -> Result<String, Error> {
        let v = self.call(json!({"op": "status", "format": "text"}))?;
        Ok(v["text"].as_str().unwrap_or_default().to_string())
    }

    /// Runs the lab's reachability checks once (those of its file, else the default
    /// ones), as `nshost check` does.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let checks = lab.check()?;
    /// assert!(checks.passed() && checks.passed > 0);
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn check(&self) -> Result<Checks, Error> {
        self.check_request(json!({"op": "check"}))
    }

    /// [`Lab::check`], retrying the failing checks until they pass or `wait` has gone
    /// by (a lab whose routing daemons converge), as `nshost check --wait` does.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// assert!(lab.check_wait(std::time::Duration::from_secs(10))?.passed());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn check_wait(&self, wait: Duration) -> Result<Checks, Error> {
        self.check_request(json!({"op": "check", "wait_ms": wait.as_millis() as u64}))
    }

    fn check_request(&self, request: Value) -> Result<Checks, Error> {
        let v = self.call(request)?;
        serde_json::from_value(v).map_err(|e| Error::Protocol {
            message: format!("a check report: {e}"),
            stderr: String::new(),
        })
    }

    /// Runs `argv` in `node`, as `nshost exec NODE -- ARGV` runs it, and waits for it:
    /// its exit status and output.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let out = lab.exec("pc1", &["ip", "route", "get", "10.1.1.10"])?;
    /// assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    /// assert!(String::from_utf8_lossy(&out.stdout).contains("via 10.2.1.1"));
    /// let missing = lab.exec("pc1", &["no-such-command"])?;
    /// assert_eq!(missing.status.code(), Some(127));
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn exec<S: AsRef<str>>(&self, node: &str, argv: &[S]) -> Result<Output, Error> {
        self.exec_with(node, argv, None, None)
    }

    /// [`Lab::exec`] with bytes on the command's standard input and a time limit
    /// (past which it is killed: its status is then SIGKILL's).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// use std::time::Duration;
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let out = lab.exec_with("web1", &["cat"], Some(b"hi"), None)?;
    /// assert_eq!(out.stdout, b"hi");
    /// let slow = lab.exec_with("web1", &["sleep", "10"], None, Some(Duration::from_millis(100)))?;
    /// assert!(!slow.status.success());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn exec_with<S: AsRef<str>>(
        &self,
        node: &str,
        argv: &[S],
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Output, Error> {
        let argv: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
        let mut request = json!({"op": "exec", "node": node, "argv": argv});
        if let Some(stdin) = stdin {
            request["stdin_base64"] = STANDARD.encode(stdin).into();
        }
        if let Some(t) = timeout {
            request["timeout_ms"] = (t.as_millis() as u64).into();
        }
        let v = self.call(request)?;
        let r: ExecResult = serde_json::from_value(v).map_err(|e| Error::Protocol {
            message: format!("an exec result: {e}"),
            stderr: String::new(),
        })?;
        let bytes = |s: &str| STANDARD.decode(s).unwrap_or_default();
        let raw = match (r.code, r.signal) {
            (_, Some(sig)) => sig & 0x7f,
            (Some(code), None) => (code & 0xff) << 8,
            (None, None) => 1 << 8,
        };
        Ok(Output {
            status: ExitStatus::from_raw(raw),
            stdout: bytes(&r.stdout_base64),
            stderr: bytes(&r.stderr_base64),
        })
    }

    /// What `node`'s processes (`run:`) printed, as `nshost logs NODE` prints it.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// // small.yaml runs no process: its nodes have no logs.
    /// assert_eq!(lab.logs("web1").unwrap_err().code(), nshost::problem::Code::NoSuchProcess.as_str());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn logs(&self, node: &str) -> Result<String, Error> {
        let v = self.call(json!({"op": "logs", "node": node}))?;
        Ok(v["text"].as_str().unwrap_or_default().to_string())
    }

    /// `node`'s network namespace, as a descriptor (for `setns`).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let fd = lab.netns("web1")?;
    /// // A namespace file: give it to `setns` on a thread of its own (see `in_node`).
    /// assert!(std::fs::File::from(fd).metadata().is_ok());
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn netns(&self, node: &str) -> Result<OwnedFd, Error> {
        self.call_fd(json!({"op": "netns", "node": node}))
    }

    /// A socket made inside `node`'s network namespace: it stays there, whatever
    /// namespace its user is in (no privilege needed).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// use nshost::api::{Domain, SocketType};
    /// use std::net::UdpSocket;
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// let web = UdpSocket::from(lab.socket("web1", Domain::Inet, SocketType::Dgram)?);
    /// let db = UdpSocket::from(lab.socket("db1", Domain::Inet, SocketType::Dgram)?);
    /// // Connecting binds each to its node's address (and a free port).
    /// db.connect("10.1.1.10:9").unwrap();
    /// web.connect(db.local_addr().unwrap()).unwrap();
    /// db.connect(web.local_addr().unwrap()).unwrap();
    /// db.send(b"hello").unwrap();
    /// let mut buf = [0; 16];
    /// let (n, from) = web.recv_from(&mut buf).unwrap();
    /// assert_eq!((&buf[..n], from.ip().to_string()), (&b"hello"[..], "10.1.2.10".into()));
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn socket(&self, node: &str, domain: Domain, kind: SocketType) -> Result<OwnedFd, Error> {
        self.call_fd(json!({"op": "socket", "node": node, "domain": domain, "type": kind}))
    }

    /// Runs `f` inside `node`'s network namespace, on a thread of its own that ends
    /// with it. Entering a namespace needs `CAP_SYS_ADMIN` in the caller's own user
    /// namespace (root): otherwise [`Error::NotPermitted`] (use [`Lab::socket`]).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// match lab.in_node("web1", || std::net::UdpSocket::bind("10.1.1.10:0").is_ok()) {
    ///     Ok(bound) => assert!(bound),
    ///     Err(e) => assert_eq!(e.code(), nshost::problem::Code::NotPermitted.as_str()), // not root
    /// }
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn in_node<R: Send>(&self, node: &str, f: impl FnOnce() -> R + Send) -> Result<R, Error> {
        let ns = self.netns(node)?;
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    Error::NotPermitted {
                        node: node.to_string(),
                        cause: e.into(),
                    }
                })?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Destroys the lab and ends the session, saying what failed (dropping a lab does
    /// the same, silently).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let lab = nshost::Lab::sandbox("topologies/small.yaml")?;
    /// lab.destroy()?;
    /// # Ok::<(), nshost::api::Error>(())
    /// ```
    pub fn destroy(mut self) -> Result<(), Error> {
        let destroyed = if self.name().is_empty() {
            Ok(Value::Null)
        } else {
            self.call(json!({"op": "destroy"}))
        };
        self.closed = true;
        let mut conn = self.conn();
        let (_, status) = conn.close(destroyed.is_ok(), TEARDOWN)?;
        destroyed?;
        if !status.success() {
            return Err(Error::Gone {
                cause: std::io::Error::other(format!("the session ended with {status}")),
                stderr: conn.stderr(),
            });
        }
        Ok(())
    }

    /// The lab's state for a report: its plan, status (JSON and text), checks and each
    /// node's logs, by file name (what failed says why, in its file).
    pub(crate) fn evidence(&self) -> Vec<(String, String)> {
        let pretty = |v: Result<Value, Error>| match v {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Err(e) => e.report(),
        };
        let status = self.status();
        let nodes: Vec<String> = status
            .as_ref()
            .ok()
            .and_then(|s| s["status"]["nodes"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|n| n["name"].as_str().map(str::to_string))
            .collect();
        let mut files = vec![
            ("plan.json".to_string(), pretty(self.plan_current())),
            ("status.json".to_string(), pretty(status)),
            (
                "status.txt".to_string(),
                self.status_text().unwrap_or_else(|e| e.report()),
            ),
            (
                "checks.json".to_string(),
                pretty(self.call(json!({"op": "check"}))),
            ),
        ];
        for node in nodes {
            if let Ok(text) = self.logs(&node) {
                files.push((format!("logs/{node}.txt"), text));
            }
        }
        files.push(("session-stderr.txt".to_string(), self.stderr()));
        files
    }
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.name())
            .field("pid", &self.pid())
            .finish()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.conn().close(true, TEARDOWN);
        }
    }
}
