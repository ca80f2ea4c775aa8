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
    let out = nshost_command()
        .args(args)
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

/// Runs `nshost` in `dir` like `nshost`, but fails instead of hanging when it does not
/// exit within 20 seconds (reading a FIFO or `/dev/zero` would never end).
fn nshost_in(dir: &std::path::Path, args: &[&str]) -> Run {
    let mut child = nshost_command()
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running nshost");
    let started = std::time::Instant::now();
    while child.try_wait().expect("waiting for nshost").is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("nshost {} did not exit within 20 s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("nshost output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh directory for the files a test makes (nshost runs in it, so that the paths
/// it prints are the same everywhere).
fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn validate_refuses_a_fifo_without_blocking() {
    let dir = scratch("fifo");
    nix::unistd::mkfifo(&dir.join("lab.yaml"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let run = nshost_in(&dir, &["validate", "lab.yaml"]);
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 1
    --- stdout
    --- stderr
      × cannot read lab.yaml
      ╰─▶ it is a FIFO (named pipe); a lab file must be a regular file
    ");
}

#[test]
fn validate_refuses_devices_and_directories() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let zero = nshost_in(root, &["validate", "/dev/zero"]);
    insta::assert_snapshot!(transcript(&zero), @r"
    exit: 1
    --- stdout
    --- stderr
      × cannot read /dev/zero
      ╰─▶ it is a character device; a lab file must be a regular file
    ");
    let dir = nshost_in(root, &["validate", "topologies"]);
    insta::assert_snapshot!(transcript(&dir), @r"
    exit: 1
    --- stdout
    --- stderr
      × cannot read topologies
      ╰─▶ it is a directory; a lab file must be a regular file
    ");
}

#[test]
fn validate_refuses_an_oversized_file() {
    let dir = scratch("oversized");
    // Sparse: no 16 MiB is written.
    let file = std::fs::File::create(dir.join("lab.yaml")).unwrap();
    file.set_len(nshost::topology::MAX_LAB_BYTES + 1).unwrap();
    let run = nshost_in(&dir, &["validate", "lab.yaml"]);
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 1
    --- stdout
    --- stderr
      × cannot read lab.yaml
      ╰─▶ it is larger than 16 MiB (16,777,217 bytes), the most a lab file may be
    ");
}

#[test]
fn validate_locates_bytes_that_are_not_utf8() {
    let dir = scratch("not-utf8");
    let text = b"name: demo\nhosts:\n  h\xe9: {address: 10.1.1.10/24}\n";
    std::fs::write(dir.join("lab.yaml"), text).unwrap();
    let run = nshost_in(&dir, &["validate", "lab.yaml"]);
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 1
    --- stdout
    --- stderr
      × cannot read lab.yaml
      ╰─▶ it is not UTF-8 text: the byte 0xE9 at line 3, column 4 (byte offset 21)
          is not valid UTF-8
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
