//! The warm pool: network namespaces made in advance (`nshost pool fill N`), so that an
//! apply that creates nodes takes one (a setns and a mount) instead of making one (the
//! kernel's dominant cost), and destroy gives namespaces back reset instead of leaving
//! them to the kernel's slow cleanup.
//!
//! A pooled namespace is a bind mount under `<lock dir>/pool/` (`/run/nshost/pool`, so
//! `ip netns` and observe never see it), named `<pid>-<n>` by the process that made it,
//! its loopback up and marked [`POOL_ALIAS`]. The pool's record (`pool.json` beside the
//! labs' locks) holds its target size (what destroy refills it up to), the fresh
//! namespace's state (taken from a new namespace at fill time, what a reset must match)
//! and the memory a pooled namespace was measured to cost.
//!
//! Crash safety, as for `/run/netns`: a mount point is created holding the pool's mark
//! before a namespace is mounted over it, so a fill killed at any moment leaves whole
//! entries, or unmounted marked files that the next pool command (of a process that is
//! gone) removes. Taking an entry happens under the pool's lock: the namespace is opened
//! and its entry unmounted before anything else, so a taker killed afterwards leaves
//! nothing (the namespace dies with its descriptor). An entry whose loopback is not
//! marked as the pool's (a give-back killed half-way) is never handed out.

pub mod reset;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, setns, unshare};
use serde::{Deserialize, Serialize};

use crate::kernel::netns::{self, Opened};
use crate::kernel::{RouteBatch, RouteSocket};
use crate::lock::{LabLock, LockMode, lock_dir};
use crate::state::settings::Setting;
use crate::state::{NetState, NsRole};

/// The loopback alias (and mount point content) that marks a namespace as the pool's.
pub const POOL_ALIAS: &str = "nshost-pool";

/// Why a pool command failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PoolError {
    #[error("the namespace pool in {dir}: {what}: {cause}")]
    #[diagnostic(
        code(nshost::pool),
        help(
            "the pool lives in NSHOST_LOCK_DIR/pool (/run/nshost/pool by default); nshost needs CAP_SYS_ADMIN to mount namespaces there"
        )
    )]
    Io {
        dir: String,
        what: &'static str,
        cause: io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] crate::lock::LockError),
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> PoolError {
    move |cause| PoolError::Io {
        dir: dir().display().to_string(),
        what,
        cause,
    }
}

/// The directory of the pooled namespaces.
pub fn dir() -> PathBuf {
    lock_dir().join("pool")
}

fn record_path() -> PathBuf {
    lock_dir().join("pool.json")
}

/// The pool's lock, held by every command that changes the pool.
fn lock() -> Result<LabLock, PoolError> {
    lock_within(Duration::from_secs(30))
}

/// [`lock`], waiting at most `timeout` for another holder.
fn lock_within(timeout: Duration) -> Result<LabLock, PoolError> {
    // Lab names cannot start with a dot: no lab's lock file is `.pool.lock`.
    Ok(LabLock::in_dir(
        &lock_dir(),
        ".pool",
        LockMode::Exclusive,
        timeout,
    )?)
}

/// What the pool remembers between commands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// How many namespaces the pool is kept at: destroy gives namespaces back while it
    /// holds fewer (0: destroy deletes them all).
    pub target: usize,
    /// A fresh namespace's state, taken at fill time.
    pub fresh: reset::Fresh,
    /// The kernel memory a fill cost: `bytes` for `namespaces` namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

/// Measured memory for a number of pooled namespaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub namespaces: usize,
    pub bytes: u64,
}

impl Cost {
    /// Bytes per pooled namespace.
    pub fn per_namespace(&self) -> u64 {
        self.bytes / self.namespaces.max(1) as u64
    }
}

/// The pool's record, if there is one (a missing or unreadable record: no pool).
pub fn record() -> Option<Record> {
    let text = std::fs::read_to_string(record_path()).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_record(record: &Record) -> Result<(), PoolError> {
    let path = record_path();
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(record).expect("the pool record serializes");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(io_error("writing its record"))
}

/// The pool as `status` and `nshost pool` show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PoolInfo {
    /// Namespaces ready in the pool.
    pub size: usize,
    /// What destroy refills it up to.
    pub target: usize,
    /// Measured kernel memory per pooled namespace, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_namespace: Option<u64>,
}

impl PoolInfo {
    /// `12 namespaces (target 12), about 0.3 MiB each, 3.6 MiB in all`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} namespace{} (target {})",
            self.size,
            if self.size == 1 { "" } else { "s" },
            self.target
        );
        if let Some(b) = self.bytes_per_namespace {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            s.push_str(&format!(
                ", about {:.2} MiB each, {:.1} MiB in all",
                mib(b),
                mib(b * self.size as u64)
            ));
        }
        s
    }
}

