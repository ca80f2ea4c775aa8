//! Asking the kernel what only it can tell, in a throwaway namespace that disappears
//! with the probing thread, before any of the lab's state is touched: which link kinds
//! it can create, which qdiscs it has (`netem` is a module of its own), whether each sysctl the lab sets exists, may be set in a namespace
//! and takes the value, and what a fresh namespace has for a setting (what a setting
//! removed from the file returns to).

use std::collections::BTreeMap;
use std::io;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use nix::sched::{CloneFlags, unshare};

use crate::kernel::netns::{read_sysctl, write_sysctl};
use crate::kernel::{RouteBatch, RouteSocket};
use crate::state::settings::Setting;

/// What to ask.
#[derive(Debug, Clone, Default)]
pub struct Questions {
    /// Link kinds, by kernel name.
    pub kinds: Vec<String>,
    /// Sysctl keys (a device's keys as their `default` counterpart) and the value to
    /// try, each checked in a fresh namespace.
    pub sysctls: Vec<(String, String)>,
    /// Keys whose value in a fresh namespace is wanted.
    pub fresh: Vec<String>,
    /// Qdisc kinds (`tbf`, `netem`).
    pub qdiscs: Vec<String>,
}

/// Why a sysctl cannot be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SysctlProblem {
    /// No such key in a network namespace.
    Missing,
    /// It exists but cannot be written inside a network namespace.
    ReadOnly,
    /// The kernel refuses the value (its error).
    BadValue(String),
}

/// The kernel's answers.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    /// The kinds this kernel cannot create.
    pub missing_kinds: Vec<String>,
    /// Per sysctl of the questions (by index), why it cannot be set.
    pub sysctl_problems: Vec<(usize, SysctlProblem)>,
    /// The value in a fresh namespace of each key that has one.
    pub fresh: BTreeMap<String, String>,
    /// The qdisc kinds this kernel does not have.
    pub missing_qdiscs: Vec<String>,
}

/// Asks, on a thread of its own in a namespace of its own. Nothing is asked (and no
/// namespace made) when there is no question.
pub fn ask(q: &Questions) -> io::Result<Answers> {
    if q.kinds.is_empty() && q.sysctls.is_empty() && q.fresh.is_empty() && q.qdiscs.is_empty() {
        return Ok(Answers::default());
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            // A fresh namespace of this thread's own: nothing made here is seen
            // elsewhere, and it is freed when the thread ends.
            unshare(CloneFlags::CLONE_NEWNET)?;
            let mut answers = Answers {
                missing_kinds: missing_kinds(&q.kinds)?,
                missing_qdiscs: missing_qdiscs(&q.qdiscs)?,
                ..Answers::default()
            };
            for key in &q.fresh {
                if let Ok(v) = read_sysctl(&Setting::Namespace(key.clone())) {
                    answers.fresh.insert(key.clone(), v);
                }
            }
            for (i, (key, value)) in q.sysctls.iter().enumerate() {
                if let Some(p) = try_sysctl(key, value) {
                    answers.sysctl_problems.push((i, p));
                }
            }
            Ok(answers)
        })
        .join()
        .expect("probe thread panicked")
    })
}

fn missing_kinds(kinds: &[String]) -> io::Result<Vec<String>> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let mut sock = RouteSocket::open()?;
    let mut missing = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(format!("nshprobe{i}")));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::from(kind.as_str()),
            )]));
        let mut batch = RouteBatch::new();
        batch.push(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL);
        let errors = sock.execute(&batch, &mut crate::kernel::netns::open_fd)?;
        if errors.iter().any(|e| e.errno == libc::EOPNOTSUPP) {
            missing.push(kind.clone());
        }
    }
    Ok(missing)
}

/// The qdisc kinds the kernel does not know: each is tried as the root qdisc of the
/// probe namespace's loopback, which the kernel refuses with `ENOENT` ("Specified
/// qdisc kind is unknown") when it is neither built in nor a module it can load.
fn missing_qdiscs(kinds: &[String]) -> io::Result<Vec<String>> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let mut sock = RouteSocket::open()?;
    let mut missing = Vec::new();
    for kind in kinds {
        let Some(sample) = crate::kernel::qdisc::sample(kind) else {
            missing.push(kind.clone());
            continue;
        };
        let (msg, flags) = crate::kernel::qdisc::request(1, Some(&sample));
        let mut batch = RouteBatch::new();
        batch.push(msg, flags);
        let errors = sock.execute(&batch, &mut crate::kernel::netns::open_fd)?;
        if errors.iter().any(|e| e.errno == libc::ENOENT) {
            missing.push(kind.clone());
        }
    }
    Ok(missing)
}

/// Writes `value` to `key` in the probe's namespace and puts the old value back.
fn try_sysctl(key: &str, value: &str) -> Option<SysctlProblem> {
    let setting = Setting::Namespace(key.to_string());
    let old = match read_sysctl(&setting) {
        Ok(v) => v,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(SysctlProblem::Missing),
        Err(_) => return Some(SysctlProblem::ReadOnly),
    };
    match write_sysctl(&setting, value) {
        Ok(()) => {
            let _ = write_sysctl(&setting, &old);
            None
        }
        Err(e) => Some(match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => SysctlProblem::ReadOnly,
            Some(libc::ENOENT) => SysctlProblem::Missing,
            _ => SysctlProblem::BadValue(e.to_string()),
        }),
    }
}
