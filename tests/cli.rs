//! Snapshots of what the `nshost` command prints, and its exit codes, run as a user
//! would run it from the repository root. Most need no kernel; the plan and apply ones
//! run in a sandbox of their own (see `support/ktest.rs`) and are snapshotted outside.
//!
//! Output is made the same everywhere by the environment `ktest::nshost_command` sets:
//! `NO_COLOR=1` and no terminal on any standard stream, so miette renders without
//! colour at its default width of 80 columns (it takes the width from the terminal,
//! not from `COLUMNS`). Review changed snapshots with `cargo insta review`.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/sandbox.rs"]
mod sandbox;

use ktest::{Run, nshost_command, sandboxed};

/// Runs `nshost` from the repository root, so paths in its output are relative.
fn nshost(args: &[&str]) -> Run {
    nshost_env(args, &[])
}

/// [`nshost`] with environment variables set.
fn nshost_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = nshost_command()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running nshost");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A run as one text: exit code, stdout and stderr.
fn transcript(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

#[test]
fn schema_file_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/topology.schema.json");
    let committed = std::fs::read_to_string(path).expect("schemas/topology.schema.json exists");
    let run = nshost(&["schema"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        committed == run.stdout,
        "schemas/topology.schema.json is not what `nshost schema` prints; regenerate it \
         with:\n    cargo run -q -- schema > schemas/topology.schema.json"
    );
    // And it is a JSON Schema.
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["title"], "nshost lab");
}

