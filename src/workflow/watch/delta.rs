//! What an edit of the file changed in the desired state: the namespaces whose desired
//! state differs, and of the fabric only the links that differ or whose peers do. An
//! edit is diffed against the live state over those alone, not over every namespace of
//! the lab.

use std::collections::BTreeSet;

use crate::state::{LinkKind, Namespace, NetState};

/// The part of the lab an edit from `old` to `new` reaches.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// The namespaces added, removed or changed (the fabric among them when it is).
    pub namespaces: BTreeSet<String>,
    /// The fabric and, when only its links changed, the links of it to compare: those
    /// that differ, those whose peers are among `namespaces`, its bridges and loopback.
    pub fabric: Option<(String, Option<BTreeSet<String>>)>,
}

/// What differs between `old` and `new`; `None` when it is a good part of the lab
/// anyway (the whole lab is diffed then).
pub fn between(old: &NetState, new: &NetState) -> Option<Delta> {
    let fabric = new.fabric().or(old.fabric()).map(str::to_string);
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    for (name, ns) in &new.namespaces {
        if Some(name) != fabric.as_ref() && old.namespaces.get(name) != Some(ns) {
            namespaces.insert(name.clone());
        }
    }
    namespaces.extend(
        old.namespaces
            .keys()
            .filter(|n| !new.namespaces.contains_key(*n) && Some(*n) != fabric.as_ref())
            .cloned(),
    );
    if namespaces.len() * 4 > new.namespaces.len().max(old.namespaces.len()) {
        return None;
    }
    let fabric = fabric.map(|f| {
        let ports = match (old.namespaces.get(&f), new.namespaces.get(&f)) {
            (Some(o), Some(n)) => fabric_ports(o, n, &namespaces),
            _ => None,
        };
        (f, ports)
    });
    Some(Delta { namespaces, fabric })
}

impl Delta {
    /// The part of `state` the delta reaches: its namespaces, and the fabric (only
    /// its links to compare, when the delta names them).
    pub fn part_of(&self, state: &NetState) -> NetState {
        let mut names = self.namespaces.clone();
        names.extend(self.fabric.as_ref().map(|(f, _)| f.clone()));
        match &self.fabric {
            Some((f, Some(ports))) => super::memory::subset_with_links(state, &names, f, ports),
            _ => super::memory::subset(state, &names),
        }
    }
}

/// The fabric links to compare when only links of the fabric changed; `None` (all of
/// it) when more did, or when they are a good part of it.
fn fabric_ports(
    old: &Namespace,
    new: &Namespace,
    nodes: &BTreeSet<String>,
) -> Option<BTreeSet<String>> {
    let same_rest = old.owner == new.owner
        && old.role == new.role
        && old.addresses == new.addresses
        && old.routes == new.routes
        && old.rules == new.rules
        && old.sysctls == new.sysctls
        && old.firewall == new.firewall
        && old.protocols == new.protocols;
    if !same_rest {
        return None;
    }
    let mut ports = BTreeSet::new();
    for (name, link) in new.links.iter() {
        let reached = match &link.kind {
            LinkKind::Veth { peer: Some(p) } => nodes.contains(&p.ns),
            LinkKind::Veth { peer: None } => false,
            _ => true,
        };
        if reached || old.links.get(name) != Some(link) {
            ports.insert(name.clone());
        }
    }
    ports.extend(
        old.links
            .iter()
            .filter(|(name, _)| !new.links.contains_key(*name))
            .map(|(name, _)| name.clone()),
    );
    (ports.len() * 4 < new.links.len().max(1)).then_some(ports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Link, LinkRef, NsRole};

    fn lab(hosts: &[&str]) -> NetState {
        let mut s = NetState::default();
        let mut fabric = Namespace::owned("t", NsRole::Fabric);
        fabric
            .links
            .insert("br0".into(), Box::new(Link::new(LinkKind::Bridge)));
        for h in hosts {
            let mut port = Link::new(LinkKind::Veth {
                peer: Some(LinkRef::new(h, "eth0")),
            });
            port.master = Some("br0".into());
            fabric.links.insert(format!("p-{h}"), Box::new(port));
            let mut ns = Namespace::owned("t", NsRole::Host);
            ns.links.insert(
                "eth0".into(),
                Box::new(Link::new(LinkKind::Veth {
                    peer: Some(LinkRef::new("t-fabric", &format!("p-{h}"))),
                })),
            );
            s.namespaces.insert((*h).to_string(), ns);
        }
        s.namespaces.insert("t-fabric".into(), fabric);
        s
    }

    #[test]
    fn a_host_added_reaches_it_its_port_and_the_bridges_only() {
        let names: Vec<String> = (1..=20).map(|i| format!("h{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let old = lab(&refs);
        let mut more = refs.clone();
        more.push("h21");
        let new = lab(&more);
        let d = between(&old, &new).expect("a small delta");
        assert_eq!(d.namespaces, BTreeSet::from(["h21".to_string()]));
        assert_eq!(
            d.fabric,
            Some((
                "t-fabric".to_string(),
                Some(BTreeSet::from(["br0", "lo", "p-h21"].map(String::from)))
            ))
        );
    }

    #[test]
    fn a_host_removed_is_reached_and_so_is_its_port() {
        let names: Vec<String> = (1..=20).map(|i| format!("h{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let old = lab(&refs);
        let new = lab(&refs[1..]);
        let d = between(&old, &new).expect("a small delta");
        assert_eq!(d.namespaces, BTreeSet::from(["h1".to_string()]));
        assert_eq!(
            d.fabric.and_then(|(_, p)| p),
            Some(BTreeSet::from(["br0", "lo", "p-h1"].map(String::from)))
        );
    }

    #[test]
    fn an_edit_of_most_of_the_lab_is_diffed_whole() {
        let old = lab(&["h1", "h2"]);
        let new = lab(&["h3", "h4"]);
        assert_eq!(between(&old, &new), None);
    }
}
