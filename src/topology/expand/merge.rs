//! Defaults and groups: filling what a node leaves out from the settings it inherits.
//! A value the node writes wins; a map (interfaces, sysctls) is merged key by key, an
//! interface in both field by field; a list (routes, rules, addresses) is taken whole
//! when the node has none. Filled values keep the place they are written at, so a
//! problem in one points at the default or group that gave it.

use indexmap::IndexMap;

use super::super::{Host, Interface, Router, Spanned};

/// Fills the unset parts of `self` from `from`.
pub(super) trait Fill {
    fn fill(&mut self, from: &Self);
}

impl<T: Clone> Fill for Option<T> {
    fn fill(&mut self, from: &Self) {
        if self.is_none() {
            self.clone_from(from);
        }
    }
}

impl<T: Clone> Fill for Vec<T> {
    fn fill(&mut self, from: &Self) {
        if self.is_empty() {
            self.clone_from(from);
        }
    }
}

/// A map merged by key (the node's entries first, in their order): an entry in both is
/// filled from the inherited one when its values can be (`Mergeable`), else the node's.
fn fill_map<V: Clone>(
    mine: &mut IndexMap<Spanned<String>, V>,
    from: &IndexMap<Spanned<String>, V>,
    merge: impl Fn(&mut V, &V),
) {
    for (key, value) in from {
        match mine.iter_mut().find(|(k, _)| k.value == key.value) {
            Some((_, own)) => merge(own, value),
            None => {
                mine.insert(key.clone(), value.clone());
            }
        }
    }
}

impl Fill for Interface {
    fn fill(&mut self, from: &Self) {
        // Every field named, so that a new one is not forgotten here.
        let Interface {
            kind,
            network,
            addresses,
            mtu,
            up,
            mac,
            vxlan,
            macvlan,
            impair,
        } = self;
        kind.fill(&from.kind);
        network.fill(&from.network);
        addresses.fill(&from.addresses);
        mtu.fill(&from.mtu);
        up.fill(&from.up);
        mac.fill(&from.mac);
        vxlan.fill(&from.vxlan);
        macvlan.fill(&from.macvlan);
        impair.fill(&from.impair);
    }
}

impl Fill for Router {
    fn fill(&mut self, from: &Self) {
        let Router {
            interfaces,
            loopback,
            routes,
            rules,
            sysctls,
            services,
            firewall,
            site,
            group,
        } = self;
        fill_map(interfaces, &from.interfaces, Interface::fill);
        loopback.fill(&from.loopback);
        routes.fill(&from.routes);
        rules.fill(&from.rules);
        fill_map(sysctls, &from.sysctls, |_, _| {});
        services.fill(&from.services);
        firewall.fill(&from.firewall);
        site.fill(&from.site);
        group.fill(&from.group);
    }
}

impl Fill for Host {
    fn fill(&mut self, from: &Self) {
        let Host {
            address,
            secondary,
            interface,
            network,
            gateway,
            mtu,
            mac,
            impair,
            sysctls,
            services,
            firewall,
            site,
            interfaces,
            group,
        } = self;
        address.fill(&from.address);
        secondary.fill(&from.secondary);
        interface.fill(&from.interface);
        network.fill(&from.network);
        gateway.fill(&from.gateway);
        mtu.fill(&from.mtu);
        mac.fill(&from.mac);
        impair.fill(&from.impair);
        fill_map(sysctls, &from.sysctls, |_, _| {});
        services.fill(&from.services);
        firewall.fill(&from.firewall);
        site.fill(&from.site);
        fill_map(interfaces, &from.interfaces, Interface::fill);
        group.fill(&from.group);
    }
}

/// Replaces every `{i}` in the node's text values (and interface names) by `index`.
pub(super) trait Substitute {
    fn substitute(&mut self, index: &str);
}

fn sub(s: &mut Spanned<String>, index: &str) {
    if s.value.contains("{i}") {
        s.value = s.value.replace("{i}", index);
    }
}

fn sub_opt(s: &mut Option<Spanned<String>>, index: &str) {
    if let Some(s) = s {
        sub(s, index);
    }
}

fn sub_keys<V>(map: &mut IndexMap<Spanned<String>, V>, index: &str) {
    if map.keys().any(|k| k.value.contains("{i}")) {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(mut k, v)| {
                sub(&mut k, index);
                (k, v)
            })
            .collect();
    }
}

