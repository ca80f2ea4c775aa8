//! The checks only the kernel can make, made before the lab's state is touched and
//! reported like every other problem of the file, at the YAML they come from: link
//! kinds and qdiscs this kernel lacks, and sysctls that do not exist, cannot be set in a network
//! namespace, or refuse their value. The same probe reads what a fresh namespace has
//! for each setting the lab no longer sets.

#![warn(clippy::wildcard_enum_match_arm)]

use std::collections::{BTreeMap, BTreeSet};

use crate::kernel::probe::{self, Questions, SysctlProblem};
use crate::lab::Span;
use crate::problem::{Code, Invalid, Problem};
use crate::state::settings::Setting;
use crate::state::{NetState, ObjectId};
use crate::workflow::record::Managed;
use crate::workflow::{Error, Loaded};

/// The links that use each kind (or qdisc kind), as `(namespace, link)`.
type Users<K> = BTreeMap<K, Vec<(String, String)>>;

/// Every (key as probed, value) once, with the (namespace, key as written) using it.
type Tries = BTreeMap<(String, String), Vec<(String, String)>>;

/// Runs the kernel's checks of `loaded`; returns the fresh values of the settings in
/// `managed` that the lab no longer sets.
pub(super) fn check(loaded: &Loaded, managed: &Managed) -> Result<BTreeMap<String, String>, Error> {
    let desired = &loaded.desired;
    let kind_users = kind_users(desired);
    let qdisc_users = qdisc_users(desired);
    let tries = sysctl_tries(loaded);
    let q = Questions {
        kinds: kind_users.keys().cloned().collect(),
        qdiscs: qdisc_users.keys().map(|k| k.to_string()).collect(),
        sysctls: tries.keys().cloned().collect(),
        fresh: fresh_keys(desired, managed),
    };
    let answers =
        probe::ask(&q).map_err(|e| Error::from_kernel(crate::kernel::KernelError::Probe(e)))?;
    let mut problems = kind_problems(loaded, &answers.missing_kinds, &kind_users);
    problems.extend(qdisc_problems(
        loaded,
        &answers.missing_qdiscs,
        &qdisc_users,
    ));
    problems.extend(sysctl_problems(loaded, &answers.sysctl_problems, &tries));
    problems.extend(missing_programs(loaded));
    if !problems.is_empty() {
        return Err(Error::Invalid(Invalid::new(&loaded.source, problems)));
    }
    Ok(answers.fresh)
}

/// Link kinds the kernel may lack, with the links that use them.
fn kind_users(desired: &NetState) -> Users<String> {
    let mut users: Users<String> = BTreeMap::new();
    for (ns, n) in &desired.namespaces {
        for (name, link) in &n.links {
            if let Some(kind) = link.kind.kernel_kind().filter(|k| k.probed()) {
                users
                    .entry(kind.kernel_name().to_string())
                    .or_default()
                    .push((ns.clone(), name.clone()));
            }
        }
    }
    users
}

/// Qdisc kinds the lab's `impair` blocks make, with the links that use them.
fn qdisc_users(desired: &NetState) -> Users<&'static str> {
    let mut users: Users<&'static str> = BTreeMap::new();
    for (ns, n) in &desired.namespaces {
        for (name, link) in &n.links {
            if let Some(qd) = &link.qdisc {
                users
                    .entry(qd.kind())
                    .or_default()
                    .push((ns.clone(), name.clone()));
            }
        }
    }
    users
}

