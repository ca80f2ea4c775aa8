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
#[path = "support/cli_runs.rs"]
mod runs;
#[path = "support/sandbox.rs"]
mod sandbox;

use std::path::Path;
use std::time::Duration;

use ktest::{Run, sandboxed};
use runs::*;

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
    topologies/small.yaml: lab `small` is valid (7 namespaces, 64 objects)
    --- stderr
    ");
    insta::assert_snapshot!(transcript(&full), @r"
    exit: 0
    --- stdout
    topologies/full.yaml: lab `full` is valid (6 namespaces, 94 objects)
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
    nshost::read

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

/// The usage line names both ways to say which lab: the file, or `--lab`.
#[test]
fn destroy_help() {
    let run = nshost(&["destroy", "--help"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn watch_refuses_standard_input_and_both_repair_and_report() {
    let stdin = nshost(&["watch", "-"]);
    assert_eq!(stdin.code, 2, "{}", transcript(&stdin));
    assert!(
        stdin.stderr.contains("standard input cannot be watched"),
        "{}",
        transcript(&stdin)
    );
    let both = nshost(&["watch", "--repair", "--report", "topologies/small.yaml"]);
    assert_eq!(both.code, 2, "{}", transcript(&both));
}

#[test]
fn usage_errors_exit_2() {
    let unknown = nshost(&["frobnicate"]);
    insta::assert_snapshot!(transcript(&unknown), @r"
    exit: 2
    --- stdout
    --- stderr
    error: unrecognized subcommand 'frobnicate'

    Usage: nshost [OPTIONS] <COMMAND>

    For more information, try '--help'.
    ");
    let destroy = nshost(&["destroy"]);
    insta::assert_snapshot!(transcript(&destroy), @r"
    exit: 2
    --- stdout
    --- stderr
    error: the following required arguments were not provided:
      <FILE|--lab <LAB>>

    Usage: nshost destroy <FILE|--lab <LAB>>

    For more information, try '--help'.
    ");
    let both = nshost(&["destroy", "topologies/small.yaml", "--lab", "small"]);
    insta::assert_snapshot!(transcript(&both), @r"
    exit: 2
    --- stdout
    --- stderr
    error: the argument '[FILE]' cannot be used with '--lab <LAB>'

    Usage: nshost destroy <FILE|--lab <LAB>>

    For more information, try '--help'.
    ");
}

/// `destroy` reads no node's source file: a lab applied with one is destroyed after the
/// file is gone (it failed with `nshost::file_source`), while `plan` still needs it.
#[test]
fn destroy_reads_no_source_file() {
    const DIR: &str = "/run/nshost-cli-sources";
    let (apply, plan, destroy, left) = sandboxed(|| {
        std::fs::create_dir_all(DIR).unwrap();
        let lab = format!("{DIR}/lab.yaml");
        std::fs::write(
            &lab,
            "name: sources\nhosts:\n  h1:\n    address: 10.1.1.10/24\n    \
             files: {/etc/motd: {source: motd}}\n",
        )
        .unwrap();
        std::fs::write(format!("{DIR}/motd"), "hello\n").unwrap();
        let apply = nshost(&["apply", &lab]);
        std::fs::remove_file(format!("{DIR}/motd")).unwrap();
        let plan = nshost(&["plan", &lab]);
        let destroy = nshost(&["destroy", &lab]);
        (apply, plan, destroy, ktest::netns())
    });
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        plan.code == 1 && plan.stderr.contains("nshost::file_source"),
        "{}",
        plan.stderr
    );
    assert_eq!(destroy.code, 0, "{}", destroy.stderr);
    assert!(left.is_empty(), "left after destroy: {left:?}");
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
        (runs, files_under(Path::new(ROOT)))
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

/// Whatever is where the lock file goes, apply either locks a regular file or fails
/// within its lock timeout, following no symlink: a FIFO used to block it forever, and
/// a symlink to be followed. Each failure is `nshost::lock`, and nothing is created.
#[test]
fn apply_refuses_a_lock_file_that_is_not_a_file() {
    let runs: Vec<(Run, bool)> = sandboxed(|| {
        let lock = Path::new("/run/nshost/small.lock");
        let target = Path::new("/run/nshost-cli/target");
        std::fs::create_dir_all("/run/nshost-cli/dir").unwrap();
        std::fs::create_dir_all("/run/nshost").unwrap();
        let apply = || {
            let args = ["apply", "topologies/small.yaml", "--lock-timeout", "1"];
            let run = nshost_within(&args, &[], Duration::from_secs(10));
            (run, ktest::netns().is_empty() && !target.exists())
        };
        nix::unistd::mkfifo(lock, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let fifo = apply();
        std::fs::remove_file(lock).unwrap();
        std::os::unix::fs::symlink(target, lock).unwrap();
        let symlink = apply();
        std::fs::remove_file(lock).unwrap();
        std::fs::remove_dir("/run/nshost").unwrap();
        std::os::unix::fs::symlink("/run/nshost-cli/dir", "/run/nshost").unwrap();
        let dir = apply();
        vec![fifo, symlink, dir]
    });
    for (run, untouched) in &runs {
        assert!(untouched, "nothing created\n{}", transcript(run));
    }
    let all: String = runs.iter().map(|(run, _)| transcript(run)).collect();
    insta::assert_snapshot!(all, @r"
    exit: 1
    --- stdout
    --- stderr
    nshost::lock

      × the lock file /run/nshost/small.lock is a FIFO, not a regular file; nshost
      │ does not use it
      help: nshost creates the lock file itself: remove what is there

    exit: 1
    --- stdout
    --- stderr
    nshost::lock

      × the lock file /run/nshost/small.lock is a symlink, not a regular file;
      │ nshost does not use it
      help: nshost creates the lock file itself: remove what is there

    exit: 1
    --- stdout
    --- stderr
    nshost::lock

      × the lock directory /run/nshost is a symlink, not a directory; nshost does
      │ not follow it
      help: nshost creates the directory itself: remove what is there, or set
            NSHOST_LOCK_DIR
    ");
}

/// `plan` reads under the lab's shared lock: it waits for an apply or destroy (which
/// hold it exclusive) and runs beside another plan, which an apply waits for.
#[test]
fn plan_takes_the_shared_lock() {
    use nix::fcntl::{Flock, FlockArg};
    let runs: Vec<Run> = sandboxed(|| {
        std::fs::create_dir_all("/run/nshost").unwrap();
        let file = || std::fs::File::create("/run/nshost/small.lock").unwrap();
        let plan = ["plan", "topologies/small.yaml", "--lock-timeout", "0.2"];
        let apply = ["apply", "topologies/small.yaml", "--lock-timeout", "0.2"];
        let held = Flock::lock(file(), FlockArg::LockExclusiveNonblock).unwrap();
        let plan_while_applying = nshost(&plan);
        drop(held);
        let held = Flock::lock(file(), FlockArg::LockSharedNonblock).unwrap();
        let plan_while_planning = nshost(&plan);
        let apply_while_planning = nshost(&apply);
        drop(held);
        vec![
            plan_while_applying,
            plan_while_planning,
            apply_while_planning,
        ]
    });
    insta::assert_snapshot!(mask_waited(&transcript(&runs[0])), @r"
    exit: 1
    --- stdout
    --- stderr
    nshost::busy

      × lab `small` is busy: another nshost process holds /run/nshost/small.lock
      │ (waited [time]); try again when it is done, or raise --lock-timeout
    ");
    assert_eq!(runs[1].code, 0, "{}", runs[1].stderr);
    assert!(
        runs[1].stdout.starts_with("+ 2 routers br-gw, hq-gw"),
        "{}",
        runs[1].stdout
    );
    assert_eq!(runs[2].code, 1, "{}", runs[2].stderr);
    assert!(
        runs[2].stderr.contains("nshost::busy"),
        "{}",
        runs[2].stderr
    );
}

/// A setuid or setgid nshost refuses to run at all, before it reads the environment,
/// where `NSHOST_LOCK_DIR` and `NSHOST_NETNS_DIR` would point a privileged process at
/// files of the caller's choosing. Made here by running nshost with real uid and gid 0
/// and effective ones `nobody` (as root running a setuid-nobody binary would) and no
/// capabilities at all: less power than this test has, and nothing it could touch.
/// Setting the ids needs root; as another user the unit tests of `nshost::process`
/// stand for this one.
#[test]
fn refuses_to_run_setuid() {
    use std::os::unix::fs::PermissionsExt;
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: only root can run nshost with differing real and effective ids");
        return;
    }
    // A copy nobody can execute wherever this checkout is.
    let dir = tempdir("setuid");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("nshost");
    std::fs::copy(ktest::nshost_bin(), &bin).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--euid=65534", "--egid=65534", "--clear-groups"])
        .args(["--bounding-set=-all", "--inh-caps=-all", "--"])
        .arg(&bin)
        .arg("schema")
        .env("NO_COLOR", "1")
        .env("NSHOST_LOCK_DIR", &dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running setpriv (util-linux)");
    std::fs::remove_dir_all(&dir).unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 1
    --- stdout
    --- stderr
    nshost::setuid

      × nshost refuses to run setuid or setgid (real uid 0, effective uid 65534,
      │ real gid 0, effective gid 65534, secure-execution mode)
      help: remove the setuid and setgid bits (chmod ug-s) and run nshost as root,
            or with sudo
    ");
}

/// An empty or relative `NSHOST_*_DIR` is refused before any command runs: an empty
/// `NSHOST_LOCK_DIR` would have put the lock and the lab's records in the directory
/// nshost was started from.
#[test]
fn refuses_an_empty_or_relative_directory_variable() {
    for (var, value) in [("NSHOST_LOCK_DIR", ""), ("NSHOST_NETNS_DIR", "netns")] {
        let out = std::process::Command::new(ktest::nshost_bin())
            .arg("schema")
            .env("NO_COLOR", "1")
            .env(var, value)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty(), "nothing ran");
        assert!(stderr.contains("nshost::bad_env_dir"), "{stderr}");
        assert!(stderr.contains(&format!("{var} is ")), "{stderr}");
    }
}

/// `--lock-timeout` takes a finite, non-negative number of seconds; anything else is a
/// usage error, before anything runs (`inf` used to panic, a negative wait to mean 0).
/// In a sandbox, since an accepted value would go on to apply.
#[test]
fn lock_timeout_must_be_finite_seconds() {
    let runs: Vec<(Run, Vec<String>)> = sandboxed(|| {
        ["inf", "nan", "-1", "soon", "1e20"]
            .iter()
            .map(|t| {
                let run = nshost(&["apply", "topologies/small.yaml", "--lock-timeout", t]);
                (run, ktest::netns())
            })
            .collect()
    });
    for (run, netns) in &runs {
        assert_eq!(run.code, 2, "{}", transcript(run));
        assert!(netns.is_empty(), "nothing applied: {netns:?}");
    }
    let all: String = runs
        .iter()
        .map(|(run, _)| run.stderr.lines().next().unwrap().to_string() + "\n")
        .collect();
    insta::assert_snapshot!(all, @r"
    error: invalid value 'inf' for '--lock-timeout <SECONDS>': not a finite number of seconds
    error: invalid value 'nan' for '--lock-timeout <SECONDS>': not a finite number of seconds
    error: invalid value '-1' for '--lock-timeout <SECONDS>': a wait cannot be negative
    error: invalid value 'soon' for '--lock-timeout <SECONDS>': not a number of seconds
    error: invalid value '1e20' for '--lock-timeout <SECONDS>': too long a wait
    ");
    insta::assert_snapshot!(transcript(&runs[0].0), @r"
    exit: 2
    --- stdout
    --- stderr
    error: invalid value 'inf' for '--lock-timeout <SECONDS>': not a finite number of seconds

    For more information, try '--help'.
    ");
}

/// Output to a closed pipe (`nshost schema | head -1`) stops the printing, not the
/// command: no panic, and the exit code is the command's own.
#[test]
fn a_closed_pipe_is_not_an_error() {
    let schema = nshost_closed(&["schema"], Closed::Stdout);
    insta::assert_snapshot!(transcript(&schema), @r"
    exit: 0
    --- stdout
    --- stderr
    ");
    let valid = nshost_closed(&["validate", "topologies/small.yaml"], Closed::Stdout);
    insta::assert_snapshot!(transcript(&valid), @r"
    exit: 0
    --- stdout
    --- stderr
    ");
    let invalid = "tests/cases/invalid/many_problems/lab.yaml";
    let invalid = nshost_closed(&["validate", invalid], Closed::Stderr);
    insta::assert_snapshot!(transcript(&invalid), @r"
    exit: 1
    --- stdout
    --- stderr
    ");
}

/// An apply whose output nobody reads still applies to the end and exits 0; so does a
/// destroy, and `plan --detailed-exitcode` still says 2 for changes.
#[test]
fn apply_to_a_closed_pipe_finishes() {
    let runs: Vec<Run> = sandboxed(|| {
        let file = "topologies/small.yaml";
        let plan = ["plan", file, "--detailed-exitcode"];
        vec![
            nshost_closed(&plan, Closed::Stdout),
            nshost_closed(&["apply", file], Closed::Stdout),
            nshost(&plan),
            nshost_closed(&["destroy", file], Closed::Stdout),
            nshost(&plan),
        ]
    });
    let codes: Vec<i32> = runs.iter().map(|r| r.code).collect();
    assert_eq!(codes, [2, 0, 0, 0, 2], "{runs:#?}");
    for run in [&runs[0], &runs[1], &runs[3]] {
        assert_eq!(run.stderr, "", "{}", transcript(run));
    }
    assert_eq!(runs[2].stdout, "No changes.\n", "the apply finished");
}

/// The exit codes of `main.rs`'s module docs, one command each: 0 success, 1 error
/// (a failed apply, and a plan error with `--detailed-exitcode`), 2 usage error, and
/// `plan --detailed-exitcode` 2 for changes.
#[test]
fn exit_codes() {
    let codes: Vec<String> = sandboxed(|| {
        let small = "topologies/small.yaml";
        let invalid = "tests/cases/invalid/many_problems/lab.yaml";
        let code = |args: &[&str]| format!("{} <- nshost {}", nshost(args).code, args.join(" "));
        let mut codes = vec![
            code(&["--version"]),
            code(&["plan"]),
            code(&["plan", small, "--output", "yaml"]),
            code(&["plan", small, "--detailed-exitcode"]),
            code(&["plan", invalid, "--detailed-exitcode"]),
            code(&["apply", "no/such/lab.yaml"]),
        ];
        // A namespace nshost does not own, named like a node of the lab: a conflict.
        ktest::ip(&["netns", "add", "web1"]);
        codes.push(code(&["plan", small, "--detailed-exitcode"]));
        codes.push(code(&["apply", small]));
        ktest::ip(&["netns", "del", "web1"]);
        codes.push(code(&["apply", small]));
        codes.push(code(&["plan", small, "--detailed-exitcode"]));
        codes.push(code(&["destroy", "--lab", "small"]));
        codes
    });
    insta::assert_snapshot!(codes.join("\n"), @r"
    0 <- nshost --version
    2 <- nshost plan
    2 <- nshost plan topologies/small.yaml --output yaml
    2 <- nshost plan topologies/small.yaml --detailed-exitcode
    1 <- nshost plan tests/cases/invalid/many_problems/lab.yaml --detailed-exitcode
    1 <- nshost apply no/such/lab.yaml
    1 <- nshost plan topologies/small.yaml --detailed-exitcode
    1 <- nshost apply topologies/small.yaml
    0 <- nshost apply topologies/small.yaml
    0 <- nshost plan topologies/small.yaml --detailed-exitcode
    0 <- nshost destroy --lab small
    ");
}

/// `plan --full` on an empty kernel, `apply`, `plan` again and `destroy`, each as
/// printed (summarised, past 40 lines).
#[test]
fn plan_apply_destroy_in_a_sandbox() {
    let runs: Vec<Run> = sandboxed(|| {
        let file = "topologies/small.yaml";
        vec![
            nshost(&["plan", file, "--full"]),
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

/// Warnings (allowed, probably not meant) are printed on stderr and keep exit code 0.
#[test]
fn validate_prints_warnings() {
    let run = nshost(&["validate", "tests/cases/valid/overlapping_subnets/lab.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("nshost::overlapping_subnets"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("allow_overlap: true"), "{}", run.stderr);
}
