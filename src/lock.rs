//! The per-lab lock: one apply or destroy of a lab at a time, and no plan while one
//! runs; others wait a bounded time. An advisory `flock` on `/run/nshost/<lab>.lock`,
//! exclusive for apply and destroy, shared for plan, released by a Drop guard (and by
//! the kernel if the process dies).
//!
//! The lock directory and file are opened without following symlinks, and the file
//! without blocking: whatever is found there (a symlink, a FIFO, a directory), the
//! command either locks a regular file or fails within its timeout.

use std::fs::{File, FileType};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

/// Directory of the lock files. `NSHOST_LOCK_DIR` overrides it.
pub fn lock_dir() -> PathBuf {
    std::env::var_os("NSHOST_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/nshost"))
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error("cannot open lock file {path}: {cause}")]
    #[diagnostic(code(nshost::lock))]
    Open {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The lock directory cannot be made or opened (the I/O error says why).
    #[error("cannot open the lock directory {path}: {cause}")]
    #[diagnostic(
        code(nshost::lock),
        help("nshost makes it when it is missing: check its parent, or set NSHOST_LOCK_DIR")
    )]
    Dir {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("the lock directory {path} is {found}, not a directory; nshost does not follow it")]
    #[diagnostic(
        code(nshost::lock),
        help("nshost creates the directory itself: remove what is there, or set NSHOST_LOCK_DIR")
    )]
    NotDirectory { path: PathBuf, found: &'static str },
    #[error("the lock file {path} is {found}, not a regular file; nshost does not use it")]
    #[diagnostic(
        code(nshost::lock),
        help("nshost creates the lock file itself: remove what is there")
    )]
    NotRegular { path: PathBuf, found: &'static str },
    #[error(
        "lab `{lab}` is busy: another nshost process holds {path} (waited {waited:.1?}); \
         try again when it is done, or raise --lock-timeout"
    )]
    #[diagnostic(code(nshost::busy))]
    Busy {
        lab: String,
        path: PathBuf,
        waited: Duration,
    },
}

/// How a lock is held: many shared holders at once, or one exclusive holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// For reading the lab's state (plan): shared with other readers.
    Shared,
    /// For changing it (apply, destroy): alone.
    Exclusive,
}

/// A held lab lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LabLock {
    _flock: Flock<File>,
}

impl LabLock {
    /// Takes the exclusive lock of `lab` (for apply and destroy), waiting up to
    /// `timeout` for other holders.
    pub fn acquire(lab: &str, timeout: Duration) -> Result<LabLock, LockError> {
        LabLock::in_dir(&lock_dir(), lab, LockMode::Exclusive, timeout)
    }

    /// Takes the shared lock of `lab` (for plan), waiting up to `timeout` for an
    /// exclusive holder.
    pub fn shared(lab: &str, timeout: Duration) -> Result<LabLock, LockError> {
        LabLock::in_dir(&lock_dir(), lab, LockMode::Shared, timeout)
    }

    /// The lock of `lab` in `mode` if its lock file is there (the lab was applied on
    /// this machine) and it can be taken at once: `None` otherwise, without waiting or
    /// creating anything.
    pub fn now(lab: &str, mode: LockMode) -> Option<LabLock> {
        let dir = lock_dir();
        if !dir.join(format!("{lab}.lock")).is_file() {
            return None;
        }
        LabLock::in_dir(&dir, lab, mode, Duration::ZERO).ok()
    }

    /// Takes the lock of `lab` in `dir` (`<dir>/<lab>.lock`), creating both if need be.
    pub fn in_dir(
        dir: &Path,
        lab: &str,
        mode: LockMode,
        timeout: Duration,
    ) -> Result<LabLock, LockError> {
        let start = Instant::now();
        let path = dir.join(format!("{lab}.lock"));
        let mut file = open_lock_file(dir, &path, mode)?;
        let arg = match mode {
            LockMode::Shared => FlockArg::LockSharedNonblock,
            LockMode::Exclusive => FlockArg::LockExclusiveNonblock,
        };
        loop {
            match Flock::lock(file, arg) {
                Ok(flock) => return Ok(LabLock { _flock: flock }),
                Err((f, Errno::EWOULDBLOCK)) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(LockError::Busy {
                            lab: lab.to_string(),
                            path,
                            waited,
                        });
                    }
                    file = f;
                    std::thread::sleep((timeout - waited).min(Duration::from_millis(20)));
                }
                Err((_, e)) => {
                    return Err(LockError::Open {
                        path,
                        cause: e.into(),
                    });
                }
            }
        }
    }
}

/// Opens (creating) the lock file at `path` in `dir`, following no symlink and never
/// blocking, and checks that it is a regular file.
fn open_lock_file(dir: &Path, path: &Path, mode: LockMode) -> Result<File, LockError> {
    let open_err = |path: &Path, cause| LockError::Open {
        path: path.to_path_buf(),
        cause,
    };
    // Made when missing; a symlink in its place is not followed (`safe_file`).
    let dir_file = crate::safe_file::open_dir(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotADirectory => LockError::NotDirectory {
            path: dir.to_path_buf(),
            found: found_at(dir),
        },
        _ => LockError::Dir {
            path: dir.to_path_buf(),
            cause: e,
        },
    })?;
    let name = path.file_name().expect("a lock file has a name");
    let access = match mode {
        LockMode::Shared => OFlag::O_RDONLY,
        LockMode::Exclusive => OFlag::O_RDWR,
    };
    let flags = access | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let not_regular = |found| LockError::NotRegular {
        path: path.to_path_buf(),
        found,
    };
    let fd = nix::fcntl::openat(&dir_file, name, flags, Mode::from_bits_truncate(0o600)).map_err(
        |e| match e {
            Errno::ELOOP => not_regular("a symlink"),
            Errno::EISDIR => not_regular("a directory"),
            // A FIFO opened for writing without a reader, or a socket.
            Errno::ENXIO | Errno::EOPNOTSUPP => not_regular(found_at(path)),
            e => open_err(path, e.into()),
        },
    )?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| open_err(path, e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(describe(meta.file_type())));
    }
    Ok(file)
}

