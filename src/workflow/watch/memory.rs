//! The watcher's live state in memory: parts of it copied out for a diff or an apply,
//! and parts read again put back in.

use std::collections::BTreeSet;

use crate::state::{LinkKind, NetState};

/// The namespaces `names` of `state` (those it has), copied.
pub fn subset(state: &NetState, names: &BTreeSet<String>) -> NetState {
    NetState {
        namespaces: names
            .iter()
            .filter_map(|n| state.namespaces.get(n).map(|ns| (n.clone(), ns.clone())))
            .collect(),
    }
}

/// Puts the namespaces `names`, read again into `read`, in place of those of `live`
/// (a namespace `read` lacks is gone). A veth end whose peer could not be resolved
/// because its peer's namespace was not read keeps the peer `live` knew, when it is
/// the same link (same ifindex): a veth's peer does not change in its life.
pub fn replace(live: &mut NetState, mut read: NetState, names: &BTreeSet<String>) {
    for name in names {
        match read.namespaces.remove(name) {
            Some(mut ns) => {
                if let Some(old) = live.namespaces.get(name) {
                    for (ifname, link) in ns.links.iter_mut() {
                        if !matches!(link.kind, LinkKind::Veth { peer: None }) {
                            continue;
                        }
                        if let Some(known) = old.links.get(ifname).filter(|k| {
                            k.ifindex == link.ifindex && matches!(k.kind, LinkKind::Veth { .. })
                        }) {
                            link.kind = known.kind.clone();
                        }
                    }
                }
                live.namespaces.insert(name.clone(), ns);
            }
            None => {
                live.namespaces.remove(name);
            }
        }
    }
}

/// Puts what an apply's verification read (`verified`: the namespaces the apply
/// reached, `reach`) into `live`. The verification leaves out of the fabric the ports
/// whose peers it did not read; those are kept as `live` had them.
pub fn merge(
    live: &mut NetState,
    mut verified: NetState,
    reach: &BTreeSet<String>,
    fabric: Option<&str>,
) {
    if let Some(f) = fabric
        && let (Some(old), Some(new)) = (live.namespaces.get(f), verified.namespaces.get_mut(f))
    {
        for (name, link) in old.links.iter() {
            let untouched =
                matches!(&link.kind, LinkKind::Veth { peer: Some(p) } if !reach.contains(&p.ns));
            if untouched && !new.links.contains_key(name) {
                new.links.insert(name.clone(), link.clone());
            }
        }
    }
    replace(live, verified, reach);
}
