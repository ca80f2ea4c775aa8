//! Deterministic kernel names derived from lab names: namespace names, the fabric
//! namespace, bridge names and fabric-side veth names (at most 15 bytes each).

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Namespace of a node.
pub fn node_ns(prefix: &str, node: &str) -> String {
    format!("{prefix}{node}")
}

/// The lab's hidden fabric namespace.
pub fn fabric_ns(prefix: &str, lab: &str) -> String {
    format!("{prefix}{lab}-fabric")
}

/// Bridge name for a network: `br-<name>` when that fits and is a plain name,
/// otherwise `br-` and a 12-character hash of the name.
pub fn bridge_name(network: &str) -> String {
    let plain = format!("br-{network}");
    if plain.len() <= IFNAME_MAX && network.chars().all(is_plain) {
        plain
    } else {
        format!("br-{}", hash_label(network, 12))
    }
}

/// Fabric-side veth name for `node`'s interface `ifname`: up to 5 plain characters of
/// the node name, `-`, and a 9-character hash of `node/ifname` (at most 15 bytes).
pub fn fabric_port_name(node: &str, ifname: &str) -> String {
    let head: String = node.chars().filter(|c| is_plain(*c)).take(5).collect();
    format!("{head}-{}", hash_label(&format!("{node}/{ifname}"), 9))
}

/// The `k`th leaf bridge of the network whose bridge is `bridge`, when the network is
/// a tree of bridges (see `lower::tree`): `bt-` and a 12-character hash.
pub fn leaf_bridge_name(bridge: &str, k: usize) -> String {
    format!("{LEAF_BRIDGE}{}", hash_label(&format!("{bridge}#{k}"), 12))
}

/// The two ends of the veth joining leaf `k` to its root `bridge`: the root's end
/// (`ur-`) and the leaf's (`ut-`), each with a 12-character hash.
pub fn uplink_names(bridge: &str, k: usize) -> (String, String) {
    let h = hash_label(&format!("{bridge}#{k}"), 12);
    (format!("ur-{h}"), format!("{UPLINK_LEAF_END}{h}"))
}

const LEAF_BRIDGE: &str = "bt-";
const UPLINK_LEAF_END: &str = "ut-";

/// Whether `name` is a leaf bridge of a tree ([`leaf_bridge_name`]). No other fabric
/// link is named so: after its prefix come 12 hash characters, and the hash alphabet
/// has no dash, where a fabric port (`bt-ab-…` for a node `bt-ab`) has one.
pub fn is_leaf_bridge(name: &str) -> bool {
    is_tree_name(name, LEAF_BRIDGE)
}

/// Whether `name` is the leaf's end of an uplink ([`uplink_names`]), likewise.
pub fn is_uplink_leaf_end(name: &str) -> bool {
    is_tree_name(name, UPLINK_LEAF_END)
}

fn is_tree_name(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|h| h.len() == 12 && !h.contains('-'))
}

fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// The 64-bit FNV-1a hash of `input`: stable across runs, machines and versions, for
/// every name and number nshost derives from names.
pub fn fnv1a_64(input: &str) -> u64 {
    input.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The 32-bit FNV-1a hash of `input` (see [`fnv1a_64`]).
pub fn fnv1a_32(input: &str) -> u32 {
    input.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// `len` base-32 characters (lowercase letters and digits) of a stable 64-bit FNV-1a hash.
fn hash_label(input: &str, len: usize) -> String {
    let h = fnv1a_64(input);
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    (0..len)
        .map(|i| ALPHABET[((h >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// Longest lab name, in bytes.
pub const LAB_NAME_MAX: usize = 32;

/// Why a name cannot be a lab name. A lab name names the lab's lock file and its fabric
/// namespace, so it must be one plain path component: the same rule for a name from a
/// lab file and one given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabNameProblem {
    Empty,
    /// The first character outside `[A-Za-z0-9_.-]`.
    BadChar(char),
    /// Its length in bytes, over [`LAB_NAME_MAX`].
    TooLong(usize),
    /// `.` or `..`, which are directories, not names.
    Dots,
}

impl LabNameProblem {
    /// The problem as a sentence about `name`.
    pub fn message(&self, name: &str) -> String {
        match self {
            LabNameProblem::Empty => "the lab name is empty".to_string(),
            LabNameProblem::BadChar(c) => format!("the lab name `{name}` contains {c:?}"),
            LabNameProblem::TooLong(len) => {
                format!(
                    "the lab name `{name}` is {len} bytes long; at most {LAB_NAME_MAX} are allowed"
                )
            }
            LabNameProblem::Dots => {
                format!("the lab name `{name}` is reserved: `.` and `..` name directories")
            }
        }
    }

    /// A few words for the place of the name.
    pub fn label(&self) -> String {
        match self {
            LabNameProblem::Empty => "empty name".to_string(),
            LabNameProblem::BadChar(c) => format!("{c:?} is not allowed here"),
            LabNameProblem::TooLong(_) => "too long".to_string(),
            LabNameProblem::Dots => "reserved name".to_string(),
        }
    }

    /// What to do about it, when there is more to say than the message.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            LabNameProblem::Empty => Some("name the lab with letters, digits, `_`, `.` or `-`"),
            LabNameProblem::BadChar(_) => {
                Some("a lab name may hold only letters, digits, `_`, `.` and `-`")
            }
            LabNameProblem::Dots => Some("choose a name other than `.` or `..`"),
            LabNameProblem::TooLong(_) => None,
        }
    }
}

/// Why `name` cannot be a lab name, if it cannot: it must be non-empty, at most
/// [`LAB_NAME_MAX`] bytes of `[A-Za-z0-9_.-]`, and neither `.` nor `..`.
pub fn lab_name_problem(name: &str) -> Option<LabNameProblem> {
    if name.is_empty() {
        Some(LabNameProblem::Empty)
    } else if let Some(c) = name.chars().find(|c| !is_plain(*c)) {
        Some(LabNameProblem::BadChar(c))
    } else if name.len() > LAB_NAME_MAX {
        Some(LabNameProblem::TooLong(name.len()))
    } else if name == "." || name == ".." {
        Some(LabNameProblem::Dots)
    } else {
        None
    }
}

/// What a node name may hold.
pub const NODE_NAME_HELP: &str = "a node name may hold only letters, digits, `_`, `.` and `-`, \
    and may not start with `.` or `-`: it is typed on command lines (`nshost exec LAB NODE`)";

/// Why `name` (not empty) cannot name a node on a command line, if it cannot: a
/// character outside `[A-Za-z0-9_.-]`, or a leading `-` (an option) or `.`.
pub fn node_name_problem(name: &str) -> Option<String> {
    if let Some(c) = name.chars().find(|c| !is_plain(*c)) {
        return Some(format!("contains {c:?}"));
    }
    name.chars()
        .next()
        .filter(|c| matches!(c, '-' | '.'))
        .map(|c| format!("starts with {c:?}"))
}

/// Why a name cannot be an interface name, if it cannot.
pub fn ifname_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > IFNAME_MAX {
        Some("is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("is `.` or `..`")
    } else if name.contains('/') {
        Some("contains `/`")
    } else if name.contains(':') {
        Some("contains `:`")
    } else if name.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else {
        None
    }
}

/// Why a name cannot be a namespace name (a file name under `/run/netns`), if it cannot.
pub fn ns_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > 255 {
        Some("is longer than 255 bytes")
    } else if name == "." || name == ".." {
        Some("is `.` or `..`")
    } else if name.contains('/') {
        Some("contains `/`")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("contains whitespace")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashes_are_fnv_1a() {
        // The published test vectors: every derived name and number depends on them.
        assert_eq!(fnv1a_64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_32(""), 0x811c_9dc5);
        assert_eq!(fnv1a_32("a"), 0xe40c_292c);
    }

    #[test]
    fn tree_names_are_told_from_ports() {
        let leaf = leaf_bridge_name("br-lan", 3);
        let (root_end, leaf_end) = uplink_names("br-lan", 3);
        assert!(is_leaf_bridge(&leaf) && !is_leaf_bridge(&leaf_end) && !is_leaf_bridge(&root_end));
        assert!(is_uplink_leaf_end(&leaf_end) && !is_uplink_leaf_end(&root_end));
        // A node named like a tree's prefix gives a port with a dash after its head.
        assert!(!is_leaf_bridge(&fabric_port_name("bt-ab", "eth0")));
        assert!(!is_uplink_leaf_end(&fabric_port_name("ut-ab", "eth0")));
    }

    #[test]
    fn names_fit_and_are_stable() {
        assert_eq!(bridge_name("lan"), "br-lan");
        let long = bridge_name("a-very-long-network-name");
        assert_eq!(long.len(), 15);
        assert_eq!(long, bridge_name("a-very-long-network-name"));
        let port = fabric_port_name("webserver-1", "eth0");
        assert!(port.len() <= IFNAME_MAX, "{port}");
        assert!(port.starts_with("webse-"));
        assert_ne!(port, fabric_port_name("webserver-1", "eth1"));
    }

    #[test]
    fn lab_name_problems() {
        use LabNameProblem::*;
        assert_eq!(lab_name_problem("small"), None);
        assert_eq!(lab_name_problem("a.b_c-D9"), None);
        assert_eq!(lab_name_problem(&"x".repeat(32)), None);
        assert_eq!(lab_name_problem(""), Some(Empty));
        assert_eq!(lab_name_problem("."), Some(Dots));
        assert_eq!(lab_name_problem(".."), Some(Dots));
        assert_eq!(lab_name_problem("../../tmp/x"), Some(BadChar('/')));
        assert_eq!(lab_name_problem("/tmp/x"), Some(BadChar('/')));
        assert_eq!(lab_name_problem("a b"), Some(BadChar(' ')));
        assert_eq!(lab_name_problem("lab\0"), Some(BadChar('\0')));
        assert_eq!(lab_name_problem("é"), Some(BadChar('é')));
        assert_eq!(lab_name_problem(&"x".repeat(33)), Some(TooLong(33)));
        assert_eq!(
            BadChar('/').message("a/b"),
            "the lab name `a/b` contains '/'"
        );
    }

    #[test]
    fn name_problems() {
        assert_eq!(ifname_problem(""), Some("is empty"));
        assert_eq!(ifname_problem("a/b"), Some("contains `/`"));
        assert_eq!(
            ifname_problem("0123456789abcdef"),
            Some("is longer than 15 bytes")
        );
        assert_eq!(ifname_problem("eth0"), None);
        assert_eq!(ns_name_problem(".."), Some("is `.` or `..`"));
        assert_eq!(ns_name_problem("a b"), Some("contains whitespace"));
    }
}