/// What is at `path`, not following a symlink, in a few words.
fn found_at(path: &Path) -> &'static str {
    std::fs::symlink_metadata(path).map_or("not usable", |m| describe(m.file_type()))
}

fn describe(kind: FileType) -> &'static str {
    if kind.is_symlink() {
        "a symlink"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a regular file"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A fresh scratch folder for one test.
    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nshost-lock-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn code(e: &LockError) -> String {
        miette::Diagnostic::code(e).unwrap().to_string()
    }

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn creates_the_directory_and_a_private_regular_file() {
        let dir = scratch("creates").join("locks");
        let _lock = LabLock::in_dir(&dir, "lab", LockMode::Exclusive, NOW).unwrap();
        let meta = std::fs::symlink_metadata(dir.join("lab.lock")).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_lock_directory_that_cannot_be_made_is_named_as_the_directory() {
        // Was "cannot open lock file DIR": the directory named as if it were the file.
        // Nothing can be made under /proc.
        let blocked = Path::new("/proc/nshost-lock-test");
        let err = LabLock::in_dir(blocked, "lab", LockMode::Exclusive, NOW).unwrap_err();
        assert!(matches!(err, LockError::Dir { .. }), "{err:?}");
        assert_eq!(code(&err), "nshost::lock");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot open the lock directory {}:",
                blocked.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
        let dir = scratch("symlink-file");
        let target = dir.join("target");
        symlink(&target, dir.join("lab.lock")).unwrap();
        let err = LabLock::in_dir(&dir, "lab", LockMode::Exclusive, NOW).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::NotRegular {
                    found: "a symlink",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(code(&err), "nshost::lock");
        assert!(!target.exists(), "the symlink was not followed");
        // An existing target is refused just the same.
        std::fs::write(&target, "").unwrap();
        let err = LabLock::in_dir(&dir, "lab", LockMode::Shared, NOW).unwrap_err();
        assert!(matches!(err, LockError::NotRegular { .. }), "{err:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_symlinked_or_non_directory_lock_dir_is_refused() {
        let dir = scratch("symlink-dir");
        let real = dir.join("real");
        std::fs::create_dir(&real).unwrap();
        symlink(&real, dir.join("link")).unwrap();
        let err = LabLock::in_dir(&dir.join("link"), "lab", LockMode::Exclusive, NOW).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::NotDirectory {
                    found: "a symlink",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(code(&err), "nshost::lock");
        assert!(!real.join("lab.lock").exists());
        std::fs::write(dir.join("file"), "").unwrap();
        let err = LabLock::in_dir(&dir.join("file"), "lab", LockMode::Exclusive, NOW).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::NotDirectory {
                    found: "a regular file",
                    ..
                }
            ),
            "{err:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A FIFO where the lock file goes used to block the open forever, past any
    /// timeout. Taken on a thread, so a hang fails the test instead of stalling it.
    #[test]
    fn a_fifo_is_refused_within_the_timeout() {
        let dir = scratch("fifo");
        nix::unistd::mkfifo(&dir.join("lab.lock"), Mode::from_bits_truncate(0o600)).unwrap();
        for mode in [LockMode::Exclusive, LockMode::Shared] {
            let (tx, rx) = std::sync::mpsc::channel();
            let d = dir.clone();
            std::thread::spawn(move || {
                let _ = tx.send(LabLock::in_dir(&d, "lab", mode, Duration::from_millis(100)));
            });
            let result = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("taking the lock returns within its timeout");
            let err = result.unwrap_err();
            assert!(
                matches!(
                    err,
                    LockError::NotRegular {
                        found: "a FIFO",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(code(&err), "nshost::lock");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = scratch("dir");
        std::fs::create_dir(dir.join("lab.lock")).unwrap();
        let err = LabLock::in_dir(&dir, "lab", LockMode::Exclusive, NOW).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::NotRegular {
                    found: "a directory",
                    ..
                }
            ),
            "{err:?}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn shared_holders_coexist_and_exclude_an_exclusive_one() {
        let dir = scratch("modes");
        let wait = Duration::from_millis(50);
        let a = LabLock::in_dir(&dir, "lab", LockMode::Shared, NOW).unwrap();
        let b = LabLock::in_dir(&dir, "lab", LockMode::Shared, NOW).unwrap();
        let start = Instant::now();
        let err = LabLock::in_dir(&dir, "lab", LockMode::Exclusive, wait).unwrap_err();
        assert!(start.elapsed() >= wait, "waited for the timeout");
        assert!(matches!(err, LockError::Busy { .. }), "{err:?}");
        assert_eq!(code(&err), "nshost::busy");
        drop((a, b));
        let x = LabLock::in_dir(&dir, "lab", LockMode::Exclusive, NOW).unwrap();
        for mode in [LockMode::Shared, LockMode::Exclusive] {
            let err = LabLock::in_dir(&dir, "lab", mode, wait).unwrap_err();
            assert!(matches!(err, LockError::Busy { .. }), "{mode:?}: {err:?}");
        }
        // Another lab's lock is another file.
        LabLock::in_dir(&dir, "other", LockMode::Exclusive, NOW).unwrap();
        drop(x);
        LabLock::in_dir(&dir, "lab", LockMode::Shared, NOW).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