/// The pool's size, target and cost; `None` when there is no pool.
pub fn info() -> Option<PoolInfo> {
    let record = record();
    let size = entries().map(|e| e.len()).unwrap_or(0);
    if size == 0 && record.as_ref().is_none_or(|r| r.target == 0) {
        return None;
    }
    Some(PoolInfo {
        size,
        target: record.as_ref().map_or(0, |r| r.target),
        bytes_per_namespace: record.and_then(|r| r.cost).map(|c| c.per_namespace()),
    })
}

/// The names of the pool's entries (mounted or not), sorted.
fn entries() -> io::Result<Vec<String>> {
    let mut names: Vec<String> = match std::fs::read_dir(dir()) {
        Ok(d) => d
            .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    names.sort();
    Ok(names)
}

/// Whether the process that named entry `name` (`<pid>-<n>`) still runs.
fn maker_alive(name: &str) -> bool {
    name.split_once('-')
        .and_then(|(pid, _)| pid.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id() || crate::kernel::procs::alive(pid))
}

/// A fresh entry name for this process.
pub(crate) fn new_entry_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Opens the pool's entries: the mounted namespaces, by name. Unmounted entries of a
/// process that is gone are removed on the way (under the pool's lock).
fn open_entries() -> io::Result<Vec<(String, OwnedFd)>> {
    let dir = dir();
    let mut out = Vec::new();
    for name in entries()? {
        match netns::open_entry_in(&dir, &name) {
            Ok(Opened::Namespace(fd)) => out.push((name, fd)),
            Ok(Opened::Gone) => {}
            Ok(_) if !maker_alive(&name) => {
                let _ = std::fs::remove_file(dir.join(&name));
            }
            Ok(_) => {}
            Err(e) => return Err(e.cause),
        }
    }
    Ok(out)
}

/// Takes up to `n` namespaces out of the pool: opened, their entries removed. Only
/// namespaces ready to be handed out are taken ([`reset::readiness_here`], checked on a
/// thread of its own that enters each in turn): one whose loopback is not the pool's
/// (a give-back killed half-way) is removed, one that still holds a namespace id for a
/// namespace not yet freed is left for later. An empty or missing pool gives none; so
/// does a pool whose lock is busy.
pub fn claim(n: usize) -> Vec<OwnedFd> {
    if n == 0 || entries().map_or(true, |e| e.is_empty()) {
        return Vec::new();
    }
    // An apply does not wait for a fill: it makes its namespaces itself.
    let Ok(_lock) = lock_within(Duration::from_millis(100)) else {
        return Vec::new();
    };
    let Ok(open) = open_entries() else {
        return Vec::new();
    };
    let dir = dir();
    on_own_thread(move || {
        let mut taken = Vec::new();
        for (name, fd) in open {
            if taken.len() == n {
                break;
            }
            if setns(&fd, CloneFlags::CLONE_NEWNET).is_err() {
                continue;
            }
            match reset::readiness_here() {
                reset::Readiness::Ready if netns::unmount_path(&dir.join(&name)).is_ok() => {
                    taken.push(fd);
                }
                reset::Readiness::NotPools if !maker_alive(&name) => {
                    let _ = netns::unmount_path(&dir.join(&name));
                }
                _ => {}
            }
        }
        taken
    })
}

/// The settings the lab set in namespace `ns` of `live`, which a reset must put back
/// to their fresh values; `None` for a namespace that is not recycled (a fabric, whose
/// namespace ids in every node would keep those from being handed out; a stray).
pub fn recycle_keys(live: &NetState, ns: &str) -> Option<Vec<Setting>> {
    let n = live.namespaces.get(ns)?;
    if n.role == NsRole::Fabric || n.stray {
        return None;
    }
    let mut keys: Vec<Setting> = n
        .sysctls
        .keys()
        .map(|k| Setting::Namespace(k.clone()))
        .collect();
    if let Some(lo) = n.links.get("lo") {
        keys.extend(lo.settings.keys().map(|s| Setting::Device {
            dev: "lo".into(),
            setting: s.clone(),
        }));
    }
    Some(keys)
}

/// Deletes the links of the fabric namespaces `names` (about to be deleted) in one
/// batch each, before the nodes are reset: their veth peers in the nodes go with them,
/// unregistered together instead of one grace period per link in every node.
pub fn clear_links_of(names: &[&str], fresh: &reset::Fresh) {
    netns::on_threads(names, |ns| {
        if let Ok(Some(())) = netns::enter(ns)
            && let Err(e) = reset::delete_links_here(fresh)
        {
            tracing::debug!("deleting the links of {ns}: {e}");
        }
    });
}

/// Makes sure the pool's directory exists and is a shared mount point.
pub fn prepare() -> io::Result<()> {
    netns::prepare_dir(&dir())
}

/// How many more namespaces destroy may give back (the target less the size).
pub fn room() -> usize {
    let Some(record) = record() else {
        return 0;
    };
    let size = entries().map(|e| e.len()).unwrap_or(0);
    record.target.saturating_sub(size)
}

/// What a fill did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Filled {
    /// Namespaces made by this fill.
    pub added: usize,
    pub pool: PoolInfo,
}

