//! `nshost check` and `apply --check`: reachability checks declared in the lab file or
//! derived from it, sent from inside the lab's namespaces, with their table, their JSON
//! report and their exit code; and what they refuse. (Plain string comparisons, not
//! insta: the suite reruns as `nobody`, who cannot read the source tree.)

use std::ffi::OsStr;

use crate::ktest::*;
use crate::labgen::GenLab;
use crate::*;

/// Two sites; `r1` has no route to `r2`'s second LAN (`10.3.0.0/24`), so what goes
/// there from `r1`'s side is refused on the way.
pub const TWO_SITES: &str = "\
name: chk
networks:
  wan: {subnets: [10.0.0.0/30]}
routers:
  r1:
    interfaces:
      lan: {addresses: [10.1.0.1/24]}
      wan: {network: wan, addresses: [10.0.0.1/30]}
    routes:
      - {to: 10.2.0.0/24, via: 10.0.0.2}
  r2:
    interfaces:
      lan: {addresses: [10.2.0.1/24]}
      lan3: {addresses: [10.3.0.1/24]}
      wan: {network: wan, addresses: [10.0.0.2/30]}
    routes:
      - {to: 10.1.0.0/24, via: 10.0.0.1}
hosts:
  a: {address: 10.1.0.10/24}
  b: {address: 10.2.0.10/24}
  c: {address: 10.3.0.10/24}
checks:
  - {from: a, to: b}
  - {from: b, to: r1}
  - {from: a, to: c, expect: unreachable}
  - {from: r1, to: 10.3.0.10, expect: unreachable}
";