/// The settings to try. Only what the file writes: the settings nshost adds itself
/// (forwarding, promote_secondaries, the fabric's and the IPv6 nodes' own) are known good.
fn sysctl_tries(loaded: &Loaded) -> Tries {
    let written: BTreeSet<(&str, &str)> = loaded
        .lab
        .origins
        .sysctls
        .iter()
        .map(|o| (o.ns.as_str(), o.key.as_str()))
        .collect();
    let mut tries: Tries = BTreeMap::new();
    for (ns, n) in &loaded.desired.namespaces {
        for (key, value) in &n.sysctls {
            if !written.contains(&(ns.as_str(), key.as_str())) {
                continue;
            }
            tries
                .entry((key.clone(), value.clone()))
                .or_default()
                .push((ns.clone(), key.clone()));
        }
        for (dev, link) in &n.links {
            for (setting, value) in &link.settings {
                if !written.contains(&(ns.as_str(), setting.key(dev).as_str())) {
                    continue;
                }
                tries
                    .entry((setting.default_key(), value.clone()))
                    .or_default()
                    .push((ns.clone(), setting.key(dev)));
            }
        }
    }
    tries
}

/// The keys whose fresh values are wanted: the managed settings the lab no longer sets.
fn fresh_keys(desired: &NetState, managed: &Managed) -> Vec<String> {
    let mut fresh = BTreeSet::new();
    for (ns, keys) in &managed.settings {
        for key in keys {
            match key {
                Setting::Namespace(k) => {
                    fresh.insert(k.clone());
                }
                // A device's setting is reverted to its fresh value only on a link the
                // lab still has (`record::revert_removed`).
                Setting::Device { dev, setting } => {
                    let has_link = desired
                        .namespaces
                        .get(ns)
                        .is_some_and(|n| n.links.contains_key(dev));
                    if has_link {
                        fresh.insert(setting.default_key());
                    }
                }
            }
        }
    }
    fresh.into_iter().collect()
}

/// `unsupported_kind` for each link kind the kernel lacks, at the links that use it.
fn kind_problems(loaded: &Loaded, missing: &[String], users: &Users<String>) -> Vec<Problem> {
    if missing.is_empty() {
        return Vec::new();
    }
    let src = &loaded.source;
    let objects = super::object_origins(src);
    let mut problems = Vec::new();
    for kind in missing {
        let users = &users[kind];
        let names: Vec<String> = users.iter().map(|(ns, l)| format!("{ns}/{l}")).collect();
        let mut p = Problem::new(
            Code::UnsupportedKind,
            format!(
                "this kernel cannot create `{kind}` links (not built in and no module), needed by {}",
                names.join(", ")
            ),
            src.shared_source(),
        )
        .help_text(format!(
            "load the kernel module (`modprobe {kind}`) or use another kind; `veth` joins a network"
        ));
        for (ns, name) in users {
            let id = ObjectId::Link {
                ns: ns.clone(),
                name: name.clone(),
            };
            if let Some(span) = objects.get(&id).copied() {
                p = p.label(span.into(), format!("a `{kind}` link"));
            }
        }
        problems.push(p);
    }
    problems
}

/// `qdisc_missing` for each qdisc kind the kernel lacks, at the `impair` fields needing it.
fn qdisc_problems(
    loaded: &Loaded,
    missing: &[String],
    users: &Users<&'static str>,
) -> Vec<Problem> {
    let src = &loaded.source;
    let mut problems = Vec::new();
    for kind in missing {
        let users = &users[kind.as_str()];
        let names: Vec<String> = users.iter().map(|(ns, l)| format!("{ns}/{l}")).collect();
        let mut p = Problem::new(
            Code::QdiscMissing,
            format!(
                "this kernel has no `{kind}` qdisc (`sch_{kind}` is not built in and not a \
                 module it can load), needed by the `impair` of {}",
                names.join(", ")
            ),
            src.shared_source(),
        )
        .help_text(format!(
            "load it (`modprobe sch_{kind}`), or install the kernel's extra modules \
             (linux-modules-extra on Debian and Ubuntu); a `rate` alone needs only `tbf`"
        ));
        for (ns, name) in users {
            let key = (ns.clone(), name.clone());
            for span in loaded
                .lab
                .origins
                .netem_fields
                .get(&key)
                .into_iter()
                .flatten()
            {
                p = p.label((*span).into(), format!("needs `sch_{kind}`"));
            }
        }
        problems.push(p);
    }
    problems
}

