//! Named network namespaces the way iproute2 keeps them: a bind mount of the namespace
//! under `/run/netns`. Namespaces are created by `unshare` and entered by `setns`, each
//! on a short-lived thread of its own, never by forking or running `ip`.
//!
//! Crash safety: the mount point is created holding the lab's mark
//! (`nshost:<lab>/<role>`) before the namespace is mounted over it, so an entry left
//! unmounted by a killed run (between creating and mounting, or between unmounting and
//! removing) still says whose it is, and that lab's next run removes it. An entry that
//! is not a mounted namespace is never entered: nothing under `/run/netns` can make
//! observing hang or fail another lab.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

use crate::state::settings::Setting;
use crate::state::{NsRole, namespace_alias, parse_namespace_alias};

/// Where named namespaces live, as for `ip netns`. `NSHOST_NETNS_DIR` overrides it.
pub fn run_dir() -> PathBuf {
    std::env::var_os("NSHOST_NETNS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/netns"))
}

/// Why a namespace could not be created, entered or removed.
#[derive(Debug, thiserror::Error)]
#[error("namespace {ns}: {what}: {cause}")]
pub struct NsError {
    pub ns: String,
    pub what: &'static str,
    #[source]
    pub cause: io::Error,
}

impl NsError {
    fn new<'a>(ns: &'a str, what: &'static str) -> impl FnOnce(io::Error) -> NsError + 'a {
        move |cause| NsError {
            ns: ns.to_string(),
            what,
            cause,
        }
    }
}

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from(e)
}

/// How many threads work on namespaces at once.
pub fn worker_count(items: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    items.min(cores * 2).max(1)
}

/// Runs `f` over `items` on short-lived dedicated threads that take the next item from
/// a shared queue and exit when there is none, so a thread that entered a namespace
/// never goes back to other work. Results keep the items' order.
pub fn on_threads<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = worker_count(items.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return out;
                        };
                        out.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("namespace thread panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Makes sure the namespace directory exists and is a shared mount point, as iproute2
/// does, so a namespace mounted here is seen from every mount namespace.
pub fn prepare_run_dir() -> io::Result<()> {
    prepare_dir(&run_dir())
}

/// Makes sure `dir` exists and is a shared mount point (see [`prepare_run_dir`]).
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir)?;
    let shared = |d: &Path| {
        mount(
            None::<&str>,
            d,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared(&dir) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself first.
            mount(
                Some(&dir),
                &dir,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(errno)?;
            shared(&dir).map_err(errno)
        }
        Err(e) => Err(e.into()),
    }
}

/// An entry under the namespace directory, by what its directory entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file: a mounted namespace, or a mount point without one.
    File(String),
    /// Anything else (a directory, symlink, FIFO, socket, device): never a namespace.
    Other { name: String, what: &'static str },
}

/// Every entry under the namespace directory, sorted by name.
pub fn list() -> io::Result<Vec<Entry>> {
    let dir = run_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(ty) = entry.file_type() else {
            continue;
        };
        out.push(entry_of(name, ty));
    }
    out.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
    Ok(out)
}

