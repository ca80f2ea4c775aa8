//! `nshost pool`: the warm pool of namespaces, made in advance so that applies take
//! them instead of making them, and destroys give them back reset.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use nshost::kernel::pool::{self, PoolInfo};
use nshost::out;
use nshost::workflow::Error;
use serde::Serialize;

use super::{Global, Output};

/// Keep network namespaces ready for applies (a warm pool), or empty it.
///
/// `fill N` makes the pool hold N namespaces (loopback up, marked as the pool's, kept
/// under NSHOST_LOCK_DIR/pool, not /run/netns) and records N as its target. An apply
/// that creates nodes then takes namespaces from the pool (a setns and a mount instead of
/// a new namespace), and a destroy gives namespaces back, reset to a fresh namespace's
/// state, while the pool holds fewer than its target; a namespace whose reset cannot be
/// proved complete (a firewall, a process, a device that cannot go) is deleted as
/// before. Without a pool (never filled, or drained) nothing changes: destroy deletes.
/// A pooled namespace costs kernel memory (measured at fill time and shown here and in
/// `nshost status`: about 0.18 MiB each, measured over 1000 on a 6.18 kernel).
#[derive(Args, Debug)]
#[command(after_help = POOL_EXAMPLES)]
pub struct PoolArgs {
    #[command(subcommand)]
    pub action: Option<Action>,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Make the pool hold N namespaces, and keep it at N (its target).
    Fill {
        /// How many namespaces the pool holds.
        n: usize,
    },
    /// Take N namespaces out of the pool (all of them by default, which also forgets
    /// its target: destroy deletes namespaces again).
    Drain {
        /// How many to remove (the target is lowered by as many).
        n: Option<usize>,
    },
}

/// `nshost pool` as JSON.
#[derive(Serialize)]
struct PoolReport {
    pool: PoolInfo,
    /// Namespaces made (`fill`) or removed (`drain`) by the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    added: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    removed: Option<usize>,
}

pub fn run(args: PoolArgs, global: &Global) -> Result<ExitCode, Error> {
    let (added, removed) = match args.action {
        None => (None, None),
        Some(Action::Fill { n }) => {
            Error::unless_permitted("filling the namespace pool")?;
            (Some(pool::fill(n)?.added), None)
        }
        Some(Action::Drain { n }) => {
            Error::unless_permitted("draining the namespace pool")?;
            (None, Some(pool::drain(n)?))
        }
    };
    let info = pool::info().unwrap_or_default();
    match global.output {
        Output::Json => super::print_report(&PoolReport {
            pool: info,
            added,
            removed,
        }),
        Output::Human => {
            if let Some(n) = added.filter(|_| !global.quiet) {
                out!("Made {n} namespace(s).\n");
            }
            if let Some(n) = removed.filter(|_| !global.quiet) {
                out!("Removed {n} namespace(s).\n");
            }
            out!("pool: {}\n", info.describe());
        }
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The examples `nshost pool --help` shows (and its page in the book).
const POOL_EXAMPLES: &str = "\
Examples:
  nshost pool fill 50     # keep 50 namespaces ready
  nshost pool             # its size, target and memory
  nshost pool drain       # empty it: destroy deletes namespaces again";