#[test]
fn validate_valid_files() {
    let small = nshost(&["validate", "topologies/small.yaml"]);
    let full = nshost(&["validate", "topologies/full.yaml"]);
    insta::assert_snapshot!(transcript(&small), @r"
    exit: 0
    --- stdout
    topologies/small.yaml: lab `small` is valid (7 namespaces, 71 objects)
    --- stderr
    ");
    insta::assert_snapshot!(transcript(&full), @r"
    exit: 0
    --- stdout
    topologies/full.yaml: lab `full` is valid (6 namespaces, 89 objects)
    --- stderr
    ");
}

#[test]
fn validate_invalid_file() {
    let run = nshost(&["validate", "tests/cases/invalid/many_problems/lab.yaml"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn validate_syntax_error() {
    let run = nshost(&["validate", "tests/cases/invalid/yaml_syntax_error/lab.yaml"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn validate_missing_file() {
    let run = nshost(&["validate", "no/such/lab.yaml"]);
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 1
    --- stdout
    --- stderr
      × cannot read no/such/lab.yaml
      ╰─▶ No such file or directory (os error 2)
    ");
}

#[test]
fn help() {
    let run = nshost(&["--help"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn plan_help() {
    let run = nshost(&["plan", "--help"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn usage_errors_exit_2() {
    let unknown = nshost(&["frobnicate"]);
    insta::assert_snapshot!(transcript(&unknown), @r"
    exit: 2
    --- stdout
    --- stderr
    error: unrecognized subcommand 'frobnicate'

    Usage: nshost <COMMAND>

    For more information, try '--help'.
    ");
    let destroy = nshost(&["destroy"]);
    insta::assert_snapshot!(transcript(&destroy), @r"
    exit: 2
    --- stdout
    --- stderr
    error: the following required arguments were not provided:
      <FILE>

    Usage: nshost destroy <FILE>

    For more information, try '--help'.
    ");
    let both = nshost(&["destroy", "topologies/small.yaml", "--lab", "small"]);
    assert_eq!(both.code, 2, "{}", both.stderr);
    assert!(
        both.stderr.contains("cannot be used with"),
        "{}",
        both.stderr
    );
}

/// A lab name given on the command line passes the same rule as one in a lab file, and
/// a bad one is a usage error before anything is made: the name names the lock file, so
/// a path there would create it wherever the path points. In a sandbox, as `destroy`
/// would go on to read the kernel; the lock directory is on the sandbox's `/run`, with
/// a `tmp` folder where `../../tmp/x` would land.
#[test]
fn destroy_refuses_a_bad_lab_name() {
    const ROOT: &str = "/run/nshost-cli";
    let (runs, files): (Vec<Run>, Vec<String>) = sandboxed(|| {
        std::fs::create_dir_all(format!("{ROOT}/tmp")).unwrap();
        let env = [("NSHOST_LOCK_DIR", "/run/nshost-cli/locks/dir")];
        let runs = ["../../tmp/x", "/run/nshost-cli/abs", "", ".", "..", "a b"]
            .iter()
            .map(|lab| nshost_env(&["destroy", "--lab", lab], &env))
            .collect();
        (runs, files_under(std::path::Path::new(ROOT)))
    });
    assert_eq!(files, ["tmp"], "nothing was created");
    let all: String = runs.iter().map(transcript).collect();
    insta::assert_snapshot!(all, @r"
    exit: 2
    --- stdout
    --- stderr
    error: invalid value '../../tmp/x' for '--lab <LAB>': the lab name `../../tmp/x` contains '/'; a lab name may hold only letters, digits, `_`, `.` and `-`

    For more information, try '--help'.
    exit: 2
    --- stdout
    --- stderr
    error: invalid value '/run/nshost-cli/abs' for '--lab <LAB>': the lab name `/run/nshost-cli/abs` contains '/'; a lab name may hold only letters, digits, `_`, `.` and `-`

    For more information, try '--help'.
    exit: 2
    --- stdout
    --- stderr
    error: invalid value '' for '--lab <LAB>': the lab name is empty; name the lab with letters, digits, `_`, `.` or `-`

    For more information, try '--help'.
    exit: 2
    --- stdout
    --- stderr
    error: invalid value '.' for '--lab <LAB>': the lab name `.` is reserved: `.` and `..` name directories; choose a name other than `.` or `..`

    For more information, try '--help'.
    exit: 2
    --- stdout
    --- stderr
    error: invalid value '..' for '--lab <LAB>': the lab name `..` is reserved: `.` and `..` name directories; choose a name other than `.` or `..`

    For more information, try '--help'.
    exit: 2
    --- stdout
    --- stderr
    error: invalid value 'a b' for '--lab <LAB>': the lab name `a b` contains ' '; a lab name may hold only letters, digits, `_`, `.` and `-`

    For more information, try '--help'.
    ");
}

/// Every path under `dir`, relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(at) = todo.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                todo.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `plan` on an empty kernel, `apply`, `plan` again and `destroy`, each as printed.
#[test]
fn plan_apply_destroy_in_a_sandbox() {
    let runs: Vec<Run> = sandboxed(|| {
        let file = "topologies/small.yaml";
        vec![
            nshost(&["plan", file]),
            nshost(&["apply", file]),
            nshost(&["plan", file, "--detailed-exitcode"]),
            nshost(&["destroy", file]),
        ]
    });
    insta::assert_snapshot!("plan_empty_kernel", transcript(&runs[0]));
    insta::assert_snapshot!("apply", mask_time(&transcript(&runs[1])));
    insta::assert_snapshot!("plan_after_apply", transcript(&runs[2]));
    insta::assert_snapshot!("destroy", mask_time(&transcript(&runs[3])));
}

/// Masks the time in `(15 ms, 56 netlink requests)` as `([time] ms, ...)`.
fn mask_time(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" ms, ") {
        let (head, tail) = rest.split_at(at);
        let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && head[..head.len() - digits].ends_with('(') {
            out.push_str(&head[..head.len() - digits]);
            out.push_str("[time]");
        } else {
            out.push_str(head);
        }
        out.push_str(" ms, ");
        rest = &tail[" ms, ".len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn masking_time() {
    assert_eq!(
        mask_time("done. (15 ms, 56 netlink requests)\nx 3 ms, y"),
        "done. ([time] ms, 56 netlink requests)\nx 3 ms, y"
    );
}
