//! Nothing outlives a lab: processes that run in its namespaces, whoever started them,
//! are stopped (SIGTERM, then SIGKILL after a grace period) when their namespace is
//! deleted, and named in the report.

use std::process::Stdio;

use crate::ktest::*;
use crate::*;

const LAB: &str = "\
name: procs
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
hosts:
  h1: {address: 10.1.1.10/24}
";

#[test]
fn destroy_stops_what_runs_in_the_labs_namespaces() {
    let (out, statuses) = sandboxed(|| {
        let file = scratch("procs.yaml", LAB);
        apply(&file);
        let spawn = |node: &str, cmd: &str| {
            nshost_command()
                .args(["exec", node, "--", "sh", "-c", cmd])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        // One that stops on SIGTERM, one that ignores it.
        let mut polite = spawn("r1", "exec sleep 1000");
        let mut stubborn = spawn("h1", "trap '' TERM; exec sleep 1000");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let out = nshost(["destroy", file.to_str().unwrap()]).ok();
        let statuses = [polite.wait().unwrap(), stubborn.wait().unwrap()].map(|s| format!("{s}"));
        (out, statuses)
    });
    assert!(
        out.contains("Stopped 2 process(es) that ran in the lab's deleted namespaces"),
        "{out}"
    );
    assert!(out.contains("sleep (pid "), "{out}");
    assert!(out.contains(") in r1"), "{out}");
    assert!(out.contains(") in h1, killed after 3s"), "{out}");
    assert_eq!(statuses[0], "signal: 15 (SIGTERM)");
    assert_eq!(statuses[1], "signal: 9 (SIGKILL)");
}
