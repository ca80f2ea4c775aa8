//! Named network namespaces the way iproute2 keeps them: a bind mount of the namespace
//! under `/run/netns`. Namespaces are created by `unshare` and entered by `setns`, each
//! on a short-lived thread of its own, never by forking or running `ip`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::kernel::netlink::{Batch, NlSocket};
use crate::state::{NsRole, namespace_alias};

/// Where named namespaces live, as for `ip netns`. `NSHOST_NETNS_DIR` overrides it.
pub fn run_dir() -> PathBuf {
    std::env::var_os("NSHOST_NETNS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/netns"))
}

/// An open namespace: a handle on it and the netlink socket inside it.
#[derive(Debug)]
pub struct NsHandle {
    pub name: String,
    pub fd: OwnedFd,
    pub sock: NlSocket,
}

/// How many threads create or enter namespaces at once.
fn worker_count(items: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    items.min(cores * 2).max(1)
}

/// Runs `f` over `items` on short-lived dedicated threads that exit when done, so a
/// thread that entered a namespace never goes back to other work. Results keep the
/// items' order.
fn on_threads<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = worker_count(items.len());
    let chunk = items.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                s.spawn(move || part.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("namespace thread panicked"))
            .collect()
    })
}

/// Makes sure the namespace directory exists and is a shared mount point, as iproute2
/// does, so a namespace mounted here is seen from every mount namespace.
pub fn prepare_run_dir() -> io::Result<()> {
    let dir = run_dir();
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
            .map_err(io::Error::from)?;
            shared(&dir).map_err(io::Error::from)
        }
        Err(e) => Err(e.into()),
    }
}

/// Names of every namespace under the namespace directory.
pub fn list() -> io::Result<Vec<String>> {
    let dir = run_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// What to set up in a namespace as it is created, before it becomes visible.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    pub name: String,
    /// The lab marked as owner on the loopback alias.
    pub lab: String,
    /// The namespace's role, recorded beside the owner.
    pub role: NsRole,
    /// sysctls written inside the new namespace, e.g. `net.ipv4.ip_forward` = `1`.
    pub sysctls: Vec<(String, String)>,
}

/// Why a namespace could not be created or entered.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("namespace {name}: {what}: {cause}")]
    Io {
        name: String,
        what: &'static str,
        cause: io::Error,
    },
    #[error("namespace {name}: sysctl {key}: {cause}")]
    Sysctl {
        name: String,
        key: String,
        cause: io::Error,
    },
    #[error("namespace {name}: marking loopback: {message}")]
    Mark { name: String, message: String },
}

fn io_err<'a>(name: &'a str, what: &'static str) -> impl FnOnce(io::Error) -> NsError + 'a {
    move |source| NsError::Io {
        name: name.to_string(),
        what,
        cause: source,
    }
}

/// Creates namespaces, several at a time: each on a fresh thread that unshares a new
/// network namespace, opens its socket, brings loopback up with the lab's ownership
/// mark, writes the sysctls, and only then bind-mounts it under the namespace directory.
pub fn create_many(specs: &[CreateSpec]) -> Vec<Result<NsHandle, NsError>> {
    // Each unshare moves the calling worker thread into the new namespace; the next
    // unshare simply makes another one, and the thread ends with its chunk.
    on_threads(specs, create_here)
}

fn create_here(spec: &CreateSpec) -> Result<NsHandle, NsError> {
    let name = spec.name.as_str();
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| io_err(name, "unshare")(e.into()))?;
    let mut sock = NlSocket::open().map_err(io_err(name, "netlink socket"))?;
    let mut batch = Batch::new();
    batch.push(lo_up_marked(&spec.lab, spec.role), 0);
    let errors = sock.execute(&batch).map_err(io_err(name, "netlink send"))?;
    if let Some(e) = errors.first() {
        return Err(NsError::Mark {
            name: name.to_string(),
            message: e.describe(),
        });
    }
    for (key, value) in &spec.sysctls {
        write_sysctl(key, value).map_err(|source| NsError::Sysctl {
            name: name.to_string(),
            key: key.clone(),
            cause: source,
        })?;
    }
    let path = run_dir().join(name);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o0)
        .open(&path)
        .map_err(io_err(name, "creating mount point"))?;
    let self_ns = "/proc/thread-self/ns/net";
    if let Err(e) = mount(
        Some(self_ns),
        &path,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = std::fs::remove_file(&path);
        return Err(io_err(name, "bind mount")(e.into()));
    }
    let fd = File::open(self_ns).map_err(io_err(name, "opening namespace"))?;
    Ok(NsHandle {
        name: name.to_string(),
        fd: fd.into(),
        sock,
    })
}