impl Substitute for Interface {
    fn substitute(&mut self, index: &str) {
        sub_opt(&mut self.network, index);
        sub_opt(&mut self.mac, index);
        self.addresses.iter_mut().for_each(|a| sub(a, index));
        if let Some(v) = &mut self.vxlan {
            let v = &mut v.value;
            sub_opt(&mut v.local, index);
            sub_opt(&mut v.remote, index);
            sub_opt(&mut v.group, index);
            sub_opt(&mut v.dev, index);
        }
        if let Some(m) = &mut self.macvlan {
            sub(&mut m.value.parent, index);
        }
    }
}

fn sub_interfaces(map: &mut IndexMap<Spanned<String>, Interface>, index: &str) {
    sub_keys(map, index);
    map.values_mut().for_each(|i| i.substitute(index));
}

impl Substitute for Router {
    fn substitute(&mut self, index: &str) {
        sub_interfaces(&mut self.interfaces, index);
        self.loopback.iter_mut().for_each(|a| sub(a, index));
        for r in &mut self.routes {
            sub(&mut r.to, index);
            sub_opt(&mut r.via, index);
            sub_opt(&mut r.dev, index);
            sub_opt(&mut r.src, index);
            for hop in &mut r.nexthops {
                sub_opt(&mut hop.value.via, index);
                sub_opt(&mut hop.value.dev, index);
            }
        }
        for r in &mut self.rules {
            sub_opt(&mut r.from, index);
            sub_opt(&mut r.to, index);
            sub_opt(&mut r.iif, index);
            sub_opt(&mut r.oif, index);
        }
        for service in &mut self.services {
            sub_opt(&mut service.address, index);
        }
        sub_opt(&mut self.site, index);
    }
}

impl Substitute for Host {
    fn substitute(&mut self, index: &str) {
        sub_opt(&mut self.address, index);
        self.secondary.iter_mut().for_each(|a| sub(a, index));
        sub_opt(&mut self.interface, index);
        sub_opt(&mut self.network, index);
        sub_opt(&mut self.gateway, index);
        sub_opt(&mut self.mac, index);
        sub_interfaces(&mut self.interfaces, index);
        for service in &mut self.services {
            sub_opt(&mut service.address, index);
        }
        sub_opt(&mut self.site, index);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{SourceFile, parse_written};
    use super::*;

    fn host(yaml: &str) -> Host {
        let src = SourceFile::from_text("lab.yaml", &format!("name: t\nhosts:\n  h: {yaml}\n"));
        let topo = parse_written(&src).unwrap_or_else(|e| panic!("{e:?}"));
        topo.hosts.into_values().next().unwrap()
    }

    #[test]
    fn a_node_keeps_its_values_and_merges_maps_by_key() {
        let mut h = host("{mtu: 1400, secondary: [10.0.0.2/24], sysctls: {net.a: 1}}");
        let from = host(
            "{mtu: 9000, interface: ens3, secondary: [10.0.0.3/24, 10.0.0.4/24], sysctls: {net.a: 2, net.b: 3}}",
        );
        h.fill(&from);
        assert_eq!(h.mtu.as_ref().map(|m| m.value), Some(1400));
        assert_eq!(h.interface.as_ref().map(|i| i.value.as_str()), Some("ens3"));
        let secondary: Vec<&str> = h.secondary.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(
            secondary,
            ["10.0.0.2/24"],
            "a list is taken whole or not at all"
        );
        let sysctls: Vec<(&str, String)> = h
            .sysctls
            .iter()
            .map(|(k, v)| (k.value.as_str(), v.value.to_kernel()))
            .collect();
        assert_eq!(
            sysctls,
            [("net.a", "1".to_string()), ("net.b", "3".to_string())]
        );
    }

    #[test]
    fn the_index_replaces_every_placeholder() {
        let mut h = host(
            "{address: \"10.{i}.0.{i}/24\", network: \"lan{i}\", interfaces: {\"e{i}\": {network: \"n{i}\"}}}",
        );
        h.substitute("7");
        assert_eq!(h.address.unwrap().value, "10.7.0.7/24");
        assert_eq!(h.network.unwrap().value, "lan7");
        let (k, i) = h.interfaces.into_iter().next().unwrap();
        assert_eq!(
            (k.value.as_str(), i.network.unwrap().value.as_str()),
            ("e7", "n7")
        );
    }
}
