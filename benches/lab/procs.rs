//! Running the measured programs: under the usual open-file limit, several at once
//! (each a direct child, so that `wait4` gives its peak RSS), and waiting after a
//! teardown until the kernel has freed what it deleted.

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::inner::{Step, ms};

/// The open-file limit nshost runs under here, soft and hard: most users' default.
pub const NSHOST_NOFILE: u64 = 1024;

/// Makes `cmd` run with [`NSHOST_NOFILE`] open files at most, soft and hard, so that
/// it cannot raise the limit (as `prlimit --nofile=1024:1024` does).
pub fn limit_files(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: NSHOST_NOFILE,
                rlim_max: NSHOST_NOFILE,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        });
    }
}

/// Runs every command at once, each a direct child with its output in
/// `logs/<tag>.out|err`: the wall clock until the last one ends, and each one's step
/// (its own wall clock from the common start, peak RSS and failure).
pub fn at_once(cmds: Vec<(Command, String)>, logs: &Path) -> io::Result<(Duration, Vec<Step>)> {
    let start = Instant::now();
    let mut pids = Vec::new();
    let mut children = Vec::new();
    let mut tags = Vec::new();
    for (mut cmd, tag) in cmds {
        cmd.stdout(File::create(logs.join(format!("{tag}.out")))?)
            .stderr(File::create(logs.join(format!("{tag}.err")))?);
        let child = cmd.spawn()?;
        pids.push(child.id() as libc::pid_t);
        children.push(child);
        tags.push(tag);
    }
    let mut steps = vec![Step::default(); pids.len()];
    let mut left = pids.len();
    while left > 0 {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; wait4 fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: status and usage are valid for writes.
        let pid = unsafe { libc::wait4(-1, &mut status, 0, &mut usage) };
        if pid < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let Some(i) = pids.iter().position(|p| *p == pid) else {
            continue;
        };
        left -= 1;
        let tag = &tags[i];
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        steps[i] = Step {
            step: tag.clone(),
            wall_ms: ok.then(|| ms(start.elapsed())),
            maxrss_kib: Some(usage.ru_maxrss as u64),
            own_ms: None,
            error: (!ok).then(|| {
                let err =
                    std::fs::read_to_string(logs.join(format!("{tag}.err"))).unwrap_or_default();
                format!("{tag}: wait status {status:#x}{}", crate::inner::tail(&err))
            }),
        };
    }
    drop(children);
    Ok((start.elapsed(), steps))
}

/// One step for programs run together ([`at_once`]): the wall clock until the last
/// ended, the largest peak RSS, and the first failure (no figure then).
pub fn whole(step: &str, wall: Duration, each: &[Step]) -> Step {
    let error = each.iter().find_map(|s| s.error.clone());
    Step {
        step: step.to_string(),
        wall_ms: error.is_none().then_some(ms(wall)),
        maxrss_kib: each.iter().filter_map(|s| s.maxrss_kib).max(),
        own_ms: None,
        error,
    }
}

/// Waits until the kernel has freed every network namespace of the sandbox but its
/// own: its asynchronous cleanup (`cleanup_net`) of what a destroy or a teardown
/// deleted is done. The sandbox's user namespace counts its live network namespaces
/// and refuses one past `user.max_net_namespaces`: with the limit at 2, a probe
/// namespace can be made only once the count is down to the sandbox's own. Returns how
/// long that took.
pub fn wait_namespaces_freed(patience: Duration) -> Result<Duration, String> {
    const LIMIT: &str = "/proc/sys/user/max_net_namespaces";
    let start = Instant::now();
    let before = std::fs::read_to_string(LIMIT).map_err(|e| format!("reading {LIMIT}: {e}"))?;
    std::fs::write(LIMIT, "2").map_err(|e| format!("writing {LIMIT}: {e}"))?;
    let probe = || {
        std::thread::spawn(|| nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET))
            .join()
            .expect("the probe thread does not panic")
    };
    let outcome = loop {
        match probe() {
            Ok(()) => break Ok(start.elapsed()),
            Err(nix::errno::Errno::ENOSPC) if start.elapsed() < patience => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(nix::errno::Errno::ENOSPC) => {
                break Err(format!("namespaces still not freed after {patience:?}"));
            }
            Err(e) => break Err(format!("probe namespace: {e}")),
        }
    };
    let restored = std::fs::write(LIMIT, before.trim());
    let waited = outcome?;
    restored.map_err(|e| format!("restoring {LIMIT}: {e}"))?;
    Ok(waited)
}
