//! Ways to run `nshost` for the CLI tests: from the repository root, with a
//! time limit, or with a standard stream going to a closed pipe; and the scratch
//! folders and the masking of varying text those tests need.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::ktest::{Run, nshost_command};

/// A finished command's exit code (-1 when a signal ended it) and output.
pub fn run_of(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `nshost` from the repository root with environment variables `env`, killed when it
/// runs longer than `limit` (its exit code is then -1): for a run that could hang. Its
/// output goes through files, so it never blocks on a full pipe.
pub fn nshost_within(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    let dir = tempdir("out");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = nshost_command()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("running nshost");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        code,
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    };
    std::fs::remove_dir_all(dir).unwrap();
    run
}

/// Which standard stream of nshost goes to a pipe nobody reads.
#[derive(Clone, Copy, PartialEq)]
pub enum Closed {
    Stdout,
    Stderr,
}

/// Runs `nshost` with `closed` going to a pipe whose read end is already closed, as
/// `nshost ... | head -1` leaves it once `head` is done. The stream is empty in the run.
pub fn nshost_closed(args: &[&str], closed: Closed) -> Run {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = nshost_command();
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    match closed {
        Closed::Stdout => cmd.stdout(writer).stderr(std::process::Stdio::piped()),
        Closed::Stderr => cmd.stderr(writer).stdout(std::process::Stdio::piped()),
    };
    run_of(cmd.output().expect("running nshost"))
}

/// A fresh folder of this test process, named `name`.
pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nshost-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every path under `dir`, relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
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

/// Masks the time in `(waited 201.3ms)` as `(waited [time])`.
pub fn mask_waited(text: &str) -> String {
    let Some(at) = text.find("(waited ") else {
        return text.to_string();
    };
    let from = at + "(waited ".len();
    let to = from + text[from..].find(')').unwrap();
    format!("{}[time]{}", &text[..from], &text[to..])
}

/// Masks the time in `(15 ms, 56 netlink requests)` as `([time] ms, ...)`.
pub fn mask_time(text: &str) -> String {
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
    assert_eq!(
        mask_waited("holds it (waited 201.3ms); try"),
        "holds it (waited [time]); try"
    );
}

/// Runs `nshost` from the repository root, so paths in its output are relative.
pub fn nshost(args: &[&str]) -> Run {
    nshost_env(args, &[])
}

/// [`nshost`] with environment variables set.
pub fn nshost_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = nshost_command()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running nshost");
    run_of(out)
}

/// A run as one text: exit code, stdout and stderr.
pub fn transcript(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}
