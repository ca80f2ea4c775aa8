//! `nshost validate --resolved`: the expanded lab written out as a lab file, every
//! range, default, group, link, subnet from a pool and automatic address in it made
//! explicit (the pools themselves are left out, like the defaults and groups). What it
//! prints validates to the same plan as the file it comes from.

use serde_json::Value;

use super::super::Topology;

/// The fields whose values are maps keyed by names: their entries stay even when empty
/// (a network declared with nothing but its name).
const NAMED_MAPS: &[&str] = &[
    "networks",
    "routers",
    "hosts",
    "interfaces",
    "tables",
    "sysctls",
    "files",
    "run",
];

/// The lab as YAML, without the fields left at their defaults.
pub fn resolved_yaml(topo: &Topology) -> String {
    let mut value = serde_json::to_value(topo).expect("a lab serializes");
    prune(&mut value, false);
    serde_saphyr::to_string(&value).expect("a lab serializes as YAML")
}

/// Drops nulls and empty collections from a struct's fields (`named`: the object is a
/// map of named entries, each kept).
fn prune(value: &mut Value, named: bool) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                prune(v, !named && NAMED_MAPS.contains(&key.as_str()));
            }
            if !named {
                map.retain(|_, v| match v {
                    Value::Null => false,
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(o) => !o.is_empty(),
                    _ => true,
                });
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| prune(v, false)),
        _ => {}
    }
}
