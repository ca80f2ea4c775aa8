//! What changed in the kernel since a plan was saved, object by object: the pinned
//! observation against a new one of the same names, in the words of a plan
//! (`namespace web1: address 10.1.1.10/24 on eth0 was removed since the plan was made`).

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::plan::display;
use crate::state::{Link, Namespace, SmallMap};
use crate::workflow::saved::pin::{Pinned, Seen};

/// One object that differs from what the plan was made against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The name under the namespace directory.
    pub ns: String,
    /// The object in it (`address 10.1.1.10/24 on eth0`); `None` for the entry itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(flatten)]
    pub change: Changed,
}

/// How an object differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Changed {
    /// It is there now and was not (`what` says what it is, for an entry).
    Added {
        #[serde(skip_serializing_if = "Option::is_none")]
        what: Option<String>,
    },
    /// It was there and is not any more.
    Removed,
    /// It is there still, with other attributes.
    Modified { from: String, to: String },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(object) => write!(f, "namespace {}: {object}", self.ns)?,
            None => write!(f, "namespace {}", self.ns)?,
        }
        match &self.change {
            Changed::Added { what: None } => write!(f, " was added since the plan was made"),
            Changed::Added { what: Some(what) } => {
                write!(f, " appeared since the plan was made ({what})")
            }
            Changed::Removed => write!(f, " was removed since the plan was made"),
            Changed::Modified { from, to } => {
                write!(f, " changed since the plan was made: {from} -> {to}")
            }
        }
    }
}

/// Every difference between what a plan was pinned to and what is there now (`now`
/// holds the same names), in name order, then object order.
pub fn differences(lab: &str, then: &Pinned, now: &Pinned) -> Vec<Difference> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    for name in names {
        let absent = Seen::Absent;
        let (a, b) = (
            then.get(name).unwrap_or(&absent),
            now.get(name).unwrap_or(&absent),
        );
        let before = out.len();
        entry(lab, name, a, b, &mut out);
        // Everything that can differ has its words above; should something still
        // differ without them, it is said all the same.
        if a != b && out.len() == before {
            out.push(Difference {
                ns: name.to_string(),
                object: None,
                change: Changed::Modified {
                    from: "what the plan was made against".into(),
                    to: "something else".into(),
                },
            });
        }
    }
    out
}

fn entry(lab: &str, name: &str, then: &Seen, now: &Seen, out: &mut Vec<Difference>) {
    let diff = |object: Option<String>, change| Difference {
        ns: name.to_string(),
        object,
        change,
    };
    match (then, now) {
        (Seen::Absent, Seen::Absent) => {}
        (Seen::Absent, b) => out.push(diff(
            None,
            Changed::Added {
                what: Some(entry_what(lab, b)),
            },
        )),
        (_, Seen::Absent) => out.push(diff(None, Changed::Removed)),
        (Seen::Namespace(a), Seen::Namespace(b)) => namespace(lab, name, a, b, out),
        (a, b) if a != b => out.push(diff(
            None,
            Changed::Modified {
                from: entry_what(lab, a),
                to: entry_what(lab, b),
            },
        )),
        _ => {}
    }
}

/// What an entry is, in a few words: `a namespace nshost did not create`.
fn entry_what(lab: &str, seen: &Seen) -> String {
    match seen {
        Seen::Absent => "no entry".into(),
        Seen::Other(what) => format!("an entry that is {what}"),
        Seen::Namespace(ns) if ns.stray => "an empty mount point left by an interrupted run".into(),
        Seen::Namespace(ns) => match ns.owner.as_deref() {
            Some(owner) if owner == lab => format!("a namespace of lab {lab}"),
            Some(owner) => format!("a namespace of lab {owner}"),
            None => "a namespace nshost did not create".into(),
        },
    }
}

