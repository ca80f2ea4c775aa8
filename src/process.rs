//! Process-level start-up checks, run first thing by the command line before anything
//! reads the environment: nshost refuses to run setuid or setgid, refuses an empty or
//! relative `NSHOST_*_DIR`, and raises its soft open-file limit to the hard one.
//!
//! nshost takes paths from the environment (`NSHOST_LOCK_DIR`, `NSHOST_NETNS_DIR`) and
//! is meant to run as whoever started it; installed setuid, those would let any user
//! point a root process at files of their choosing. A lab holds two files open per
//! namespace (the namespace and its netlink socket), so a soft limit of 1024 stops at
//! about 500 namespaces.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::{getegid, geteuid, getgid, getuid};

/// Why nshost will not start.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StartError {
    #[error(
        "nshost refuses to run setuid or setgid (real uid {ruid}, effective uid {euid}, \
         real gid {rgid}, effective gid {egid}{secure})",
        secure = if *.secure { ", secure-execution mode" } else { "" }
    )]
    #[diagnostic(
        code(nshost::setuid),
        help(
            "remove the setuid and setgid bits (chmod ug-s) and run nshost as root, or with sudo"
        )
    )]
    Privileged {
        ruid: u32,
        euid: u32,
        rgid: u32,
        egid: u32,
        secure: bool,
    },
    /// A directory from the environment that is not an absolute path: an empty one
    /// would put nshost's files in whatever directory it was started from.
    #[error("{var} is {shown}; nshost does not use it: it must be an absolute path", shown = shown_dir(.value))]
    #[diagnostic(
        code(nshost::bad_env_dir),
        help("set {var} to an absolute path (`{var}=/run/...`), or unset it for the default")
    )]
    RelativeDir { var: String, value: String },
}

/// A directory's value as said in an error: `empty`, or quoted.
fn shown_dir(value: &str) -> String {
    if value.is_empty() {
        "empty".to_string()
    } else {
        format!("`{value}`, a relative path")
    }
}

/// Refuses a directory variable (`NSHOST_*_DIR`) that is set but is not an absolute
/// path.
pub fn check_dir_var(var: &str, value: &std::ffi::OsStr) -> Result<(), StartError> {
    if std::path::Path::new(value).is_absolute() {
        Ok(())
    } else {
        Err(StartError::RelativeDir {
            var: var.to_string(),
            value: value.to_string_lossy().into_owned(),
        })
    }
}

/// Refuses every `NSHOST_*_DIR` of the environment (`NSHOST_LOCK_DIR`,
/// `NSHOST_NETNS_DIR`) that is set but is not an absolute path.
pub fn check_dir_vars() -> Result<(), StartError> {
    for (var, value) in std::env::vars_os() {
        if let Some(var) = var.to_str()
            && var.starts_with("NSHOST_")
            && var.ends_with("_DIR")
        {
            check_dir_var(var, &value)?;
        }
    }
    Ok(())
}

/// The identities a process runs with, and whether the kernel started it in
/// secure-execution mode (`AT_SECURE`: setuid, setgid or file capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pub ruid: u32,
    pub euid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub secure: bool,
}

impl Credentials {
    /// This process's.
    pub fn current() -> Credentials {
        // SAFETY: getauxval only reads the auxiliary vector the kernel passed at exec.
        let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
        Credentials {
            ruid: getuid().as_raw(),
            euid: geteuid().as_raw(),
            rgid: getgid().as_raw(),
            egid: getegid().as_raw(),
            secure,
        }
    }

    /// Whether these are a setuid or setgid process's.
    pub fn privileged(&self) -> bool {
        self.ruid != self.euid || self.rgid != self.egid || self.secure
    }
}

/// Refuses privileges nshost was not given by whoever started it.
pub fn check_credentials(creds: Credentials) -> Result<(), StartError> {
    if creds.privileged() {
        let Credentials {
            ruid,
            euid,
            rgid,
            egid,
            secure,
        } = creds;
        Err(StartError::Privileged {
            ruid,
            euid,
            rgid,
            egid,
            secure,
        })
    } else {
        Ok(())
    }
}

/// The start-up checks of the command line: call first thing in `main`, before anything
/// reads the environment.
pub fn start() -> Result<(), StartError> {
    check_credentials(Credentials::current())?;
    check_dir_vars()?;
    limit_malloc_arenas();
    // Not fatal: a command that needs more files than the limit fails clearly then.
    if let Ok(limits) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = STARTED_WITH.set(limits);
    }
    let _ = raise_nofile_limit();
    Ok(())
}

/// At most two malloc arenas. glibc gives each thread that allocates an arena of its
/// own (up to 8 per core), and the namespace threads of observe and apply each leave
/// theirs partly used: at 3000 hosts an apply's peak RSS was 79 MB with them and 68 MB
/// with two (same heap). Two keep the threads from queueing on one lock.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Gives the pages of freed heap memory back to the kernel (`malloc_trim`). glibc
/// keeps freed memory resident where it is not at the top of the heap; the namespace
/// threads that read the kernel allocate from their own arena, so what the parsed file
/// and the validated lab left behind stayed resident beside what they read.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The open-file limits the process started with, before [`start`] raised them.
static STARTED_WITH: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

