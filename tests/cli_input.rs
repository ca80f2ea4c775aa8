//! CLI tests of reading the lab file: what is not a regular file is refused without
//! blocking, an oversized file is refused, bytes that are not UTF-8 are located. No
//! kernel is needed.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/cli_runs.rs"]
mod runs;
#[path = "support/sandbox.rs"]
mod sandbox;

use ktest::{Run, nshost_command, sandboxed};
use runs::*;

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
    nshost::read

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
    nshost::read

      × cannot read /dev/zero
      ╰─▶ it is a character device; a lab file must be a regular file
    ");
    let dir = nshost_in(root, &["validate", "topologies"]);
    insta::assert_snapshot!(transcript(&dir), @r"
    exit: 1
    --- stdout
    --- stderr
    nshost::read

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
    nshost::read

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
    nshost::read

      × cannot read lab.yaml
      ╰─▶ it is not UTF-8 text: the byte 0xE9 at line 3, column 4 (byte offset 21)
          is not valid UTF-8
    ");
}

/// Runs `nshost` from the repository root with `input` on its standard input.
fn nshost_stdin(args: &[&str], input: Vec<u8>) -> Run {
    use std::io::Write;
    let mut child = nshost_command()
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running nshost");
    let mut stdin = child.stdin.take().unwrap();
    // nshost stops reading past the cap: what it leaves unread fails to write.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("nshost output");
    writer.join().unwrap();
    run_of(out)
}

fn small_yaml() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/topologies/small.yaml"
    ))
    .unwrap()
}

#[test]
fn validate_reads_the_lab_from_stdin() {
    let run = nshost_stdin(&["validate", "-"], small_yaml());
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 0
    --- stdout
    <stdin>: lab `small` is valid (7 namespaces, 64 objects)
    --- stderr
    ");
    let json = nshost_stdin(&["validate", "-", "--output", "json"], small_yaml());
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["file"], "<stdin>");
}

#[test]
fn problems_in_stdin_are_located_in_stdin() {
    let text = b"name: demo\nhosts:\n  h1: {address: 10.1.1.300/24}\n".to_vec();
    let run = nshost_stdin(&["validate", "-"], text.clone());
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("[<stdin>:3:17]"), "{}", run.stderr);
    let json = nshost_stdin(&["validate", "-", "--output", "json"], text);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let problem = &doc["error"]["problems"][0];
    assert_eq!(problem["file"], "<stdin>");
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(3), Some(17))
    );
}

#[test]
fn stdin_is_held_to_the_rules_of_files() {
    let big = vec![b'#'; nshost::topology::MAX_LAB_BYTES as usize + 1];
    let run = nshost_stdin(&["validate", "-"], big);
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 1
    --- stdout
    --- stderr
    nshost::read

      × cannot read <stdin>
      ╰─▶ it is larger than 16 MiB, the most a lab file may be
    ");
    let text = b"name: demo\nhosts:\n  h\xe9: {address: 10.1.1.10/24}\n".to_vec();
    let run = nshost_stdin(&["plan", "-"], text);
    insta::assert_snapshot!(transcript(&run), @r"
    exit: 1
    --- stdout
    --- stderr
    nshost::read

      × cannot read <stdin>
      ╰─▶ it is not UTF-8 text: the byte 0xE9 at line 3, column 4 (byte offset 21)
          is not valid UTF-8
    ");
}

/// `plan -`, `apply -` and `destroy -` act on the lab read from stdin.
#[test]
fn plan_apply_destroy_read_stdin() {
    let runs: Vec<Run> = sandboxed(|| {
        ["plan", "apply", "plan", "destroy"]
            .iter()
            .map(|cmd| nshost_stdin(&[cmd, "-", "-q"], small_yaml()))
            .collect()
    });
    let shown: Vec<String> = runs.iter().map(|r| mask_time(&transcript(r))).collect();
    insta::assert_snapshot!(shown.join(""), @r"
    exit: 0
    --- stdout
    Plan: 64 to add, 0 to change, 0 to destroy.
    --- stderr
    exit: 0
    --- stdout
    Apply complete! Resources: 64 added, 0 changed, 0 destroyed. ([time] ms, 61 netlink requests)
    --- stderr
    exit: 0
    --- stdout
    No changes.
    --- stderr
    exit: 0
    --- stdout
    Destroy complete! Resources: 0 added, 0 changed, 48 destroyed. ([time] ms, 0 netlink requests)
    --- stderr
    ");
}

/// One line of `len` bytes holding two hosts, the second with an unknown field at about
/// column `at`: the first host's group and the second's pad the line.
fn long_line_lab(at: usize, len: usize) -> String {
    let head = "hosts: {h1: {address: 10.0.0.1/24, group: \"";
    let middle = "\"}, h2: {address: 10.0.0.2/24, bogus: 1, group: \"";
    let tail = "\"}}";
    let first = at - head.len() - middle.len() + "bogus: 1, group: \"".len();
    let second = len - head.len() - middle.len() - tail.len() - first;
    format!(
        "name: long\nnetworks: {{lan: {{subnets: [10.0.0.0/24]}}}}\n{head}{}{middle}{}{tail}\n",
        "a".repeat(first),
        "b".repeat(second)
    )
}

#[test]
fn a_problem_far_along_a_long_line_shows_a_window_of_it() {
    // Column 70,000 of a 100,000-byte line: miette's column widths stop at 65,535
    // (it panicked), and the whole line was printed.
    let dir = scratch("long-line");
    std::fs::write(dir.join("lab.yaml"), long_line_lab(70_000, 100_000)).unwrap();
    let run = nshost_in(&dir, &["validate", "lab.yaml"]);
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes printed",
        run.stderr.len()
    );
    insta::assert_snapshot!(transcript(&run));
}

#[test]
fn a_problem_on_a_five_megabyte_line_renders() {
    let dir = scratch("five-megabyte-line");
    std::fs::write(dir.join("lab.yaml"), long_line_lab(4_000_000, 5_000_000)).unwrap();
    let started = std::time::Instant::now();
    let run = nshost_command()
        .args(["validate", "lab.yaml"])
        .current_dir(&dir)
        .output()
        .expect("running nshost");
    eprintln!("a 5 MB line reported in {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown field `bogus` in host `h2`"),
        "{stderr}"
    );
    assert!(stderr.contains("[lab.yaml:3:4000001]"), "{stderr}");
    assert!(stderr.len() < 2_000, "{} bytes printed", stderr.len());
}