/// `RTM_NEWLINK` on the loopback (always ifindex 1): up, alias `nshost:<lab>/<role>`.
pub fn lo_up_marked(lab: &str, role: NsRole) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = 1;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    msg.attributes
        .push(LinkAttribute::IfAlias(namespace_alias(lab, role)));
    RouteNetlinkMessage::NewLink(msg)
}

/// What to read while inside a namespace being opened.
#[derive(Debug, Clone, Default)]
pub struct OpenSpec {
    pub name: String,
    /// sysctl keys to read.
    pub sysctls: Vec<String>,
}

/// An opened namespace with the sysctl values read inside it.
#[derive(Debug)]
pub struct Opened {
    pub handle: NsHandle,
    pub sysctls: Vec<(String, Option<String>)>,
}

/// Opens existing namespaces: on short-lived threads, each enters the namespace with
/// `setns`, opens a socket there and reads the wanted sysctls.
pub fn open_many(specs: &[OpenSpec]) -> Vec<Result<Opened, NsError>> {
    on_threads(specs, open_one)
}

/// Enters namespace `spec.name` on the calling thread, opens a socket there and reads
/// the wanted sysctls. The caller must be a dedicated thread that ends afterwards.
pub fn open_one(spec: &OpenSpec) -> Result<Opened, NsError> {
    let name = spec.name.as_str();
    let fd: OwnedFd = File::open(run_dir().join(name))
        .map_err(io_err(name, "opening"))?
        .into();
    setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| io_err(name, "setns")(e.into()))?;
    let sock = NlSocket::open().map_err(io_err(name, "netlink socket"))?;
    let sysctls = spec
        .sysctls
        .iter()
        .map(|k| (k.clone(), read_sysctl(k).ok()))
        .collect();
    Ok(Opened {
        handle: NsHandle {
            name: name.to_string(),
            fd,
            sock,
        },
        sysctls,
    })
}

/// Writes sysctls inside namespaces, one short-lived thread per namespace.
pub fn write_sysctls(jobs: &[(&NsHandle, Vec<(String, String)>)]) -> Vec<Result<(), NsError>> {
    on_threads(jobs, |(handle, values)| {
        let name = handle.name.as_str();
        setns(handle.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| io_err(name, "setns")(e.into()))?;
        for (key, value) in values {
            write_sysctl(key, value).map_err(|source| NsError::Sysctl {
                name: name.to_string(),
                key: key.clone(),
                cause: source,
            })?;
        }
        Ok(())
    })
}

fn sysctl_path(key: &str) -> PathBuf {
    Path::new("/proc/sys").join(key.replace('.', "/"))
}

/// Reads a sysctl of the calling thread's network namespace.
pub fn read_sysctl(key: &str) -> io::Result<String> {
    let mut s = String::new();
    File::open(sysctl_path(key))?.read_to_string(&mut s)?;
    Ok(s.trim().to_string())
}

/// Writes a sysctl of the calling thread's network namespace.
pub fn write_sysctl(key: &str, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(sysctl_path(key))?
        .write_all(value.as_bytes())
}

/// Removes a namespace's name: lazy unmount, then the mount point. The namespace
/// itself dies once the last handle on it (ours included) is closed.
pub fn delete(name: &str) -> Result<(), NsError> {
    let path = run_dir().join(name);
    umount2(&path, MntFlags::MNT_DETACH).map_err(|e| io_err(name, "unmount")(e.into()))?;
    std::fs::remove_file(&path).map_err(io_err(name, "removing mount point"))
}

/// sysctl keys with their values (`None` where the key does not exist).
pub type SysctlValues = Vec<(String, Option<String>)>;

/// Reads sysctls inside already-open namespaces, on short-lived threads.
pub fn read_sysctls(
    jobs: &[(&NsHandle, Vec<String>)],
) -> Vec<(String, Result<SysctlValues, NsError>)> {
    on_threads(jobs, |(handle, keys)| {
        let name = handle.name.as_str();
        let values = setns(handle.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| io_err(name, "setns")(e.into()))
            .map(|()| {
                keys.iter()
                    .map(|k| (k.clone(), read_sysctl(k).ok()))
                    .collect()
            });
        (name.to_string(), values)
    })
}