/// A problem for each written setting the kernel lacks, refuses in a namespace, or
/// refuses the value of.
fn sysctl_problems(
    loaded: &Loaded,
    answers: &[(usize, SysctlProblem)],
    tries: &Tries,
) -> Vec<Problem> {
    let src = &loaded.source;
    let mut problems = Vec::new();
    for (i, problem) in answers {
        let ((probed, value), users) = tries.iter().nth(*i).expect("a question asked");
        for (ns, key) in users {
            let (key_span, value_span) = spans(loaded, ns, key);
            let p = match problem {
                SysctlProblem::Missing => Problem::new(
                    Code::UnknownSysctl,
                    format!("the sysctl `{key}` does not exist in a network namespace"),
                    src.shared_source(),
                )
                .with_span(key_span, "no such sysctl")
                .help_text(format!(
                    "this kernel has no `{probed}` (see `sysctl -a` inside `ip netns exec`)"
                )),
                SysctlProblem::ReadOnly => Problem::new(
                    Code::SysctlNotSettable,
                    format!("the sysctl `{key}` cannot be set inside a network namespace"),
                    src.shared_source(),
                )
                .with_span(key_span, "read-only in a network namespace")
                .help_text("it is a setting of the whole machine, not of one namespace"),
                SysctlProblem::BadValue(why) => Problem::new(
                    Code::BadSysctlValue,
                    format!("the kernel refuses the value `{value}` for the sysctl `{key}`: {why}"),
                    src.shared_source(),
                )
                .with_span(value_span.or(key_span), "refused by the kernel"),
            };
            problems.push(p);
        }
    }
    problems
}

/// Where sysctl `key` of namespace `ns` is written: its key and its value.
fn spans(loaded: &Loaded, ns: &str, key: &str) -> (Option<Span>, Option<Span>) {
    loaded
        .lab
        .origins
        .sysctls
        .iter()
        .find(|o| o.ns == ns && o.key == key)
        .map_or((None, None), |o| (Some(o.key_span), Some(o.value_span)))
}

trait WithSpan {
    fn with_span(self, span: Option<Span>, text: &str) -> Self;
}

impl WithSpan for Problem {
    fn with_span(self, span: Option<Span>, text: &str) -> Self {
        match span {
            Some(s) => self.label(s.into(), text),
            None => self,
        }
    }
}

/// Each `run:` command whose program the node does not have, at its command: looked
/// up in the node's own root where its supervisor runs, else on this machine, as its
/// supervisor will (see [`crate::workload::program`]).
fn missing_programs(loaded: &Loaded) -> Vec<Problem> {
    use crate::workload::{control, program};
    let lab = &loaded.lab;
    if lab.nodes.values().all(|n| n.workload.run.is_empty()) {
        return Vec::new();
    }
    let src = &loaded.source;
    let supervisors = control::find_all(&lab.name);
    let mut out = Vec::new();
    for (node, n) in &lab.nodes {
        let root = match supervisors.get(node) {
            Some(pid) => std::path::PathBuf::from(format!("/proc/{pid}/root")),
            None => std::path::PathBuf::from("/"),
        };
        for p in &n.workload.run {
            let Some(prog) = program::program_of(&p.command) else {
                continue;
            };
            if program::found(&prog, &root, &n.workload.files) {
                continue;
            }
            let span = lab.origins.processes.get(&(node.clone(), p.name.clone()));
            out.push(
                Problem::new(
                    Code::ProgramNotFound,
                    format!("process `{}` of {node}: `{prog}` is not found in the node", p.name),
                    src.shared_source(),
                )
                .with_span(span.copied(), "not found")
                .help_text(if prog.contains('/') {
                    "no executable file at that path (declare it under `files:` with a mode such as 0755, or install it)".to_string()
                } else {
                    format!("no executable `{prog}` in PATH; install it (e.g. `apt-get install ...`) or give its full path")
                }),
            );
        }
    }
    out
}
