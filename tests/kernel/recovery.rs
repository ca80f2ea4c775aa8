//! Recovery: whatever a failed or killed apply left in the kernel, the next apply of
//! the same file converges it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::ktest::*;
use crate::labgen::GenLab;
use crate::small::*;
use crate::*;

/// Issue: after an apply that failed part-way and kept what it had done, the next
/// apply refused the lab's own half-made namespaces as "owned by nobody". A cold apply
/// of the small lab failing at each of its stages in turn, kept with `--no-rollback`,
/// is converged by the next apply.
#[test]
fn apply_converges_after_a_failed_apply_kept_with_no_rollback() {
    sandboxed(|| {
        let file = topology("small.yaml");
        let mut k = 0;
        loop {
            let fault = format!("stage:{k}");
            let run = nshost_env(
                &[("NSHOST_FAULT", &fault)],
                ["apply".as_ref(), file.as_os_str(), "--no-rollback".as_ref()],
            );
            if run.code == 0 {
                break;
            }
            let run = run.code(1);
            let err = flat(&run.stderr);
            assert!(
                err.contains("nshost::apply_failed"),
                "{fault}: {}",
                run.stderr
            );
            assert!(
                err.contains("the changes made so far are kept (--no-rollback)"),
                "{fault}: {}",
                run.stderr
            );
            assert!(!netns().is_empty(), "{fault}: the partial state is kept");

            apply(&file);
            assert_converged(&file);
            check_small("small", "");
            nshost(["destroy".as_ref(), file.as_os_str()]).ok();
            assert_eq!(
                entries(),
                BTreeMap::new(),
                "{fault}: destroy removed it all"
            );
            k += 1;
            assert!(k < 64, "the fault fires at every stage, up to {k}");
        }
        assert!(k >= 3, "only {k} stage(s) failed");
        // The apply that had no stage to fail made the whole lab.
        assert_converged(&file);
        check_small("small", "");
    })
}

/// Issue: after an apply killed part-way, the next apply refused the lab's own
/// half-made objects as "owned by nobody". An apply of a 200-host lab killed
/// (`kill -9`) while it makes its namespaces, and one killed while it makes the veth
/// pairs, are each converged by the next apply, which leaves nothing under
/// `/run/netns` but mounted namespaces.
#[test]
fn apply_converges_after_an_apply_killed_part_way() {
    sandboxed(|| {
        let lab = GenLab::new("big", 200);
        let file = scratch("big.yaml", &lab.to_yaml());
        let total = lab.node_names().len() + 1;
        let fabric = "big-fabric";
        // The fabric's links once applied: its loopback, a bridge per network, and a
        // port per interface (one per host, one per router interface).
        let fabric_links = 1 + lab.networks.len() + lab.hosts.len() + 4 * 4;
        for phase in ["namespaces", "links"] {
            let mut child = spawn_nshost_quiet(["apply".as_ref(), file.as_os_str()]);
            let running = |child: &mut std::process::Child| {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "the apply ended before it was killed ({phase})"
                );
                std::thread::sleep(Duration::from_millis(1));
            };
            while netns().len() < total / 4 {
                running(&mut child);
            }
            if phase == "links" {
                while netns().len() < total || link_count(fabric) < fabric_links / 4 {
                    running(&mut child);
                }
            }
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success(), "the apply was killed: {status}");
            let (spaces, links) = (netns().len(), link_count(fabric));
            match phase {
                "namespaces" => assert!(
                    (1..total).contains(&spaces),
                    "killed while making namespaces: {spaces} of {total} there"
                ),
                _ => assert!(
                    spaces == total && links < fabric_links,
                    "killed while making links: {links} of {fabric_links} in the fabric"
                ),
            }

            apply(&file);
            assert_converged(&file);
            assert_only_namespaces();
            assert_eq!(netns().len(), total);
            assert_eq!(link_count(fabric), fabric_links);
            assert!(reach("h0", "10.1.0.1"), "h0 -> its router");
            nshost(["destroy".as_ref(), file.as_os_str()]).ok();
            assert_eq!(entries(), BTreeMap::new());
        }
    })
}
