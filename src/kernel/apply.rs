//! `apply`: runs a plan's schedule exactly as `plan::order` made it. Every netlink
//! request is built first; then the stages run one after another, the steps of a stage
//! concurrently on short-lived threads (each enters its namespace, opens what it needs,
//! and closes it when done, so an apply holds a bounded number of descriptors whatever
//! the lab's size). It stops at the first stage with a failure and says which changes
//! failed; undoing what was done is the caller's (`workflow`) decision.

use std::collections::HashSet;
use std::io;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::firewall::Firewall;
use crate::kernel::message::{self, IfIndexes};
use crate::kernel::netns::{self, CreateSpec};
use crate::kernel::pool::{self, reset::Fresh};
use crate::kernel::{ChangeError, KernelError, RouteBatch, RouteSocket};
use crate::plan::task::{CreateItem, ProcItem, created_namespaces};
use crate::plan::{Plan, Step, StepWork};
use crate::state::settings::Setting;
use crate::state::{LinkKind, NetState};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkMessage;
use nix::sched::{CloneFlags, setns};
use std::os::fd::{AsFd, OwnedFd};

/// What an apply did.
#[derive(Debug, Default, Clone, Serialize, schemars::JsonSchema)]
pub struct ApplyStats {
    pub namespaces_created: usize,
    pub namespaces_deleted: usize,
    /// Of those created, how many were taken from the warm pool.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub namespaces_from_pool: u32,
    /// Of those deleted, how many were reset and given back to the pool.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub namespaces_recycled: u32,
    /// Netlink write requests sent.
    pub netlink_requests: usize,
    /// Steps run (batches, namespace creations and removals, `/proc/sys` writers).
    pub steps: usize,
    pub stages: usize,
    pub sysctls_written: usize,
    /// Milliseconds.
    #[serde(serialize_with = "as_ms")]
    #[schemars(with = "f64")]
    pub elapsed: Duration,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

impl ApplyStats {
    fn add(&mut self, o: &ApplyStats) {
        self.namespaces_created += o.namespaces_created;
        self.namespaces_deleted += o.namespaces_deleted;
        self.namespaces_from_pool += o.namespaces_from_pool;
        self.namespaces_recycled += o.namespaces_recycled;
        self.netlink_requests += o.netlink_requests;
        self.steps += o.steps;
        self.sysctls_written += o.sysctls_written;
    }
}

/// What an apply tells as it goes (a progress bar): called from the threads that run
/// the steps, so it must be `Sync`. Every method has a default that does nothing.
pub trait Observer: Sync {
    /// The apply starts, with `ops` operations in all.
    fn started(&self, _ops: usize) {}
    /// A step of `ops` operations has finished.
    fn step_done(&self, _ops: usize) {}
}

/// The observer that is told nothing.
pub struct Unobserved;

impl Observer for Unobserved {}

/// An apply that stopped: what it did before, and why it stopped.
#[derive(Debug)]
pub struct Stopped {
    pub stats: Box<ApplyStats>,
    pub error: KernelError,
}

/// A step with everything it needs, built before anything is sent.
enum Work<'p> {
    /// Creating a namespace; with a namespace taken from the pool to use instead.
    Create(CreateSpec, Vec<usize>, Option<OwnedFd>),
    Netlink {
        ns: &'p str,
        /// Sent from the namespace nshost runs in, not from inside `ns`.
        underlay: bool,
        batch: RouteBatch,
        /// The change of each request of the batch.
        owners: Vec<usize>,
    },
    Proc {
        ns: &'p str,
        /// (setting, value, change).
        writes: Vec<(Setting, String, usize)>,
    },
    /// Removing a namespace (change `usize`), its vxlan tunnel ends (their ifindexes)
    /// deleted first; with the settings the lab set in it when it is to be reset and
    /// given back to the pool.
    Delete(&'p str, usize, Vec<u32>, Option<Vec<Setting>>),
    /// Loading a node's firewall (change `change`), `from` what is there to `to`.
    Firewall {
        ns: &'p str,
        change: usize,
        from: &'p Firewall,
        to: &'p Firewall,
    },
}

/// Builds the work of every step of `plan`, in schedule order.
fn build<'p>(
    lab: &str,
    plan: &'p Plan,
    live: &NetState,
) -> Result<Vec<Vec<Work<'p>>>, KernelError> {
    let mut idx = IfIndexes::from_live(live);
    let ipv6 = message::ipv6_links(&plan.changes);
    let created = created_namespaces(&plan.changes);
    let mut stages = Vec::with_capacity(plan.stages.len());
    for stage in &plan.stages {
        let mut works = Vec::with_capacity(stage.steps.len());
        for step in &stage.steps {
            works.push(build_step(
                lab, plan, step, live, &mut idx, &ipv6, &created,
            )?);
        }
        stages.push(works);
    }
    Ok(stages)
}

