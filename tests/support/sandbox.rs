//! Throwaway sandboxes for code that creates network namespaces: a fresh user, network
//! and mount namespace with a private tmpfs on `/run` (and so an empty `/run/netns`), so
//! nothing run inside touches the machine's real links, routes or `/run/netns`.
//!
//! A sandbox is entered by running a program under util-linux's `unshare --user
//! --map-root-user --net --mount --propagation private --pid --fork --kill-child
//! --mount-proc` ([`command`]); the program then calls [`enter`] first thing, which
//! checks that it really is in new namespaces and mounts the tmpfs. The program is the
//! first process of a pid namespace of its own: whatever it leaves running is counted
//! ([`other_processes`]) and dies with it. Works as root and as an unprivileged user (where user namespaces are
//! allowed). Shared by the benchmark (`benches/lab.rs`) and the kernel tests; include it
//! with `#[path = "../tests/support/sandbox.rs"] mod sandbox;` or the like.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Set by [`command`] for the sandboxed program: the parent's network and mount namespace
/// inodes as `NET:MNT`, so that [`enter`] can check it is somewhere else.
pub const ENV_PARENT: &str = "NSHOST_SANDBOX_PARENT";

/// Where namespaces are bound, as `ip netns` and nshost expect.
pub const NETNS_DIR: &str = "/run/netns";

/// The inode of this process's namespace of `kind` (`net`, `mnt`, `user`, ...).
pub fn ns_inode(kind: &str) -> io::Result<u64> {
    std::fs::metadata(format!("/proc/self/ns/{kind}")).map(|m| m.ino())
}

/// A command that runs `program` in a new sandbox. Add arguments, stdio and environment
/// as for any `Command`; the program must call [`enter`] before it creates anything.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--net",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--",
    ]);
    cmd.arg(program);
    let parent = match (ns_inode("net"), ns_inode("mnt")) {
        (Ok(net), Ok(mnt)) => format!("{net}:{mnt}"),
        _ => "unknown".to_string(),
    };
    cmd.env(ENV_PARENT, parent);
    cmd
}

/// Whether this process was started by [`command`] (it may not have called [`enter`] yet).
pub fn inside() -> bool {
    std::env::var_os(ENV_PARENT).is_some()
}

/// Makes the sandbox usable: checks that this process is in a network and mount
/// namespace other than its parent's, mounts a private tmpfs on `/run` and another on
/// `/run/netns`. Refuses (and mounts nothing) when the checks fail.
pub fn enter() -> io::Result<()> {
    let parent = std::env::var(ENV_PARENT).map_err(|_| {
        io::Error::other(format!(
            "not in a sandbox: {ENV_PARENT} is not set (start this process with sandbox::command)"
        ))
    })?;
    let (net, mnt) = (ns_inode("net")?, ns_inode("mnt")?);
    let mut parts = parent.split(':').map(|p| p.parse::<u64>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(pnet), Some(pmnt)) if pnet != net && pmnt != mnt => {}
        _ => {
            return Err(io::Error::other(format!(
                "refusing to set up a sandbox: this process is not in fresh namespaces \
                 (parent net:mnt {parent}, here {net}:{mnt})"
            )));
        }
    }
    nix::mount::mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .map_err(|e| io::Error::other(format!("mounting a tmpfs on /run: {e}")))?;
    std::fs::create_dir_all(NETNS_DIR)?;
    // And a tmpfs of its own on /run/netns, as the tests' contract says.
    nix::mount::mount(
        Some("tmpfs"),
        NETNS_DIR,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .map_err(|e| io::Error::other(format!("mounting a tmpfs on {NETNS_DIR}: {e}")))?;
    Ok(())
}

/// Checks that sandboxes can be made here, by running `true` in one. The error says why
/// not (no `unshare`, user namespaces disabled, ...) in words a user can act on.
pub fn check_available() -> Result<(), String> {
    let out = command("true")
        .env_remove(ENV_PARENT)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `unshare` (util-linux), needed for the sandbox: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cannot make a sandbox with `unshare --user --map-root-user --net --mount`: {} \
             (are unprivileged user namespaces disabled? see sysctl user.max_user_namespaces \
             and kernel.apparmor_restrict_unprivileged_userns)",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The processes of the sandbox's pid namespace other than its first (this program),
/// as `pid command line`, zombies left out (they have exited; their parent, the first
/// process, is the one to reap them).
pub fn other_processes() -> io::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let name = entry?.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        found.push(format!("{pid} {}", cmdline.trim_end()));
    }
    Ok(found)
}

/// Names of the namespaces bound under `/run/netns`, sorted.
pub fn netns_names() -> io::Result<Vec<String>> {
    let dir = Path::new(NETNS_DIR);
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut names = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Runs `f` with this thread in the network namespace bound at `/run/netns/<ns>`, on a
/// new thread (a thread's network namespace is its own; the caller's is untouched).
/// Sockets made inside `f` belong to that namespace.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> std::thread::JoinHandle<io::Result<T>> {
    let path = Path::new(NETNS_DIR).join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path)
            .map_err(|e| io::Error::other(format!("opening {}: {e}", path.display())))?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| io::Error::other(format!("entering {}: {e}", path.display())))?;
        f()
    })
}

/// Checks that `to` (an address in namespace `to_ns`) answers UDP datagrams sent from
/// namespace `from_ns`: a throwaway echo socket is bound to `to` in `to_ns`, and a probe
/// from `from_ns` must come back before `timeout`. Traffic stays between the two
/// namespaces of the sandbox.
pub fn udp_reachable(
    from_ns: &str,
    to_ns: &str,
    to: std::net::Ipv4Addr,
    timeout: std::time::Duration,
) -> io::Result<()> {
    use std::net::UdpSocket;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    const PROBE: &[u8] = b"nshost sandbox probe";
    let tick = Duration::from_millis(100);
    let stop = Arc::new(AtomicBool::new(false));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let server_stop = stop.clone();
    let server = in_netns(to_ns, move || {
        let sock = UdpSocket::bind((to, 0))?;
        let _ = port_tx.send(sock.local_addr()?.port());
        sock.set_read_timeout(Some(tick))?;
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 64];
        while !server_stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            match sock.recv_from(&mut buf) {
                Ok((n, peer)) => {
                    sock.send_to(&buf[..n], peer)?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let Ok(port) = port_rx.recv_timeout(timeout) else {
        return Err(match server.join() {
            Ok(Err(e)) => io::Error::other(format!("binding {to} in {to_ns}: {e}")),
            _ => io::Error::other(format!("no echo socket on {to} in {to_ns}")),
        });
    };
    let client = in_netns(from_ns, move || {
        let sock = UdpSocket::bind(("0.0.0.0", 0))?;
        sock.set_read_timeout(Some(tick))?;
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 64];
        loop {
            sock.send_to(PROBE, (to, port))?;
            match sock.recv_from(&mut buf) {
                Ok((n, _)) if &buf[..n] == PROBE => return Ok(()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer within {timeout:?}"),
                ));
            }
        }
    });
    let result = client
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("probe thread panicked")));
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    result.map_err(|e| io::Error::other(format!("{from_ns} -> {to} ({to_ns}): {e}")))
}