fn namespace(lab: &str, name: &str, a: &Namespace, b: &Namespace, out: &mut Vec<Difference>) {
    let push = |out: &mut Vec<Difference>, object: Option<String>, change| {
        out.push(Difference {
            ns: name.to_string(),
            object,
            change,
        })
    };
    // Whose it is, and whether it is one at all, first: another's is read no further.
    if a.owner != b.owner || a.stray != b.stray {
        let what = |ns: &Namespace| entry_what(lab, &Seen::Namespace(Box::new(ns.clone())));
        push(
            out,
            None,
            Changed::Modified {
                from: what(a),
                to: what(b),
            },
        );
        return;
    }
    if a.role != b.role {
        push(
            out,
            Some("role".into()),
            Changed::Modified {
                from: display::role(a.role).into(),
                to: display::role(b.role).into(),
            },
        );
    }
    keyed(
        &a.links,
        &b.links,
        |name, l| {
            let shown = Link {
                mac: None,
                ..Link::clone(l)
            };
            format!("link {name} ({})", display::link_attrs(&shown, true))
        },
        |name| format!("link {name}"),
        |_, x, y| link_change(x, y),
        &mut |object, change| push(out, Some(object), change),
    );
    // Settings of a link, as sysctls of its device, where the link is there still (one
    // that came or went is a difference of its own).
    let sysctls = |ns: &Namespace| -> SmallMap<String, String> {
        let mut all: SmallMap<String, String> = ns
            .links
            .iter()
            .filter(|(dev, _)| a.links.contains_key(*dev) && b.links.contains_key(*dev))
            .flat_map(|(dev, l)| l.settings.iter().map(move |(s, v)| (s.key(dev), v.clone())))
            .collect();
        all.extend(ns.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    };
    keyed(
        &set(a.addresses.keys()),
        &set(b.addresses.keys()),
        |k, _| format!("address {} on {}", k.addr, k.ifname),
        |k| format!("address {} on {}", k.addr, k.ifname),
        |_, _, _| None,
        &mut |object, change| push(out, Some(object), change),
    );
    keyed(
        &a.routes,
        &b.routes,
        |k, r| {
            format!(
                "route {} {}",
                display::route_key_short(k),
                display::route_attrs(&k.dst, r)
            )
            .trim_end()
            .to_string()
        },
        |k| format!("route {}", display::route_key_short(k)),
        |k, x, y| {
            (x != y).then(|| {
                let attrs = |r| match display::route_attrs(&k.dst, r) {
                    s if s.is_empty() => "no attributes".to_string(),
                    s => s,
                };
                (attrs(x), attrs(y))
            })
        },
        &mut |object, change| push(out, Some(object), change),
    );
    keyed(
        &set(a.rules.iter()),
        &set(b.rules.iter()),
        |r, _| format!("rule {}", display::rule(r)),
        |r| format!("rule {}", display::rule(r)),
        |_, _, _| None,
        &mut |object, change| push(out, Some(object), change),
    );
    keyed(
        &sysctls(a),
        &sysctls(b),
        |k, v| format!("sysctl {k} = {v}"),
        |k| format!("sysctl {k}"),
        |_, x, y| (x != y).then(|| (x.clone(), y.clone())),
        &mut |object, change| push(out, Some(object), change),
    );
}

/// Keys compared as a map with nothing in it.
fn set<K: Ord>(keys: impl Iterator<Item = K>) -> SmallMap<K, ()> {
    keys.map(|k| (k, ())).collect()
}

/// The attributes of a link that differ, both ways: `mtu 1500` -> `mtu 1400`.
fn link_change(a: &Link, b: &Link) -> Option<(String, String)> {
    let mut from = Vec::new();
    let mut to = Vec::new();
    let mut differ = |x: String, y: String| {
        if x != y {
            from.push(x);
            to.push(y);
        }
    };
    let kind = |l: &Link| {
        let mut parts = vec![l.kind.kernel_name().to_string()];
        parts.extend(display::kind_attrs(&l.kind));
        parts.join(", ")
    };
    differ(kind(a), kind(b));
    let opt = |word: &str, v: Option<String>| match v {
        Some(v) => format!("{word} {v}"),
        None => format!("no {word}"),
    };
    differ(
        opt("master", a.master.clone()),
        opt("master", b.master.clone()),
    );
    differ(
        opt("mtu", a.mtu.map(|m| m.to_string())),
        opt("mtu", b.mtu.map(|m| m.to_string())),
    );
    differ(
        opt("mac", a.mac.map(|m| m.to_string())),
        opt("mac", b.mac.map(|m| m.to_string())),
    );
    differ(
        display::updown(a.up).to_string(),
        display::updown(b.up).to_string(),
    );
    differ(
        opt("ifindex", a.ifindex.map(|i| i.to_string())),
        opt("ifindex", b.ifindex.map(|i| i.to_string())),
    );
    (!from.is_empty()).then(|| (from.join(", "), to.join(", ")))
}

/// Compares two maps key by key: what went, what came, what changed (`modified` says
/// how, or `None` when it did not).
fn keyed<K: Ord, V>(
    a: &SmallMap<K, V>,
    b: &SmallMap<K, V>,
    whole: impl Fn(&K, &V) -> String,
    name: impl Fn(&K) -> String,
    modified: impl Fn(&K, &V, &V) -> Option<(String, String)>,
    push: &mut dyn FnMut(String, Changed),
) {
    for (k, v) in a {
        match b.get(k) {
            None => push(whole(k, v), Changed::Removed),
            Some(w) => {
                if let Some((from, to)) = modified(k, v, w) {
                    push(name(k), Changed::Modified { from, to });
                }
            }
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            push(whole(k, v), Changed::Added { what: None });
        }
    }
}
