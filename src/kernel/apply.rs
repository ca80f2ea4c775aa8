//! `apply`: carries out an ordered plan. Namespaces are created first (in parallel, on
//! dedicated threads); then every netlink request of the plan is built; then the stages
//! run in order, each namespace's requests of a stage going out as one batch on its
//! socket.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::devconf;
use crate::kernel::message::{self, IfIndexes, Request};
use crate::kernel::netlink::Batch;
use crate::kernel::netns::{self, CreateSpec, NsHandle};
use crate::kernel::{KernelError, Session};
use crate::plan::{Change, Plan};
use crate::state::NetState;

/// What an apply did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ApplyStats {
    pub namespaces_created: usize,
    pub namespaces_deleted: usize,
    /// Netlink write requests sent.
    pub netlink_requests: usize,
    /// `sendmsg` batches.
    pub batches: usize,
    pub stages: usize,
    pub sysctls_written: usize,
    #[serde(serialize_with = "as_ms")]
    pub elapsed: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// Per stage: netlink batches by namespace, sysctl writes, namespace removals.
#[derive(Default)]
struct StageWork {
    batches: BTreeMap<String, (Batch, Vec<usize>)>,
    sysctls: BTreeMap<String, Vec<(String, String)>>,
    deletions: Vec<String>,
}

