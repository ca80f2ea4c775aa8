//! Typed work per executor: what each operation of a change asks of the executor that
//! runs it (a netlink request, a `/proc/sys` write, a namespace to create or remove, a
//! firewall to load), borrowed from the change. [`tasks_of`] is the one place that
//! decides it, exhaustively; the executor follows from the task, so a change cannot be
//! given to an executor that cannot carry it out.

use std::collections::HashSet;

use crate::firewall::Firewall;
use crate::plan::schedule::{Executor, Part, Step};
use crate::plan::{Change, PeerEnd};
use crate::state::kinds::Vxlan;
use crate::state::{AddressKey, DevSetting, Link, LinkKind, NsRole, Qdisc, Route, RouteKey, Rule};

/// One operation's work, on the executor that runs it ([`Task::executor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task<'c> {
    /// Done by the thread that creates namespace `ns`.
    Create { ns: &'c str, item: CreateItem<'c> },
    /// Requests on a netlink socket inside `ns`.
    Netlink { ns: &'c str, item: NetlinkItem<'c> },
    /// Requests on a socket in the namespace nshost runs in, for links placed in `ns`.
    Underlay { ns: &'c str, item: NetlinkItem<'c> },
    /// A write under `/proc/sys` inside `ns`.
    Proc { ns: &'c str, item: ProcItem<'c> },
    /// Removing namespace `ns`.
    Delete { ns: &'c str },
    /// Loading `ns`'s firewall, `from` what is there to `to`.
    Firewall {
        ns: &'c str,
        from: &'c Firewall,
        to: &'c Firewall,
    },
}

/// What the thread creating a namespace does besides creating it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateItem<'c> {
    /// The namespace itself, marked with its role.
    Namespace(NsRole),
    /// A namespace-wide sysctl written before the namespace is made visible.
    Sysctl { key: &'c str, value: &'c str },
}

/// A write under `/proc/sys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcItem<'c> {
    /// A namespace-wide sysctl.
    Sysctl { key: &'c str, value: &'c str },
    /// A setting of link `link` that netlink cannot write.
    Setting {
        link: &'c str,
        setting: &'c DevSetting,
        value: &'c str,
    },
}

