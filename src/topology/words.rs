//! Wording for parse problems: what a value is called where it sits in the lab ("the
//! `mtu` of network `lan`"), what it should be ("a number (an MTU from 68 to 65535)"),
//! what was found ("the text `big`"), and the closest field name for a misspelled one.

/// `text` in backticks, shortened when long, with line breaks shown as `\n` and other
/// control characters (which escapes can put in YAML text) escaped, so that none
/// reaches the terminal.
pub fn quote(text: &str) -> String {
    const MAX: usize = 40;
    let mut shown = String::from("`");
    for c in text.chars().take(MAX) {
        match c {
            '\n' => shown.push_str("\\n"),
            c if c.is_control() => shown.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => shown.push(c),
        }
    }
    if text.chars().nth(MAX).is_some() {
        shown.push('…');
    }
    shown.push('`');
    shown
}

pub use crate::output::thousands;

/// "`a`, `b` and `c`".
pub fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The candidate closest to a misspelled `word`, if one is close enough to suggest.
pub fn closest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::osa_distance(&lower, c), c))
        .filter(|&(distance, c)| {
            distance <= (c.chars().count() / 3).max(1) || strsim::jaro_winkler(&lower, c) >= 0.85
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

/// One step from a value to its parent, for naming the value.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Root,
    Field(&'a str),
    Key(&'a str),
    Index(usize),
}

/// What the maps and lists of the lab hold, by field name: (singular noun, is a list).
fn collection(field: &str) -> Option<(&'static str, bool)> {
    Some(match field {
        "hosts" => ("host", false),
        "routers" => ("router", false),
        "networks" => ("network", false),
        "pools" => ("pool", false),
        "interfaces" => ("interface", false),
        "routes" => ("route", true),
        "rules" => ("rule", true),
        "checks" => ("check", true),
        _ => return None,
    })
}

/// Names the value at the end of `steps` (root first): "the lab", "host `h1`", "the
/// `mtu` of interface `eth0` of router `r1`", "entry 2 of the `addresses` of ...".
pub fn describe(steps: &[Step]) -> String {
    let mut owner = "the lab".to_string();
    let of = |owner: &str| {
        if owner == "the lab" {
            String::new()
        } else {
            format!(" of {owner}")
        }
    };
    let mut i = 0;
    while i < steps.len() {
        let (Step::Field(field), next) = (steps[i], steps.get(i + 1)) else {
            i += 1;
            continue;
        };
        match (collection(field), next) {
            (Some((noun, false)), Some(Step::Key(key))) => {
                owner = format!("{noun} {}{}", quote(key), of(&owner));
            }
            (Some((noun, true)), Some(Step::Index(n))) => {
                owner = format!("{noun} {}{}", n + 1, of(&owner));
            }
            (_, Some(Step::Key(key))) if field == "sysctls" => {
                return format!("the sysctl {}{}", quote(key), of(&owner));
            }
            (_, Some(Step::Key(key))) if field == "tables" => {
                return format!("table {}", quote(key));
            }
            (_, Some(Step::Index(n))) => {
                return format!("entry {} of the `{field}`{}", n + 1, of(&owner));
            }
            (_, Some(Step::Key(key))) => {
                return format!("{} in the `{field}`{}", quote(key), of(&owner));
            }
            _ if owner == "the lab" => return format!("the lab's `{field}`"),
            _ => return format!("the `{field}` of {owner}"),
        }
        i += 2;
    }
    owner
}

/// What a struct of the schema is called: `Host` is "host".
pub fn struct_noun(definition: &str) -> &str {
    match definition {
        "Host" => "host",
        "Router" => "router",
        "Network" => "network",
        "Pool" => "pool",
        "Interface" => "interface",
        "RouteSpec" => "route",
        "RuleSpec" => "rule",
        "CheckSpec" => "check",
        "ImpairSpec" => "impair block",
        "nshost lab" => "lab",
        other => other,
    }
}

/// The noun with its article: "a host", "an interface".
pub fn a(noun: &str) -> String {
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

/// What a field's value is, for "expected a number (...)": by field name.
pub fn field_noun(field: &str) -> Option<&'static str> {
    Some(match field {
        "mtu" => "an MTU from 68 to 65535",
        "priority" => "a rule priority from 1 to 32765",
        "metric" => "a route metric",
        "fwmark" => "a firewall mark",
        "tos" => "a type of service from 0 to 255",
        "tables" => "a table number from 1 to 4294967295",
        "table" => "a table number, or a name declared under `tables`",
        "ipproto" => "`tcp`, `udp`, `icmp`, `icmpv6`, `sctp` or a protocol number from 0 to 255",
        "sport" | "dport" => "a port from 1 to 65534, or a range such as `\"1000-2000\"`",
        "sysctls" => "a number, `true`/`false` or text",
        "address" | "addresses" | "secondary" => {
            "an address with its prefix length, e.g. `10.1.1.10/24`"
        }
        "subnets" => "a subnet, e.g. `10.1.1.0/24`",
        "via" | "gateway" => "a gateway address, e.g. `10.1.1.1`",
        "to" | "from" => "a prefix, e.g. `10.0.0.0/8`",
        "network" => "the name of a network",
        "interface" | "dev" | "iif" | "oif" => "an interface name, e.g. `eth0`",
        "kind" => "a link kind, e.g. `veth` or `dummy`",
        "name" => "the lab's name",
        "prefix" => "text put before every namespace name",
        "pool prefix" => "a prefix to carve subnets from, e.g. `10.0.0.0/16`",
        "size" => "the prefix length of the subnets carved, e.g. `24`",
        "pool" => "the name of a pool, or a list of names",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_by_where_they_are() {
        use Step::*;
        assert_eq!(describe(&[Root]), "the lab");
        assert_eq!(describe(&[Root, Field("name")]), "the lab's `name`");
        assert_eq!(describe(&[Root, Field("hosts"), Key("h1")]), "host `h1`");
        let mtu = [
            Root,
            Field("routers"),
            Key("r1"),
            Field("interfaces"),
            Key("eth0"),
            Field("mtu"),
        ];
        assert_eq!(
            describe(&mtu),
            "the `mtu` of interface `eth0` of router `r1`"
        );
        let rule = [
            Root,
            Field("routers"),
            Key("r1"),
            Field("rules"),
            Index(1),
            Field("tos"),
        ];
        assert_eq!(describe(&rule), "the `tos` of rule 2 of router `r1`");
        let sysctl = [
            Root,
            Field("hosts"),
            Key("h1"),
            Field("sysctls"),
            Key("net.x"),
        ];
        assert_eq!(describe(&sysctl), "the sysctl `net.x` of host `h1`");
        let address = [
            Root,
            Field("hosts"),
            Key("h1"),
            Field("secondary"),
            Index(0),
        ];
        assert_eq!(
            describe(&address),
            "entry 1 of the `secondary` of host `h1`"
        );
        assert_eq!(
            describe(&[Root, Field("tables"), Key("isp")]),
            "table `isp`"
        );
    }

    #[test]
    fn suggests_the_closest_name() {
        let fields = ["kind", "network", "addresses", "mtu", "up"];
        assert_eq!(closest("adresses", fields), Some("addresses"));
        assert_eq!(closest("addrses", fields), Some("addresses"));
        assert_eq!(closest("Network", fields), Some("network"));
        assert_eq!(closest("mut", fields), Some("mtu"));
        assert_eq!(closest("colour", fields), None);
    }

    #[test]
    fn counts_and_lists() {
        assert_eq!(thousands(19_950), "19,950");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` and `c`");
        assert_eq!(quote("a\nb"), "`a\\nb`");
        assert_eq!(quote("\u{1b}[2J"), "`\\u{1b}[2J`");
    }
}
