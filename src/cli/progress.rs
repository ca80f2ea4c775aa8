//! The progress bar of an apply or a destroy: on stderr, only when stderr is a
//! terminal and the report is for people (not `-q`, not JSON), and only for a run
//! longer than a moment (more than [`MANY_OPS`] operations, or still running after
//! [`DELAY`]).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nshost::kernel::Observer;
use nshost::workflow::{self, Applied, ApplyOptions, Error, Planned};

use super::Global;

/// A run of more operations than this shows its bar at once.
pub const MANY_OPS: usize = 50;
/// A shorter run shows it once it has taken this long.
pub const DELAY: Duration = Duration::from_millis(300);

/// Applies `planned` as `workflow::apply` does, with a progress bar where one is wanted.
pub fn apply(planned: &mut Planned, opts: ApplyOptions, global: &Global) -> Result<Applied, Error> {
    if !global.chatty() || !std::io::stderr().is_terminal() {
        return workflow::apply(planned, opts);
    }
    let bar = Bar::new();
    let result = workflow::apply_observed(planned, opts, &bar);
    bar.bar.finish_and_clear();
    result
}

/// The bar, hidden until the run turns out long.
struct Bar {
    bar: ProgressBar,
    started: Instant,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} operations ({elapsed})")
                .expect("a valid template"),
        );
        Bar {
            bar,
            started: Instant::now(),
        }
    }

    fn show(&self) {
        if self.bar.is_hidden() {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(100));
        }
    }
}

impl Observer for Bar {
    fn started(&self, ops: usize) {
        self.bar.set_length(ops as u64);
        if ops > MANY_OPS {
            self.show();
        }
    }

    fn step_done(&self, ops: usize) {
        self.bar.inc(ops as u64);
        if self.started.elapsed() >= DELAY {
            self.show();
        }
    }
}
