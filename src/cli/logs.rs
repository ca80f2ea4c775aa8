//! `nshost logs NODE [NAME] [-f]`: what a node's processes printed, as its supervisor
//! kept it (with its own lines, `[nshost] ...`, when it started, stopped or restarted
//! one).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nshost::status;

use crate::cli::Error;
use nshost::workload::{control::WorkloadError, layout};

use super::Global;

/// Print the log of a node's process (`run:`).
#[derive(Args, Debug)]
#[command(after_help = LOGS_EXAMPLES)]
pub struct LogsArgs {
    /// The node (a router or host name; its namespace's name works too).
    pub node: String,
    /// The process (its `run:` name); every process of the node when left out.
    pub name: Option<String>,
    /// The node's lab, when several labs have a node of that name.
    #[arg(long, value_parser = super::lab_name)]
    pub lab: Option<String>,
    /// Keep printing what is appended, until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each log.
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
}

pub fn run(args: LogsArgs, _global: &Global) -> Result<ExitCode, Error> {
    let located = status::locate(&args.node, args.lab.as_deref())?;
    let known: Vec<String> = layout::read_spec(&located.lab, &located.node)
        .map(|s| s.run.into_iter().map(|p| p.name).collect())
        .unwrap_or_default();
    let names: Vec<String> = match &args.name {
        Some(n) if known.contains(n) => vec![n.clone()],
        None if !known.is_empty() => known.clone(),
        name => {
            let missing = WorkloadError::NoProcess {
                node: located.node.clone(),
                name: name.clone(),
                known,
            };
            return Err(nshost::workflow::Error::from(missing).into());
        }
    };
    let paths: Vec<(String, PathBuf)> = names
        .iter()
        .map(|n| (n.clone(), layout::log_path(&located.lab, &located.node, n)))
        .collect();
    let headers = paths.len() > 1;
    let mut out = std::io::stdout().lock();
    let mut offsets = Vec::new();
    for (name, path) in &paths {
        if headers {
            let _ = writeln!(out, "==> {} {name} <==", located.node);
        }
        let text = std::fs::read(path).unwrap_or_default();
        let start = args.lines.map_or(0, |n| tail_start(&text, n));
        if out.write_all(&text[start..]).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        offsets.push(text.len() as u64);
    }
    let _ = out.flush();
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = None;
    loop {
        for (k, (name, path)) in paths.iter().enumerate() {
            let Ok(mut f) = std::fs::File::open(path) else {
                continue;
            };
            let len = f.metadata().map_or(0, |m| m.len());
            if len < offsets[k] {
                // Started over (the lab was applied again from nothing).
                offsets[k] = 0;
            }
            if len == offsets[k] || f.seek(SeekFrom::Start(offsets[k])).is_err() {
                continue;
            }
            let mut more = Vec::new();
            let _ = f.read_to_end(&mut more);
            offsets[k] += more.len() as u64;
            if headers && last != Some(k) {
                let _ = writeln!(out, "==> {} {name} <==", located.node);
            }
            last = Some(k);
            if out.write_all(&more).and_then(|()| out.flush()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Where the last `n` lines of `text` start.
fn tail_start(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return text.len();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.iter()
        .enumerate()
        .rev()
        .filter(|(_, b)| **b == b'\n')
        .nth(n - 1)
        .map_or(0, |(i, _)| i + 1)
}

/// The examples `nshost logs --help` shows (and its page in the book).
const LOGS_EXAMPLES: &str = "\
Examples:
  nshost logs r1 bird
  nshost logs r1 bird -f -n 20   # the last 20 lines, then what follows
  nshost logs r1                 # every process of the node";

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn the_tail_is_the_last_lines() {
        let t = b"a\nb\nc\n";
        assert_eq!(&t[tail_start(t, 2)..], b"b\nc\n");
        assert_eq!(&t[tail_start(t, 5)..], t);
        assert_eq!(&t[tail_start(t, 0)..], b"");
        let unended = b"a\nb";
        assert_eq!(&unended[tail_start(unended, 1)..], b"b");
    }
}
