//! One-line text forms of kernel objects (`ip`-like), shared by conflicts, the plan
//! printer and the canonical state rendering.

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::state::{
    AddressKey, Link, LinkKind, Namespace, Nexthop, NsRole, RT_SCOPE_LINK, RT_TABLE_MAIN,
    RTPROT_BOOT, Route, RouteKey, Rule, RuleAction, scope_name,
};

/// `main`, `local`, `default` or the number.
pub fn table(t: u32) -> String {
    match t {
        RT_TABLE_MAIN => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

/// A route destination: `default` for a zero-length prefix.
pub fn dst(net: &IpNet) -> String {
    if net.prefix_len() == 0 {
        "default".into()
    } else {
        net.to_string()
    }
}

/// A route key with every part spelled out: `10.2.0.0/16 table 100 metric 0`.
pub fn route_key_full(key: &RouteKey) -> String {
    format!(
        "{} table {} metric {}",
        dst(&key.dst),
        table(key.table),
        key.metric
    )
}

/// A route key with the defaults (table main, metric 0) left out.
pub fn route_key_short(key: &RouteKey) -> String {
    let mut s = dst(&key.dst);
    if key.table != RT_TABLE_MAIN {
        let _ = write!(s, " table {}", table(key.table));
    }
    if key.metric != 0 {
        let _ = write!(s, " metric {}", key.metric);
    }
    s
}

/// A route protocol by the name iproute2 gives it, else its number.
pub fn proto(p: u8) -> String {
    crate::state::protocol_name(p)
}

/// A route's attributes: `via 10.1.1.1 dev eth0 proto static` (any part may be
/// absent; `proto boot`, the default, is left out as `ip route` does).
pub fn route_attrs(dst: &IpNet, route: &Route) -> String {
    let mut parts = Vec::new();
    if !route.kind.is_unicast() {
        parts.push(route.kind.name());
    }
    if let Some(gw) = route.gateway {
        parts.push(format!("via {gw}"));
    }
    if let Some(dev) = &route.dev {
        parts.push(format!("dev {dev}"));
    }
    if route.proto != RTPROT_BOOT {
        parts.push(format!("proto {}", proto(route.proto)));
    }
    if let Some(scope) = shown_scope(dst, route) {
        parts.push(format!("scope {}", scope_name(scope)));
    }
    if let Some(src) = route.src {
        parts.push(format!("src {src}"));
    }
    if route.onlink {
        parts.push("onlink".into());
    }
    for hop in &route.nexthops {
        parts.push(nexthop(hop));
    }
    parts.join(" ")
}

/// A route's scope when it is not the one `ip route` gives such a route by default
/// (never for IPv6, whose routes the kernel keeps without one).
pub fn shown_scope(dst: &IpNet, route: &Route) -> Option<u8> {
    if dst.addr().is_ipv6() {
        return None;
    }
    let default = if route.kind.is_unicast() && route.gateway.is_none() && route.nexthops.is_empty()
    {
        RT_SCOPE_LINK
    } else {
        0
    };
    (route.scope != default).then_some(route.scope)
}

/// `nexthop via 10.1.1.1 dev eth0 weight 2`, as `ip route` writes one.
pub fn nexthop(hop: &Nexthop) -> String {
    let mut s = "nexthop".to_string();
    if let Some(gw) = hop.gateway {
        let _ = write!(s, " via {gw}");
    }
    if let Some(dev) = &hop.dev {
        let _ = write!(s, " dev {dev}");
    }
    let _ = write!(s, " weight {}", hop.weight);
    s
}

/// `eth0 10.1.1.1/24`.
pub fn address(key: &AddressKey) -> String {
    format!("{} {}", key.ifname, key.addr)
}

/// A rule the way `ip rule` shows it: `100: from 10.1.0.0/16 lookup 100`. An IPv6 rule
/// that names no prefix gets an `(ipv6)` suffix, as nothing else tells the family.
pub fn rule(rule: &Rule) -> String {
    rule_named(rule, &table)
}

/// [`rule`], with the table it looks up named by `table_name`.
pub fn rule_named(rule: &Rule, table_name: &dyn Fn(u32) -> String) -> String {
    let mut s = format!("{}: ", rule.priority);
    if rule.not {
        s.push_str("not ");
    }
    s.push_str("from ");
    match &rule.from {
        Some(f) => s.push_str(&f.to_string()),
        None => s.push_str("all"),
    }
    if let Some(to) = &rule.to {
        let _ = write!(s, " to {to}");
    }
    if let Some(iif) = &rule.iif {
        let _ = write!(s, " iif {iif}");
    }
    if let Some(oif) = &rule.oif {
        let _ = write!(s, " oif {oif}");
    }
    if let Some(m) = rule.fwmark {
        let _ = write!(s, " fwmark {:#x}", m.mark);
        if m.mask != u32::MAX {
            let _ = write!(s, "/{:#x}", m.mask);
        }
    }
    if let Some(tos) = rule.tos {
        let _ = write!(s, " tos {tos:#04x}");
    }
    if let Some(p) = rule.ipproto {
        let _ = write!(s, " ipproto {p}");
    }
    for (word, range) in [("sport", rule.sport), ("dport", rule.dport)] {
        if let Some(r) = range {
            if r.start == r.end {
                let _ = write!(s, " {word} {}", r.start);
            } else {
                let _ = write!(s, " {word} {}-{}", r.start, r.end);
            }
        }
    }
    if let Some(u) = rule.uidrange {
        let _ = write!(s, " uidrange {}-{}", u.start, u.end);
    }
    match rule.action {
        RuleAction::Lookup => {
            let _ = write!(s, " lookup {}", table_name(rule.table));
        }
        RuleAction::Goto => {
            let _ = write!(s, " goto {}", rule.goto.unwrap_or(0));
        }
        other => {
            let _ = write!(s, " {}", other.name());
        }
    }
    if let Some(n) = rule.suppress_prefixlength {
        let _ = write!(s, " suppress_prefixlength {n}");
    }
    if rule.v6 && rule.from.is_none() && rule.to.is_none() {
        s.push_str(" (ipv6)");
    }
    s
}

/// The attributes of a link's kind: `peer lab-fabric/x`, `id 42, remote 10.0.0.2,
/// port 4789, dev eth0`, `parent eth0, mode bridge`.
#[warn(clippy::wildcard_enum_match_arm)]
pub fn kind_attrs(kind: &LinkKind) -> Vec<String> {
    let mut parts = Vec::new();
    match kind {
        LinkKind::Veth { peer } => match peer {
            Some(p) => parts.push(format!("peer {p}")),
            None => parts.push("peer unknown".into()),
        },
        LinkKind::Vxlan(v) => {
            parts.push(format!("id {}", v.id));
            for (word, addr) in [("local", v.local), ("remote", v.remote), ("group", v.group)] {
                if let Some(a) = addr {
                    parts.push(format!("{word} {a}"));
                }
            }
            parts.push(format!("port {}", v.port));
            if let Some(dev) = &v.dev {
                parts.push(format!("dev {dev}"));
            }
            if v.underlay {
                parts.push("socket in the underlay".into());
            }
            if !v.flood.is_empty() {
                let peers: Vec<String> = v.flood.iter().map(ToString::to_string).collect();
                parts.push(format!("flood {}", peers.join(" ")));
            }
        }
        LinkKind::Macvlan(m) => {
            parts.push(format!("parent {}", m.parent));
            parts.push(format!("mode {}", m.mode.name()));
        }
        LinkKind::Loopback
        | LinkKind::Bridge
        | LinkKind::Dummy
        | LinkKind::Ifb
        | LinkKind::Unmanaged { .. } => {}
    }
    parts
}

/// A link's attributes: `veth, peer lab-fabric/x, master br-lan, mtu 1500, up`.
/// `show_mtu` leaves the MTU out where it is not compared.
pub fn link_attrs(link: &Link, show_mtu: bool) -> String {
    let mut parts = vec![link.kind.kernel_name().to_string()];
    parts.extend(kind_attrs(&link.kind));
    if let Some(m) = &link.master {
        parts.push(format!("master {m}"));
    }
    if show_mtu && let Some(mtu) = link.mtu {
        parts.push(format!("mtu {mtu}"));
    }
    if let Some(mac) = link.mac {
        parts.push(format!("mac {mac}"));
    }
    parts.push(updown(link.up).into());
    parts.join(", ")
}

/// One line per object of a live namespace (the loopback and settings left out): what
/// goes with it when it is deleted.
pub fn contents(ns: &Namespace) -> Vec<String> {
    let mut out = Vec::new();
    for (name, link) in &ns.links {
        if link.kind != LinkKind::Loopback {
            out.push(format!("link {name} ({})", live_link_attrs(link)));
        }
    }
    for key in ns.addresses.keys() {
        out.push(format!("address {}", address(key)));
    }
    for (key, route) in &ns.routes {
        out.push(
            format!(
                "route {} {}",
                route_key_short(key),
                route_attrs(&key.dst, route)
            )
            .trim_end()
            .to_string(),
        );
    }
    for r in &ns.rules {
        out.push(format!("rule {}", rule(r)));
    }
    out
}

/// A live link's attributes, without what the kernel chose for it (its MAC address):
/// for links going away.
pub fn live_link_attrs(link: &Link) -> String {
    let shown = Link {
        mac: None,
        ..link.clone()
    };
    link_attrs(&shown, false)
}

pub fn updown(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

/// `router`, `host`, `fabric` or `namespace` (unknown role).
pub fn role(role: NsRole) -> &'static str {
    match role {
        NsRole::Router => "router",
        NsRole::Host => "host",
        NsRole::Fabric => "fabric",
        NsRole::Unknown => "namespace",
    }
}

/// Who owns a live object, for conflicts.
pub fn owner(owner: Option<&str>) -> String {
    match owner {
        Some(lab) => format!("another lab ({lab})"),
        None => "nobody (not created by nshost)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PortRange;

    #[test]
    fn rules_read_like_ip_rule() {
        let r = Rule {
            v6: true,
            priority: 10,
            iif: Some("eth0".into()),
            fwmark: crate::state::Fwmark::new(0x10, None),
            tos: Some(4),
            ipproto: Some(6),
            dport: Some(PortRange { start: 80, end: 80 }),
            sport: Some(PortRange {
                start: 1024,
                end: 2047,
            }),
            table: RT_TABLE_MAIN,
            ..Rule::default()
        };
        assert_eq!(
            rule(&r),
            "10: from all iif eth0 fwmark 0x10 tos 0x04 ipproto 6 sport 1024-2047 dport 80 lookup main (ipv6)"
        );
    }

    #[test]
    fn route_keys() {
        let key = RouteKey::new(RT_TABLE_MAIN, "::/0".parse().unwrap(), 0);
        assert_eq!(route_key_short(&key), "default");
        assert_eq!(route_key_full(&key), "default table main metric 0");
        let key = RouteKey::new(7, "10.0.0.0/8".parse().unwrap(), 20);
        assert_eq!(route_key_short(&key), "10.0.0.0/8 table 7 metric 20");
    }
}
