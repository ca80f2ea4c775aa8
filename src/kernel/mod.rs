//! Everything that touches the kernel: namespaces, netlink sockets, observing the live
//! state and applying a plan.

pub mod apply;
pub mod decode;
pub mod message;
pub mod netlink;
pub mod netns;
pub mod observe;
pub mod probe;

use std::collections::BTreeMap;

pub use apply::{ApplyStats, apply};
pub use observe::{ObserveSpec, observe};

/// Open namespaces (a handle and one netlink socket each), kept from observe through
/// apply to verification so each namespace is entered once.
#[derive(Debug, Default)]
pub struct Session {
    pub handles: BTreeMap<String, netns::NsHandle>,
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// Write requests sent so far over every socket of the session.
    pub fn writes(&self) -> u64 {
        self.handles.values().map(|h| h.sock.writes).sum()
    }
}

/// What can go wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("cannot list namespaces: {0}")]
    ListNamespaces(std::io::Error),
    #[error(transparent)]
    Namespace(#[from] netns::NsError),
    #[error("namespace {ns}: dumping {what}: {cause}")]
    Dump {
        ns: String,
        what: &'static str,
        cause: std::io::Error,
    },
    #[error("namespace {ns}: netlink: {cause}")]
    Socket { ns: String, cause: std::io::Error },
    #[error("namespace {ns} is not open")]
    NotOpen { ns: String },
    #[error("{count} change(s) failed:\n{details}")]
    Failed { count: usize, details: String },
    #[error("link kind `{kind}` is not available in this kernel (needed by {users})")]
    UnsupportedKind { kind: String, users: String },
}
