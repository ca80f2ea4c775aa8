//! The JSON documents of `--output json`: the committed schemas (`schemas/output/`) are
//! what `nshost schema --output-of` prints, and what the commands print validates
//! against them, errors included; in JSON mode stderr stays quiet.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/cli_runs.rs"]
mod runs;
#[path = "support/sandbox.rs"]
mod sandbox;

use ktest::{Run, sandboxed};
use runs::*;
use serde_json::Value;

fn schema_path(name: &str) -> String {
    format!(
        "{}/schemas/output/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The committed schema of `name`.
fn schema(name: &str) -> Value {
    let text = std::fs::read_to_string(schema_path(name))
        .unwrap_or_else(|e| panic!("{}: {e}", schema_path(name)));
    serde_json::from_str(&text).unwrap()
}

/// Parses a run's stdout as one JSON document and checks it against schema `name`.
#[track_caller]
fn valid_json(run: &Run, name: &str) -> Value {
    let doc: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", transcript(run)));
    let schema = schema(name);
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the output does not match {name}.schema.json:\n{}\n{}",
        errors.join("\n"),
        run.stdout
    );
    assert_eq!(doc["format_version"], 1);
    doc
}

#[test]
fn output_schemas_are_current() {
    for (name, _) in nshost::report::SCHEMAS {
        let run = nshost(&["schema", "--output-of", name]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let committed = std::fs::read_to_string(schema_path(name)).unwrap_or_default();
        assert!(
            committed == run.stdout,
            "schemas/output/{name}.schema.json is not what `nshost schema --output-of {name}` \
             prints; regenerate it with:\n    cargo run -q -- schema --output-of {name} > \
             schemas/output/{name}.schema.json"
        );
    }
    // Every committed file is one of them.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/output");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let name = file.trim_end_matches(".schema.json");
        assert!(
            nshost::report::SCHEMAS.iter().any(|(n, _)| *n == name),
            "schemas/output/{file} is no command's schema"
        );
    }
}

#[test]
fn validate_json_matches_its_schema() {
    let small = nshost(&["validate", "--output", "json", "topologies/small.yaml"]);
    assert_eq!((small.code, small.stderr.as_str()), (0, ""));
    let doc = valid_json(&small, "validate");
    assert_eq!(doc["lab"], "small");
    assert_eq!(doc["objects"], 64);
    let warned = "tests/cases/valid/overlapping_subnets/lab.yaml";
    let warned = nshost(&["validate", "--output", "json", warned]);
    assert_eq!((warned.code, warned.stderr.as_str()), (0, ""));
    let doc = valid_json(&warned, "validate");
    let warnings = doc["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty());
    assert_eq!(warnings[0]["code"], "nshost::overlapping_subnets");
    assert_eq!(warnings[0]["severity"], "warning");
}

#[test]
fn errors_are_json_documents() {
    let many = "tests/cases/invalid/many_problems/lab.yaml";
    let run = nshost(&["validate", many, "--output", "json"]);
    assert_eq!((run.code, run.stderr.as_str()), (1, ""));
    let doc = valid_json(&run, "error");
    assert_eq!(doc["error"]["code"], "nshost::invalid");
    let problems = doc["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 10);
    // Located as the human report locates them: `lab.yaml:1:7`.
    let first = &problems[0];
    assert_eq!(first["code"], "nshost::bad_lab_name");
    assert_eq!(first["file"], many);
    assert_eq!(
        (first["line"].clone(), first["column"].clone()),
        (1.into(), 7.into())
    );
    assert_eq!(first["label"], "' ' is not allowed here");

    let syntax = nshost(&[
        "validate",
        "--output",
        "json",
        "tests/cases/invalid/yaml_syntax_error/lab.yaml",
    ]);
    assert_eq!((syntax.code, syntax.stderr.as_str()), (1, ""));
    let doc = valid_json(&syntax, "error");
    assert!(doc["error"]["problems"][0]["line"].is_u64(), "{doc}");

    let missing = nshost(&["plan", "--output", "json", "no/such/lab.yaml"]);
    assert_eq!((missing.code, missing.stderr.as_str()), (1, ""));
    let doc = valid_json(&missing, "error");
    assert_eq!(doc["error"]["code"], "nshost::read");
    assert_eq!(
        doc["error"]["message"],
        "cannot read no/such/lab.yaml: No such file or directory (os error 2)"
    );
    // A usage error is clap's, on stderr, exit 2, as without --output json.
    let usage = nshost(&["plan", "--output", "json"]);
    assert_eq!((usage.code, usage.stdout.as_str()), (2, ""));
}

/// plan, apply, plan, destroy, and a conflict, in a sandbox, each as JSON.
#[test]
fn plan_apply_destroy_json_match_their_schemas() {
    let runs: Vec<Run> = sandboxed(|| {
        let file = "topologies/small.yaml";
        let json = |cmd: &str| nshost(&[cmd, file, "--output", "json"]);
        let mut runs = vec![json("plan"), json("apply"), json("plan"), json("destroy")];
        ktest::ip(&["netns", "add", "web1"]);
        runs.push(json("apply"));
        runs
    });
    for run in &runs {
        assert_eq!(run.stderr, "", "{}", transcript(run));
    }
    let plan = valid_json(&runs[0], "plan");
    assert_eq!(plan["plan"]["summary"]["add"], 64);
    let apply = valid_json(&runs[1], "apply");
    assert_eq!(apply["plan"]["summary"]["add"], 64);
    assert!(
        apply["applied"]["stats"]["netlink_requests"]
            .as_u64()
            .unwrap()
            > 0
    );
    let again = valid_json(&runs[2], "plan");
    assert_eq!(again["plan"]["changes"], Value::Array(vec![]));
    let destroy = valid_json(&runs[3], "destroy");
    assert_eq!(destroy["plan"]["summary"]["destroy"], 48);
    assert_eq!(runs[4].code, 1);
    let conflict = valid_json(&runs[4], "error");
    assert_eq!(conflict["error"]["code"], "nshost::conflict");
}

#[test]
fn status_graph_and_try_json_match_their_schemas() {
    let runs: Vec<Run> = sandboxed(|| {
        let file = "topologies/small.yaml";
        assert_eq!(nshost(&["apply", file, "-q"]).code, 0);
        vec![
            nshost(&["status", "--output", "json"]),
            nshost(&["status", "--lab", "small", "--output", "json"]),
            nshost(&["status", file, "--output", "json"]),
            nshost(&["graph", file, "--output", "json"]),
            nshost(&["try", "--output", "json"]),
        ]
    });
    for run in &runs {
        assert_eq!(run.stderr, "", "{}", transcript(run));
    }
    let machine = valid_json(&runs[0], "status");
    assert_eq!(machine["status"]["labs"][0]["lab"], "small");
    let lab = valid_json(&runs[1], "status-lab");
    assert_eq!(lab["status"]["nodes"].as_array().unwrap().len(), 6);
    valid_json(&runs[2], "status-lab");
    let graph = valid_json(&runs[3], "graph");
    assert_eq!(graph["networks"].as_array().unwrap().len(), 5);
    let tried = valid_json(&runs[4], "try");
    assert_eq!(tried["checks"]["passed"], 8);
    assert_eq!(tried["status"]["nodes"].as_array().unwrap().len(), 6);
}

#[test]
fn follow_on_problems_are_each_listed_with_their_cause() {
    let lab = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/cases/invalid/network_range/lab.yaml"
    );
    let run = nshost(&["validate", "--output", "json", lab]);
    let doc = valid_json(&run, "error");
    let problems = doc["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 205);
    let follow_on: Vec<&Value> = problems
        .iter()
        .filter(|p| p["because"].is_string())
        .collect();
    assert_eq!(follow_on.len(), 200);
    assert_eq!(follow_on[0]["message"], "host `a1` has no address");
    assert_eq!(follow_on[0]["because"], "unknown network `lan2`");
    // Every cause is itself a problem of the report, before what follows from it.
    for p in &follow_on {
        assert!(problems[..5].iter().any(|c| c["message"] == p["because"]));
    }
}
