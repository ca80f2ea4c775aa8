//! `nshost session`: the protocol driven with raw JSON lines over a socket pair, as any
//! client would; the end of input tears everything down; `--sandbox` leaves nothing
//! even when killed.

use std::io::{IoSliceMut, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use serde_json::{Value, json};

use crate::ktest::*;

/// A session child and the test's end of its socket.
struct Session {
    child: Child,
    socket: UnixStream,
    next: u64,
}

impl Session {
    fn start(args: &[&str]) -> (Session, Value) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let child = nshost_command()
            .arg("session")
            .args(args)
            .stdin(Stdio::from(OwnedFd::from(theirs.try_clone().unwrap())))
            .stdout(Stdio::from(OwnedFd::from(theirs)))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut s = Session {
            child,
            socket: ours,
            next: 1,
        };
        let hello = s.line().0;
        (s, hello)
    }

    /// Reads one line, with the descriptor passed on it, byte by byte (so that no
    /// later line's descriptor is taken with it).
    fn line(&mut self) -> (Value, Option<OwnedFd>) {
        let mut bytes = Vec::new();
        let mut fd = None;
        loop {
            let mut byte = [0u8; 1];
            let mut space = nix::cmsg_space!([RawFd; 1]);
            let mut iov = [IoSliceMut::new(&mut byte)];
            let msg = recvmsg::<()>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::empty(),
            )
            .unwrap();
            for c in msg.cmsgs().unwrap() {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    // SAFETY: just received, owned by nothing else.
                    fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
                }
            }
            assert!(msg.bytes == 1, "the session ended mid-line");
            if byte[0] == b'\n' {
                return (serde_json::from_slice(&bytes).unwrap(), fd);
            }
            bytes.push(byte[0]);
        }
    }

    fn send_raw(&mut self, line: &str) -> (Value, Option<OwnedFd>) {
        self.socket.write_all(line.as_bytes()).unwrap();
        self.socket.write_all(b"\n").unwrap();
        self.line()
    }

    fn call(&mut self, mut request: Value) -> (Value, Option<OwnedFd>) {
        request["id"] = self.next.into();
        self.next += 1;
        let (response, fd) = self.send_raw(&request.to_string());
        assert_eq!(response["id"], request["id"], "{response}");
        (response, fd)
    }

    fn ok(&mut self, request: Value) -> Value {
        let (response, _) = self.call(request.clone());
        assert_eq!(response["ok"], true, "{request} -> {response}");
        response["result"].clone()
    }

    fn error(&mut self, request: Value) -> Value {
        let (response, _) = self.call(request.clone());
        assert_eq!(response["ok"], false, "{request} -> {response}");
        response["error"].clone()
    }
}

fn base64(text: &Value) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_str().unwrap())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