/// The entries of `names` under the namespace directory, sorted by name, those that
/// are not there left out: a read of a few namespaces of a large lab looks at those
/// alone, not at the directory's thousands.
pub fn list_only(names: &std::collections::BTreeSet<String>) -> io::Result<Vec<Entry>> {
    let dir = run_dir();
    let mut out = Vec::new();
    for name in names {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            continue;
        }
        let ty = match std::fs::symlink_metadata(dir.join(name)) {
            Ok(m) => m.file_type(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        out.push(entry_of(name.clone(), ty));
    }
    Ok(out)
}

/// An entry named `name` of type `ty`.
fn entry_of(name: String, ty: std::fs::FileType) -> Entry {
    let what = if ty.is_file() {
        return Entry::File(name);
    } else if ty.is_dir() {
        "a directory"
    } else if ty.is_symlink() {
        "a symbolic link"
    } else if ty.is_fifo() {
        "a FIFO"
    } else if ty.is_socket() {
        "a socket"
    } else {
        "a device"
    };
    Entry::Other { name, what }
}

fn entry_name(e: &Entry) -> &str {
    match e {
        Entry::File(n) | Entry::Other { name: n, .. } => n,
    }
}

/// What a regular entry under the namespace directory holds.
#[derive(Debug)]
pub enum Opened {
    /// A mounted network namespace, with a descriptor on it.
    Namespace(OwnedFd),
    /// A mount point without a namespace that a lab marked (left by an interrupted run).
    Stray { lab: String, role: NsRole },
    /// A file that is no namespace and no lab's.
    Foreign,
    /// It was removed meanwhile.
    Gone,
}

/// Opens entry `name` without following links or blocking, and tells what it is.
pub fn open_entry(name: &str) -> Result<Opened, NsError> {
    open_entry_in(&run_dir(), name)
}

/// [`open_entry`] in directory `dir`.
pub fn open_entry_in(dir: &Path, name: &str) -> Result<Opened, NsError> {
    let path = dir.join(name);
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Opened::Gone),
        Err(e) => return Err(NsError::new(name, "opening")(e)),
    };
    let fs = fstatfs(&file).map_err(|e| NsError::new(name, "fstatfs")(errno(e)))?;
    if fs.filesystem_type() == NSFS_MAGIC {
        return Ok(Opened::Namespace(file.into()));
    }
    let meta = file.metadata().map_err(|e| NsError::new(name, "stat")(e))?;
    if !meta.is_file() {
        return Ok(Opened::Foreign);
    }
    let mut head = Vec::with_capacity(128);
    let _ = (&file).take(128).read_to_end(&mut head);
    let text = String::from_utf8_lossy(&head);
    Ok(match parse_namespace_alias(text.trim_end()) {
        Some((lab, role)) => Opened::Stray {
            lab: lab.to_string(),
            role,
        },
        None => Opened::Foreign,
    })
}

/// Enters namespace `name` on the calling thread (which must be a dedicated thread that
/// ends afterwards); `None` if the entry holds no namespace (any more).
pub fn enter(name: &str) -> Result<Option<()>, NsError> {
    match open_entry(name)? {
        Opened::Namespace(fd) => {
            setns(fd.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(|e| NsError::new(name, "setns")(errno(e)))?;
            Ok(Some(()))
        }
        _ => Ok(None),
    }
}

/// Returns the calling thread to the network namespace nshost runs in (the main
/// thread's, which never changes; `/proc/self` is the main thread): the underlay, for a
/// worker thread that may have entered a lab namespace for an earlier step.
pub fn enter_home() -> io::Result<()> {
    let fd = std::fs::File::open("/proc/self/ns/net")?;
    setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(errno)
}

/// Opens a descriptor on namespace `name` (for a veth end placed into it), failing if
/// the entry holds no namespace.
pub fn open_fd(name: &str) -> io::Result<OwnedFd> {
    match open_entry(name).map_err(|e| e.cause)? {
        Opened::Namespace(fd) => Ok(fd),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("namespace {name} does not exist"),
        )),
    }
}

/// What to set up in a namespace as it is created, before it becomes visible.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    pub name: String,
    /// The lab marked as owner on the loopback alias.
    pub lab: String,
    /// The namespace's role, recorded beside the owner.
    pub role: NsRole,
    /// Namespace-wide sysctls written inside the new namespace, e.g.
    /// `net.ipv4.ip_forward` = `1`.
    pub sysctls: Vec<(String, String)>,
}

/// Creates a namespace on the calling thread, which must be a dedicated thread that
/// ends afterwards: unshares a new network namespace, brings loopback up with the lab's
/// mark (`mark_lo`, a netlink request sent from inside), writes the sysctls, creates the
/// mount point holding the mark, and only then bind-mounts the namespace over it.
pub fn create_here(
    spec: &CreateSpec,
    mark_lo: impl FnOnce() -> io::Result<()>,
) -> Result<(), NsError> {
    create_in(spec, false, mark_lo)
}

