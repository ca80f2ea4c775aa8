//! Entering a node's namespace for good and running a program there in place of
//! nshost, as `ip netns exec` does: the process joins the network namespace, gets a
//! mount namespace of its own in which `/sys` describes that network namespace and the
//! files under `/etc/netns/<ns>/` stand in for those of `/etc`, and then executes the
//! program (no fork, no subprocess: the program's exit code is the command's).
//!
//! Unsharing the mount namespace needs a process of one thread, so this runs on the
//! main thread before any other is started; [`enter_for_good`] checks that it is so.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statvfs::{FsFlags, statvfs};

use crate::kernel::netns::{self, Opened};

/// Why the namespace could not be entered.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EnterError {
    #[error("nshost has {threads} threads; entering a namespace for good needs one")]
    #[diagnostic(code(nshost::exec))]
    Threads { threads: usize },
    #[error("namespace {ns} is gone")]
    #[diagnostic(code(nshost::exec))]
    Gone { ns: String },
    #[error("namespace {ns}: {what}: {cause}")]
    #[diagnostic(code(nshost::exec))]
    Step {
        ns: String,
        what: &'static str,
        cause: Errno,
    },
}

/// Why the program could not be run; its exit code is a shell's.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{}: {}", .program.to_string_lossy(), reason(*.errno))]
#[diagnostic(code(nshost::exec))]
pub struct ExecError {
    pub program: OsString,
    pub errno: Errno,
}

fn reason(e: Errno) -> String {
    match e {
        Errno::ENOENT => "command not found".into(),
        e => std::io::Error::from(e).to_string(),
    }
}

impl ExecError {
    /// 127 for a command that was not found, 126 for one that could not be run, as a
    /// shell says.
    pub fn exit_code(&self) -> u8 {
        if self.errno == Errno::ENOENT {
            127
        } else {
            126
        }
    }
}

/// Refuses a process of more than one thread: namespaces are entered for good here.
fn one_thread() -> Result<(), EnterError> {
    match crate::process::thread_count() {
        1 => Ok(()),
        threads => Err(EnterError::Threads { threads }),
    }
}

/// Turns the errno of step `what` in namespace `ns` into an error.
fn stepper(ns: &str) -> impl Fn(&'static str) -> Box<dyn FnOnce(Errno) -> EnterError> {
    let ns = ns.to_string();
    move |what| {
        let ns = ns.clone();
        Box::new(move |cause| EnterError::Step { ns, what, cause })
    }
}

/// Gives the process (or the calling thread, which must not share its file system
/// attributes) a mount namespace of its own, made a slave of the one it leaves:
/// nothing mounted from then on goes back to the machine's. The failed step and its
/// errno otherwise.
pub fn unshare_mounts() -> Result<(), (&'static str, Errno)> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| ("unsharing the mount namespace", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| ("making / a slave mount", e))
}

/// Moves the whole (single-threaded) process into namespace `ns`, as `ip netns exec`
/// does before it executes. Returns the `/etc/netns` bind mounts that failed, as notes
/// for the caller to print (iproute2 goes on without them too).
pub fn enter_for_good(ns: &str) -> Result<Vec<String>, EnterError> {
    one_thread()?;
    let step = stepper(ns);
    let fd = match netns::open_entry(ns) {
        Ok(Opened::Namespace(fd)) => fd,
        Ok(_) => return Err(EnterError::Gone { ns: ns.to_string() }),
        Err(e) => {
            return Err(EnterError::Step {
                ns: ns.to_string(),
                what: e.what,
                cause: Errno::from_raw(e.cause.raw_os_error().unwrap_or(libc::EIO)),
            });
        }
    };
    setns(&fd, CloneFlags::CLONE_NEWNET).map_err(step("setns"))?;
    drop(fd);
    unshare_mounts().map_err(|(what, cause)| EnterError::Step {
        ns: ns.to_string(),
        what,
        cause,
    })?;
    mount_sys(ns).map_err(step("mounting /sys"))?;
    Ok(bind_etc(ns))
}

/// Where a process that entered a supervised node goes on.
pub enum Entered {
    /// The child, in the node's namespaces: execute the command.
    Child,
    /// nshost itself, once the child has exited: the code to exit with (a shell's:
    /// `128 + N` for a child killed by signal N).
    Exited(u8),
}

/// Moves the whole (single-threaded) process into the network and mount namespaces of
/// the node whose supervisor is `supervisor` (its private `/run`, its files), then
/// forks a child in the node's pid namespace, so that the supervisor's end takes it
/// with it. The parent waits for the child (ignoring the terminal's SIGINT and SIGQUIT,
/// as a shell does for a foreground job) and returns its exit code.
pub fn enter_supervised(ns: &str, supervisor: u32) -> Result<Entered, EnterError> {
    one_thread()?;
    let step = stepper(ns);
    let open = |kind: &str| {
        std::fs::File::open(format!("/proc/{supervisor}/ns/{kind}"))
            .map_err(|_| EnterError::Gone { ns: ns.to_string() })
    };
    let (net, mnt, pid) = (open("net")?, open("mnt")?, open("pid")?);
    let cwd = std::env::current_dir().ok();
    setns(&net, CloneFlags::CLONE_NEWNET).map_err(step("setns"))?;
    setns(&mnt, CloneFlags::CLONE_NEWNS).map_err(step("entering the node's mounts"))?;
    setns(&pid, CloneFlags::CLONE_NEWPID).map_err(step("entering the node's processes"))?;
    // Where the caller was, if the node has it too.
    let _ = std::env::set_current_dir(cwd.as_deref().unwrap_or(Path::new("/")))
        .or_else(|_| std::env::set_current_dir("/"));
    // SAFETY: one thread (checked above): the child may run anything after fork.
    match unsafe { nix::unistd::fork() }.map_err(step("fork"))? {
        nix::unistd::ForkResult::Child => Ok(Entered::Child),
        nix::unistd::ForkResult::Parent { child } => Ok(Entered::Exited(wait_for(child))),
    }
}

