//! The watcher's live state in memory: parts of it copied out for a diff or an apply,
//! and parts read again put back in.

use std::collections::BTreeSet;

use crate::state::{LinkKind, Namespace, NetState};

/// The namespaces `names` of `state` (those it has), copied.
pub fn subset(state: &NetState, names: &BTreeSet<String>) -> NetState {
    NetState {
        namespaces: names
            .iter()
            .filter_map(|n| state.namespaces.get(n).map(|ns| (n.clone(), ns.clone())))
            .collect(),
    }
}

/// [`subset`], with only the links `ports` of namespace `ns` (the fabric, read again
/// link by link).
pub fn subset_with_links(
    state: &NetState,
    names: &BTreeSet<String>,
    ns: &str,
    ports: &BTreeSet<String>,
) -> NetState {
    let mut out = NetState::default();
    for name in names {
        let Some(have) = state.namespaces.get(name) else {
            continue;
        };
        let copy = if name == ns {
            Namespace {
                owner: have.owner.clone(),
                role: have.role,
                stray: have.stray,
                links: ports
                    .iter()
                    .filter_map(|p| have.links.get(p).map(|l| (p.clone(), l.clone())))
                    .collect(),
                addresses: have.addresses.clone(),
                routes: have.routes.clone(),
                rules: have.rules.clone(),
                sysctls: have.sysctls.clone(),
                firewall: have.firewall.clone(),
                protocols: have.protocols,
            }
        } else {
            have.clone()
        };
        out.namespaces.insert(name.clone(), copy);
    }
    out
}

/// Before [`replace`] puts `read` in: the links of namespace `ns` that were not read
/// again (not among `ports`) move from `live` into `read`, so that only the ports read
/// are replaced.
pub fn carry_links(live: &mut NetState, read: &mut NetState, ns: &str, ports: &BTreeSet<String>) {
    let (Some(old), Some(new)) = (live.namespaces.get_mut(ns), read.namespaces.get_mut(ns)) else {
        return;
    };
    for (name, link) in std::mem::take(&mut old.links) {
        if ports.contains(&name) {
            old.links.insert(name, link);
        } else {
            if !new.links.contains_key(&name) {
                new.links.insert(name, link);
            }
        }
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
                        // Only a peer in a namespace not read this time, and still
                        // there: one read now would have been resolved, and one gone
                        // (or left an empty mount point) took the peer with it.
                        let peer_stays = |k: &crate::state::Link| match &k.kind {
                            LinkKind::Veth { peer: Some(p) } => {
                                !names.contains(&p.ns)
                                    && live.namespaces.get(&p.ns).is_some_and(|n| !n.stray)
                            }
                            _ => false,
                        };
                        if let Some(known) = old
                            .links
                            .get(ifname)
                            .filter(|k| k.ifindex == link.ifindex && peer_stays(k))
                        {
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
        && let (Some(old), Some(new)) = (live.namespaces.get_mut(f), verified.namespaces.get_mut(f))
    {
        // Moved, not copied: at 10,000 hosts they are nearly all of the fabric.
        for (name, link) in std::mem::take(&mut old.links) {
            let untouched =
                matches!(&link.kind, LinkKind::Veth { peer: Some(p) } if !reach.contains(&p.ns));
            if untouched && !new.links.contains_key(&name) {
                new.links.insert(name, link);
            } else {
                old.links.insert(name, link);
            }
        }
    }
    replace(live, verified, reach);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Link, LinkRef};

    fn veth(peer: Option<LinkRef>) -> Box<Link> {
        let mut l = Link::new(LinkKind::Veth { peer });
        l.ifindex = Some(5);
        Box::new(l)
    }

    /// The fabric end of a node's veth, read again while the node was not: its peer is
    /// kept from memory only while the node is still there.
    fn reread_fabric(node: Namespace, node_read: bool) -> LinkKind {
        let mut fabric = Namespace::default();
        fabric
            .links
            .insert("p1".into(), veth(Some(LinkRef::new("h1", "eth0"))));
        let mut live = NetState::default();
        live.namespaces.insert("f".into(), fabric);
        live.namespaces.insert("h1".into(), node.clone());
        let mut read = NetState::default();
        let mut fabric = Namespace::default();
        fabric.links.insert("p1".into(), veth(None));
        read.namespaces.insert("f".into(), fabric);
        let mut names: BTreeSet<String> = ["f".to_string()].into();
        if node_read {
            read.namespaces.insert("h1".into(), node);
            names.insert("h1".into());
        }
        replace(&mut live, read, &names);
        live.namespaces["f"].links["p1"].kind.clone()
    }

    #[test]
    fn a_veth_keeps_its_known_peer_only_while_the_peer_namespace_stays() {
        let known = LinkKind::Veth {
            peer: Some(LinkRef::new("h1", "eth0")),
        };
        assert_eq!(reread_fabric(Namespace::default(), false), known);
        let stray = Namespace {
            stray: true,
            ..Namespace::default()
        };
        // Left an empty mount point, read this time: the peer went with it.
        assert_eq!(reread_fabric(stray, true), LinkKind::Veth { peer: None });
    }
}
