//! Where a command's time goes, as `tracing` events on stderr: at `info` (`-v`, or
//! `NSHOST_TRACE` set) each phase (parse, validate, lower, observe, diff, apply,
//! verify, rollback) with its milliseconds; at `debug` (`-vv`, or `NSHOST_TRACE=2`)
//! each stage and step of an apply too (stage number, executor, operations, ms).
//! Nothing is logged unless [`init`] installed the subscriber.

use std::time::Instant;

use tracing_subscriber::filter::LevelFilter;

/// Installs the stderr logger for `verbose` (`-v` is 1, `-vv` 2); `NSHOST_TRACE` counts
/// as `-v` (`NSHOST_TRACE=2` as `-vv`). Without either, logs nothing.
pub fn init(verbose: u8) {
    let from_env = match std::env::var("NSHOST_TRACE") {
        Ok(v) if v.trim() == "2" => 2,
        Ok(_) => 1,
        Err(_) => 0,
    };
    let level = match verbose.max(from_env) {
        0 => return,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    use std::io::IsTerminal;
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .without_time()
        .with_target(false)
        .try_init();
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Logs how long the phase that started at `since` took.
pub fn phase(name: &str, since: Instant) {
    tracing::info!("{name}: {:.2} ms", ms(since));
}

/// Logs a detail of a phase (a stage of an apply, a request build), at `-vv`.
pub fn detail(what: &str, since: Instant) {
    tracing::debug!("{what}: {:.2} ms", ms(since));
}

/// Whether `-vv` details are logged (so their text is built only then).
pub fn details_on() -> bool {
    tracing::enabled!(tracing::Level::DEBUG)
}