/// Waits for `child` with the terminal's interrupts ignored; its exit code as a shell's.
fn wait_for(child: nix::unistd::Pid) -> u8 {
    use nix::sys::signal::{SigHandler, Signal, signal};
    use nix::sys::wait::{WaitStatus, waitpid};
    // SAFETY: SIG_IGN is no handler code; the process has one thread.
    unsafe {
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal(Signal::SIGQUIT, SigHandler::SigIgn);
    }
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code as u8,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as u8,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return 1,
        }
    }
}

/// Mounts a `/sys` of the current network namespace (`ns`, as its source's name): over
/// the old one, which can be taken away, or on top of it where it cannot (a read-only
/// one can only be covered read-only). Needs a mount namespace of the caller's own.
pub fn mount_sys(ns: &str) -> Result<(), Errno> {
    let mut flags = MsFlags::empty();
    if umount2("/sys", MntFlags::MNT_DETACH).is_err()
        && statvfs("/sys").is_ok_and(|s| s.flags().contains(FsFlags::ST_RDONLY))
    {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(Some(ns), "/sys", Some("sysfs"), flags, None::<&str>)
}

/// Binds each file of `/etc/netns/<ns>/` over its namesake in `/etc`; returns what
/// failed.
pub fn bind_etc(ns: &str) -> Vec<String> {
    let dir = Path::new("/etc/netns").join(ns);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut failed = Vec::new();
    for entry in entries.flatten() {
        let from = entry.path();
        let to = Path::new("/etc").join(entry.file_name());
        if let Err(e) = mount(
            Some(&from),
            &to,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        ) {
            failed.push(format!(
                "binding {} over {} failed: {e}",
                from.display(),
                to.display()
            ));
        }
    }
    failed
}

/// Replaces this process by `program` with `args` (the program's own name first),
/// found in `PATH` as a shell finds it: a name with a `/` as it is, any other in the
/// first directory of `PATH` that holds an executable file of that name (directories
/// that cannot be searched are passed over). Returns only on failure: `ENOENT` when
/// there is no such file anywhere (a shell's 127), another error when there is one but
/// it cannot be run (126).
pub fn exec(program: &OsStr, args: &[OsString]) -> ExecError {
    let fail = |errno| ExecError {
        program: program.to_owned(),
        errno,
    };
    let c = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| fail(Errno::EINVAL));
    let argv: Vec<CString> = match args.iter().map(|a| c(a)).collect() {
        Ok(argv) => argv,
        Err(e) => return e,
    };
    let path: std::path::PathBuf = if program.as_bytes().contains(&b'/') {
        program.into()
    } else {
        let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
        let found: Vec<std::path::PathBuf> = std::env::split_paths(&path)
            .map(|d| {
                // An empty entry is the current directory, as for a shell.
                let d = if d.as_os_str().is_empty() {
                    ".".into()
                } else {
                    d
                };
                d.join(program)
            })
            .filter(|p| p.metadata().is_ok_and(|m| m.is_file()))
            .collect();
        let runnable = found
            .iter()
            .find(|p| nix::unistd::access(p.as_path(), nix::unistd::AccessFlags::X_OK).is_ok());
        match runnable.or(found.first()) {
            Some(p) => p.clone(),
            None => return fail(Errno::ENOENT),
        }
    };
    let path = match c(path.as_os_str()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    match nix::unistd::execv(&path, &argv) {
        Err(errno) => fail(errno),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_exit_as_a_shell_does() {
        let not_found = exec(OsStr::new("nshost-no-such-command"), &[]);
        assert_eq!(not_found.errno, Errno::ENOENT);
        assert_eq!(not_found.exit_code(), 127);
        assert_eq!(
            not_found.to_string(),
            "nshost-no-such-command: command not found"
        );
        // A directory is found but cannot be run.
        let dir = exec(OsStr::new("/"), &[OsString::from("/")]);
        assert_eq!(dir.exit_code(), 126, "{dir}");
        // A file that is not executable, likewise.
        let file = exec(OsStr::new("/etc/hostname"), &[]);
        assert_eq!(file.exit_code(), 126, "{file}");
    }

    #[test]
    fn a_threaded_process_is_refused() {
        // The test harness runs tests on threads of their own.
        assert!(crate::process::thread_count() > 1);
        assert!(matches!(
            enter_for_good("nshost-unit-test"),
            Err(EnterError::Threads { .. })
        ));
    }
}
