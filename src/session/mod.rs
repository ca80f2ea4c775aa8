//! `nshost session`: one long-lived nshost that another program drives with JSON lines
//! on its standard input and output (the protocol of `docs/src/protocol.md`): the Rust
//! API and the Python package build, change, check and tear down labs through it.
//!
//! [`protocol`] holds the messages, [`serve`](mod@serve) the loop; each operation is one function
//! of `ops` calling the library, as the command line would.

mod exec;
mod ops;
pub mod protocol;
pub mod serve;
mod wire;

use std::io;

pub use self::serve::{Options, serve};

/// Why a request failed: each is answered with its code and report, and the session
/// goes on.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A request the session cannot read (`nshost::protocol`).
    #[error("{0}")]
    #[diagnostic(code(nshost::protocol))]
    Protocol(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Workflow(#[from] crate::workflow::Error),
    /// A node that cannot be found (`nshost::no_such_node`, ...).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Locate(#[from] crate::status::LocateError),
    /// A node's processes' logs (`nshost::no_such_process`).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Workload(#[from] crate::workload::control::WorkloadError),
    /// A command that could not be started (`exec`).
    #[error("cannot run {program}: {cause}")]
    #[diagnostic(code(nshost::spawn))]
    Spawn { program: String, cause: io::Error },
    /// A node's namespace that cannot be opened or entered (`netns`, `socket`).
    #[error("node {node}: {what}: {cause}")]
    #[diagnostic(code(nshost::exec))]
    Node {
        node: String,
        what: &'static str,
        cause: io::Error,
    },
    /// A request that needs a lab when the session has applied none.
    #[error("no lab: the session has applied none, and the request names none")]
    #[diagnostic(
        code(nshost::no_such_lab),
        help("apply a lab first, or give the request a `lab`")
    )]
    NoLab,
    /// A bug: an operation panicked.
    #[error("the {op} request failed on a bug: {message}")]
    #[diagnostic(code(nshost::bug), help("a bug in nshost: please report it"))]
    Bug { op: &'static str, message: String },
}
