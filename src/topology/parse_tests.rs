//! Tests of the YAML tree and of the schema check: what each reports, and where.

use super::Topology;
use super::check;
use super::issue::Issue;
use super::parse::{SCHEMA, yaml_problems};
use super::tree::{Kind, Node, build};

fn codes(issues: &[Issue]) -> Vec<&'static str> {
    issues.iter().map(|i| i.code.as_str()).collect()
}

/// The issues the tree and the check find in `yaml`.
fn problems(yaml: &str) -> Vec<Issue> {
    yaml_problems(yaml)
}

/// The text a label points at.
fn labelled<'t>(yaml: &'t str, issue: &Issue) -> Vec<(&'t str, String)> {
    issue
        .labels
        .iter()
        .map(|(span, text)| (&yaml[span.start..span.end], text.clone()))
        .collect()
}

/// A mapping's entries as (key, value) texts; values that are not scalars as `{..}`.
fn entries(node: &Node) -> Vec<(String, String)> {
    let Kind::Map(entries) = &node.resolved().kind else {
        panic!("not a mapping: {node:?}");
    };
    entries
        .iter()
        .map(|e| {
            let key = e.key.scalar().unwrap().0.to_string();
            let value = e
                .value
                .scalar()
                .map_or("{..}".to_string(), |(t, _)| t.to_string());
            (key, value)
        })
        .collect()
}

fn value<'n, 'a>(node: &'n Node<'a>, key: &str) -> &'n Node<'a> {
    let Kind::Map(entries) = &node.resolved().kind else {
        panic!("not a mapping");
    };
    &entries
        .iter()
        .find(|e| e.key.scalar().is_some_and(|(t, _)| t == key))
        .unwrap_or_else(|| panic!("no key {key}"))
        .value
}

#[test]
fn every_duplicate_key_is_reported() {
    let yaml = "a: 1\na: 2\nb: {c: 1, c: 2}\na: 3\n";
    let built = build(yaml);
    assert!(built.complete);
    assert_eq!(codes(&built.issues), ["nshost::duplicate_key"; 3]);
    let last = &built.issues[2];
    assert_eq!(
        labelled(yaml, last),
        [
            ("a", "first here".to_string()),
            ("a", "and again here".to_string())
        ]
    );
    assert_eq!(last.labels[1].0.start, yaml.rfind("a:").unwrap());
    // The first value is kept, so that the check goes on with it.
    assert_eq!(
        entries(built.root.as_ref().unwrap())[0],
        ("a".into(), "1".into())
    );
}

#[test]
fn integer_keys_are_compared_by_value_and_quoted_ones_by_text() {
    let built = build("0xB: x\n11: y\n'7': z\n7: w\n");
    assert_eq!(codes(&built.issues), ["nshost::duplicate_key"; 2]);
}

#[test]
fn merges_as_serde_saphyr_has_them() {
    let yaml = "x: &x {a: 1, b: 2}\ny:\n  <<: [*x, {b: 3, c: 4}]\n  a: 5\n  <<: {d: 6}\n";
    let built = build(yaml);
    assert!(built.issues.is_empty(), "{:?}", built.issues);
    let y = value(built.root.as_ref().unwrap(), "y");
    // Own keys first and winning, then merged ones, an earlier source winning.
    let expected = [("a", "5"), ("b", "2"), ("c", "4"), ("d", "6")];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(entries(y), expected);
}

#[test]
fn only_a_plain_or_merge_tagged_key_merges() {
    let built = build("a: {'<<': {b: 1}}\nc: {!!merge <<: {d: 2}}\n");
    let root = built.root.unwrap();
    assert_eq!(
        entries(value(&root, "a")),
        [("<<".to_string(), "{..}".to_string())]
    );
    assert_eq!(
        entries(value(&root, "c")),
        [("d".to_string(), "2".to_string())]
    );
}

