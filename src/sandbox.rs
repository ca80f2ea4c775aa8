//! A throwaway world for `nshost try`: this process moves into a new user, network and
//! mount namespace, maps the caller to root inside it, and mounts a private tmpfs on
//! `/run`, so labs built from here on touch nothing of the machine and vanish with the
//! process. Works for any user where unprivileged user namespaces are allowed.
//!
//! The kernel moves only a single-threaded process into a new user namespace, so
//! [`enter`] runs before nshost starts any thread.

use std::io;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::unistd::{getgid, getuid};

/// Why the sandbox could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SandboxError {
    #[error("cannot make a sandbox: {step}: {cause}")]
    #[diagnostic(code(nshost::no_user_namespaces), help("{help}"))]
    UserNamespaces {
        step: &'static str,
        cause: io::Error,
        help: String,
    },
    #[error("cannot make a sandbox: {step}: {cause}")]
    #[diagnostic(code(nshost::sandbox))]
    Setup {
        step: &'static str,
        cause: io::Error,
    },
    #[error("cannot make a sandbox: the process already runs {0} threads")]
    #[diagnostic(
        code(nshost::bug),
        help("a bug: the sandbox must be entered before any thread starts")
    )]
    Threaded(usize),
}

/// Moves this process into a fresh user + network + mount namespace, with the caller
/// mapped to root and a private tmpfs on `/run`. `NSHOST_NETNS_DIR` and
/// `NSHOST_LOCK_DIR` are dropped, so nothing is written outside the sandbox's `/run`.
pub fn enter() -> Result<(), SandboxError> {
    let threads = crate::process::thread_count();
    if threads > 1 {
        return Err(SandboxError::Threaded(threads));
    }
    let (uid, gid) = (getuid().as_raw(), getgid().as_raw());
    let denied = |step: &'static str| {
        move |cause: io::Error| SandboxError::UserNamespaces {
            step,
            help: how_to_enable(&cause),
            cause,
        }
    };
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
        .map_err(io::Error::from)
        .map_err(denied("unshare(user, net, mount)"))?;
    // Without setgroups denied, an unprivileged process may not write its gid map.
    std::fs::write("/proc/self/setgroups", "deny")
        .or_else(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(denied("deny setgroups"))?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))
        .map_err(denied("map the user to root"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))
        .map_err(denied("map the group to root"))?;
    let setup = |step: &'static str| {
        move |e: nix::errno::Errno| SandboxError::Setup {
            step,
            cause: io::Error::from(e),
        }
    };
    // Mounts made from here on stay in the sandbox.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(setup("make / private"))?;
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(setup("mount a tmpfs on /run"))?;
    // SAFETY: single-threaded (checked above), so nothing reads the environment as it
    // changes.
    unsafe {
        std::env::remove_var("NSHOST_NETNS_DIR");
        std::env::remove_var("NSHOST_LOCK_DIR");
    }
    Ok(())
}

/// [`enter`], then a pid namespace too, of which a re-executed nshost (this program
/// with `args`) is the first process, its init: the caller stays outside, waits for it
/// and returns how it ended (a shell's code: `128 + N` for a signal). The child gets
/// SIGKILL when the caller dies (even by `kill -9`), and with it, being init, every
/// process of the sandbox. Standard input, output and error are passed on. The child
/// calls [`mount_proc`] first.
pub fn run_in_pid_namespace(args: &[std::ffi::OsString]) -> Result<u8, SandboxError> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    enter()?;
    let setup = |step: &'static str| move |cause: io::Error| SandboxError::Setup { step, cause };
    unshare(CloneFlags::CLONE_NEWPID)
        .map_err(io::Error::from)
        .map_err(setup("unshare(pid)"))?;
    let mut cmd = std::process::Command::new("/proc/self/exe");
    cmd.args(args);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd
        .status()
        .map_err(setup("starting the sandbox's first process"))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        (None, None) => 1,
    })
}

/// Mounts a `/proc` of this process's pid namespace over `/proc`: the first call of the
/// process [`run_in_pid_namespace`] starts, so that `/proc` shows the sandbox's
/// processes (and `/proc/self` is this one).
pub fn mount_proc() -> Result<(), SandboxError> {
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| SandboxError::Setup {
        step: "mount a /proc of the sandbox's processes",
        cause: io::Error::from(e),
    })
}

/// What to tell a user whose kernel refused the sandbox: the switch that is off, and
/// how to turn it on.
fn how_to_enable(cause: &io::Error) -> String {
    let read = |p: &str| {
        std::fs::read_to_string(Path::new(p))
            .ok()
            .map(|s| s.trim().to_string())
    };
    advice(
        cause,
        read("/proc/sys/kernel/unprivileged_userns_clone").as_deref(),
        read("/proc/sys/user/max_user_namespaces").as_deref(),
        read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref(),
    )
}

/// [`how_to_enable`] from the switches' values (`None` where the kernel has none).
fn advice(
    cause: &io::Error,
    unprivileged_clone: Option<&str>,
    max_user_namespaces: Option<&str>,
    apparmor_restrict: Option<&str>,
) -> String {
    let tail = "; or run nshost as root without `try` (`nshost apply`)";
    if unprivileged_clone == Some("0") {
        format!(
            "unprivileged user namespaces are disabled on this machine \
             (kernel.unprivileged_userns_clone = 0); enable them with \
             `sudo sysctl -w kernel.unprivileged_userns_clone=1`{tail}"
        )
    } else if max_user_namespaces == Some("0") {
        format!(
            "user namespaces are disabled on this machine (user.max_user_namespaces = 0); \
             enable them with `sudo sysctl -w user.max_user_namespaces=15000`{tail}"
        )
    } else if apparmor_restrict == Some("1") {
        format!(
            "AppArmor restricts unprivileged user namespaces here \
             (kernel.apparmor_restrict_unprivileged_userns = 1); allow them with \
             `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or give \
             nshost an AppArmor profile with `userns,`{tail}"
        )
    } else if cause.raw_os_error() == Some(libc::ENOSPC) {
        format!(
            "the limit on user namespaces is reached (user.max_user_namespaces); \
             raise it with `sudo sysctl -w user.max_user_namespaces=15000`{tail}"
        )
    } else {
        format!(
            "the kernel refused a new user namespace; in a container, its seccomp \
             profile or missing privileges may forbid `unshare` (try the container with \
             `--security-opt seccomp=unconfined`){tail}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_switch_that_is_off() {
        let eperm = io::Error::from_raw_os_error(libc::EPERM);
        let enospc = io::Error::from_raw_os_error(libc::ENOSPC);
        let said = |c: &io::Error, a, b, d| advice(c, a, b, d);
        assert!(
            said(&eperm, Some("0"), Some("15000"), None)
                .contains("sysctl -w kernel.unprivileged_userns_clone=1")
        );
        assert!(
            said(&eperm, Some("1"), Some("0"), None)
                .contains("sysctl -w user.max_user_namespaces=")
        );
        assert!(
            said(&eperm, None, Some("15000"), Some("1"))
                .contains("kernel.apparmor_restrict_unprivileged_userns=0")
        );
        assert!(said(&enospc, None, Some("3"), Some("0")).contains("limit on user namespaces"));
        assert!(said(&eperm, Some("1"), Some("15000"), Some("0")).contains("seccomp"));
    }
}
