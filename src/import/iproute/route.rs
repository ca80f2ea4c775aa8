//! `ip route show [table N]`: one route a line, a multipath route's next hops on the
//! indented `nexthop` lines under it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::import::facts::{At, NexthopFact, RouteFact, RouteType, Unread};

/// The routes of one table's `ip route show` output.
pub fn routes(file: &str, table: u32, lines: &[(usize, String)]) -> (Vec<RouteFact>, Vec<Unread>) {
    let mut out: Vec<RouteFact> = Vec::new();
    let mut unread = Vec::new();
    for (n, line) in lines {
        let at = At {
            file: file.to_string(),
            line: *n,
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let result = if words[0] == "nexthop" && line.starts_with(char::is_whitespace) {
            match out.last_mut() {
                Some(route) if route.via.is_none() && route.dev.is_none() => nexthop(&words[1..])
                    .map(|hop| {
                        route.nexthops.push(hop);
                        route.text.push_str("\n    ");
                        route.text.push_str(trimmed);
                    }),
                _ => Err("a `nexthop` line that follows no multipath route".to_string()),
            }
        } else {
            route(&words, table, at.clone(), trimmed).map(|r| out.push(r))
        };
        if let Err(reason) = result {
            unread.push(Unread {
                at,
                text: trimmed.to_string(),
                reason,
            });
        }
    }
    (out, unread)
}

const TYPES: [&str; 10] = [
    "unicast",
    "local",
    "broadcast",
    "multicast",
    "anycast",
    "blackhole",
    "unreachable",
    "prohibit",
    "throw",
    "nat",
];

fn route(words: &[&str], table: u32, at: At, text: &str) -> Result<RouteFact, String> {
    let mut i = 0;
    let kind = match words.first() {
        Some(w) if TYPES.contains(w) => {
            i += 1;
            match *w {
                "unicast" => RouteType::Unicast,
                "blackhole" => RouteType::Blackhole,
                "unreachable" => RouteType::Unreachable,
                "prohibit" => RouteType::Prohibit,
                "throw" => RouteType::Throw,
                other => RouteType::Other(other.to_string()),
            }
        }
        _ => RouteType::Unicast,
    };
    let dst_text = *words.get(i).ok_or("a route without a destination")?;
    i += 1;
    let (dst, default) = if dst_text == "default" {
        (IpNet::V4(Default::default()), true)
    } else {
        let net = super::prefix(dst_text).ok_or_else(|| format!("`{dst_text}` is no prefix"))?;
        (net, false)
    };
    let mut r = RouteFact {
        kind,
        dst,
        default,
        table,
        via: None,
        dev: None,
        proto: None,
        scope: None,
        src: None,
        metric: None,
        onlink: false,
        nexthops: Vec::new(),
        at,
        text: text.to_string(),
    };
    while i < words.len() {
        let key = words[i];
        let value = words.get(i + 1).copied();
        let need = || value.ok_or_else(|| format!("`{key}` without a value"));
        match key {
            "via" => {
                let mut v = need()?;
                // `via inet6 fe80::1`: the family word is optional.
                if matches!(v, "inet" | "inet6") {
                    i += 1;
                    v = words.get(i + 1).ok_or("`via` without an address")?;
                }
                r.via = Some(addr(v)?);
            }
            "dev" => r.dev = Some(need()?.to_string()),
            "proto" => r.proto = Some(need()?.to_string()),
            "scope" => r.scope = Some(need()?.to_string()),
            "src" => r.src = Some(addr(need()?)?),
            "metric" | "preference" | "priority" => {
                let v = need()?;
                r.metric =
                    Some(super::number(v).ok_or_else(|| format!("metric `{v}` is no number"))?);
            }
            "table" => {
                let v = need()?;
                if super::number(v) != Some(r.table) {
                    return Err(format!(
                        "`table {v}` in the output of another table's listing"
                    ));
                }
            }
            "onlink" => {
                r.onlink = true;
                i += 1;
                continue;
            }
            // States the kernel reports, not configuration.
            "linkdown" | "dead" | "offload" | "trap" | "rt_offload" | "rt_trap" => {
                i += 1;
                continue;
            }
            other => {
                return Err(format!(
                    "`{other}`: a route attribute the importer does not read"
                ));
            }
        }
        i += 2;
    }
    if let (IpNet::V4(_), Some(IpAddr::V6(_))) | (IpNet::V6(_), Some(IpAddr::V4(_))) =
        (r.dst, r.via)
    {
        return Err("a gateway of the other family".into());
    }
    Ok(r)
}

fn nexthop(words: &[&str]) -> Result<NexthopFact, String> {
    let mut hop = NexthopFact {
        via: None,
        dev: None,
        weight: 1,
    };
    let mut i = 0;
    while i < words.len() {
        let key = words[i];
        let value = words
            .get(i + 1)
            .copied()
            .ok_or_else(|| format!("`{key}` without a value"))?;
        match key {
            "via" => hop.via = Some(addr(value)?),
            "dev" => hop.dev = Some(value.to_string()),
            "weight" => hop.weight = value.parse().map_err(|_| format!("weight `{value}`"))?,
            "onlink" | "linkdown" | "dead" => {
                i += 1;
                continue;
            }
            other => {
                return Err(format!(
                    "`{other}`: a next-hop attribute the importer does not read"
                ));
            }
        }
        i += 2;
    }
    Ok(hop)
}

fn addr(text: &str) -> Result<IpAddr, String> {
    text.parse().map_err(|_| format!("`{text}` is no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<RouteFact>, Vec<Unread>) {
        let lines: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect();
        routes("r_facts.txt", 100, &lines)
    }

    #[test]
    fn routes_of_every_shape() {
        let (r, bad) = read(
            "default via 203.0.113.1 dev eth0 metric 100\n\
             10.1.1.0/24 dev eth1 proto kernel scope link src 10.1.1.1\n\
             blackhole 10.9.0.0/16 proto static\n\
             10.5.5.5 via 10.1.1.2 dev eth1 onlink\n\
             default proto static metric 10\n\
             \tnexthop via 10.1.1.2 dev eth1 weight 2\n\
             \tnexthop via 10.1.1.3 dev eth1 weight 1\n\
             10.7.0.0/16 via 10.1.1.2 dev eth1 realm 4\n",
        );
        assert_eq!(r.len(), 5);
        assert!(r[0].default && r[0].metric == Some(100));
        assert_eq!(r[0].via.unwrap().to_string(), "203.0.113.1");
        assert_eq!(r[1].proto.as_deref(), Some("kernel"));
        assert_eq!(r[1].scope.as_deref(), Some("link"));
        assert_eq!(r[1].src.unwrap().to_string(), "10.1.1.1");
        assert_eq!(r[2].kind, RouteType::Blackhole);
        assert_eq!(r[3].dst.to_string(), "10.5.5.5/32");
        assert!(r[3].onlink);
        assert_eq!(r[4].nexthops.len(), 2);
        assert_eq!(r[4].nexthops[0].weight, 2);
        assert_eq!(r[4].table, 100);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].at.line, 8);
        assert!(bad[0].reason.contains("realm"), "{}", bad[0].reason);
    }
}
