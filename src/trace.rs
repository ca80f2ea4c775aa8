//! Phase timings on stderr (through [`crate::output`]) when `NSHOST_TRACE` is set:
//! where a command's time goes.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("NSHOST_TRACE").is_some())
}

/// Prints how long the phase that started at `since` took, if tracing is on.
pub fn phase(name: &str, since: Instant) {
    if enabled() {
        crate::errln!(
            "trace: {name}: {:.2} ms",
            since.elapsed().as_secs_f64() * 1e3
        );
    }
}
