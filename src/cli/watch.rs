//! `nshost watch`: keep a lab converged to its file, repairing drift, until stopped
//! (SIGINT or SIGTERM; the lab is left as it is). The work is the library's
//! ([`nshost::workflow::watch`]); this prints its events, one line each.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use nshost::workflow::Error;
use nshost::workflow::watch::{Event, Stopper, Watch, WatchOptions, report};
use nshost::{errln, outln};

use super::{Global, LockWait, Output};

/// Keep the lab matching its file: apply its edits and repair drift, as they happen.
///
/// The lab is applied once at start (as `apply` does); then the file (and the nodes'
/// `files:` sources) and the kernel's notifications for the lab's namespaces are
/// watched. An edit is applied as the difference from the lab as it is; an edit that
/// does not validate is reported and nothing is applied. A change to what the lab owns
/// made by someone else (`ip route del`, a link set down) is drift: repaired, or with
/// `--report` only reported. What the lab does not own (a routing daemon's routes) is
/// never touched. Most sysctls send no notification: a changed one is seen only when the
/// lab is read whole again (a resync, after lost notifications) or at the next start.
/// The lab's lock is taken only while applying; one watcher per lab (`status` shows it).
#[derive(Args, Debug)]
#[command(after_help = WATCH_EXAMPLES)]
pub struct WatchArgs {
    /// The lab file (YAML; not `-`: standard input cannot be watched).
    #[arg(value_parser = watched_file)]
    pub file: PathBuf,
    #[command(flatten)]
    pub site: super::SiteArg,
    #[command(flatten)]
    pub lock: LockWait,
    /// Repair drift (the default).
    #[arg(long, conflicts_with = "report")]
    pub repair: bool,
    /// Only report drift; apply nothing but the file's edits.
    #[arg(long)]
    pub report: bool,
    /// How long to collect the kernel's notifications before reading what they name.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub debounce: u64,
}

pub fn run(args: WatchArgs, global: &Global) -> Result<ExitCode, Error> {
    let opts = WatchOptions {
        file: args.file,
        site: args.site.site,
        repair: !args.report,
        debounce: std::time::Duration::from_millis(args.debounce),
        lock_timeout: args.lock.lock_timeout,
    };
    let mut print = |e: &Event| print(e, global);
    // Caught from before the start: a signal that comes as the start ends (once
    // `ready` is printed, say) still stops the watch, once it runs.
    let signals = catch_signals();
    let watch = Watch::start(opts, &mut print)?;
    if let Some(signals) = signals {
        stop_on(signals, watch.stopper());
    }
    watch.run(&mut print);
    Ok(ExitCode::SUCCESS)
}

/// A lab file that can be watched: a path, not `-` (standard input).
fn watched_file(text: &str) -> Result<PathBuf, String> {
    if text == "-" {
        return Err("standard input cannot be watched: give the lab file's path".into());
    }
    Ok(PathBuf::from(text))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One event: a JSON object on a line, or a line (and an invalid file's problems) for
/// people.
fn print(event: &Event, global: &Global) {
    match global.output {
        Output::Json => {
            let mut line = serde_json::Map::new();
            line.insert("format_version".into(), super::FORMAT_VERSION.into());
            line.insert("time".into(), now().into());
            if let serde_json::Value::Object(fields) =
                serde_json::to_value(event).expect("an event serializes")
            {
                line.extend(fields);
            }
            outln!("{}", serde_json::Value::Object(line));
        }
        Output::Human => {
            if global.quiet && matches!(event, Event::Ready { .. }) {
                return;
            }
            outln!("{} {}", report::clock(now()), event.human());
            if let Event::Invalid { diagnostic, .. } = event {
                errln!("{:?}", miette::Report::new(diagnostic.clone()));
            }
        }
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
}

/// The write end of the pipe the signal handler writes to.
static STOP_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = STOP_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; one byte from a static buffer.
        unsafe {
            libc::write(fd, b"x".as_ptr().cast(), 1);
        }
    }
}

/// SIGINT and SIGTERM stop the watch (through a pipe a thread reads: a handler may do
/// next to nothing). Handlers, unlike a blocked mask, are not inherited by the programs
/// the lab starts. Returns the pipe's read end.
fn catch_signals() -> Option<std::os::fd::OwnedFd> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    use std::os::fd::IntoRawFd;
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
    STOP_PIPE.store(write.into_raw_fd(), Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only writes a byte to a pipe (async-signal-safe).
        let _ = unsafe { sigaction(sig, &action) };
    }
    Some(read)
}

/// Stops the watch once a caught signal's byte is in the pipe (at once, for one caught
/// during the start).
fn stop_on(read: std::os::fd::OwnedFd, stopper: Stopper) {
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let _ = nix::unistd::read(&read, &mut byte);
        stopper.stop();
    });
}

/// The examples `nshost watch --help` shows (and its page in the book).
const WATCH_EXAMPLES: &str = "\
Examples:
  nshost watch lab.yaml                    # apply, then keep it so: edits applied, drift repaired
  nshost watch --report lab.yaml           # report drift, repair nothing
  nshost watch --output json lab.yaml      # one JSON object per event and line";
