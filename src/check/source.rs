//! Sending checks from a lab's namespaces: how checks run ([`Options`]), entering a
//! source namespace (and checking its owner), how many sockets may be open at once, and
//! what a failed send means; shared by the ICMP and the port probes.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

use super::CheckError;
use super::report::Outcome;
use crate::kernel::netns::{self, Opened};

/// How many attempts may wait for an answer at once, across a window, by default.
pub const MAX_IN_FLIGHT: usize = 512;

/// How checks run.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long an attempt waits for its reply.
    pub timeout: Duration,
    /// Attempts after the first, for a check without a reply.
    pub retries: u32,
    /// Raw sockets open at once (one per source namespace and family).
    pub max_sockets: usize,
    /// Attempts waiting for an answer at once, across a window.
    pub max_in_flight: usize,
    /// How long to retry the failing checks until every expectation holds (a lab whose
    /// routing daemons are still converging); `None`: one run.
    pub wait: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(1),
            retries: 2,
            max_sockets: 256,
            max_in_flight: MAX_IN_FLIGHT,
            wait: None,
        }
    }
}

/// How many raw sockets may be open at once within the open-file limit: half of what
/// is left after a margin for the rest (the workers' netlink and UDP sockets, the
/// namespace descriptors, stdio).
pub fn socket_budget() -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    let soft = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    usize::try_from(soft.saturating_sub(64) / 2).unwrap_or(usize::MAX)
}

/// Enters source namespace `ns` on the calling (dedicated, short-lived) thread and,
/// with `owner`, checks that it carries that lab's mark.
pub fn enter_source(ns: &str, owner: Option<&str>) -> Result<(), CheckError> {
    let err = |what: &'static str| {
        move |cause: io::Error| CheckError::Kernel {
            ns: ns.to_string(),
            what,
            cause,
        }
    };
    let fd = match netns::open_entry(ns).map_err(|e| err("opening")(e.cause))? {
        Opened::Namespace(fd) => fd,
        _ => {
            return Err(CheckError::NotApplied {
                lab: owner.unwrap_or_default().to_string(),
                missing: vec![ns.to_string()],
                total: 0,
            });
        }
    };
    setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| err("setns")(e.into()))?;
    drop(fd);
    if let Some(lab) = owner {
        let mark = super::mark_here().map_err(err("reading the loopback's mark"))?;
        if mark.as_deref() != Some(lab) {
            return Err(CheckError::NotOwned {
                ns: ns.to_string(),
                lab: lab.to_string(),
                owner: mark,
            });
        }
    }
    Ok(())
}

pub fn send_error(e: &io::Error) -> Outcome {
    let error = match e.raw_os_error() {
        Some(libc::ENETUNREACH) => "network unreachable".to_string(),
        Some(libc::EHOSTUNREACH) => "host unreachable".to_string(),
        _ => {
            let text = e.to_string();
            text.split(" (os error")
                .next()
                .unwrap_or(&text)
                .to_lowercase()
        }
    };
    Outcome::SendError { error }
}
