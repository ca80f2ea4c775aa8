//! The per-lab lock: one apply or destroy of a lab at a time, others wait a bounded
//! time. An advisory `flock` on `/run/nshost/<lab>.lock`, released by a Drop guard
//! (and by the kernel if the process dies).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

/// Directory of the lock files. `NSHOST_LOCK_DIR` overrides it.
pub fn lock_dir() -> PathBuf {
    std::env::var_os("NSHOST_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/nshost"))
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open lock file {path}: {cause}")]
    Open {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "lab `{lab}` is busy: another nshost process holds {path} (waited {waited:.1?}); \
         try again when it is done, or raise --lock-timeout"
    )]
    Busy {
        lab: String,
        path: PathBuf,
        waited: Duration,
    },
}

/// A held lab lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LabLock {
    _flock: Flock<File>,
}

impl LabLock {
    /// Takes the lock of `lab`, waiting up to `timeout` for another holder.
    pub fn acquire(lab: &str, timeout: Duration) -> Result<LabLock, LockError> {
        let dir = lock_dir();
        let path = dir.join(format!("{lab}.lock"));
        let open_err = |cause| LockError::Open {
            path: path.clone(),
            cause,
        };
        std::fs::create_dir_all(&dir).map_err(open_err)?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(open_err)?;
        let start = Instant::now();
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(flock) => return Ok(LabLock { _flock: flock }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => {
                    if start.elapsed() >= timeout {
                        return Err(LockError::Busy {
                            lab: lab.to_string(),
                            path,
                            waited: start.elapsed(),
                        });
                    }
                    file = f;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((_, e)) => return Err(open_err(e.into())),
            }
        }
    }
}
