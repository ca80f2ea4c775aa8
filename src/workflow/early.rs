//! A plan's early read of the kernel: when the lab file names (on a line of its own) a
//! lab whose lock file is there (applied on this machine) and the lock can be taken at
//! once, a plan (or apply) takes the lab's lock (shared, or exclusive) and reads the lab's namespaces on a
//! thread while the file is parsed, validated and lowered; then only what depends on
//! the file is read ([`kernel::observe::complete`]). Any other case (no such line,
//! another lab in the file, an early read that failed) reads the kernel afterwards, as
//! without it.

use std::thread::JoinHandle;

use crate::kernel::{self, KernelError, ObserveSpec, Observed};
use crate::lock::{LabLock, LockMode};
use crate::topology::SourceFile;

/// An early read under way, with the lab's lock.
pub struct Early {
    lab: String,
    lock: LabLock,
    read: EarlyRead,
}

/// The thread reading the kernel early.
pub struct EarlyRead(JoinHandle<Result<Observed, KernelError>>);

impl Early {
    /// Starts the early read of the lab `source` names, if it can (see the module's
    /// text), under its lock in `mode`.
    pub fn start(source: &SourceFile, mode: LockMode) -> Option<Early> {
        let lab = written_name(&source.text)?.to_string();
        if !crate::process::may_manage_namespaces() {
            return None;
        }
        let lock = LabLock::now(&lab, mode)?;
        let spec = ObserveSpec::early(&lab);
        let read = std::thread::Builder::new()
            .name("early-observe".into())
            .spawn(move || kernel::observe(&spec))
            .ok()?;
        Some(Early {
            lab,
            lock,
            read: EarlyRead(read),
        })
    }

    /// The lock and the read, if `lab` is the lab read; else nothing (both are let go).
    pub fn take(self, lab: &str) -> Option<(LabLock, EarlyRead)> {
        (self.lab == lab).then_some((self.lock, self.read))
    }
}

impl EarlyRead {
    /// What [`kernel::observe`] reads with `spec`, if the early read can give it.
    pub(crate) fn complete(self, spec: &ObserveSpec) -> Option<Result<Observed, KernelError>> {
        let t = std::time::Instant::now();
        let observed = self.0.join().ok()?.ok()?;
        crate::trace::detail("observe: early read, waited for", t);
        let done = kernel::observe::complete(observed, spec)?;
        crate::trace::detail("observe: early read completed", t);
        Some(done)
    }
}

/// The lab's name as a top-level `name: NAME` line gives it (a plain, valid lab name,
/// written once); `None` for any other way of writing it.
fn written_name(text: &str) -> Option<&str> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("name:") else {
            continue;
        };
        let value = rest.split(" #").next().unwrap_or_default().trim();
        if found.is_some() {
            return None;
        }
        found = Some(value);
    }
    found.filter(|n| crate::naming::lab_name_problem(n).is_none())
}

#[cfg(test)]
mod tests {
    use super::written_name;

    #[test]
    fn the_name_line_is_read_only_when_plain() {
        assert_eq!(written_name("# lab\nname: demo\nhosts: {}\n"), Some("demo"));
        assert_eq!(written_name("name: demo   # the lab\n"), Some("demo"));
        assert_eq!(written_name("name: \"demo\"\n"), None);
        assert_eq!(written_name("name: demo\nname: other\n"), None);
        assert_eq!(written_name("hosts:\n  h1: {name: x}\n"), None);
        assert_eq!(written_name("{name: demo}\n"), None);
    }
}
