//! CLI tests of reading the lab file: what is not a regular file is refused without
//! blocking, an oversized file is refused, bytes that are not UTF-8 are located. No
//! kernel is needed.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/cli_runs.rs"]
mod runs;
#[path = "support/sandbox.rs"]
mod sandbox;

use ktest::{Run, nshost_command};
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
