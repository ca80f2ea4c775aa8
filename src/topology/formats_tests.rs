//! The schema's patterns against the parsers nshost uses: on every string of a large,
//! seeded set of near-misses they accept exactly what the parser accepts.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use super::*;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// An IPv4-ish text: 3 to 5 octets of 1 to 4 digits, values up to 300.
fn v4ish(r: &mut Rng) -> String {
    let n = if r.below(8) == 0 { 3 + r.below(3) } else { 4 };
    (0..n)
        .map(|_| {
            let v = r.below(301);
            match r.below(6) {
                0 => format!("0{v}"),
                1 => format!("00{v}"),
                _ => v.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// An IPv6-ish text: up to 9 groups of 1 to 5 hex digits around at most two `::`,
/// sometimes with an IPv4 tail.
fn v6ish(r: &mut Rng) -> String {
    let group = |r: &mut Rng| {
        let most = if r.below(10) == 0 { 5 } else { 4 };
        let len = 1 + r.below(most);
        (0..len)
            .map(|_| r.pick(&["0", "1", "a", "F", "9", "e"]))
            .collect::<String>()
    };
    let n = r.below(10) as usize;
    let gap = if r.below(4) == 0 {
        None
    } else {
        Some(r.below(n as u64 + 1) as usize)
    };
    let mut s = String::new();
    for i in 0..n {
        if Some(i) == gap {
            s += "::";
        } else if i > 0 {
            s += ":";
        }
        s += &group(r);
    }
    if gap == Some(n) {
        s += "::";
    }
    if r.below(5) == 0 {
        if !s.is_empty() && !s.ends_with(':') {
            s += ":";
        }
        s += &v4ish(r);
    }
    if r.below(30) == 0 {
        s = s.replacen(':', ":::", 1);
    }
    s
}

fn ipish(r: &mut Rng) -> String {
    if r.below(2) == 0 { v4ish(r) } else { v6ish(r) }
}

fn prefix_len(r: &mut Rng) -> String {
    match r.below(8) {
        0 => format!("0{}", r.below(140)),
        1 => String::new(),
        2 => format!("+{}", r.below(40)),
        _ => r.below(140).to_string(),
    }
}

/// Asserts that `pattern` and `accepts` agree on every string of `corpus`.
fn agree(pattern: &str, corpus: &[String], accepts: impl Fn(&str) -> bool) {
    let re = Regex::new(pattern).unwrap();
    let mut accepted = 0;
    let wrong: Vec<(&String, bool)> = corpus
        .iter()
        .filter_map(|s| {
            let parser = accepts(s);
            accepted += usize::from(parser);
            (re.is_match(s) != parser).then_some((s, parser))
        })
        .take(20)
        .collect();
    assert!(
        wrong.is_empty(),
        "pattern and parser disagree (string, parser's answer): {wrong:#?}"
    );
    // The corpus has both kinds in good number.
    assert!(
        accepted > corpus.len() / 10,
        "{accepted} of {}",
        corpus.len()
    );
    assert!(
        accepted < corpus.len() * 9 / 10,
        "{accepted} of {}",
        corpus.len()
    );
}

fn cidr_corpus() -> Vec<String> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut corpus: Vec<String> = [
        "10.1.1.1/24",
        "10.1.1.300/24",
        "10.1.1.1/33",
        "10.1.1.1",
        "010.0.0.0/24",
        "::/0",
        "::/00",
        "::/129",
        "1:2:3:4:5:6:7::8/64",
        "1:2:3:4:5:6:7:8::/64",
        "::1:2:3:4:5:6:7:8/64",
        "fe80::1%eth0/64",
        " 10.0.0.0/24",
        "::ffff:1.2.3.4/96",
        "1:2:3:4:5:6::1.2.3.4/64",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    for _ in 0..20_000 {
        corpus.push(format!("{}/{}", ipish(&mut r), prefix_len(&mut r)));
    }
    corpus
}

#[test]
fn cidr_pattern_is_what_ipnet_reads() {
    agree(&cidr_pattern(), &cidr_corpus(), |s| {
        s.parse::<IpNet>().is_ok()
    });
}

#[test]
fn ip_pattern_is_what_std_reads() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let mut corpus: Vec<String> = ["10.1.1.1", "010.1.1.1", "::", "1::2:3:4:5:6:7:8", "::1"]
        .iter()
        .map(ToString::to_string)
        .collect();
    for _ in 0..20_000 {
        corpus.push(ipish(&mut r));
    }
    agree(&ip_pattern(), &corpus, |s| s.parse::<IpAddr>().is_ok());
}

#[test]
fn destination_pattern_is_a_prefix_or_a_default() {
    let mut corpus = cidr_corpus();
    corpus.extend(["default", "default6", "default4", "Default"].map(String::from));
    agree(&destination_pattern(), &corpus, |s| {
        matches!(s, "default" | "default6") || s.parse::<IpNet>().is_ok()
    });
}

#[test]
fn port_range_pattern_is_what_rules_read() {
    let mut r = Rng(0xdead_beef_cafe_f00d);
    let mut corpus = Vec::new();
    let port = |r: &mut Rng| match r.below(9) {
        0 => "0".to_string(),
        1 => "65535".to_string(),
        2 => format!("+{}", r.below(70_000)),
        3 => format!("0{}", r.below(70_000)),
        4 => String::new(),
        5 => format!(" {} ", r.below(70_000)),
        _ => r.below(70_000).to_string(),
    };
    for _ in 0..20_000 {
        let s = match r.below(3) {
            0 => port(&mut r),
            _ => format!("{}-{}", port(&mut r), port(&mut r)),
        };
        corpus.push(s);
    }
    // The pattern says nothing of order: `2000-1000` is the parser's to refuse.
    let ports = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| (1..=65534).contains(p))
    };
    agree(&port_range_pattern(), &corpus, |s| {
        match s.split_once('-') {
            Some((lo, hi)) => ports(lo).is_some() && ports(hi).is_some(),
            None => ports(s).is_some(),
        }
    });
}

#[test]
fn name_patterns_are_the_naming_rules() {
    let mut r = Rng(42);
    let chars = [
        "a", "Z", "0", "_", ".", "-", "/", ":", " ", "\t", "é", "\u{7}", "\u{85}", "x", "\u{a0}",
    ];
    let corpus: Vec<String> = (0..20_000)
        .map(|_| {
            let len = r.below(18);
            (0..len).map(|_| r.pick(&chars)).collect()
        })
        .collect();
    let word = Regex::new(WORD_PATTERN).unwrap();
    let ifname = Regex::new(IFNAME_PATTERN).unwrap();
    let ns_name = Regex::new(NS_NAME_PATTERN).unwrap();
    let node_name = Regex::new(NODE_NAME_PATTERN).unwrap();
    for s in &corpus {
        // The schema's lab name: the pattern, 1 to 32 characters, not `.` or `..`.
        let schema_lab = word.is_match(s)
            && (1..=LAB_NAME_MAX).contains(&s.chars().count())
            && s != "."
            && s != "..";
        assert_eq!(
            schema_lab,
            crate::naming::lab_name_problem(s).is_none(),
            "lab name {s:?}"
        );
        // Interface names: the schema counts characters where the kernel counts bytes,
        // so it lets a long non-ASCII name through; otherwise the same.
        let schema_if =
            ifname.is_match(s) && s.chars().count() <= IFNAME_MAX && s != "." && s != "..";
        if s.is_ascii() {
            assert_eq!(
                schema_if,
                crate::naming::ifname_problem(s).is_none(),
                "interface name {s:?}"
            );
        } else if crate::naming::ifname_problem(s).is_none() {
            assert!(schema_if, "interface name {s:?}");
        }
        // Namespace names (nodes): `.` and `..` are fine after a prefix.
        let schema_ns = ns_name.is_match(s) && s != "." && s != "..";
        assert_eq!(
            schema_ns,
            crate::naming::ns_name_problem(s).is_none(),
            "namespace name {s:?}"
        );
        // Node names (without a range: the corpus has no brackets).
        if !s.is_empty() {
            assert_eq!(
                node_name.is_match(s),
                crate::naming::node_name_problem(s).is_none(),
                "node name {s:?}"
            );
        }
    }
}

#[test]
fn node_name_pattern_takes_one_range() {
    let re = Regex::new(NODE_NAME_PATTERN).unwrap();
    for ok in ["web[1-200]", "h[001-010]-x", "[1-5]", "[1-2].x", "a_b.c-d"] {
        assert!(re.is_match(ok), "{ok}");
    }
    for bad in [
        "-rf",
        ".x[1-2]",
        "lan[1-4",
        "a[1-2]b[3-4]",
        "a;b",
        "web[x-y]",
    ] {
        assert!(!re.is_match(bad), "{bad}");
    }
}

#[test]
fn sysctl_key_pattern_is_the_key_rule() {
    let mut r = Rng(7);
    let parts = [
        "net", ".", "ipv4", "a", "-", "_", "0", "..", "A", " ", "x.y",
    ];
    let re = Regex::new(SYSCTL_KEY_PATTERN).unwrap();
    for _ in 0..20_000 {
        let len = r.below(6);
        let key: String = (0..len).map(|_| r.pick(&parts)).collect();
        assert_eq!(
            re.is_match(&key),
            crate::validate::sysctl_key_problem(&key).is_none(),
            "{key:?}"
        );
    }
}