/// The netlink work of an operation; its namespace is its task's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetlinkItem<'c> {
    /// Create link `name` (a veth pair's both ends, `peer` being the far one).
    AddLink {
        name: &'c str,
        link: &'c Link,
        peer: Option<&'c PeerEnd>,
    },
    /// Bring up the far end of a new veth pair, from its own namespace.
    PeerUp(&'c PeerEnd),
    /// The static flood entries of new vxlan `name`.
    Flood {
        name: &'c str,
        vxlan: &'c Vxlan,
    },
    UpdateLink {
        name: &'c str,
        from: &'c Link,
        to: &'c Link,
    },
    DeleteLink {
        name: &'c str,
    },
    AddAddress(&'c AddressKey),
    DeleteAddress(&'c AddressKey),
    AddRoute {
        key: &'c RouteKey,
        route: &'c Route,
    },
    ReplaceRoute {
        key: &'c RouteKey,
        to: &'c Route,
    },
    DeleteRoute {
        key: &'c RouteKey,
        route: &'c Route,
    },
    AddRule(&'c Rule),
    DeleteRule(&'c Rule),
    /// A setting of link `link` that is an IPv4 devconf value (number `conf`).
    Devconf {
        link: &'c str,
        setting: &'c DevSetting,
        conf: u16,
        to: &'c str,
    },
    /// Set, change or take away the root qdisc of `link`.
    Qdisc {
        link: &'c str,
        to: Option<&'c Qdisc>,
    },
}

impl Task<'_> {
    /// The executor that runs the task.
    pub fn executor(&self) -> Executor {
        match *self {
            Task::Create { ns, .. } => Executor::Create(ns.to_string()),
            Task::Netlink { ns, .. } => Executor::Netlink(ns.to_string()),
            Task::Underlay { ns, .. } => Executor::Underlay(ns.to_string()),
            Task::Proc { ns, .. } => Executor::Proc(ns.to_string()),
            Task::Delete { ns } => Executor::Delete(ns.to_string()),
            Task::Firewall { ns, .. } => Executor::Firewall(ns.to_string()),
        }
    }
}

/// The namespaces `changes` create.
pub fn created_namespaces(changes: &[Change]) -> HashSet<&str> {
    changes
        .iter()
        .filter(|c| matches!(c, Change::AddNamespace { .. }))
        .map(Change::ns)
        .collect()
}

/// The operations of a change, each with its task, given the namespaces the change set
/// creates (whose namespace-wide sysctls their creating thread writes).
pub fn tasks_of<'c>(c: &'c Change, created: &HashSet<&str>) -> Vec<(Part, Task<'c>)> {
    let main = |ns: &'c str, item| vec![(Part::Main, Task::Netlink { ns, item })];
    match c {
        Change::AddNamespace { ns, role } => vec![(
            Part::Main,
            Task::Create {
                ns,
                item: CreateItem::Namespace(*role),
            },
        )],
        Change::DeleteNamespace { ns, .. } => vec![(Part::Main, Task::Delete { ns })],
        Change::SetSysctl { ns, key, to, .. } => {
            let task = if created.contains(ns.as_str()) {
                Task::Create {
                    ns,
                    item: CreateItem::Sysctl { key, value: to },
                }
            } else {
                Task::Proc {
                    ns,
                    item: ProcItem::Sysctl { key, value: to },
                }
            };
            vec![(Part::Main, task)]
        }
        Change::SetLinkSetting {
            ns,
            link,
            setting,
            to,
            ..
        } => match setting.devconf_index() {
            Some(conf) => main(
                ns,
                NetlinkItem::Devconf {
                    link,
                    setting,
                    conf,
                    to,
                },
            ),
            None => vec![(
                Part::Main,
                Task::Proc {
                    ns,
                    item: ProcItem::Setting {
                        link,
                        setting,
                        value: to,
                    },
                },
            )],
        },
        Change::SetFirewall { ns, from, to } => vec![(Part::Main, Task::Firewall { ns, from, to })],
        Change::AddLink {
            ns,
            name,
            link,
            peer,
        } => add_link(ns, name, link, peer.as_deref()),
        Change::UpdateLink { ns, name, from, to } => {
            main(ns, NetlinkItem::UpdateLink { name, from, to })
        }
        Change::DeleteLink { ns, name, .. } => main(ns, NetlinkItem::DeleteLink { name }),
        Change::AddAddress { ns, key, .. } => main(ns, NetlinkItem::AddAddress(key)),
        Change::DeleteAddress { ns, key, .. } => main(ns, NetlinkItem::DeleteAddress(key)),
        Change::AddRoute { ns, key, route } => main(ns, NetlinkItem::AddRoute { key, route }),
        Change::ReplaceRoute { ns, key, to, .. } => main(ns, NetlinkItem::ReplaceRoute { key, to }),
        Change::DeleteRoute { ns, key, route } => main(ns, NetlinkItem::DeleteRoute { key, route }),
        Change::AddRule { ns, rule } => main(ns, NetlinkItem::AddRule(rule)),
        Change::DeleteRule { ns, rule } => main(ns, NetlinkItem::DeleteRule(rule)),
        Change::SetQdisc { ns, link, to, .. } => main(
            ns,
            NetlinkItem::Qdisc {
                link,
                to: to.as_deref(),
            },
        ),
    }
}

/// The operations of an `AddLink`: the link (a vxlan end of a stretched network from
/// the underlay), then a veth pair's far end brought up from its namespace, or a new
/// vxlan's flood entries.
fn add_link<'c>(
    ns: &'c str,
    name: &'c str,
    link: &'c Link,
    peer: Option<&'c PeerEnd>,
) -> Vec<(Part, Task<'c>)> {
    let item = NetlinkItem::AddLink { name, link, peer };
    if let Some(p) = peer {
        let up = Task::Netlink {
            ns: &p.at.ns,
            item: NetlinkItem::PeerUp(p),
        };
        return vec![(Part::Main, Task::Netlink { ns, item }), (Part::PeerUp, up)];
    }
    let LinkKind::Vxlan(v) = &link.kind else {
        return vec![(Part::Main, Task::Netlink { ns, item })];
    };
    let main = if v.underlay {
        Task::Underlay { ns, item }
    } else {
        Task::Netlink { ns, item }
    };
    let mut ops = vec![(Part::Main, main)];
    if !v.flood.is_empty() {
        let flood = NetlinkItem::Flood { name, vxlan: v };
        ops.push((Part::Flood, Task::Netlink { ns, item: flood }));
    }
    ops
}

/// The task of part `part` of `c`, if it has that part.
pub fn task_of<'c>(c: &'c Change, part: Part, created: &HashSet<&str>) -> Option<Task<'c>> {
    tasks_of(c, created)
        .into_iter()
        .find(|(p, _)| *p == part)
        .map(|(_, t)| t)
}

