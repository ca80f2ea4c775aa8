//! The committed JSON Schema (`schemas/topology.schema.json`) as an editor uses it,
//! through an independent validator (the `jsonschema` crate, draft 7, formats checked),
//! against the golden cases: every valid case and bundled lab passes, and every invalid
//! case fails, except those listed below with the reason the schema cannot see their
//! problem. Both lists are exact: a listed case the schema starts refusing, or one that
//! no longer loads as YAML, fails this test, so the lists are kept true.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Invalid cases the schema accepts: their problem is beyond what JSON Schema says.
const BEYOND_THE_SCHEMA: &[(&str, &str)] = &[
    (
        "bad_impair",
        "an `impair` block's units, and the fields that go together, with the interface's MTU",
    ),
    (
        "duplicate_file",
        "one file path twice in a node, once normalized and templated",
    ),
    (
        "file_sources",
        "source files that are missing, directories or too big, read at plan time",
    ),
    (
        "firewall_reads_file",
        "a firewall text's directives (nft `include`, ipset `-file`) are read by its parser",
    ),
    (
        "network_too_big",
        "a range's nodes spread over a network's leaf bridges by their names",
    ),
    (
        "bad_checks",
        "checks name the lab's own nodes, and addresses inside its subnets",
    ),
    (
        "address_outside_network",
        "an address outside its network's subnets",
    ),
    (
        "ambiguous_network",
        "an address in the subnets of two networks",
    ),
    ("duplicate_address", "one address used twice"),
    ("network_range", "hosts on networks that are not declared"),
    (
        "range_makes_written_node",
        "a node a range makes and another writes",
    ),
    (
        "network_mtu_not_kept",
        "a network's MTU against its interfaces' MTUs",
    ),
    (
        "duplicate_route",
        "two routes with one destination, table and metric",
    ),
    (
        "fabric_name_collision",
        "two fabric ports with one hashed name",
    ),
    ("gateway_not_connected", "a gateway on no connected subnet"),
    ("gateway_not_on_dev", "a gateway off its route's device"),
    (
        "gateway_through_gateway",
        "a gateway reached only through another gateway",
    ),
    (
        "host_without_gateway",
        "a host whose network's routers have no address on its subnet",
    ),
    (
        "host_interfaces",
        "a host without an address or a network, or with both forms of interfaces",
    ),
    (
        "expansion_problems",
        "ranges, groups, links and automatic addresses, checked when expanded",
    ),
    (
        "inferred_network_name_taken",
        "an inferred network named like a declared one",
    ),
    ("ipv6_gateways", "IPv6 gateways that are not on their links"),
    (
        "ipv6_without_ipv6",
        "IPv6 on an interface whose MTU turns IPv6 off",
    ),
    (
        "macvlan_parents",
        "a macvlan parent that is missing, stacked or passthru twice",
    ),
    ("mtu_above_lower", "an MTU above the MTU of the link below"),
    (
        "node_is_fabric",
        "a node named like the lab's fabric namespace",
    ),
    ("node_name_used_twice", "a router and a host with one name"),
    (
        "pool_problems",
        "pool prefixes with host bits, and sizes that do not fit their prefix's family or length",
    ),
    (
        "pool_subnets_taken",
        "carved subnets that overlap, or are past their pool's end",
    ),
    ("route_dev_down", "a route out of an interface that is down"),
    (
        "route_family_mismatch",
        "a gateway of the other family than its destination",
    ),
    (
        "route_gateway_unreachable",
        "a gateway unreachable from the node",
    ),
    ("subnet_host_bits", "a prefix with host bits set"),
    (
        "sysctl_unknown_device",
        "a sysctl of an interface the node lacks",
    ),
    ("unknown_network", "a network that is not declared"),
    ("unknown_pool", "a pool that is not declared"),
    ("unknown_route_dev", "a route device the node lacks"),
    ("unknown_table", "a table name that is not declared"),
    (
        "command_with_nul",
        "a NUL in a command, written as YAML's `\\0` escape, is a character of the string",
    ),
    (
        "firewall_bad_text",
        "a firewall text's lines, and the ipsets its rules match, are read by its parser",
    ),
    (
        "namespace_name_too_long",
        "the fabric namespace's name joins the prefix and the lab's name",
    ),
    (
        "site_mixed_underlay",
        "the underlays of a stretched network's sites",
    ),
    (
        "site_stretched_mtu",
        "a stretched network's MTU against its sites' underlays",
    ),
    ("site_unknown", "a node's site among the lab's own `sites`"),
];