fn build_step<'p>(
    lab: &str,
    plan: &'p Plan,
    step: &'p Step,
    live: &NetState,
    idx: &mut IfIndexes,
    ipv6: &HashSet<(String, String)>,
    created: &HashSet<&str>,
) -> Result<Work<'p>, KernelError> {
    let fail = |i: usize, e: String| {
        KernelError::Changes(vec![ChangeError::new(&plan.changes[i], -1, Some(e))])
    };
    let work = step
        .work(&plan.changes, created)
        .map_err(|e| fail(e.change, e.to_string()))?;
    Ok(match work {
        StepWork::Create { ns, items } => {
            let mut spec = CreateSpec {
                name: ns.to_string(),
                lab: lab.to_string(),
                role: crate::state::NsRole::Unknown,
                sysctls: Vec::new(),
            };
            let mut owners = Vec::new();
            for (c, item) in items {
                match item {
                    CreateItem::Namespace(role) => spec.role = role,
                    CreateItem::Sysctl { key, value } => {
                        spec.sysctls.push((key.to_string(), value.to_string()))
                    }
                }
                owners.push(c);
            }
            Work::Create(spec, owners, None)
        }
        StepWork::Netlink {
            ns,
            underlay,
            items,
        } => {
            let mut batch = RouteBatch::new();
            let mut owners = Vec::new();
            for (c, item) in items {
                let requests =
                    message::build(ns, &item, idx, ipv6).map_err(|e| fail(c, e.to_string()))?;
                for r in requests {
                    match &r.ns_fd {
                        Some(target) => {
                            batch.push_with_ns_fd(r.msg, r.flags, message::IFLA_NET_NS_FD, target)
                        }
                        None => batch.push(r.msg, r.flags),
                    };
                    owners.push(c);
                }
            }
            Work::Netlink {
                ns,
                underlay,
                batch,
                owners,
            }
        }
        StepWork::Proc { ns, items } => {
            let writes = items
                .into_iter()
                .map(|(c, item)| match item {
                    ProcItem::Sysctl { key, value } => {
                        (Setting::Namespace(key.to_string()), value.to_string(), c)
                    }
                    ProcItem::Setting {
                        link,
                        setting,
                        value,
                    } => {
                        let setting = Setting::Device {
                            dev: link.to_string(),
                            setting: setting.clone(),
                        };
                        (setting, value.to_string(), c)
                    }
                })
                .collect();
            Work::Proc { ns, writes }
        }
        StepWork::Delete { ns, changes } => {
            Work::Delete(ns, changes[0], tunnel_ends(live, ns), None)
        }
        StepWork::Firewall { ns, items } => {
            let (change, from, to) = items[0];
            Work::Firewall {
                ns,
                change,
                from,
                to,
            }
        }
    })
}

/// The ifindexes of the vxlan tunnel ends in namespace `ns`, as `live` has them.
fn tunnel_ends(live: &NetState, ns: &str) -> Vec<u32> {
    live.namespaces
        .get(ns)
        .into_iter()
        .flat_map(|n| n.links.values())
        .filter(|l| matches!(l.kind, LinkKind::Vxlan(_)))
        .filter_map(|l| l.ifindex)
        .collect()
}

