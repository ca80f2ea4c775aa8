//! `ip addr show`: links, their flags, MTU, hardware address and addresses.

use std::net::IpAddr;

use crate::import::facts::{AddressFact, At, InterfaceFact, Unread};

/// The links of an `ip addr show` output (lines with their 1-based numbers).
pub fn interfaces(file: &str, lines: &[(usize, String)]) -> (Vec<InterfaceFact>, Vec<Unread>) {
    let mut out: Vec<InterfaceFact> = Vec::new();
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
        let mut bad = |reason: &str| {
            unread.push(Unread {
                at: at.clone(),
                text: trimmed.to_string(),
                reason: reason.to_string(),
            })
        };
        if !line.starts_with(char::is_whitespace) {
            match link_line(trimmed, at.clone()) {
                Some(link) => out.push(link),
                None => bad("not a link line of `ip addr show`"),
            }
            continue;
        }
        let Some(link) = out.last_mut() else {
            bad("an address line before any link");
            continue;
        };
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        match words[0] {
            "link/ether" => link.mac = words.get(1).map(|s| s.to_string()),
            "link/loopback" => link.loopback = true,
            "link/none" => link.point_to_point = true,
            "inet" | "inet6" => match address(&words, at.clone()) {
                Some(a) => link.addresses.push(a),
                None => bad("an address `ip addr show` does not print this way"),
            },
            "valid_lft" | "altname" => {}
            w if w.starts_with("link/") => link.point_to_point = true,
            _ => bad("a link attribute the importer does not know"),
        }
    }
    (out, unread)
}

/// `2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc ... state UP ...`.
fn link_line(line: &str, at: At) -> Option<InterfaceFact> {
    let mut parts = line.splitn(3, ": ");
    parts.next()?.trim().parse::<u32>().ok()?;
    let name = parts.next()?.trim();
    // `veth0@if3`: the name is before the `@`.
    let name = name.split('@').next()?.to_string();
    let rest = parts.next()?;
    let flags = rest.strip_prefix('<')?.split('>').next()?;
    let flags: Vec<&str> = flags.split(',').collect();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let mtu = words
        .iter()
        .position(|w| *w == "mtu")
        .and_then(|i| words.get(i + 1))
        .and_then(|m| m.parse().ok());
    Some(InterfaceFact {
        name,
        mtu,
        up: flags.contains(&"UP"),
        mac: None,
        loopback: flags.contains(&"LOOPBACK"),
        point_to_point: flags.contains(&"POINTOPOINT"),
        addresses: Vec::new(),
        at,
    })
}

/// `inet 10.1.1.1/24 brd 10.1.1.255 scope global eth1`.
fn address(words: &[&str], at: At) -> Option<AddressFact> {
    let net = super::prefix(words.get(1)?)?;
    let broadcast = words
        .iter()
        .position(|w| *w == "brd")
        .and_then(|i| words.get(i + 1))
        .and_then(|b| b.parse::<IpAddr>().ok());
    Some(AddressFact { net, broadcast, at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, String)> {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect()
    }

    #[test]
    fn links_with_flags_macs_and_addresses() {
        let text = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n2: eth0@if7: <BROADCAST,MULTICAST> mtu 1500 qdisc fq_codel state DOWN\n    link/ether 52:54:00:12:34:01 brd ff:ff:ff:ff:ff:ff\n    inet 10.1.1.1/24 brd 10.1.1.255 scope global eth0\n4: wg0: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1420 qdisc noqueue\n    link/none\n    inet 10.100.1.1/24 scope global wg0\n    frobnicate 3\n";
        let (links, unread) = interfaces("r_facts.txt", &lines(text));
        assert_eq!(links.len(), 3);
        assert!(links[0].loopback && links[0].up);
        assert_eq!(links[1].name, "eth0");
        assert!(!links[1].up);
        assert_eq!(links[1].mtu, Some(1500));
        assert_eq!(links[1].mac.as_deref(), Some("52:54:00:12:34:01"));
        assert_eq!(links[1].addresses[0].net.to_string(), "10.1.1.1/24");
        assert_eq!(
            links[1].addresses[0].broadcast.map(|b| b.to_string()),
            Some("10.1.1.255".into())
        );
        assert!(links[2].point_to_point);
        assert_eq!(links[2].addresses[0].broadcast, None);
        assert_eq!(unread.len(), 1);
        assert_eq!(unread[0].at.line, 11);
    }
}