/// Invalid cases that do not load as one JSON document for a validator to check: YAML
/// a YAML reader refuses (a syntax error, several documents, duplicate keys, aliases
/// gone wrong), or a key JSON has no place for.
const NOT_ONE_DOCUMENT: &[(&str, &str)] = &[
    ("alias_bomb", "an alias bomb"),
    ("binary_garbage", "not text"),
    ("duplicate_key", "a duplicate key"),
    ("duplicate_keys", "duplicate keys"),
    ("merge_keys", "a merge key whose value is no mapping"),
    ("multiple_documents", "two YAML documents"),
    (
        "parse_problems_at_once",
        "a null key, which a JSON object cannot have",
    ),
    ("too_deep", "nesting deeper than the YAML reader goes"),
    (
        "unknown_and_recursive_alias",
        "an unknown and a recursive alias",
    ),
    ("yaml_syntax_error", "a YAML syntax error"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/topology.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema is a valid draft-07 schema")
}

/// The lab file as the JSON an editor's validator sees, or why it is none.
fn load(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
    serde_saphyr::from_str::<Value>(&text).map_err(|e| e.to_string())
}

/// What the validator says of a file: `None` when it passes, else its first errors.
fn problems(v: &jsonschema::Validator, doc: &Value) -> Option<Vec<String>> {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .take(3)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    (!errors.is_empty()).then_some(errors)
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/cases").join(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("lab.yaml").exists())
        .collect();
    dirs.sort();
    dirs
}

fn name(dir: &Path) -> &str {
    dir.file_name().unwrap().to_str().unwrap()
}

#[test]
fn valid_cases_and_bundled_labs_pass() {
    let v = validator();
    let mut files: Vec<PathBuf> = cases("valid").iter().map(|d| d.join("lab.yaml")).collect();
    assert!(files.len() >= 5, "{files:?}");
    for lab in ["small.yaml", "full.yaml"] {
        files.push(root().join("topologies").join(lab));
    }
    for file in files {
        let doc = load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Some(errors) = problems(&v, &doc) {
            panic!("{} fails the schema: {errors:#?}", file.display());
        }
    }
}

#[test]
fn invalid_cases_fail_unless_listed() {
    let v = validator();
    let beyond: BTreeMap<&str, &str> = BEYOND_THE_SCHEMA.iter().copied().collect();
    let unloadable: BTreeMap<&str, &str> = NOT_ONE_DOCUMENT.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut refused = 0;
    let dirs = cases("invalid");
    for dir in &dirs {
        let case = name(dir);
        let verdict = match load(&dir.join("lab.yaml")) {
            Err(_) if unloadable.contains_key(case) => continue,
            Err(e) => format!("does not load as YAML ({e}); list it in NOT_ONE_DOCUMENT"),
            Ok(_) if unloadable.contains_key(case) => {
                "loads as one document now: take it out of NOT_ONE_DOCUMENT".to_string()
            }
            Ok(doc) => match (problems(&v, &doc), beyond.get(case)) {
                (Some(_), None) => {
                    refused += 1;
                    continue;
                }
                (None, Some(_)) => continue,
                (None, None) => "passes the schema; make the schema refuse it, or list it \
                                 in BEYOND_THE_SCHEMA with the reason"
                    .to_string(),
                (Some(errors), Some(_)) => format!(
                    "the schema refuses it now ({errors:?}): take it out of BEYOND_THE_SCHEMA"
                ),
            },
        };
        wrong.push(format!("{case}: {verdict}"));
    }
    // Every listed case exists.
    for case in beyond.keys().chain(unloadable.keys()) {
        if !dirs.iter().any(|d| name(d) == *case) {
            wrong.push(format!("{case}: listed, but there is no such case"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        refused >= 30,
        "only {refused} invalid cases refused by the schema"
    );
}

/// The five examples an editor used to accept, each refused now, at its place.
#[test]
fn the_examples_editors_accepted_are_refused() {
    let v = validator();
    for (case, path) in [
        (
            "address_octet_out_of_range",
            "/routers/r1/interfaces/eth0/addresses/0",
        ),
        (
            "address_prefix_too_long",
            "/routers/r1/interfaces/eth0/addresses/0",
        ),
        ("address_without_prefix", "/hosts/h1/address"),
        ("interface_name_16_bytes", "/routers/r1/interfaces"),
        ("lab_name_slash", "/name"),
    ] {
        let doc = load(
            &root()
                .join("tests/cases/invalid")
                .join(case)
                .join("lab.yaml"),
        )
        .unwrap();
        let paths: Vec<String> = v
            .iter_errors(&doc)
            .map(|e| e.instance_path().to_string())
            .collect();
        assert!(
            paths.iter().any(|p| p == path),
            "{case}: errors at {paths:?}, none at {path}"
        );
    }
}
