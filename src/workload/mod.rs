//! Workloads: the files and processes a node declares (`files:`, `run:`), hosted in the
//! node itself.
//!
//! Each node that declares any gets a supervisor ([`supervisor`], nshost's hidden
//! `__node` subcommand): pid 1 of a pid namespace of its own, in the node's network
//! namespace and in a mount namespace of its own, where `/run` (and `/var/run`) is a
//! private tmpfs and each declared file is bind-mounted at its path ([`mounts`]). It
//! starts the node's processes in the order written, restarts one that exits (with
//! backoff, up to a limit after which it is `failed`), keeps each one's output in a log
//! under the lab's run directory, and stops them all when it is told to stop. Because it
//! is pid 1 of their pid namespace, nothing started in the node (by `run`, by
//! `nshost exec`, by a user's shell) outlives it: the kernel kills the rest of the
//! namespace when it exits.
//!
//! A plan compares what the file wants ([`desired`]) with what the node has
//! ([`observe`]): each file as the node sees it (read through the supervisor's root) and
//! each process as its supervisor reports it. [`diff`] is pure; [`control`] carries the
//! changes out after the kernel's (writing the node's spec and telling its supervisor to
//! reload), and puts the previous spec back on rollback.

pub mod control;
pub mod layout;
pub mod logs;
pub mod mounts;
pub mod observe;
pub mod program;
pub mod supervisor;

pub use crate::plan::workload::{
    LiveNode, LiveProcess, LiveSet, NodeWork, Planned, ProcState, WorkChange, WorkItem, WorkSet,
    depends_on, desired, diff,
};
