//! `nshost graph` against the kernel: plain before the lab is applied, in sync after,
//! and coloured once a namespace and a link are deleted and an MTU changed behind
//! nshost's back; plain with a note when the process may not read the namespaces.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ktest::*;
use crate::*;

/// `graph --output json` of a lab file: the document, and stderr.
fn graph_json(file: &std::path::Path) -> (Value, String) {
    let run = nshost([
        "graph".as_ref(),
        file.as_os_str(),
        "--output".as_ref(),
        "json".as_ref(),
    ]);
    let json = run.json();
    assert_eq!(run.code, 0, "{}", run.stderr);
    (json, run.stderr)
}

/// Every state of a graph document, as `kind name: state`, sorted.
fn states(g: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for n in g["nodes"].as_array().unwrap() {
        out.insert(
            format!("node {}", str_of(n, "name")),
            str_of(n, "state").into(),
        );
    }
    for n in g["networks"].as_array().unwrap() {
        out.insert(
            format!("network {}", str_of(n, "name")),
            str_of(n, "state").into(),
        );
    }
    for e in g["edges"].as_array().unwrap() {
        out.insert(
            format!("edge {}/{}", str_of(e, "node"), str_of(e, "interface")),
            str_of(e, "state").into(),
        );
    }
    out
}

#[test]
fn graph_is_coloured_by_the_live_kernel() {
    let (before, after, damaged, dot, unprivileged) = sandboxed(|| {
        let file = topology("small.yaml");
        let (before, err) = graph_json(&file);
        assert_eq!(err, "", "not applied: no note");
        apply(&file);
        let (after, _) = graph_json(&file);

        // Behind nshost's back: a node gone, a link gone (both ends of its pair), an
        // MTU changed.
        ip(&["netns", "del", "pc1"]);
        ip(&["-n", "hq-gw", "link", "del", "eth1"]);
        ip(&["-n", "br-gw", "link", "set", "wan0", "mtu", "1400"]);
        let (damaged, _) = graph_json(&file);
        let dot = nshost(["graph".as_ref(), file.as_os_str()]).ok();

        // Without CAP_SYS_ADMIN the namespaces can be seen but not read: plain, and
        // a note says why.
        let mut cmd = wrapped_nshost("setpriv", &["--bounding-set=-all", "--inh-caps=-all"]);
        cmd.args([
            "graph".as_ref(),
            file.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ]);
        let unprivileged = run_command("setpriv ... nshost graph", cmd);
        (before, after, damaged, dot, unprivileged)
    });
    assert_eq!(before["checked"], false);
    assert!(states(&before).values().all(|s| s == "unchecked"));
    assert_eq!(after["checked"], true);
    let in_sync = states(&after);
    assert_eq!(in_sync.len(), 6 + 5 + 10);
    assert!(in_sync.values().all(|s| s == "in_sync"), "{in_sync:#?}");

    assert_eq!(damaged["checked"], true);
    let changed: BTreeMap<String, String> = states(&damaged)
        .into_iter()
        .filter(|(_, s)| s != "in_sync")
        .collect();
    let expected: BTreeMap<String, String> = [
        ("node pc1", "missing"),
        ("edge pc1/eth0", "missing"),
        ("edge hq-gw/eth1", "missing"),
        ("node hq-gw", "drifted"),
        ("node br-gw", "drifted"),
        ("edge br-gw/wan0", "drifted"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(changed, expected);

    assert!(
        dot.contains("label=\"lab small: 3 missing, 3 drifted\""),
        "{dot}"
    );
    assert!(
        dot.contains(
            "\"node:pc1\" [label=\"pc1\", shape=ellipse, color=\"#d62728\", \
             fontcolor=\"#d62728\", penwidth=2, style=\"dashed\"];"
        ),
        "{dot}"
    );
    assert!(
        dot.contains(
            "\"node:br-gw\" -- \"net:wan\" [label=\"wan0\\n10.100.1.2/30\", \
             color=\"#ff7f0e\", fontcolor=\"#ff7f0e\", penwidth=2];"
        ),
        "{dot}"
    );

    assert_eq!(unprivileged.code, 0, "{}", unprivileged.stderr);
    assert!(
        unprivileged
            .stderr
            .starts_with("note: the graph is not coloured by the live kernel: "),
        "{}",
        unprivileged.stderr
    );
    assert!(
        unprivileged.stderr.contains("permission denied"),
        "{}",
        unprivileged.stderr
    );
    let plain = unprivileged.json();
    assert_eq!(plain["checked"], false);
    assert!(states(&plain).values().all(|s| s == "unchecked"));
}