/// Fills the pool up to `n` namespaces and makes `n` its target.
pub fn fill(n: usize) -> Result<Filled, PoolError> {
    let _lock = lock()?;
    netns::prepare_dir(&dir()).map_err(io_error("preparing the directory"))?;
    let have = open_entries().map_err(io_error("listing"))?.len();
    let mut record = record().unwrap_or_default();
    record.fresh =
        on_own_thread(reset::fresh_state).map_err(io_error("reading a fresh namespace"))?;
    record.target = n;
    let missing = n.saturating_sub(have);
    let before = kernel_memory();
    let names: Vec<String> = (0..missing).map(|_| new_entry_name()).collect();
    let made = netns::on_threads(&names, |name| make_entry(name));
    let added = made.iter().filter(|r| r.is_ok()).count();
    if let (Some(b), Some(a)) = (before, kernel_memory())
        && added >= record.cost.map_or(1, |c| c.namespaces)
    {
        record.cost = Some(Cost {
            namespaces: added,
            bytes: a.saturating_sub(b),
        });
    }
    write_record(&record)?;
    if let Some(e) = made.into_iter().find_map(Result::err) {
        return Err(io_error("making a namespace")(e));
    }
    Ok(Filled {
        added,
        pool: info().unwrap_or_default(),
    })
}

/// Runs `f` on a short-lived thread of its own (which may leave its namespace).
fn on_own_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().expect("pool thread panicked"))
}

/// Makes one pooled namespace on the calling (dedicated) thread.
fn make_entry(name: &str) -> io::Result<()> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
    mark_lo_here(POOL_ALIAS)?;
    let mark = format!("{POOL_ALIAS}\n");
    netns::mount_here(&dir().join(name), mark.as_bytes())
        .map_err(|(what, e)| io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// Brings the loopback of the calling thread's namespace up, with alias `alias`.
pub(crate) fn mark_lo_here(alias: &str) -> io::Result<()> {
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
    let mut msg = LinkMessage::default();
    msg.header.index = 1;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    msg.attributes
        .push(LinkAttribute::IfAlias(alias.to_string()));
    let mut sock = RouteSocket::open()?;
    let mut batch = RouteBatch::new();
    batch.push(RouteNetlinkMessage::SetLink(msg), 0);
    match sock.execute(&batch, &mut netns::open_fd)?.first() {
        Some(e) => Err(e.to_io()),
        None => Ok(()),
    }
}

/// The kernel memory that namespaces take (unreclaimable slab and per-CPU; the
/// reclaimable slab moves with every file looked at), from `/proc/meminfo`.
fn kernel_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let fields: BTreeMap<&str, u64> = text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k, v.trim().trim_end_matches(" kB").parse().ok()?))
        })
        .collect();
    Some((fields.get("SUnreclaim")? + fields.get("Percpu").copied().unwrap_or(0)) * 1024)
}

/// Empties the pool (`None`) or takes `n` namespaces out of it, and lowers its target
/// by as many (to 0 when emptied: destroy deletes namespaces again; the record keeps
/// the measured cost). Returns how many
/// namespaces were removed.
pub fn drain(n: Option<usize>) -> Result<usize, PoolError> {
    let _lock = lock()?;
    let open = open_entries().map_err(io_error("listing"))?;
    let take = n.unwrap_or(open.len()).min(open.len());
    let dir = dir();
    let mut removed = 0;
    for (name, fd) in open.into_iter().take(take) {
        drop(fd);
        netns::unmount_path(&dir.join(&name)).map_err(|(what, e)| io_error(what)(e))?;
        removed += 1;
    }
    // The record stays (the fresh state and the measured cost), its target lowered.
    if let Some(mut record) = record() {
        record.target = match n {
            None => 0,
            Some(k) => record.target.saturating_sub(k),
        };
        write_record(&record)?;
    }
    Ok(removed)
}
