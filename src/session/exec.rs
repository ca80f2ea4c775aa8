//! The session's `exec`: a command run in a node exactly as `nshost exec NODE -- ARGV`
//! runs it (this nshost, spawned, enters the node: its supervised mount and pid
//! namespaces too when it has them), with its output captured and a timeout that kills
//! it (its whole process group).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::Error;
use super::protocol::ExecResult;

/// What to run, and how.
pub struct Exec<'a> {
    pub lab: Option<&'a str>,
    pub node: &'a str,
    pub argv: &'a [String],
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    pub env: &'a BTreeMap<String, String>,
}

/// Runs the command and waits for it (and for its output to end).
pub fn run(exec: Exec<'_>) -> Result<ExecResult, Error> {
    if exec.argv.is_empty() {
        return Err(Error::Protocol(
            "`exec` needs a command: `argv` is empty".into(),
        ));
    }
    let exe = std::env::current_exe().map_err(|cause| Error::Spawn {
        program: "nshost (this program)".into(),
        cause,
    })?;
    let mut cmd = Command::new(&exe);
    cmd.args(["-q", "exec"]);
    if let Some(lab) = exec.lab {
        cmd.args(["--lab", lab]);
    }
    cmd.arg(exec.node)
        .arg("--")
        .args(exec.argv)
        .envs(exec.env)
        .stdin(if exec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that a timeout kills what it forked too.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|cause| Error::Spawn {
        program: exe.display().to_string(),
        cause,
    })?;
    let group = Pid::from_raw(child.id() as i32);
    let feeder = match (child.stdin.take(), exec.stdin) {
        (Some(mut pipe), Some(data)) => Some(thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })),
        _ => None,
    };
    let drain = |stream: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut s) = stream {
                let _ = s.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let mut timed_out = false;
    let waited = match exec.timeout {
        None => rx.recv().ok(),
        Some(limit) => match rx.recv_timeout(limit) {
            Ok(status) => Some(status),
            Err(_) => {
                timed_out = true;
                let _ = killpg(group, Signal::SIGKILL);
                rx.recv().ok()
            }
        },
    };
    let _ = waiter.join();
    let status = waited
        .expect("the waiter sends the status")
        .map_err(|cause| Error::Spawn {
            program: exe.display().to_string(),
            cause,
        })?;
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(ExecResult {
        code: status.code(),
        signal: status.signal(),
        stdout_base64: STANDARD.encode(stdout),
        stderr_base64: STANDARD.encode(stderr),
        timed_out,
    })
}