/// A check table with its times masked (they differ from run to run).
fn masked(table: &str) -> String {
    table
        .lines()
        .map(|l| {
            let l = match l.find(" in ").filter(|_| l.ends_with(" ms")) {
                Some(at) => format!("{} in <t> ms", &l[..at]),
                None => l.to_string(),
            };
            match l.strip_prefix("Checks: ").and_then(|r| r.rsplit_once(" (")) {
                Some((counts, _)) => format!("Checks: {counts} (<t> ms)"),
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(file: &std::path::Path, more: &[&str]) -> Run {
    let mut args: Vec<&OsStr> = vec!["check".as_ref(), file.as_os_str()];
    args.extend(more.iter().map(OsStr::new));
    nshost(args)
}

/// Declared checks that all hold: a reply from a host, from a router (its first
/// interface by name), an ICMP error from a router without a route, and the source's
/// own "network unreachable"; exit 0, and each row says what happened.
#[test]
fn declared_checks_that_hold() {
    let table = sandboxed(|| {
        let file = scratch("chk.yaml", TWO_SITES);
        apply(&file);
        let out = check(&file, &[]).ok();
        masked(&out)
    });
    assert_eq!(
        table,
        "\
FROM  SOURCE     TO             EXPECTED     RESULT  DETAIL\n\
a     10.1.0.10  b (10.2.0.10)  reachable    pass    reply from 10.2.0.10 in <t> ms\n\
b     10.2.0.10  r1 (10.1.0.1)  reachable    pass    reply from 10.1.0.1 in <t> ms\n\
a     10.1.0.10  c (10.3.0.10)  unreachable  pass    destination unreachable (network unreachable) from 10.1.0.1\n\
r1    -          10.3.0.10      unreachable  pass    network unreachable\n\
\n\
Checks: 4 passed, 0 failed (<t> ms)"
    );
}

/// A must-not-reach check to a host that answers fails: exit 1, its row says FAIL
/// with the reply, the others still pass; the JSON report says the same.
#[test]
fn a_must_not_reach_check_that_is_reached_fails() {
    let (table, json) = sandboxed(|| {
        let text = format!("{TWO_SITES}  - {{from: c, to: b, expect: unreachable}}\n");
        let file = scratch("chk.yaml", &text);
        apply(&file);
        let table = check(&file, &[]).code(1).stdout;
        let json = check(&file, &["--output", "json"]).code(1).json();
        (masked(&table), json)
    });
    let failing: Vec<&str> = table.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(
        failing,
        ["c     10.3.0.10  b (10.2.0.10)  unreachable  FAIL    reply from 10.2.0.10 in <t> ms"]
    );
    assert!(
        table.ends_with("Checks: 4 passed, 1 failed (<t> ms)"),
        "{table}"
    );
    assert_eq!(
        (json["passed"].as_u64(), json["failed"].as_u64()),
        (Some(4), Some(1))
    );
    let last = &json["checks"][4];
    assert_eq!(last["passed"], false);
    assert_eq!(last["expect"], "unreachable");
    assert_eq!(last["outcome"]["result"], "reply");
    assert_eq!(last["outcome"]["from"], "10.2.0.10");
    assert_eq!(last["source"], "10.3.0.10");
    assert_eq!(json["defaults"], false);
}

/// IPv6 right after an apply: `apply --check` of a dual-stack lab whose checks go to
/// IPv6 addresses (a node's with `family: ipv6`, and one written out) passes, exit 0.
#[test]
fn ipv6_checks_right_after_apply() {
    let out = sandboxed(|| {
        let text = "\
name: v6
networks:
  left: {subnets: [10.1.0.0/24, \"fd00:1::/64\"]}
  right: {subnets: [10.2.0.0/24, \"fd00:2::/64\"]}
routers:
  r:
    interfaces:
      eth0: {network: left, addresses: [10.1.0.1/24, \"fd00:1::1/64\"]}
      eth1: {network: right, addresses: [10.2.0.1/24, \"fd00:2::1/64\"]}
hosts:
  h1: {address: 10.1.0.10/24, secondary: [\"fd00:1::10/64\"], network: left}
  h2: {address: 10.2.0.10/24, secondary: [\"fd00:2::10/64\"], network: right}
checks:
  - {from: h1, to: h2, family: ipv6}
  - {from: h2, to: \"fd00:1::10\"}
  - {from: h1, to: r, family: ipv6}
";
        let file = scratch("v6.yaml", text);
        nshost(["apply".as_ref(), file.as_os_str(), "--check".as_ref()]).ok()
    });
    assert!(out.contains("Apply complete!"), "{out}");
    let rows: Vec<String> = masked(&out)
        .lines()
        .skip_while(|l| !l.starts_with("FROM"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        rows.join("\n"),
        "\
FROM  SOURCE      TO               EXPECTED   RESULT  DETAIL\n\
h1    fd00:1::10  h2 (fd00:2::10)  reachable  pass    reply from fd00:2::10 in <t> ms\n\
h2    fd00:2::10  fd00:1::10       reachable  pass    reply from fd00:1::10 in <t> ms\n\
h1    fd00:1::10  r (fd00:1::1)    reachable  pass    reply from fd00:1::1 in <t> ms\n\
\n\
Checks: 3 passed, 0 failed (<t> ms)"
    );
}

/// Without declared checks, `topologies/small.yaml` gets every host to its gateway
/// and to the first host behind the other router: 8 checks, all passing.
#[test]
fn default_checks_of_the_small_lab() {
    let (table, json) = sandboxed(|| {
        let file = topology("small.yaml");
        apply(&file);
        let table = check(&file, &[]).ok();
        let json = check(&file, &["--output", "json"]).code(0).json();
        (masked(&table), json)
    });
    assert_eq!(
        table,
        "\
FROM  SOURCE     TO                EXPECTED   RESULT  DETAIL\n\
db1   10.1.2.10  hq-gw (10.1.2.1)  reachable  pass    reply from 10.1.2.1 in <t> ms\n\
db1   10.1.2.10  pc1 (10.2.1.10)   reachable  pass    reply from 10.2.1.10 in <t> ms\n\
pc1   10.2.1.10  br-gw (10.2.1.1)  reachable  pass    reply from 10.2.1.1 in <t> ms\n\
pc1   10.2.1.10  db1 (10.1.2.10)   reachable  pass    reply from 10.1.2.10 in <t> ms\n\
pc2   10.2.2.10  br-gw (10.2.2.1)  reachable  pass    reply from 10.2.2.1 in <t> ms\n\
pc2   10.2.2.10  db1 (10.1.2.10)   reachable  pass    reply from 10.1.2.10 in <t> ms\n\
web1  10.1.1.10  hq-gw (10.1.1.1)  reachable  pass    reply from 10.1.1.1 in <t> ms\n\
web1  10.1.1.10  pc1 (10.2.1.10)   reachable  pass    reply from 10.2.1.10 in <t> ms\n\
\n\
Checks: 8 passed, 0 failed (<t> ms)"
    );
    assert_eq!(json["defaults"], true);
    assert_eq!(json["checks"].as_array().map(Vec::len), Some(8));
    assert_eq!(json["format_version"], 1);
}

/// A lab that is not applied is refused, before anything is sent: all of it missing,
/// or one namespace of it. The ad-hoc form (`--from`/`--to`) is refused the same way,
/// and a target outside the lab is refused before the kernel is looked at.
#[test]
fn checks_of_a_lab_not_applied_are_refused() {
    sandboxed(|| {
        let file = scratch("chk.yaml", TWO_SITES);
        let err = flat(&check(&file, &[]).code(1).stderr);
        assert!(err.contains("nshost::not_applied"), "{err}");
        assert!(
            err.contains("lab `chk` is not applied: none of its 6 namespaces exist"),
            "{err}"
        );
        assert!(err.contains("nshost apply FILE"), "{err}");
        let err = flat(&check(&file, &["--from", "a", "--to", "b"]).code(1).stderr);
        assert!(err.contains("nshost::not_applied"), "{err}");

        apply(&file);
        let err = flat(
            &check(&file, &["--from", "a", "--to", "192.0.2.1"])
                .code(1)
                .stderr,
        );
        assert!(err.contains("nshost::bad_check"), "{err}");
        assert!(err.contains("outside every subnet of the lab"), "{err}");
        let adhoc = check(&file, &["--from", "a", "--to", "10.2.0.10"]).ok();
        assert!(adhoc.contains("Checks: 1 passed, 0 failed"), "{adhoc}");

        ip(&["netns", "delete", "b"]);
        let err = flat(&check(&file, &[]).code(1).stderr);
        assert!(
            err.contains("lab `chk` is not fully applied: namespace b missing"),
            "{err}"
        );
    })
}

/// Issue: a check held descriptors per namespace. Default checks of a generated lab of
/// 300 hosts (1200 checks from 300 namespaces) all pass with the open-file limit at
/// 1024, soft and hard, and at 128, which holds fewer descriptors than the lab has
/// namespaces (the raw sockets are opened in windows that fit).
#[test]
fn checks_of_three_hundred_hosts_within_1024_open_files() {
    // About 620 neighbour entries: beside another such test, the machine's table is full.
    let lasts = sandboxed_alone(|| {
        let lab = GenLab::new("big", 300);
        let file = scratch("big.yaml", &lab.to_yaml());
        apply(&file);
        ["1024", "128"].map(|limit| {
            let nofile = format!("--nofile={limit}:{limit}");
            let mut cmd = wrapped_nshost("prlimit", &[&nofile, "--"]);
            cmd.arg("check").arg(&file);
            let what = format!("prlimit {nofile} nshost check big.yaml");
            let out = run_command(&what, cmd).ok();
            masked(&out).lines().last().unwrap_or_default().to_string()
        })
    });
    assert_eq!(lasts, ["Checks: 1200 passed, 0 failed (<t> ms)"; 2]);
}

/// `check --wait` retries the failing checks until every expectation holds, as when a
/// routing daemon is still installing its routes: here r1's route to b's LAN is taken
/// away by hand and put back a second later, while the checks wait. The must-not-reach
/// checks are run again at the end, and still hold. Without `--wait` the same check
/// fails at once.
#[test]
fn check_wait_retries_until_the_lab_has_converged() {
    let (plain, waited) = sandboxed(|| {
        let file = scratch("chk.yaml", TWO_SITES);
        apply(&file);
        let route = ["-n", "r1", "route", "del", "10.2.0.0/24", "via", "10.0.0.2"];
        run("ip", &route).ok();
        let plain = nshost([
            "check".as_ref(),
            file.as_os_str(),
            "--timeout".as_ref(),
            "0.2".as_ref(),
        ]);
        let back = std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            run(
                "ip",
                &["-n", "r1", "route", "add", "10.2.0.0/24", "via", "10.0.0.2"],
            )
            .ok();
        });
        let waited = nshost([
            "check".as_ref(),
            file.as_os_str(),
            "--timeout".as_ref(),
            "0.2".as_ref(),
            "--wait".as_ref(),
            "20s".as_ref(),
            "--output".as_ref(),
            "json".as_ref(),
        ]);
        back.join().unwrap();
        (plain, waited)
    });
    assert_eq!(plain.code, 1, "{plain:?}");
    assert_eq!(waited.code, 0, "{waited:?}");
    let report = waited.json();
    assert_eq!(report["failed"], 0, "{report:#}");
    let w = &report["waited"];
    assert!(w["rounds"].as_u64().unwrap() > 1, "{w}");
    assert!(w["converged_ms"].as_f64().unwrap() >= 1000.0, "{w}");
}