/// [`create_here`], in the namespace the calling thread is in when `pooled` (a fresh
/// namespace taken from the pool, entered by the caller) instead of a new one.
pub fn create_in(
    spec: &CreateSpec,
    pooled: bool,
    mark_lo: impl FnOnce() -> io::Result<()>,
) -> Result<(), NsError> {
    let name = spec.name.as_str();
    if !pooled {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NsError::new(name, "unshare")(errno(e)))?;
    }
    mark_lo().map_err(NsError::new(name, "marking loopback"))?;
    for (key, value) in &spec.sysctls {
        write_sysctl(&Setting::Namespace(key.clone()), value).map_err(|cause| NsError {
            ns: name.to_string(),
            what: "writing a sysctl",
            cause: io::Error::new(cause.kind(), format!("{key}: {cause}")),
        })?;
    }
    let path = run_dir().join(name);
    let mark = format!("{}\n", namespace_alias(&spec.lab, spec.role));
    mount_here(&path, mark.as_bytes()).map_err(|(what, cause)| NsError::new(name, what)(cause))
}

/// Names the calling thread's network namespace at `path`: the mount point is created
/// holding `mark`, then the namespace is bind-mounted over it. On failure, what failed.
pub fn mount_here(path: &Path, mark: &[u8]) -> Result<(), (&'static str, io::Error)> {
    create_marked(path, mark).map_err(|e| ("creating mount point", e))?;
    if let Err(e) = mount(
        Some("/proc/thread-self/ns/net"),
        path,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(path);
        return Err(("bind mount", errno(e)));
    }
    Ok(())
}

/// Creates the mount point `path` holding `mark`, failing if `path` exists. The file
/// is written unnamed first and then linked in (`O_TMPFILE`), so that a run killed at any
/// moment leaves no entry or a marked one, never an empty file (which would be nobody's,
/// and would stop the lab's next apply). A filesystem without unnamed files gets the
/// file created, then written.
fn create_marked(path: &Path, mark: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let unnamed = OpenOptions::new()
        .write(true)
        .mode(0o444)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(dir);
    match unnamed {
        Ok(mut file) => {
            file.write_all(mark)?;
            // Linking an unnamed file by descriptor needs a capability (AT_EMPTY_PATH);
            // through /proc it needs none.
            let by_fd = format!("/proc/self/fd/{}", file.as_raw_fd());
            nix::unistd::linkat(
                nix::fcntl::AT_FDCWD,
                by_fd.as_str(),
                nix::fcntl::AT_FDCWD,
                path,
                nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
            )
            .map_err(errno)
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o444)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)?;
            file.write_all(mark).inspect_err(|_| {
                let _ = std::fs::remove_file(path);
            })
        }
        Err(e) => Err(e),
    }
}

/// Removes a namespace's name: lazy unmount, then the mount point. The namespace
/// itself dies once nothing holds it. A mount point already without a namespace (a
/// stray) is only removed.
pub fn delete(name: &str) -> Result<(), NsError> {
    unmount_path(&run_dir().join(name)).map_err(|(what, cause)| NsError::new(name, what)(cause))
}

/// Unmounts and removes the mount point `path` (see [`delete`]).
pub fn unmount_path(path: &Path) -> Result<(), (&'static str, io::Error)> {
    // A symlink in its place is not followed to whatever it points at.
    match umount2(path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(("unmount", errno(e))),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(("removing mount point", e)),
        _ => Ok(()),
    }
}

/// Reads a sysctl of the calling thread's network namespace.
pub fn read_sysctl(setting: &Setting) -> io::Result<String> {
    let mut s = String::new();
    File::open(setting.proc_path())?.read_to_string(&mut s)?;
    Ok(s.trim().to_string())
}

/// Writes a sysctl of the calling thread's network namespace.
pub fn write_sysctl(setting: &Setting, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(setting.proc_path())?
        .write_all(value.as_bytes())
}
