//! `nshost logs NODE [NAME] [-f]`: what a node's processes printed, as its supervisor
//! kept it (with its own lines, `[nshost] ...`, when it started, stopped or restarted
//! one).

use std::io::{Read, Seek, SeekFrom, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use nshost::status;

use crate::cli::Error;
use nshost::workload::logs;

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
    let paths = logs::files(&located.lab, &located.node, args.name.as_deref())
        .map_err(nshost::workflow::Error::from)?;
    let headers = paths.len() > 1;
    let mut out = std::io::stdout().lock();
    let (text, mut offsets) = logs::read(&located.node, &paths, args.lines);
    if out.write_all(&text).is_err() {
        return Ok(ExitCode::SUCCESS);
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
                let _ = out.write_all(logs::header(&located.node, name).as_bytes());
            }
            last = Some(k);
            if out.write_all(&more).and_then(|()| out.flush()).is_err() {
                return Ok(ExitCode::SUCCESS);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The examples `nshost logs --help` shows (and its page in the book).
const LOGS_EXAMPLES: &str = "\
Examples:
  nshost logs r1 bird
  nshost logs r1 bird -f -n 20   # the last 20 lines, then what follows
  nshost logs r1                 # every process of the node";
