//! The session protocol's messages (`docs/src/protocol.md`): requests and responses as
//! serde types, read by the server ([`super::serve`](mod@super::serve)) and written by the client
//! (`crate::api`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The protocol's version, in the first line; a client stops on one it does not know.
pub const PROTOCOL: u32 = 1;

/// The first line a session writes, before reading any request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Always `nshost`.
    pub hello: String,
    /// [`PROTOCOL`].
    pub protocol: u32,
    /// nshost's version.
    pub version: String,
    /// Whether the session runs in a sandbox of its own (`--sandbox`).
    pub sandbox: bool,
    /// The session's process, as its client sees it.
    pub pid: u32,
}

/// One request: the client's `id` (sent back in the response) and the operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub op: Op,
}

/// A lab to apply or plan: a file, or YAML text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LabSource {
    /// A lab file's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// A lab's YAML text (instead of `file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text's file name in messages (default `lab.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the text's relative paths start (default the session's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
}

/// How a `status` or `check` result is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The document `--output json` prints.
    Json,
    /// The text for people, in `{"text": ...}`.
    Text,
}

/// A socket's family, for `socket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Inet,
    Inet6,
    Unix,
}

/// A socket's type, for `socket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketType {
    Stream,
    Dgram,
    Raw,
}

/// The operations, by their `op`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    Apply(LabSource),
    Plan(LabSource),
    Status {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lab: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<Format>,
    },
    Check {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lab: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<Format>,
    },
    Exec {
        node: String,
        argv: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lab: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdin_base64: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        env: BTreeMap<String, String>,
    },
    Logs {
        node: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lab: Option<String>,
    },
    Netns {
        node: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lab: Option<String>,
    },
    Socket {
        node: String,
        domain: Domain,
        #[serde(rename = "type")]
        kind: SocketType,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lab: Option<String>,
    },
    Destroy {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lab: Option<String>,
    },
    Shutdown,
}

/// One response: to the request `id` (`None` for one whose id could not be read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub id: Option<u64>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorJson>,
}

/// A failed request's error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorJson {
    /// The error's code (`nshost::parse`...).
    pub code: String,
    /// One line.
    pub message: String,
    /// The located report as the command line prints it, without colours.
    pub report: String,
    /// The error document `--output json` prints.
    pub body: serde_json::Value,
}

/// The result of `exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecResult {
    /// The exit code, if the command exited.
    pub code: Option<i32>,
    /// The signal that killed the command, if one did.
    pub signal: Option<i32>,
    pub stdout_base64: String,
    pub stderr_base64: String,
    /// The command ran past `timeout_ms` and was killed.
    pub timed_out: bool,
}

/// The result of `shutdown`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shutdown {
    /// The labs destroyed.
    pub destroyed: Vec<String>,
    /// The processes stopped, `PID NAME` each.
    pub stopped: Vec<String>,
}
