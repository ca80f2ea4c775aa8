//! The watcher's claim on its lab: an exclusive `flock` on `<run dir>/watch.lock`, held
//! for the watcher's life (the kernel frees it when the process dies, even by kill -9),
//! and `watch.json` beside it saying who holds it. `status` trusts the file only while
//! the lock is held, so a dead watcher leaves no stale line.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lock::{LabLock, LockError, LockMode};
use crate::services::control::run_dir;

/// Why a watcher could not start or went on.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WatchError {
    #[error("lab `{lab}` is already watched by pid {pid} since {since} (file {file})")]
    #[diagnostic(
        code(nshost::watched),
        help("one watcher per lab: stop that one first (kill {pid}), or let it do the work")
    )]
    Watched {
        lab: String,
        pid: u32,
        since: String,
        file: String,
    },
    /// The file watch (inotify) or the kernel's notifications could not be set up.
    #[error("cannot watch {what}: {cause}")]
    #[diagnostic(code(nshost::watch))]
    Setup { what: String, cause: std::io::Error },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
}

/// Who watches a lab, as `watch.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatcherInfo {
    pub pid: u32,
    /// When it started, in seconds since the Unix epoch.
    pub since: u64,
    /// The lab file it watches.
    pub file: String,
}

impl WatcherInfo {
    /// `watched by pid N since T (file F)`.
    pub fn line(&self) -> String {
        format!(
            "watched by pid {} since {} (file {})",
            self.pid,
            super::report::utc(self.since as f64),
            self.file
        )
    }
}

/// A held claim; dropping it removes `watch.json` and frees the lock.
#[derive(Debug)]
pub struct Claim {
    info: PathBuf,
    _lock: LabLock,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info);
    }
}

const LOCK: &str = "watch";

fn info_path(dir: &Path) -> PathBuf {
    dir.join("watch.json")
}

/// Claims `lab` for this process, watching `file`; refused while another watcher
/// holds it.
pub fn claim(lab: &str, file: &Path) -> Result<Claim, WatchError> {
    claim_in(&run_dir(lab), lab, file)
}

fn claim_in(dir: &Path, lab: &str, file: &Path) -> Result<Claim, WatchError> {
    let lock = match LabLock::in_dir(dir, LOCK, LockMode::Exclusive, Duration::ZERO) {
        Ok(lock) => lock,
        Err(LockError::Busy { .. }) => {
            let info = read_info(dir);
            return Err(WatchError::Watched {
                lab: lab.to_string(),
                pid: info.as_ref().map_or(0, |i| i.pid),
                since: info
                    .as_ref()
                    .map_or("?".into(), |i| super::report::utc(i.since as f64)),
                file: info.map_or("?".into(), |i| i.file),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let info = WatcherInfo {
        pid: std::process::id(),
        since: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        file: file.display().to_string(),
    };
    let path = info_path(dir);
    let text = serde_json::to_vec(&info).expect("serializes");
    crate::safe_file::write_atomically(&path, &text, 0o644).map_err(|cause| WatchError::Setup {
        what: path.display().to_string(),
        cause,
    })?;
    Ok(Claim {
        info: path,
        _lock: lock,
    })
}

fn read_info(dir: &Path) -> Option<WatcherInfo> {
    let file = crate::safe_file::open_read(&info_path(dir)).ok()?;
    serde_json::from_reader(std::io::BufReader::new(file)).ok()
}

/// The watcher of `lab`, if one runs (its lock is held). Creates nothing.
pub fn watcher_of(lab: &str) -> Option<WatcherInfo> {
    watcher_in(&run_dir(lab))
}

fn watcher_in(dir: &Path) -> Option<WatcherInfo> {
    if !dir.join(format!("{LOCK}.lock")).is_file() {
        return None;
    }
    match LabLock::in_dir(dir, LOCK, LockMode::Shared, Duration::ZERO) {
        Err(LockError::Busy { .. }) => Some(read_info(dir).unwrap_or(WatcherInfo {
            pid: 0,
            since: 0,
            file: "?".into(),
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_and_status_sees_the_first() {
        let dir = &std::env::temp_dir().join(format!("nshost-claim-{}", std::process::id()));
        assert_eq!(watcher_in(dir), None);
        let first = claim_in(dir, "claimed", Path::new("lab.yaml")).unwrap();
        let seen = watcher_in(dir).expect("a watcher is seen while its lock is held");
        assert_eq!(seen.pid, std::process::id());
        assert_eq!(seen.file, "lab.yaml");
        let second = claim_in(dir, "claimed", Path::new("other.yaml")).unwrap_err();
        assert!(matches!(second, WatchError::Watched { pid, .. } if pid == std::process::id()));
        drop(first);
        assert_eq!(watcher_in(dir), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
