//! Routes and rules another program installs in a lab's namespaces (a routing
//! daemon's, known by their protocol) are left alone: no drift, never removed, shown as
//! dynamic by `status`; a lab takes a protocol back with `owns`, and a declared route
//! where a daemon's route is is a conflict that `plan` names.

use crate::ktest::*;
use crate::*;

const LAB: &str = "\
name: own
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
      eth1: {addresses: [10.1.2.1/24]}
hosts:
  h1: {address: 10.1.1.10/24}
  h2: {address: 10.1.2.10/24}
";

/// What a routing daemon (and a hand) leave in `r1`: a BIRD route, a zebra rule, and a
/// `boot` route made by hand, which is the lab's protocol and so drift.
fn daemon_and_hand_objects() {
    for command in [
        "route add 10.2.0.0/24 via 10.1.1.10 proto bird metric 32",
        "rule add pref 500 from 10.9.0.0/16 lookup 100 protocol zebra",
        "route add 10.3.0.0/24 via 10.1.2.10",
    ] {
        let args: Vec<&str> = ["-n", "r1"].into_iter().chain(command.split(' ')).collect();
        run("ip", &args).ok();
    }
}

fn r1_routes() -> String {
    run("ip", &["-n", "r1", "route", "show"]).ok()
}

#[test]
fn a_daemons_routes_and_rules_are_left_alone() {
    let out: (Vec<String>, String, String, Value) = sandboxed(|| {
        let file = scratch("own.yaml", LAB);
        apply(&file);
        daemon_and_hand_objects();
        // Only the hand-made `boot` route is drift.
        let plan = nshost(["plan", file.to_str().unwrap(), "--output", "json"]).ok();
        let json: Value = serde_json::from_str(&plan).unwrap();
        let lines = change_lines(&json["plan"]);
        apply(&file);
        assert_converged(&file);
        let routes = r1_routes();
        let rules = run("ip", &["-n", "r1", "rule", "show"]).ok();
        let status = nshost(["status", file.to_str().unwrap(), "--output", "json"]);
        (lines, routes, rules, status.json())
    });
    let (lines, routes, rules, status) = out;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("10.3.0.0/24"), "{lines:?}");
    assert!(
        routes.contains("10.2.0.0/24 via 10.1.1.10 dev eth0 proto bird metric 32"),
        "{routes}"
    );
    assert!(!routes.contains("10.3.0.0/24"), "{routes}");
    assert!(
        rules.contains("500:\tfrom 10.9.0.0/16 lookup 100 proto zebra"),
        "{rules}"
    );
    let r1 = status["status"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "r1")
        .unwrap();
    let bird: Vec<&Value> = r1["routes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dst"] == "10.2.0.0/24")
        .collect();
    assert_eq!(bird.len(), 1, "{r1:#}");
    assert_eq!(bird[0]["proto"], "bird");
    assert_eq!(bird[0]["dynamic"], true);
    assert_eq!(r1["drift"]["reason"], "in sync", "{r1:#}");
}

#[test]
fn a_lab_that_owns_a_protocol_removes_its_routes_and_rules() {
    let (plan, routes, rules) = sandboxed(|| {
        let file = scratch("own.yaml", LAB);
        apply(&file);
        daemon_and_hand_objects();
        let owning = scratch(
            "owning.yaml",
            &edit(
                LAB,
                "name: own\n",
                "name: own\nowns: {protocols: [bird, zebra]}\n",
            ),
        );
        let plan = nshost(["plan", owning.to_str().unwrap()]).ok();
        apply(&owning);
        assert_converged(&owning);
        (
            plan,
            r1_routes(),
            run("ip", &["-n", "r1", "rule", "show"]).ok(),
        )
    });
    assert!(plan.contains("10.2.0.0/24"), "{plan}");
    assert!(
        !routes.contains("10.2.0.0/24") && !routes.contains("10.3.0.0/24"),
        "{routes}"
    );
    assert!(!rules.contains("zebra"), "{rules}");
}

#[test]
fn a_declared_route_where_a_daemons_route_is_is_named_as_a_conflict() {
    let (run_, routes) = sandboxed(|| {
        let file = scratch("own.yaml", LAB);
        apply(&file);
        daemon_and_hand_objects();
        let clash = scratch(
            "clash.yaml",
            &edit(
                LAB,
                "      eth1: {addresses: [10.1.2.1/24]}\n",
                "      eth1: {addresses: [10.1.2.1/24]}\n    routes:\n      - {to: 10.2.0.0/24, via: 10.1.2.10, metric: 32}\n",
            ),
        );
        let run_ = nshost(["apply", clash.to_str().unwrap()]);
        (run_, r1_routes())
    });
    assert_ne!(run_.code, 0, "{run_:?}");
    let text = flat(&run_.stderr);
    assert!(
        text.contains("route 10.2.0.0/24 metric 32 in r1 is owned by bird (protocol 12)"),
        "{text}"
    );
    assert!(
        routes.contains("10.2.0.0/24 via 10.1.1.10 dev eth0 proto bird metric 32"),
        "{routes}"
    );
}