/// Deletes the links `ends` of namespace `ns` by netlink, before the namespace is
/// unmounted: a namespace's devices go only when the kernel's cleanup of the namespace
/// runs, some time after its last reference is dropped, and until then a tunnel end
/// still takes in the other machines' traffic (a destroyed site still answered). Best
/// effort: what fails here goes with the namespace all the same.
fn delete_tunnel_ends(ns: &str, ends: &[u32]) {
    let sent = (|| -> io::Result<()> {
        entered(ns)?;
        let mut sock = RouteSocket::open()?;
        let mut batch = RouteBatch::new();
        for &index in ends {
            let mut msg = LinkMessage::default();
            msg.header.index = index;
            batch.push(RouteNetlinkMessage::DelLink(msg), 0);
        }
        sock.execute(&batch, &mut netns::open_fd).map(drop)
    })();
    if let Err(e) = sent {
        tracing::debug!("deleting the tunnel ends of {ns}: {e}");
    }
}

/// An injected failure, for the tests of what happens when an apply fails part-way:
/// `NSHOST_FAULT=stage:K` makes the first step of stage K of the command's first apply
/// report its last change as failed after running it (the kernel did the work; the
/// apply believes it failed). Once per process, so the rollback that follows runs.
#[cfg(feature = "testkit")]
fn injected_fault(stage: usize) -> bool {
    use std::sync::atomic::{AtomicBool, Ordering};
    static FIRED: AtomicBool = AtomicBool::new(false);
    let wanted = std::env::var("NSHOST_FAULT").ok().and_then(|v| {
        v.strip_prefix("stage:")
            .and_then(|k| k.parse::<usize>().ok())
    });
    wanted == Some(stage) && !FIRED.swap(true, Ordering::SeqCst)
}

#[cfg(not(feature = "testkit"))]
fn injected_fault(_: usize) -> bool {
    false
}

/// Runs `plan` (computed against `live`) for `lab`.
pub fn apply(lab: &str, plan: &Plan, live: &NetState) -> Result<ApplyStats, Stopped> {
    apply_observed(lab, plan, live, &Unobserved)
}

impl Work<'_> {
    /// How many operations of the plan the step carries out.
    fn ops(&self) -> usize {
        match self {
            Work::Create(_, owners, _) => owners.len(),
            Work::Netlink { owners, .. } => owners.len(),
            Work::Proc { writes, .. } => writes.len(),
            Work::Delete(..) | Work::Firewall { .. } => 1,
        }
    }

    /// What runs it, for `-vv`: `netlink in h1`.
    fn executor(&self) -> String {
        match self {
            Work::Create(spec, _, None) => format!("create {}", spec.name),
            Work::Create(spec, _, Some(_)) => format!("create {} from the pool", spec.name),
            Work::Netlink {
                ns, underlay: true, ..
            } => format!("netlink from the underlay into {ns}"),
            Work::Netlink { ns, .. } => format!("netlink in {ns}"),
            Work::Proc { ns, .. } => format!("/proc/sys in {ns}"),
            Work::Delete(ns, .., None) => format!("delete {ns}"),
            Work::Delete(ns, .., Some(_)) => format!("delete {ns} (recycle)"),
            Work::Firewall { ns, .. } => format!("firewall in {ns}"),
        }
    }
}

