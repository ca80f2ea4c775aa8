//! Apply as a transaction: an apply that fails at any stage, by an injected fault
//! (`NSHOST_FAULT=stage:K`, compiled into the binary under test) or by a real refusal
//! of the kernel, is undone, and the kernel is as it was before, object for object
//! (see `dump.rs`).

use std::path::Path;

use crate::dump;
use crate::ktest::*;
use crate::small::*;
use crate::*;

/// The number in `rolled back: N change(s) undone`, if the report says that.
fn undone(report: &str) -> Option<usize> {
    let rest = report.split("rolled back: ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

/// Applies `file` with a fault injected at stage 0, 1, 2, ... in turn, until an apply
/// succeeds because its plan has no such stage. Every failed apply must say it rolled
/// back, and leave the kernel exactly as it was. Returns how many stages failed.
pub(crate) fn fail_every_stage(file: &Path, what: &str) -> usize {
    let before = dump::kernel();
    let mut k = 0;
    loop {
        let fault = format!("stage:{k}");
        let run = nshost_env(
            &[("NSHOST_FAULT", &fault)],
            ["apply".as_ref(), file.as_os_str()],
        );
        if run.code == 0 {
            break;
        }
        let run = run.code(1);
        let err = flat(&run.stderr);
        assert!(
            err.contains("nshost::apply_failed"),
            "{what}, {fault}: {}",
            run.stderr
        );
        assert!(
            err.contains("injected fault (NSHOST_FAULT)"),
            "{what}, {fault}: {}",
            run.stderr
        );
        assert!(
            undone(&err).is_some_and(|n| n > 0)
                && err.contains("the kernel is as it was before the apply"),
            "{what}, {fault}: not rolled back: {}",
            run.stderr
        );
        dump::assert_same(&before, &dump::kernel(), &format!("{what}, {fault}"));
        k += 1;
        assert!(k < 64, "{what}: the fault fires at every stage, up to {k}");
    }
    assert!(k >= 1, "{what}: no stage failed");
    // The apply that had no stage to fail did the whole job.
    assert_converged(file);
    k
}

/// Issue: a failed apply left its partial changes in the kernel. A cold apply of the
/// small lab that fails at any of its stages is rolled back to nothing at all.
#[test]
fn a_cold_apply_failing_at_any_stage_is_rolled_back() {
    let stages = sandboxed(|| {
        let file = topology("small.yaml");
        assert!(dump::kernel().is_empty(), "a fresh sandbox");
        let stages = fail_every_stage(&file, "cold apply");
        // Namespaces, then the veth pairs, then what is in them: each stage was undone.
        assert!(stages >= 3, "{stages} stages");
        check_small("small", "");
        stages
    });
    eprintln!("cold apply of small.yaml: {stages} stages, each failed once and rolled back");
}

/// Issue: a failed apply left its partial changes in the kernel. Each kind of edit of
/// an applied lab (an address changed, a host added, a host removed, an MTU changed, a
/// route added), failing at any of its stages, is rolled back to the lab as it was.
#[test]
fn an_edit_failing_at_any_stage_is_rolled_back() {
    let stages = sandboxed(|| {
        let base = small_text();
        let file = scratch("small.yaml", &base);
        let edits: [(&str, String); 5] = [
            (
                "an address changed",
                edit(
                    &base,
                    "pc2: {address: 10.2.2.10/24}",
                    "pc2: {address: 10.2.2.20/24}",
                ),
            ),
            (
                "a host added",
                format!("{base}  pc3: {{address: 10.2.1.11/24}}\n"),
            ),
            (
                "a host removed",
                edit(&base, "  db1: {address: 10.1.2.10/24}\n", ""),
            ),
            (
                "an MTU changed",
                edit(
                    &base,
                    "web1: {address: 10.1.1.10/24}",
                    "web1: {address: 10.1.1.10/24, mtu: 1400}",
                ),
            ),
            (
                "a route added",
                edit(
                    &base,
                    "      - {to: 10.2.0.0/16, via: 10.100.1.2}\n",
                    "      - {to: 10.2.0.0/16, via: 10.100.1.2}\n      \
                     - {to: 192.0.2.0/24, via: 10.100.1.2, metric: 5}\n",
                ),
            ),
        ];
        let mut stages = Vec::new();
        for (what, text) in edits {
            scratch("small.yaml", &base);
            apply(&file);
            assert_converged(&file);
            scratch("small.yaml", &text);
            stages.push((what.to_string(), fail_every_stage(&file, what)));
        }
        stages
    });
    for (what, k) in stages {
        eprintln!("edit, {what}: {k} stages, each failed once and rolled back");
    }
}

/// Issue: a failed apply left its partial changes in the kernel, for a real failure too.
/// With the sandbox's user namespace allowed only a few more network namespaces, a
/// cold apply fails part-way through making them (ENOSPC), is rolled back to nothing,
/// and succeeds once the limit is raised again.
#[test]
fn a_real_kernel_failure_is_rolled_back() {
    sandboxed(|| {
        const LIMIT: &str = "/proc/sys/user/max_net_namespaces";
        let file = topology("small.yaml");
        let before = dump::kernel();
        let original = std::fs::read_to_string(LIMIT).unwrap();
        // The sandbox's own network namespace counts; three more may be made (the
        // kernel probe nshost runs takes one for a moment), of the seven the lab needs.
        std::fs::write(LIMIT, "4").unwrap();
        let run = nshost(["apply".as_ref(), file.as_os_str()]).code(1);
        let err = flat(&run.stderr);
        assert!(err.contains("nshost::apply_failed"), "{}", run.stderr);
        assert!(err.contains("No space left on device"), "{}", run.stderr);
        assert!(
            run.stderr.contains("small.yaml:") && run.stderr.contains("╰── create host namespace"),
            "each refused change is shown at its place in the file: {}",
            run.stderr
        );
        let refused: usize = err
            .split("the kernel refused ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count of refused changes: {}", run.stderr));
        assert!(
            (1..7).contains(&refused),
            "the apply failed part-way through the 7 namespaces: {}",
            run.stderr
        );
        assert!(
            undone(&err).is_some_and(|n| n > 0),
            "what was made is undone: {}",
            run.stderr
        );
        dump::assert_same(&before, &dump::kernel(), "after ENOSPC");
        assert_eq!(netns(), Vec::<String>::new());

        std::fs::write(LIMIT, original.trim()).unwrap();
        apply(&file);
        assert_converged(&file);
        check_small("small", "");
    })
}
