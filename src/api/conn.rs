//! The client's end of a session: the `nshost session` child, found and started on a
//! socket pair, and the request/response lines (with descriptors) spoken over it.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use serde_json::Value;

use super::Error;
use crate::session::protocol::{Hello, PROTOCOL, Response};

/// The environment variable naming the nshost binary to run.
pub const BIN_ENV: &str = "NSHOST_BIN";

/// Finds the nshost binary: `NSHOST_BIN`, else an `nshost` beside the current
/// executable or in its parent directory (a test binary lives in `target/*/deps`), else
/// one in `PATH`.
pub fn find_binary() -> Result<PathBuf, Error> {
    if let Some(bin) = std::env::var_os(BIN_ENV).filter(|b| !b.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let mut searched = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            searched.push(dir.join("nshost"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        searched.extend(std::env::split_paths(&path).map(|d| d.join("nshost")));
    }
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(Error::NoBinary { searched })
}

/// A running session and the client's end of its socket.
pub struct Conn {
    child: Child,
    socket: UnixStream,
    /// Read and not yet taken: bytes, and the descriptors that came with them.
    buffer: Vec<u8>,
    fds: VecDeque<OwnedFd>,
    next_id: u64,
    /// What the session wrote on standard error.
    stderr: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub hello: Hello,
}

impl Conn {
    /// Starts `nshost session` (with `--sandbox` when asked) and reads its first line.
    pub fn start(bin: &Path, sandbox: bool) -> Result<Conn, Error> {
        let (ours, theirs) = UnixStream::pair().map_err(|cause| Error::Start {
            cause,
            stderr: String::new(),
        })?;
        let theirs_in = theirs.try_clone().map_err(|cause| Error::Start {
            cause,
            stderr: String::new(),
        })?;
        let mut cmd = Command::new(bin);
        cmd.arg("session")
            .stdin(Stdio::from(OwnedFd::from(theirs_in)))
            .stdout(Stdio::from(OwnedFd::from(theirs)))
            .stderr(Stdio::piped());
        if sandbox {
            cmd.arg("--sandbox");
        }
        let mut child = cmd.spawn().map_err(|cause| Error::Start {
            cause: io::Error::new(cause.kind(), format!("{}: {cause}", bin.display())),
            stderr: String::new(),
        })?;
        // `cmd` holds the child's ends: dropped here, so that the session's end of
        // input is the client's close.
        drop(cmd);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let reader = child.stderr.take().map(|mut pipe| {
            let keep = stderr.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    keep.lock().expect("stderr").extend_from_slice(&chunk[..n]);
                }
            })
        });
        let mut conn = Conn {
            child,
            socket: ours,
            buffer: Vec::new(),
            fds: VecDeque::new(),
            next_id: 1,
            stderr,
            reader,
            hello: Hello {
                hello: String::new(),
                protocol: 0,
                version: String::new(),
                sandbox,
                pid: 0,
            },
        };
        let line = conn.read_line()?;
        let hello: Hello = serde_json::from_slice(&line).map_err(|e| conn.protocol(e))?;
        if hello.hello != "nshost" || hello.protocol != PROTOCOL {
            return Err(conn.protocol(format!(
                "the session speaks protocol {}, this client {PROTOCOL}",
                hello.protocol
            )));
        }
        conn.hello = hello;
        Ok(conn)
    }

    /// What the session wrote on standard error so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr")).into_owned()
    }

    fn protocol(&mut self, what: impl std::fmt::Display) -> Error {
        self.settle_stderr();
        Error::Protocol {
            message: what.to_string(),
            stderr: self.stderr(),
        }
    }

    /// A session that stopped answering: its exit, and standard error read to its end.
    fn gone(&mut self, cause: io::Error) -> Error {
        self.settle_stderr();
        Error::Gone {
            cause,
            stderr: self.stderr(),
        }
    }

    /// Gives a session that has ended a moment to have its standard error read.
    fn settle_stderr(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !matches!(self.child.try_wait(), Ok(None))
            && let Some(r) = self.reader.take()
        {
            let _ = r.join();
        }
    }

    /// Sends a request (`op` and its arguments) and waits for its response: the
    /// result and the descriptor passed with it, or the session's error.
    pub fn call(&mut self, mut request: Value) -> Result<(Value, Option<OwnedFd>), Error> {
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = id.into();
        let mut line = serde_json::to_vec(&request).expect("a request serializes");
        line.push(b'\n');
        if let Err(e) = self.socket.write_all(&line) {
            return Err(self.gone(e));
        }
        loop {
            let line = self.read_line()?;
            let response: Response = serde_json::from_slice(&line).map_err(|e| self.protocol(e))?;
            let fd = if response.ok && !self.fds.is_empty() {
                self.fds.pop_front()
            } else {
                None
            };
            if response.id != Some(id) {
                continue;
            }
            return match (response.ok, response.result, response.error) {
                (true, Some(result), _) => Ok((result, fd)),
                (false, _, Some(e)) => Err(Error::Session(Box::new(super::SessionError {
                    code: e.code,
                    message: e.message,
                    report: e.report,
                    body: e.body,
                }))),
                _ => Err(self.protocol("a response with neither result nor error")),
            };
        }
    }

    /// The next line from the session, with any descriptors it passes queued.
    fn read_line(&mut self) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Ok(line);
            }
            let mut chunk = vec![0u8; 65536];
            let mut space = nix::cmsg_space!([RawFd; 4]);
            let fd = self.socket.as_raw_fd();
            let (n, fds) = {
                let mut iov = [IoSliceMut::new(&mut chunk)];
                match recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                    Ok(msg) => {
                        let mut fds = Vec::new();
                        for c in msg.cmsgs().into_iter().flatten() {
                            if let ControlMessageOwned::ScmRights(raw) = c {
                                fds.extend(raw);
                            }
                        }
                        (msg.bytes, fds)
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(self.gone(e.into())),
                }
            };
            // SAFETY: each descriptor was just received, owned by nothing else.
            self.fds
                .extend(fds.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }));
            if n == 0 {
                return Err(self.gone(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the session ended",
                )));
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// Ends the session: `shutdown` (when `polite`), the socket closed, the child
    /// waited for (killed if it takes more than `patience`). Its exit status.
    pub fn close(
        &mut self,
        polite: bool,
        patience: Duration,
    ) -> Result<(Option<Value>, std::process::ExitStatus), Error> {
        let done = if polite {
            self.call(serde_json::json!({"op": "shutdown"}))
                .ok()
                .map(|(v, _)| v)
        } else {
            None
        };
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        let deadline = Instant::now() + patience;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    break self.child.wait().map_err(|e| self.gone(e))?;
                }
                Err(e) => return Err(self.gone(e)),
            }
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        Ok((done, status))
    }
}