/// [`apply`], telling `observer` how far it is.
pub fn apply_observed(
    lab: &str,
    plan: &Plan,
    live: &NetState,
    observer: &dyn Observer,
) -> Result<ApplyStats, Stopped> {
    let started = Instant::now();
    let mut stats = ApplyStats {
        stages: plan.stages.len(),
        ..ApplyStats::default()
    };
    let stop = |stats: &ApplyStats, error| Stopped {
        stats: Box::new(stats.clone()),
        error,
    };
    let t = Instant::now();
    let mut stages = build(lab, plan, live).map_err(|e| stop(&stats, e))?;
    crate::trace::detail("apply: build requests", t);
    let t = Instant::now();
    let fresh = with_pool(&mut stages, live);
    if let Some(fresh) = &fresh {
        let fabrics: Vec<&str> = stages
            .iter()
            .flatten()
            .filter_map(|w| match w {
                Work::Delete(ns, _, _, None) => Some(*ns),
                _ => None,
            })
            .filter(|ns| {
                live.namespaces
                    .get(*ns)
                    .is_some_and(|n| n.role == crate::state::NsRole::Fabric)
            })
            .collect();
        pool::clear_links_of(&fabrics, fresh);
    }
    crate::trace::detail("apply: pool", t);
    if stages
        .iter()
        .flatten()
        .any(|w| matches!(w, Work::Create(..)))
    {
        netns::prepare_run_dir().map_err(|cause| {
            stop(
                &stats,
                KernelError::ListNamespaces {
                    dir: netns::run_dir().display().to_string(),
                    cause,
                },
            )
        })?;
    }
    observer.started(stages.iter().flatten().map(Work::ops).sum());
    let details = crate::trace::details_on();
    for (k, works) in stages.iter().enumerate() {
        let t = Instant::now();
        let results = netns::on_threads(works, |w| {
            let t = Instant::now();
            let result = run(plan, w, fresh.as_ref());
            observer.step_done(w.ops());
            if details {
                let what = format!("stage {k}: {}, {} ops", w.executor(), w.ops());
                crate::trace::detail(&what, t);
            }
            result
        });
        let mut failures = Vec::new();
        for (done, errors) in results {
            stats.add(&done);
            failures.extend(errors);
        }
        if failures.is_empty() && injected_fault(k) {
            let last = match &works[0] {
                Work::Create(_, owners, _) => *owners.last().expect("a change"),
                Work::Netlink { owners, .. } => *owners.last().unwrap_or(&0),
                Work::Proc { writes, .. } => writes.last().map_or(0, |w| w.2),
                Work::Delete(_, c, ..) | Work::Firewall { change: c, .. } => *c,
            };
            failures.push(ChangeError::new(
                &plan.changes[last],
                libc::EIO,
                Some("injected fault (NSHOST_FAULT)".into()),
            ));
        }
        if details {
            let ops: usize = works.iter().map(Work::ops).sum();
            let what = format!("stage {k}: {} steps, {ops} ops", works.len());
            crate::trace::detail(&what, t);
        }
        if !failures.is_empty() {
            stats.elapsed = started.elapsed();
            return Err(stop(&stats, KernelError::Changes(failures)));
        }
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// Runs one step on the calling (dedicated, short-lived) thread.
fn run(plan: &Plan, work: &Work<'_>, fresh: Option<&Fresh>) -> (ApplyStats, Vec<ChangeError>) {
    let mut done = ApplyStats {
        steps: 1,
        ..ApplyStats::default()
    };
    let all_failed = |owners: &[usize], e: &io::Error| -> Vec<ChangeError> {
        let mut seen = std::collections::BTreeSet::new();
        owners
            .iter()
            .filter(|c| seen.insert(**c))
            .map(|&c| ChangeError::from_io(&plan.changes[c], e))
            .collect()
    };
    match work {
        Work::Create(spec, owners, pooled) => {
            // A pooled namespace (checked ready when taken) is entered; if that fails
            // it is dropped (and dies) and a new one is made.
            let pooled = pooled
                .as_ref()
                .is_some_and(|fd| setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).is_ok());
            done.namespaces_from_pool = u32::from(pooled);
            let result = netns::create_in(spec, pooled, || {
                let mut sock = RouteSocket::open()?;
                let mut batch = RouteBatch::new();
                batch.push(crate::kernel::lo_up_marked(&spec.lab, spec.role), 0);
                match sock.execute(&batch, &mut netns::open_fd)?.first() {
                    Some(e) => Err(e.to_io()),
                    None => Ok(()),
                }
            });
            match result {
                Ok(()) => {
                    done.namespaces_created = 1;
                    done.sysctls_written = spec.sysctls.len();
                    (done, Vec::new())
                }
                Err(e) => (
                    done,
                    all_failed(
                        &owners[..1],
                        &io::Error::new(e.cause.kind(), format!("{}: {}", e.what, e.cause)),
                    ),
                ),
            }
        }
        Work::Netlink {
            ns,
            underlay,
            batch,
            owners,
        } => {
            let result = (|| -> io::Result<Vec<crate::netlink::NlError>> {
                if *underlay {
                    netns::enter_home()?;
                } else {
                    entered(ns)?;
                }
                let mut sock = RouteSocket::open()?;
                sock.execute(batch, &mut netns::open_fd)
            })();
            done.netlink_requests = batch.len();
            match result {
                Ok(errors) => {
                    let failures = errors
                        .into_iter()
                        .map(|e| {
                            let c = owners.get(e.index).copied().unwrap_or(0);
                            ChangeError::new(&plan.changes[c], e.errno, e.message)
                        })
                        .collect();
                    (done, failures)
                }
                Err(e) => (done, all_failed(owners, &e)),
            }
        }
        Work::Proc { ns, writes } => {
            if let Err(e) = entered(ns) {
                let owners: Vec<usize> = writes.iter().map(|w| w.2).collect();
                return (done, all_failed(&owners, &e));
            }
            let mut failures = Vec::new();
            for (setting, value, c) in writes {
                match netns::write_sysctl(setting, value) {
                    Ok(()) => done.sysctls_written += 1,
                    Err(e) => failures.push(ChangeError::from_io(&plan.changes[*c], &e)),
                }
            }
            (done, failures)
        }
        Work::Firewall {
            ns,
            change: c,
            from,
            to,
        } => {
            let change = &plan.changes[*c];
            if let Err(e) = entered(ns) {
                return (done, vec![ChangeError::from_io(change, &e)]);
            }
            match crate::kernel::firewall::backend().load_here(from, to) {
                Ok(()) => (done, Vec::new()),
                Err(e) => (
                    done,
                    vec![ChangeError::new(change, -1, Some(e.to_string()))],
                ),
            }
        }
        Work::Delete(ns, c, ends, recycle) => {
            if !ends.is_empty() {
                delete_tunnel_ends(ns, ends);
                done.netlink_requests = ends.len();
            }
            if let (Some(keys), Some(fresh)) = (recycle, fresh) {
                let recycled = entered(ns)
                    .map_err(|e| e.to_string())
                    .and_then(|()| pool::reset::recycle_here(ns, fresh, keys));
                match recycled {
                    Ok(()) => {
                        done.namespaces_deleted = 1;
                        done.namespaces_recycled = 1;
                        return (done, Vec::new());
                    }
                    Err(why) => tracing::debug!("{ns} is deleted, not recycled: {why}"),
                }
            }
            match netns::delete(ns) {
                Ok(()) => {
                    done.namespaces_deleted = 1;
                    (done, Vec::new())
                }
                Err(e) => (
                    done,
                    vec![ChangeError::from_io(&plan.changes[*c], &e.cause)],
                ),
            }
        }
    }
}

/// Takes namespaces from the pool for the creations of `stages`, and chooses the
/// namespaces destroy gives back to it (as many as the pool has room for; never a
/// fabric, whose namespace ids in every node would keep those from being handed out).
/// Returns the fresh state resets must match, when any namespace is to be recycled.
fn with_pool(stages: &mut [Vec<Work<'_>>], live: &NetState) -> Option<Fresh> {
    let creates = stages
        .iter()
        .flatten()
        .filter(|w| matches!(w, Work::Create(..)))
        .count();
    let mut fds = pool::claim(creates).into_iter();
    let mut room = pool::room();
    let record = (room > 0).then(pool::record).flatten();
    if room > 0 && record.is_some() && pool::prepare().is_err() {
        room = 0;
    }
    for w in stages.iter_mut().flatten() {
        match w {
            Work::Create(_, _, pooled) => *pooled = fds.next(),
            Work::Delete(ns, _, _, recycle) if room > 0 && record.is_some() => {
                let Some(keys) = pool::recycle_keys(live, ns) else {
                    continue;
                };
                *recycle = Some(keys);
                room -= 1;
            }
            _ => {}
        }
    }
    record.map(|r| r.fresh)
}

/// Enters namespace `ns` on the calling thread.
fn entered(ns: &str) -> io::Result<()> {
    match netns::enter(ns) {
        Ok(Some(())) => Ok(()),
        Ok(None) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("namespace {ns} does not exist"),
        )),
        Err(e) => Err(io::Error::new(e.cause.kind(), e.to_string())),
    }
}