/// The typed work of one step: its operations' tasks (with their change's index), all
/// of its executor's kind and namespace.
#[derive(Debug, PartialEq, Eq)]
pub enum StepWork<'a> {
    Create {
        ns: &'a str,
        items: Vec<(usize, CreateItem<'a>)>,
    },
    Netlink {
        ns: &'a str,
        underlay: bool,
        items: Vec<(usize, NetlinkItem<'a>)>,
    },
    Proc {
        ns: &'a str,
        items: Vec<(usize, ProcItem<'a>)>,
    },
    Delete {
        ns: &'a str,
        changes: Vec<usize>,
    },
    Firewall {
        ns: &'a str,
        items: Vec<(usize, &'a Firewall, &'a Firewall)>,
    },
}

/// A schedule that gives an operation to an executor other than its task's (only a
/// saved plan read from a file can, and its trust check refuses it first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the schedule runs {what} on {executor:?}, not on its own executor")]
pub struct Misplaced {
    /// The change's index in the plan.
    pub change: usize,
    /// The change, described, and its part.
    pub what: String,
    pub executor: Executor,
}

impl Step {
    /// The step's typed work, from the plan's `changes` and the namespaces they create.
    pub fn work<'a>(
        &'a self,
        changes: &'a [Change],
        created: &HashSet<&str>,
    ) -> Result<StepWork<'a>, Misplaced> {
        let mut work = match &self.executor {
            Executor::Create(ns) => StepWork::Create { ns, items: vec![] },
            Executor::Netlink(ns) => StepWork::Netlink {
                ns,
                underlay: false,
                items: vec![],
            },
            Executor::Underlay(ns) => StepWork::Netlink {
                ns,
                underlay: true,
                items: vec![],
            },
            Executor::Proc(ns) => StepWork::Proc { ns, items: vec![] },
            Executor::Delete(ns) => StepWork::Delete {
                ns,
                changes: vec![],
            },
            Executor::Firewall(ns) => StepWork::Firewall { ns, items: vec![] },
        };
        let ns = self.executor.ns();
        for op in &self.ops {
            let misplaced = || Misplaced {
                change: op.change,
                what: changes.get(op.change).map_or_else(
                    || format!("change {} (none such)", op.change),
                    |c| format!("{} ({:?})", c.describe(), op.part),
                ),
                executor: self.executor.clone(),
            };
            let task = changes
                .get(op.change)
                .and_then(|c| task_of(c, op.part, created))
                .ok_or_else(misplaced)?;
            let c = op.change;
            match (&mut work, task) {
                (StepWork::Create { items, .. }, Task::Create { ns: n, item }) if n == ns => {
                    items.push((c, item))
                }
                (
                    StepWork::Netlink {
                        underlay: false,
                        items,
                        ..
                    },
                    Task::Netlink { ns: n, item },
                )
                | (
                    StepWork::Netlink {
                        underlay: true,
                        items,
                        ..
                    },
                    Task::Underlay { ns: n, item },
                ) if n == ns => items.push((c, item)),
                (StepWork::Proc { items, .. }, Task::Proc { ns: n, item }) if n == ns => {
                    items.push((c, item))
                }
                (StepWork::Delete { changes, .. }, Task::Delete { ns: n }) if n == ns => {
                    changes.push(c)
                }
                (StepWork::Firewall { items, .. }, Task::Firewall { ns: n, from, to })
                    if n == ns =>
                {
                    items.push((c, from, to))
                }
                _ => return Err(misplaced()),
            }
        }
        Ok(work)
    }
}
