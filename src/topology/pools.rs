//! Subnet pools: a prefix that networks and links take their subnets from by name
//! (`pool: lans`), carved when the lab is expanded (see `expand::pools`).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::Spanned;
use super::formats;

/// A prefix to carve subnets of one size from. Which subnet a network gets depends on
/// its name alone (see the README): a name whose only digits end it (`lan3`) takes the
/// subnet of that number, counted from 0 at the bottom of the prefix; any other name
/// one from a fixed hash of the name.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The prefix the subnets are carved from, e.g. `10.0.0.0/16` or `2001:db8::/48`
    /// (a network address: no host bits).
    #[schemars(with = "formats::IpPrefix")]
    pub prefix: Spanned<String>,
    /// The prefix length of each subnet carved, longer than the prefix's and at most
    /// 32 (IPv4) or 128 (IPv6): `size: 24` in `10.0.0.0/16` makes 256 subnets `/24`,
    /// `10.0.0.0/24` to `10.0.255.0/24`.
    #[schemars(with = "u8", range(min = 1, max = 128))]
    pub size: Spanned<u8>,
}

/// The pools a network takes subnets from: one name, or a list of names (an IPv4 and
/// an IPv6 pool, say), each giving the network one subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolNames {
    One(String),
    /// Each name with its own place, for problems that point at one of them.
    Many(Vec<Spanned<String>>),
}

impl PoolNames {
    /// The names, each with its place (`at`, where the whole value is, for one name).
    pub fn spanned(&self, at: &Spanned<PoolNames>) -> Vec<Spanned<String>> {
        match self {
            PoolNames::One(n) => vec![Spanned::new(n.clone(), at.referenced, at.defined)],
            PoolNames::Many(ns) => ns.clone(),
        }
    }
}

impl Serialize for PoolNames {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PoolNames::One(n) => s.serialize_str(n),
            PoolNames::Many(ns) => s.collect_seq(ns.iter().map(|n| &n.value)),
        }
    }
}

impl<'de> Deserialize<'de> for PoolNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> Visitor<'de> for Names {
            type Value = PoolNames;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a pool name or a list of pool names")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PoolNames, E> {
                Ok(PoolNames::One(v.to_string()))
            }

            // Read item by item (not through an untagged enum, which would buffer the
            // values and lose their places).
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PoolNames, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<Spanned<String>>()? {
                    names.push(n);
                }
                Ok(PoolNames::Many(names))
            }
        }
        d.deserialize_any(Names)
    }
}

impl JsonSchema for PoolNames {
    fn schema_name() -> Cow<'static, str> {
        "PoolNames".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let name = generator.subschema_for::<formats::PoolName>();
        json_schema!({
            "description": "A pool's name, or a list of pools' names.",
            "anyOf": [name, {"type": "array", "items": name}]
        })
    }
}