#[test]
fn a_merge_value_must_be_a_mapping() {
    let yaml = "a: {<<: 5}\nb: {<<: [{c: 1}, x]}\nc: {<<: ~}\n";
    let issues = build(yaml).issues;
    assert_eq!(codes(&issues), ["nshost::bad_merge"; 2]);
    assert_eq!(labelled(yaml, &issues[1])[0].0, "x");
}

#[test]
fn an_alias_shares_its_anchors_node() {
    let built = build("a: &a {b: 1}\nc: *a\n");
    let root = built.root.unwrap();
    let (a, c) = (value(&root, "a"), value(&root, "c"));
    assert!(std::ptr::eq(a.resolved(), c.resolved()));
    assert!(matches!(c.kind, Kind::Alias(_)));
    assert_eq!(c.span.start, "a: &a {b: 1}\nc: ".len());
}

#[test]
fn bad_aliases_are_reported_and_the_build_goes_on() {
    let yaml = "a: *nope\nb: &b [1, *b]\nc: {d: 1, d: 2}\n";
    let built = build(yaml);
    assert!(built.complete);
    let found = codes(&built.issues);
    assert_eq!(
        found,
        [
            "nshost::unknown_anchor",
            "nshost::recursive_alias",
            "nshost::duplicate_key"
        ]
    );
    assert_eq!(labelled(yaml, &built.issues[1])[0].0, "*b");
}

