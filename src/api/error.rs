//! The API's error: a session's own error (its code, message and located report), or
//! the session that could not be started or spoken to.

use std::io;
use std::path::PathBuf;

use crate::problem::Code;

/// Why a call of the API failed.
///
/// ```
/// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
/// let err = nshost::Lab::sandbox("no/such/lab.yaml").unwrap_err();
/// assert_eq!(err.code(), nshost::problem::Code::Read.as_str());
/// assert!(err.to_string().contains("no/such/lab.yaml"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The session refused the request: `code` is the error's code as nshost prints
    /// it, `report` its located report (without colours), `body` the error document
    /// `--output json` prints.
    #[error("{}", .0.message)]
    Session(Box<SessionError>),
    /// No nshost binary was found.
    #[error("no nshost binary: set NSHOST_BIN, or put nshost in PATH (looked at {})", .searched.len())]
    NoBinary { searched: Vec<PathBuf> },
    /// The session could not be started.
    #[error("cannot start nshost session: {cause}")]
    Start { cause: io::Error, stderr: String },
    /// The session ended, or could not be written to or read from.
    #[error("the nshost session stopped answering: {cause}{}", tail(.stderr))]
    Gone { cause: io::Error, stderr: String },
    /// The session answered something this client cannot read.
    #[error("the nshost session answered what this client cannot read: {message}{}", tail(.stderr))]
    Protocol { message: String, stderr: String },
    /// Entering a node's network namespace was refused.
    #[error("cannot enter node {node}'s network namespace: {cause}")]
    NotPermitted { node: String, cause: io::Error },
}

/// An error the session answered a request with.
///
/// ```
/// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
/// match nshost::Lab::sandbox("no/such/lab.yaml") {
///     Err(nshost::api::Error::Session(e)) => {
///         assert_eq!(e.code, nshost::problem::Code::Read.as_str());
///         assert_eq!(e.body["error"]["code"], nshost::problem::Code::Read.as_str());
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SessionError {
    /// The error's code, as nshost prints it.
    pub code: String,
    /// One line.
    pub message: String,
    /// The located report, as the command line prints it, without colours.
    pub report: String,
    /// The error document `--output json` prints.
    pub body: serde_json::Value,
}

/// The session's standard error, after a message.
fn tail(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; it said:\n{stderr}")
    }
}

impl Error {
    /// The error's code, as nshost prints it (`nshost::read`, `nshost::invalid`...).
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let err = nshost::Lab::sandbox_text("name: x\nrouters: 5\n").unwrap_err();
    /// assert_eq!(err.code(), nshost::problem::Code::Invalid.as_str());
    /// ```
    pub fn code(&self) -> &str {
        match self {
            Error::Session(e) => &e.code,
            Error::NoBinary { .. } | Error::Start { .. } => Code::Spawn.as_str(),
            Error::Gone { .. } | Error::Protocol { .. } => Code::Protocol.as_str(),
            Error::NotPermitted { .. } => Code::NotPermitted.as_str(),
        }
    }

    /// The full report, as the command line would print it: for a session's error its
    /// located report (a lab file's problems with their lines), else the message.
    ///
    /// ```
    /// # unsafe { std::env::set_var("NSHOST_BIN", concat!(env!("CARGO_MANIFEST_DIR"), "/target/debug/nshost")) };
    /// let err = nshost::Lab::sandbox_text("name: x\nrouters: 5\n").unwrap_err();
    /// assert!(err.report().contains("lab.yaml:2:10"), "{}", err.report());
    /// ```
    pub fn report(&self) -> String {
        match self {
            Error::Session(e) => e.report.clone(),
            other => other.to_string(),
        }
    }
}

impl miette::Diagnostic for Error {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(Error::code(self)))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let help: String = match self {
            Error::Session(e) => e.report.clone(),
            Error::NotPermitted { .. } => {
                "setns needs CAP_SYS_ADMIN in the caller's user namespace: \
                 run as root, or use `socket` (no privilege needed)"
                    .into()
            }
            Error::NoBinary { searched } => format!(
                "looked at: {}",
                searched
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::Start { stderr, .. } if !stderr.is_empty() => stderr.clone(),
            _ => return None,
        };
        Some(Box::new(help))
    }
}
