//! CLI tests of how much the commands print: `-q`, `-v`/`-vv` (and `NSHOST_TRACE`),
//! and the generated shell completions and manual page.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/cli_runs.rs"]
mod runs;
#[path = "support/sandbox.rs"]
mod sandbox;

use ktest::{Run, sandboxed};
use runs::*;

const COMMANDS: [&str; 7] = [
    "validate",
    "plan",
    "apply",
    "destroy",
    "schema",
    "completions",
    "man",
];

#[test]
fn completions_name_every_command() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = nshost(&["completions", shell]);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{shell}");
        for command in COMMANDS {
            assert!(run.stdout.contains(command), "{shell} lacks {command}");
        }
        assert!(run.stdout.contains("--output"), "{shell} lacks --output");
    }
    let bad = nshost(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn man_page_is_roff() {
    let run = nshost(&["man"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let first = run
        .stdout
        .lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"));
    assert!(
        run.stdout.lines().any(|l| l.starts_with(".TH nshost ")),
        "no .TH header: {first:?}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(run.stdout.contains(section), "no {section}");
    }
    for command in COMMANDS {
        assert!(
            run.stdout.contains(&format!("nshost\\-{command}")),
            "no {command}"
        );
    }
}

/// The phases' lines of a `-v` log, without their times: `INFO parse`.
fn phases(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.rsplit_once(": ").map(|(head, _)| head.trim().to_string()))
        .collect()
}

#[test]
fn verbose_logs_the_phases_on_stderr() {
    let file = "topologies/small.yaml";
    let v = nshost(&["validate", file, "-v"]);
    assert_eq!(v.code, 0);
    assert_eq!(
        phases(&v.stderr),
        ["INFO parse", "INFO validate", "INFO lower", "INFO command"]
    );
    // NSHOST_TRACE is -v.
    let env = nshost_env(&["validate", file], &[("NSHOST_TRACE", "1")]);
    assert_eq!(phases(&env.stderr), phases(&v.stderr));
    // Without either, nothing.
    assert_eq!(nshost(&["validate", file]).stderr, "");
    // -q and -v do not go together.
    assert_eq!(nshost(&["validate", file, "-q", "-v"]).code, 2);
}

#[test]
fn quiet_and_verbose_plans_and_applies() {
    let runs: Vec<Run> = sandboxed(|| {
        let file = "topologies/small.yaml";
        vec![
            nshost(&["plan", file, "-v"]),
            nshost(&["apply", file, "-vv"]),
            nshost(&["-q", "plan", file]),
            nshost(&["destroy", file, "-q"]),
        ]
    });
    let plan = phases(&runs[0].stderr);
    for phase in ["parse", "validate", "observe", "diff"] {
        assert!(plan.contains(&format!("INFO {phase}")), "{plan:?}");
    }
    let apply = phases(&runs[1].stderr);
    for phase in ["observe", "diff", "apply", "verify"] {
        assert!(apply.contains(&format!("INFO {phase}")), "{apply:?}");
    }
    // -vv: each stage and step, with its executor and operations.
    assert!(
        apply
            .iter()
            .any(|l| l.starts_with("DEBUG stage 0: create ")),
        "{apply:?}"
    );
    assert!(apply.iter().any(|l| l.contains(" steps, ")), "{apply:?}");
    // -q: the closing line only.
    insta::assert_snapshot!(transcript(&runs[2]), @r"
    exit: 0
    --- stdout
    No changes.
    --- stderr
    ");
    assert_eq!(runs[3].stderr, "");
    assert_eq!(runs[3].stdout.lines().count(), 1, "{}", runs[3].stdout);
    assert!(
        runs[3]
            .stdout
            .starts_with("Destroy complete! Resources: 0 added, 0 changed, 48 destroyed.")
    );
}
