//! Who owns a route, rule or address in a lab's namespace: the kernel records who
//! installed each (`rtm_protocol`, `FRA_PROTOCOL`, `IFA_PROTO`); the lab owns the
//! protocols it writes, and a routing daemon (BIRD, FRR, keepalived) the others.

use serde::{Deserialize, Serialize};

/// The protocols every lab writes: `unspec` (0, nobody said), `kernel` (2, connected
/// routes written as the kernel's), `boot` (3, the default of `ip` and of nshost) and
/// `static` (4).
pub const LAB_PROTOCOLS: [u8; 4] = [0, 2, 3, 4];

/// The protocols by iproute2's names (`/etc/iproute2/rt_protos`).
pub const PROTOCOL_NAMES: [(&str, u8); 23] = [
    ("unspec", 0),
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("gated", 8),
    ("ra", 9),
    ("mrt", 10),
    ("zebra", 11),
    ("bird", 12),
    ("dnrouted", 13),
    ("xorp", 14),
    ("ntk", 15),
    ("dhcp", 16),
    ("mrouted", 17),
    ("keepalived", 18),
    ("babel", 42),
    ("openr", 99),
    ("bgp", 186),
    ("isis", 187),
    ("ospf", 188),
    ("rip", 189),
    ("eigrp", 192),
];

/// A protocol by iproute2's name, else its number.
pub fn protocol_name(proto: u8) -> String {
    PROTOCOL_NAMES
        .iter()
        .find(|(_, n)| *n == proto)
        .map_or_else(|| proto.to_string(), |(name, _)| (*name).to_string())
}

/// The protocols a lab owns beyond [`LAB_PROTOCOLS`]: those a route of its file names,
/// and those it takes back with `owns: {protocols: [...]}`. A set of bytes, kept as a
/// bitmap (no allocation: every namespace of a desired state carries one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<u8>", into = "Vec<u8>")]
pub struct Protocols([u64; 4]);

impl Protocols {
    /// Adds `proto` (nothing for one of [`LAB_PROTOCOLS`], owned anyway).
    pub fn insert(&mut self, proto: u8) {
        if !LAB_PROTOCOLS.contains(&proto) {
            self.0[usize::from(proto / 64)] |= 1 << (proto % 64);
        }
    }

    /// Whether a lab with these extra protocols owns an object of protocol `proto`.
    pub fn owns(&self, proto: u8) -> bool {
        LAB_PROTOCOLS.contains(&proto) || self.0[usize::from(proto / 64)] & (1 << (proto % 64)) != 0
    }

    /// No protocol beyond [`LAB_PROTOCOLS`].
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    /// The extra protocols, in order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|&p| self.0[usize::from(p / 64)] & (1 << (p % 64)) != 0)
    }
}

impl From<Vec<u8>> for Protocols {
    fn from(v: Vec<u8>) -> Self {
        v.into_iter().collect()
    }
}

impl From<Protocols> for Vec<u8> {
    fn from(p: Protocols) -> Self {
        p.iter().collect()
    }
}

impl FromIterator<u8> for Protocols {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut p = Protocols::default();
        for proto in iter {
            p.insert(proto);
        }
        p
    }
}

impl schemars::JsonSchema for Protocols {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Protocols".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<u8>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_owns_its_own_protocols_and_those_it_takes() {
        let mut p = Protocols::default();
        assert!(p.is_empty());
        for own in LAB_PROTOCOLS {
            assert!(p.owns(own), "{own}");
        }
        assert!(!p.owns(12), "bird's routes are bird's");
        assert!(!p.owns(188));
        p.insert(12);
        p.insert(255);
        p.insert(3);
        assert!(p.owns(12) && p.owns(255) && !p.owns(188));
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![12, 255]);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "[12,255]");
        assert_eq!(serde_json::from_str::<Protocols>(&json).unwrap(), p);
    }

    #[test]
    fn protocols_are_named_as_iproute2_names_them() {
        assert_eq!(protocol_name(12), "bird");
        assert_eq!(protocol_name(188), "ospf");
        assert_eq!(protocol_name(77), "77");
    }
}