/// Puts back the open-file limit the process started with, for a program it is about
/// to execute (`nshost exec`): that program gets the limit its caller gave, not
/// nshost's.
pub fn restore_limits() {
    if let Some(&(soft, hard)) = STARTED_WITH.get() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, soft, hard);
    }
}

/// The number of threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(1)
}

/// `CAP_SYS_ADMIN`, which entering and making network namespaces needs.
const CAP_SYS_ADMIN: u32 = 21;

/// Whether this process may enter and make network namespaces: it holds
/// `CAP_SYS_ADMIN` in its user namespace (from `/proc/self/status`; `true` when that
/// cannot be read, so the kernel's own answer decides).
pub fn may_manage_namespaces() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_none_or(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

/// The soft limit to set for limits `soft` and `hard`: the hard one when it is higher,
/// nothing otherwise (a limit is never lowered).
fn raised_soft(soft: u64, hard: u64) -> Option<u64> {
    (soft < hard).then_some(hard)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, never lowering it. Returns the
/// soft limit now in force.
pub fn raise_nofile_limit() -> nix::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    match raised_soft(soft, hard) {
        Some(new) => {
            setrlimit(Resource::RLIMIT_NOFILE, new, hard)?;
            Ok(new)
        }
        None => Ok(soft),
    }
}

/// The first line a child started with a piped stdout prints (a daemon's `ready` or
/// `error: ...`), read on a thread of its own; `None` when none came within `timeout`
/// (an empty line when the child closed stdout first).
pub fn first_line(child: &mut std::process::Child, timeout: std::time::Duration) -> Option<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("a child with a piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(timeout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Credentials = Credentials {
        ruid: 1000,
        euid: 1000,
        rgid: 1000,
        egid: 1000,
        secure: false,
    };

    #[test]
    fn directories_from_the_environment_are_absolute() {
        use std::ffi::OsStr;
        assert!(check_dir_var("NSHOST_LOCK_DIR", OsStr::new("/run/x")).is_ok());
        let refused = |value: &str| {
            let err = check_dir_var("NSHOST_NETNS_DIR", OsStr::new(value)).unwrap_err();
            let code = miette::Diagnostic::code(&err).unwrap().to_string();
            let help = miette::Diagnostic::help(&err).unwrap().to_string();
            assert_eq!(code, "nshost::bad_env_dir");
            assert!(
                help.contains("set NSHOST_NETNS_DIR to an absolute path"),
                "{help}"
            );
            err.to_string()
        };
        assert_eq!(
            refused(""),
            "NSHOST_NETNS_DIR is empty; nshost does not use it: it must be an absolute path"
        );
        assert_eq!(
            refused("run/netns"),
            "NSHOST_NETNS_DIR is `run/netns`, a relative path; nshost does not use it: it \
             must be an absolute path"
        );
        assert!(check_dir_var("NSHOST_LOCK_DIR", OsStr::new("./x")).is_err());
    }

    #[test]
    fn setuid_and_setgid_are_refused() {
        assert!(check_credentials(PLAIN).is_ok());
        let root = Credentials {
            ruid: 0,
            euid: 0,
            rgid: 0,
            egid: 0,
            ..PLAIN
        };
        assert!(check_credentials(root).is_ok());
        let refused = [
            Credentials { euid: 0, ..PLAIN },
            Credentials { ruid: 0, ..PLAIN },
            Credentials { egid: 0, ..PLAIN },
            Credentials { rgid: 0, ..PLAIN },
            Credentials {
                secure: true,
                ..PLAIN
            },
            Credentials {
                secure: true,
                ..root
            },
        ];
        for creds in refused {
            let err = check_credentials(creds).unwrap_err();
            assert_eq!(
                miette::Diagnostic::code(&err).unwrap().to_string(),
                "nshost::setuid"
            );
        }
        assert_eq!(
            check_credentials(Credentials { euid: 0, ..PLAIN })
                .unwrap_err()
                .to_string(),
            "nshost refuses to run setuid or setgid (real uid 1000, effective uid 0, \
             real gid 1000, effective gid 1000)"
        );
    }

    #[test]
    fn the_test_process_is_not_privileged() {
        let creds = Credentials::current();
        assert!(!creds.privileged(), "{creds:?}");
    }

    #[test]
    fn a_soft_limit_is_raised_to_the_hard_one_and_never_lowered() {
        const INF: u64 = libc::RLIM_INFINITY;
        assert_eq!(raised_soft(1024, 524_288), Some(524_288));
        assert_eq!(raised_soft(1024, INF), Some(INF));
        assert_eq!(raised_soft(4096, 4096), None);
        assert_eq!(raised_soft(INF, INF), None);
        assert_eq!(raised_soft(8192, 4096), None, "never lowered");
    }

    #[test]
    fn raising_the_open_file_limit() {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        let now = raise_nofile_limit().unwrap();
        assert_eq!(now, hard);
        assert!(now >= soft);
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
        // Again: nothing to do, nothing lowered.
        assert_eq!(raise_nofile_limit().unwrap(), hard);
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    }
}
