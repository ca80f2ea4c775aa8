//! Services: the small TCP and UDP listeners a lab's nodes declare (`services:` on a
//! router or a host), so that port checks have something to reach.
//!
//! One detached nshost process per lab serves them all ([`daemon`]): started by
//! `apply` (a re-exec of nshost itself with a hidden subcommand, in a session of its
//! own), it opens each listening socket inside its node's namespace from a short-lived
//! thread (a socket stays in the namespace it was made in), then serves every socket
//! from one poll loop: TCP connections are accepted and echoed until the peer closes,
//! UDP datagrams are echoed back from the address they were sent to.
//!
//! It is tracked under the lab's run directory, `/run/nshost/<lab>/` (beside the lab's
//! lock; `NSHOST_LOCK_DIR` moves both): its pid, the set it serves and its log
//! ([`control`]). What a plan compares with the file is read from the kernel
//! ([`observe`]): the listening sockets of each namespace (`/proc/thread-self/net/*`,
//! read from inside it) that belong to the lab's daemon (their inodes among its open
//! descriptors). So a daemon killed, or a socket gone, is drift the next plan shows and
//! apply repairs; a changed set restarts the daemon with the new one; destroy stops it.
//! A lab without services starts nothing and reads nothing.

pub mod control;
pub mod daemon;
pub mod observe;

pub use crate::lab::service::Service;
pub use crate::plan::services::{ServiceChange, ServiceSet, count, desired, diff};

/// What the kernel has of a lab's services: the lab's daemon, if one runs, and the
/// sockets of it that listen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Live {
    /// The daemon's pid, when the run directory names one that is alive and is it.
    pub daemon: Option<u32>,
    /// What its sockets serve, by namespace.
    pub services: ServiceSet,
    /// The run directory holds something (a daemon's files, a stale pid file).
    pub leftovers: bool,
}

/// A plan's services: what the lab wants and what was found.
#[derive(Clone, Debug, Default)]
pub struct Planned {
    pub desired: ServiceSet,
    pub live: Live,
}

impl Planned {
    /// Whether the daemon must be (re)started or stopped to carry out `changes`.
    pub fn restart(changes: &[ServiceChange]) -> bool {
        !changes.is_empty()
    }
}
