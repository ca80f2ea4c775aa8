//! The session's loop: the first line, then one request at a time, each answered on
//! its line; at the end of input or on `shutdown`, every lab the session applied is
//! destroyed.

use std::io::BufRead;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use super::Error;
use super::exec::Exec;
use super::ops::State;
use super::protocol::{ErrorJson, Hello, Op, PROTOCOL, Request, Response};
use super::wire;
use crate::report::{ErrorReport, FORMAT_VERSION, Versioned};

/// How the session was started.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// In a sandbox of its own (`--sandbox`).
    pub sandbox: bool,
    /// The session's pid as its client sees it (the outer process of a sandbox).
    pub pid: u32,
}

/// Serves requests from standard input until its end or a `shutdown`; then tears down
/// what the session made. An error only when standard output cannot be written.
pub fn serve(options: Options) -> std::io::Result<()> {
    let hello = Hello {
        hello: "nshost".into(),
        protocol: PROTOCOL,
        version: env!("CARGO_PKG_VERSION").into(),
        sandbox: options.sandbox,
        pid: options.pid,
    };
    wire::send(&serde_json::to_string(&hello)?, None)?;
    let mut state = State {
        sandbox: options.sandbox,
        ..State::default()
    };
    let mut input = std::io::stdin().lock();
    let mut line = String::new();
    let sent = loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let err = Error::Protocol(format!("a request that is not UTF-8: {e}"));
                if let Err(e) = respond(None, Err(err)) {
                    break Err(e);
                }
                continue;
            }
            Err(_) => break Ok(()),
        }
        if line.trim().is_empty() {
            continue;
        }
        let (id, request) = parse(&line);
        let request = match request {
            Ok(r) => r,
            Err(err) => {
                if let Err(e) = respond(id, Err(err)) {
                    break Err(e);
                }
                continue;
            }
        };
        if let Op::Shutdown = request.op {
            let done = state.shutdown();
            let result = serde_json::to_value(done).expect("a result serializes");
            return respond(Some(request.id), Ok((result, None)));
        }
        let answer = handle(&mut state, request.op);
        if let Err(e) = respond(Some(request.id), answer) {
            break Err(e);
        }
    };
    // The end of input, or a client that cannot be written to: the same as `shutdown`.
    state.shutdown();
    sent
}

/// Reads a request line: its id (when it has one) and the request, or why not.
fn parse(line: &str) -> (Option<u64>, Result<Request, Error>) {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return (None, Err(Error::Protocol(format!("not JSON: {e}")))),
    };
    let id = value.get("id").and_then(Value::as_u64);
    let request = match value.get("op") {
        None => Err(Error::Protocol("a request without `op`".into())),
        Some(_) if id.is_none() => Err(Error::Protocol(
            "a request without `id` (an unsigned integer)".into(),
        )),
        Some(_) => serde_json::from_value::<Request>(value)
            .map_err(|e| Error::Protocol(format!("a request that cannot be read: {e}"))),
    };
    (id, request)
}

/// A result, and the descriptor passed with it.
type Answer = Result<(Value, Option<OwnedFd>), Error>;

/// Runs one operation; a panic is answered as a bug, and the session goes on.
fn handle(state: &mut State, op: Op) -> Answer {
    let name = op_name(&op);
    match catch_unwind(AssertUnwindSafe(|| run(state, op))) {
        Ok(answer) => answer,
        Err(panic) => Err(Error::Bug {
            op: name,
            message: panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        }),
    }
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Apply(_) => "apply",
        Op::Plan(_) => "plan",
        Op::Status { .. } => "status",
        Op::Check { .. } => "check",
        Op::Exec { .. } => "exec",
        Op::Logs { .. } => "logs",
        Op::Netns { .. } => "netns",
        Op::Socket { .. } => "socket",
        Op::Destroy { .. } => "destroy",
        Op::Shutdown => "shutdown",
    }
}

fn run(state: &mut State, op: Op) -> Answer {
    let plain = |v: Result<Value, Error>| v.map(|v| (v, None));
    let with_fd = |fd: Result<OwnedFd, Error>| fd.map(|fd| (serde_json::json!({}), Some(fd)));
    match op {
        Op::Apply(src) => plain(state.apply(&src)),
        Op::Plan(src) => plain(state.plan(&src)),
        Op::Status { lab, format } => plain(state.status(lab.as_deref(), format)),
        Op::Check {
            lab,
            wait_ms,
            format,
        } => plain(state.check(lab.as_deref(), wait_ms, format)),
        Op::Exec {
            node,
            argv,
            lab,
            stdin_base64,
            timeout_ms,
            env,
        } => {
            let stdin = match stdin_base64 {
                Some(text) => Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .map_err(|e| Error::Protocol(format!("`stdin_base64`: {e}")))?,
                ),
                None => None,
            };
            plain(state.exec(Exec {
                lab: lab.as_deref(),
                node: &node,
                argv: &argv,
                stdin,
                timeout: timeout_ms.map(Duration::from_millis),
                env: &env,
            }))
        }
        Op::Logs { node, lab } => plain(state.logs(&node, lab.as_deref())),
        Op::Netns { node, lab } => with_fd(state.netns(&node, lab.as_deref())),
        Op::Socket {
            node,
            domain,
            kind,
            protocol,
            lab,
        } => with_fd(state.socket(&node, lab.as_deref(), domain, kind, protocol.unwrap_or(0))),
        Op::Destroy { lab } => plain(state.destroy(lab.as_deref())),
        Op::Shutdown => unreachable!("shutdown ends the loop before this"),
    }
}

/// Writes the response to request `id`.
fn respond(id: Option<u64>, answer: Answer) -> std::io::Result<()> {
    let (response, fd) = match answer {
        Ok((result, fd)) => (
            Response {
                id,
                ok: true,
                result: Some(result),
                error: None,
            },
            fd,
        ),
        Err(err) => (
            Response {
                id,
                ok: false,
                result: None,
                error: Some(error_json(&err)),
            },
            None,
        ),
    };
    let line = serde_json::to_string(&response)?;
    wire::send(&line, fd.as_ref().map(|fd| fd.as_fd()))
}

/// An error as a response carries it: code, one line, the located report without
/// colours, and the error document `--output json` prints.
pub fn error_json(err: &Error) -> ErrorJson {
    let mut report = String::new();
    let _ = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut report, err);
    let body = match err {
        Error::Workflow(e) => ErrorReport::of(e),
        other => ErrorReport::of_diagnostic(other),
    };
    ErrorJson {
        code: miette::Diagnostic::code(err)
            .map(|c| c.to_string())
            .unwrap_or_else(|| crate::problem::Code::Bug.as_str().into()),
        message: err
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        report,
        body: serde_json::to_value(Versioned {
            format_version: FORMAT_VERSION,
            report: body,
        })
        .expect("an error report serializes"),
    }
}