/// Every file (not directory) under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn a_session_serves_requests_and_tears_down_at_the_end_of_input() {
    sandboxed(|| {
        let (mut s, hello) = Session::start(&[]);
        assert_eq!(hello["hello"], "nshost");
        assert_eq!(hello["protocol"], 1);
        assert_eq!(hello["sandbox"], false);
        assert_eq!(hello["pid"], s.child.id());

        let small = topology("small.yaml");
        let applied = s.ok(json!({"op": "apply", "file": small}));
        assert_eq!(applied["format_version"], 1);
        assert_eq!(applied["plan"]["lab"], "small");
        assert_eq!(applied["plan"]["summary"]["add"], 64);

        let out = s.ok(
            json!({"op": "exec", "node": "web1", "argv": ["ip", "-br", "addr", "show", "eth0"]}),
        );
        assert_eq!(out["code"], 0, "{out}");
        assert!(
            base64(&out["stdout_base64"]).contains("10.1.1.10/24"),
            "{out}"
        );
        let out = s.ok(json!({"op": "exec", "node": "web1", "argv": ["cat"], "stdin_base64": "aGk=", "env": {"X": "1"}}));
        assert_eq!(base64(&out["stdout_base64"]), "hi");
        let out = s.ok(json!({"op": "exec", "node": "web1", "argv": ["sh", "-c", "echo $X; exit 3"], "env": {"X": "y"}}));
        assert_eq!(
            (out["code"].clone(), base64(&out["stdout_base64"])),
            (json!(3), "y\n".into())
        );
        let started = Instant::now();
        let out =
            s.ok(json!({"op": "exec", "node": "web1", "argv": ["sleep", "30"], "timeout_ms": 200}));
        assert_eq!(out["timed_out"], true, "{out}");
        assert!(started.elapsed() < Duration::from_secs(10));

        let checked = s.ok(json!({"op": "check"}));
        assert_eq!(
            (checked["passed"].clone(), checked["failed"].clone()),
            (json!(8), json!(0))
        );
        let text = s.ok(json!({"op": "check", "format": "text"}));
        assert_eq!(text["passed"], true);
        let status = s.ok(json!({"op": "status", "format": "text"}));
        assert!(
            status["text"].as_str().unwrap().starts_with("Lab small:"),
            "{status}"
        );
        let status = s.ok(json!({"op": "status"}));
        assert_eq!(status["status"]["health"]["state"], "ok");

        // A bad lab: its code, its located report; the session goes on.
        let bad = scratch("bad.yaml", "name: bad\nrouters: 5\n");
        let err = s.error(json!({"op": "apply", "file": bad}));
        assert_eq!(err["code"], "nshost::invalid", "{err}");
        assert!(
            err["report"].as_str().unwrap().contains("bad.yaml:2:10"),
            "{err}"
        );
        assert_eq!(err["body"]["error"]["problems"][0]["line"], 2, "{err}");
        let err = s.error(json!({"op": "apply", "text": "name: t\nrouters: 5\n"}));
        assert!(
            err["report"].as_str().unwrap().contains("lab.yaml:2:10"),
            "{err}"
        );
        // Requests that cannot be read.
        let err = s.error(json!({"op": "frobnicate"}));
        assert_eq!(err["code"], "nshost::protocol");
        let (response, _) = s.send_raw("not json");
        assert_eq!(
            (response["id"].clone(), response["error"]["code"].clone()),
            (Value::Null, json!("nshost::protocol"))
        );
        let err = s.error(json!({"op": "exec", "node": "web1"}));
        assert_eq!(err["code"], "nshost::protocol", "{err}");
        let err = s.error(json!({"op": "exec", "node": "nope", "argv": ["true"]}));
        assert_eq!(err["code"], "nshost::no_such_node", "{err}");

        // An edit by text: the address moves.
        let text = std::fs::read_to_string(&small).unwrap();
        let edited = edit(&text, "10.1.1.10/24", "10.1.1.11/24");
        let applied = s.ok(json!({"op": "apply", "text": edited, "name": "small.yaml"}));
        assert!(
            applied["plan"]["summary"]["change"].as_u64().unwrap()
                + applied["plan"]["summary"]["add"].as_u64().unwrap()
                > 0,
            "{applied}"
        );
        assert!(addresses("web1").iter().any(|a| a.contains("10.1.1.11/24")));

        // Sockets made in two nodes talk across the lab.
        let (web, fd) =
            s.call(json!({"op": "socket", "node": "web1", "domain": "inet", "type": "dgram"}));
        assert_eq!(web["ok"], true, "{web}");
        let web = std::net::UdpSocket::from(fd.expect("a socket came with the response"));
        let (db, fd) =
            s.call(json!({"op": "socket", "node": "db1", "domain": "inet", "type": "dgram"}));
        assert_eq!(db["ok"], true, "{db}");
        let db = std::net::UdpSocket::from(fd.unwrap());
        nix::sys::socket::bind(
            web.as_raw_fd(),
            &nix::sys::socket::SockaddrIn::new(10, 1, 1, 11, 7000),
        )
        .unwrap();
        db.send_to(b"ping", "10.1.1.11:7000").unwrap();
        web.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = web.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from.ip().to_string()),
            (&b"ping"[..], "10.1.2.10".to_string())
        );
        let (ns, fd) = s.call(json!({"op": "netns", "node": "web1"}));
        assert_eq!(ns["ok"], true);
        let fd = fd.expect("a namespace came with the response");
        // The very namespace of the node.
        use std::os::unix::fs::MetadataExt;
        let given = std::fs::File::from(fd).metadata().unwrap();
        let node = std::fs::metadata("/run/netns/web1").unwrap();
        assert_eq!((given.dev(), given.ino()), (node.dev(), node.ino()));

        // The end of input: everything the session made goes.
        drop(s.socket);
        let status = s.child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert_eq!(netns(), Vec::<String>::new(), "namespaces left");
        // Only this test's scratch files, and the lab's lock file, which stays after
        // any `nshost destroy` (nshost never removes a lock file).
        let left: Vec<String> = files_under(std::path::Path::new("/run"))
            .into_iter()
            .filter(|f| !f.starts_with("/run/nshost-ktest/") && f != "/run/nshost/small.lock")
            .collect();
        assert_eq!(left, Vec::<String>::new(), "files left under /run");
    })
}

#[test]
fn shutdown_says_what_it_destroyed() {
    sandboxed(|| {
        let (mut s, _) = Session::start(&[]);
        s.ok(json!({"op": "apply", "file": topology("small.yaml")}));
        let done = s.ok(json!({"op": "shutdown"}));
        assert_eq!(done["destroyed"], json!(["small"]), "{done}");
        assert!(s.child.wait().unwrap().success());
        assert_eq!(netns(), Vec::<String>::new());
    })
}

/// The pid namespace of a sandboxed session's first process.
fn inner_pid_ns(outer: u32) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{outer}/task/{outer}/children"))
            .unwrap_or_default();
        if let Some(first) = children.split_whitespace().next() {
            return std::fs::read_link(format!("/proc/{first}/ns/pid"))
                .unwrap()
                .display()
                .to_string();
        }
        assert!(Instant::now() < deadline, "no first process");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The processes of `pid_ns` that run (a zombie has ended: the sandbox's first process
/// waits to be reaped by whoever inherits it).
fn processes_in(pid_ns: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid"))
                .is_ok_and(|l| l.display().to_string() == pid_ns)
                && nshost::kernel::procs::alive(*pid)
        })
        .collect()
}

#[test]
fn killing_a_sandboxed_session_leaves_no_process() {
    sandboxed(|| {
        let (mut s, hello) = Session::start(&["--sandbox"]);
        assert_eq!(hello["sandbox"], true);
        assert_eq!(hello["pid"], s.child.id());
        let pid_ns = inner_pid_ns(s.child.id());
        s.ok(json!({"op": "apply", "file": topology("small.yaml")}));
        // A process left running in a node, out of the session's sight.
        let out = s.ok(json!({"op": "exec", "node": "web1", "argv": ["sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &"]}));
        assert_eq!(out["code"], 0);
        assert!(
            processes_in(&pid_ns).len() >= 2,
            "the sleep runs in the sandbox"
        );
        // The sandbox's labs are its own: none here.
        assert_eq!(netns(), Vec::<String>::new());
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(s.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let _ = s.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_in(&pid_ns).is_empty() {
            assert!(
                Instant::now() < deadline,
                "left: {:?}",
                processes_in(&pid_ns)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}