#[test]
fn an_alias_bomb_is_refused() {
    let mut yaml = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f"])
    {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        yaml.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let built = build(&yaml);
    assert!(!built.complete);
    assert_eq!(codes(&built.issues), ["nshost::alias_limit"]);
}

#[test]
fn nesting_is_limited_aliases_included() {
    let deep = format!("a: {}{}\n", "[".repeat(70), "]".repeat(70));
    assert_eq!(codes(&build(&deep).issues), ["nshost::too_deep"]);
    // Each alias adds the depth of its anchor.
    let mut yaml = format!("a: &a {}{}\n", "[".repeat(40), "]".repeat(40));
    yaml.push_str("b: [[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]\n");
    let built = build(&yaml);
    assert!(!built.complete);
    assert_eq!(codes(&built.issues), ["nshost::too_deep"]);
}

#[test]
fn a_syntax_error_stops_the_build_where_it_is() {
    let yaml = "a: {b: 1, b: 2}\nc: [1, 2}\n";
    let built = build(yaml);
    assert!(!built.complete);
    assert_eq!(
        codes(&built.issues),
        ["nshost::duplicate_key", "nshost::yaml_syntax"]
    );
    assert_eq!(built.issues[1].labels[0].0.start, yaml.find('[').unwrap());
}

#[test]
fn a_second_document_is_reported() {
    let built = build("a: 1\n---\nb: 2\n");
    assert_eq!(codes(&built.issues), ["nshost::multiple_documents"]);
    assert_eq!(
        entries(built.root.as_ref().unwrap()),
        [("a".into(), "1".into())]
    );
}

#[test]
fn misspelt_fields_are_each_reported_with_the_closest_field() {
    let yaml = "name: x\nrouters:\n  r1:\n    interfaces:\n      eth0: {adresses: [], mut: 1400}\n    rutes: []\n";
    let issues = problems(yaml);
    assert_eq!(codes(&issues), ["nshost::unknown_field"; 3]);
    let labels: Vec<_> = issues
        .iter()
        .map(|i| labelled(yaml, i)[0].clone())
        .collect();
    assert_eq!(
        labels,
        [
            ("adresses", "did you mean `addresses`?".to_string()),
            ("mut", "did you mean `mtu`?".to_string()),
            ("rutes", "did you mean `routes`?".to_string()),
        ]
    );
}

#[test]
fn a_wrong_type_does_not_stop_the_check() {
    let yaml = "name: x\nnetworks:\n  lan: {mtu: \"big\", subnets: 10.0.0.0/8}\nhosts:\n  h1: {}\n  h2: {address: a, gateway: [b]}\n";
    let issues = problems(yaml);
    assert_eq!(
        codes(&issues),
        // `h1: {}` is no problem here: a host's address may come from its network.
        [
            "nshost::wrong_type",
            "nshost::wrong_type",
            "nshost::wrong_type"
        ]
    );
    assert_eq!(
        issues[0].message,
        "expected a number (an MTU from 68 to 65535), found the text `big`"
    );
    assert_eq!(labelled(yaml, &issues[2])[0].0, "[b]");
}

#[test]
fn numbers_out_of_their_types_range() {
    let yaml = "name: x\nrouters:\n  r1:\n    rules:\n      - {priority: 5000000000, table: 1, tos: 256}\n";
    let issues = problems(yaml);
    assert_eq!(codes(&issues), ["nshost::out_of_range"; 2]);
    assert!(
        issues[1]
            .message
            .ends_with("found 256, which is more than 255"),
        "{issues:?}"
    );
}

#[test]
fn null_collections_are_empty() {
    let yaml = "name: x\ntables:\nnetworks: ~\nrouters:\n  r1: {interfaces: null, routes:, rules:, sysctls:}\nhosts:\n  h1: {address: a, secondary: ~, sysctls:}\n";
    assert_eq!(problems(yaml), []);
    assert!(serde_saphyr::from_str::<Topology>(yaml).is_ok());
}

#[test]
fn scalars_are_judged_as_serde_saphyr_reads_them() {
    // Plain numbers and booleans are text where text is expected; quoted numbers and
    // booleans are numbers and booleans where those are expected.
    let ok = "name: 10\nprefix: yes\nnetworks:\n  n: {mtu: \"1400\", allow_overlap: 'on'}\nrouters:\n  r1:\n    routes: [{to: default, metric: 0x10, table: \"yes\"}]\n";
    assert_eq!(problems(ok), []);
    assert!(serde_saphyr::from_str::<Topology>(ok).is_ok());
    // In an untagged enum YAML's inferred type counts: a plain `yes` is not a table.
    let bad = "name: x\nrouters:\n  r1:\n    routes: [{to: default, table: yes}]\n";
    let issues = problems(bad);
    assert_eq!(codes(&issues), ["nshost::wrong_type"]);
    assert!(serde_saphyr::from_str::<Topology>(bad).is_err());
    assert_eq!(
        issues[0].help.as_deref(),
        Some("to mean the text, quote it: `\"yes\"`")
    );
    // Null is not text.
    assert_eq!(codes(&problems("name: ~\n")), ["nshost::wrong_type"]);
}

#[test]
fn tagged_values_are_left_to_serde_saphyr() {
    assert_eq!(problems("name: x\nnetworks:\n  n: {mtu: !!str 1400}\n"), []);
}

#[test]
fn a_value_reached_twice_is_reported_once() {
    let yaml = "name: x\nnetworks:\n  a: &a {mtu: big}\n  b: {<<: *a}\n  c: *a\n";
    let issues = problems(yaml);
    assert_eq!(codes(&issues), ["nshost::wrong_type"], "{issues:?}");
}

#[test]
fn an_empty_file_holds_no_lab() {
    for yaml in ["", "# only a comment\n", "---\n", "~\n"] {
        assert_eq!(codes(&problems(yaml)), ["nshost::empty_file"], "{yaml:?}");
    }
}

#[test]
fn binary_garbage_is_located_without_a_snippet() {
    let issues = problems("name: x\n\0\0\x01");
    assert_eq!(codes(&issues), ["nshost::not_text"]);
    assert!(issues[0].labels.is_empty());
    assert!(
        issues[0]
            .message
            .contains("at line 2, column 1 (byte offset 8)")
    );
}

#[test]
fn the_check_alone_walks_the_tree() {
    let built = build("name: x\nhosts: {h1: {address: a, mtu: 1}}\n");
    // The check itself leaves the MTU's narrower range to `validate`.
    assert_eq!(check::check(built.root.as_ref().unwrap(), &SCHEMA), []);
}