/// Applies `plan` (computed against `live`) for `lab`.
pub fn apply(
    lab: &str,
    plan: &Plan,
    live: &NetState,
    session: &mut Session,
) -> Result<ApplyStats, KernelError> {
    let started = Instant::now();
    let mut stats = ApplyStats {
        stages: plan.stages.len(),
        ..ApplyStats::default()
    };

    // 1. Namespaces, each created with its sysctls before it becomes visible.
    let mut folded_sysctls = vec![false; plan.changes.len()];
    let mut creates: Vec<CreateSpec> = Vec::new();
    let mut create_pos: HashMap<&str, usize> = HashMap::new();
    for change in &plan.changes {
        if let Change::AddNamespace { ns, role } = change {
            create_pos.insert(ns, creates.len());
            creates.push(CreateSpec {
                name: ns.clone(),
                lab: lab.to_string(),
                role: *role,
                sysctls: Vec::new(),
            });
        }
    }
    for (i, change) in plan.changes.iter().enumerate() {
        if let Change::SetSysctl { ns, key, to, .. } = change
            && devconf::parse_key(key).is_none()
            && let Some(&pos) = create_pos.get(ns.as_str())
        {
            creates[pos].sysctls.push((key.clone(), to.clone()));
            folded_sysctls[i] = true;
            stats.sysctls_written += 1;
        }
    }
    let t = Instant::now();
    if !creates.is_empty() {
        netns::prepare_run_dir().map_err(|source| KernelError::Socket {
            ns: netns::run_dir().display().to_string(),
            cause: source,
        })?;
        let mut failures = Vec::new();
        for result in netns::create_many(&creates) {
            match result {
                Ok(handle) => {
                    session.handles.insert(handle.name.clone(), handle);
                    stats.namespaces_created += 1;
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        if !failures.is_empty() {
            return Err(KernelError::Failed {
                count: failures.len(),
                details: failures.join("\n"),
            });
        }
    }

    crate::trace::phase("apply: create namespaces", t);

    // 2. Build every request before sending any.
    let t = Instant::now();
    let ns_fds: HashMap<String, i32> = session
        .handles
        .iter()
        .map(|(n, h)| (n.clone(), h.fd.as_raw_fd()))
        .collect();
    let mut idx = IfIndexes::from_live(live);
    // Links the plan gives an IPv6 address: they keep IPv6 link-local addressing.
    let ipv6_links: std::collections::HashSet<(String, String)> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::AddAddress { ns, key } if key.addr.addr().is_ipv6() => {
                Some((ns.clone(), key.ifname.clone()))
            }
            _ => None,
        })
        .collect();
    let mut stages: Vec<StageWork> = (0..plan.stages.len() + 1)
        .map(|_| StageWork::default())
        .collect();
    for (s, members) in plan.stages.iter().enumerate() {
        for &i in members {
            let change = &plan.changes[i];
            match change {
                Change::AddNamespace { .. } => {}
                Change::DeleteNamespace { ns, .. } => stages[s].deletions.push(ns.clone()),
                Change::SetSysctl { ns, key, to, .. } if devconf::parse_key(key).is_none() => {
                    if !folded_sysctls[i] {
                        stages[s]
                            .sysctls
                            .entry(ns.clone())
                            .or_default()
                            .push((key.clone(), to.clone()));
                    }
                }
                _ => {
                    let requests = message::build(lab, change, &mut idx, &ns_fds, &ipv6_links)
                        .map_err(|e| KernelError::Failed {
                            count: 1,
                            details: e.to_string(),
                        })?;
                    for Request {
                        ns,
                        msg,
                        flags,
                        later,
                    } in requests
                    {
                        let at = if later { s + 1 } else { s };
                        let (batch, owners) = stages[at].batches.entry(ns).or_default();
                        batch.push(msg, flags);
                        owners.push(i);
                    }
                }
            }
        }
    }

    crate::trace::phase("apply: build requests", t);

    // 3. Send, stage by stage.
    let mut failures: Vec<String> = Vec::new();
    for (k, work) in stages.into_iter().enumerate() {
        let t = Instant::now();
        for (ns, (batch, owners)) in &work.batches {
            let handle = session
                .handles
                .get_mut(ns)
                .ok_or_else(|| KernelError::NotOpen { ns: ns.clone() })?;
            let errors = handle
                .sock
                .execute(batch)
                .map_err(|source| KernelError::Socket {
                    ns: ns.clone(),
                    cause: source,
                })?;
            stats.netlink_requests += batch.len();
            stats.batches += 1;
            for e in errors {
                let change = owners.get(e.index).map(|&i| &plan.changes[i]);
                failures.push(format!(
                    "{ns}: {}: {}",
                    change.map_or_else(|| "request".to_string(), describe),
                    e.describe()
                ));
            }
        }
        if !work.sysctls.is_empty() {
            let jobs: Vec<(&NsHandle, Vec<(String, String)>)> = work
                .sysctls
                .iter()
                .map(|(ns, values)| {
                    session
                        .handles
                        .get(ns)
                        .map(|h| (h, values.clone()))
                        .ok_or_else(|| KernelError::NotOpen { ns: ns.clone() })
                })
                .collect::<Result<_, _>>()?;
            for result in netns::write_sysctls(&jobs) {
                match result {
                    Ok(()) => {}
                    Err(e) => failures.push(e.to_string()),
                }
            }
            stats.sysctls_written += work.sysctls.values().map(Vec::len).sum::<usize>();
        }
        for ns in &work.deletions {
            // Close our own handles first: they keep the namespace alive.
            session.handles.remove(ns);
            match netns::delete(ns) {
                Ok(()) => stats.namespaces_deleted += 1,
                Err(e) => failures.push(e.to_string()),
            }
        }
        crate::trace::phase(&format!("apply: stage {k}"), t);
        if !failures.is_empty() {
            return Err(KernelError::Failed {
                count: failures.len(),
                details: failures.join("\n"),
            });
        }
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// A short description of a change for error messages.
pub fn describe(change: &Change) -> String {
    match change {
        Change::AddNamespace { ns, .. } => format!("create namespace {ns}"),
        Change::DeleteNamespace { ns, .. } => format!("delete namespace {ns}"),
        Change::AddLink { name, link, .. } => {
            format!("create link {name} ({})", link.kind.kernel_name())
        }
        Change::UpdateLink { name, .. } => format!("update link {name}"),
        Change::DeleteLink { name, .. } => format!("delete link {name}"),
        Change::AddAddress { key, .. } => format!("add address {} on {}", key.addr, key.ifname),
        Change::DeleteAddress { key, .. } => {
            format!("delete address {} on {}", key.addr, key.ifname)
        }
        Change::AddRoute { key, .. } => format!("add route {} table {}", key.dst, key.table),
        Change::ReplaceRoute { key, .. } => {
            format!("replace route {} table {}", key.dst, key.table)
        }
        Change::DeleteRoute { key, .. } => {
            format!("delete route {} table {}", key.dst, key.table)
        }
        Change::AddRule { rule, .. } => format!("add rule {}", rule.priority),
        Change::DeleteRule { rule, .. } => format!("delete rule {}", rule.priority),
        Change::SetSysctl { key, to, .. } => format!("set sysctl {key} = {to}"),
    }
}
