//! The command line's one printer, for stdout and stderr: a stream that cannot be
//! written any more (`nshost apply lab.yaml | head -1` closes it) is left alone from
//! then on, and the command carries on to its end and its exit code. Printing never
//! panics, unlike `println!`, which does on a closed pipe.
//!
//! Use [`out!`](crate::out), [`outln!`](crate::outln) and [`errln!`](crate::errln) as
//! `print!`, `println!` and `eprintln!`.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout, or stderr, failed a write: nothing more is written to it.
static STDOUT_DONE: AtomicBool = AtomicBool::new(false);
static STDERR_DONE: AtomicBool = AtomicBool::new(false);

/// Writes to stdout, unless it failed before. See the module docs.
pub fn out(args: fmt::Arguments<'_>) {
    if let Err(e) = write_once(&mut io::stdout().lock(), &STDOUT_DONE, args)
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        // A closed pipe is the reader's choice; anything else is worth a word.
        err(format_args!(
            "nshost: cannot write to stdout ({e}); printing no more of it\n"
        ));
    }
}

/// Writes to stderr, unless it failed before.
pub fn err(args: fmt::Arguments<'_>) {
    let _ = write_once(&mut io::stderr().lock(), &STDERR_DONE, args);
}

/// Writes and flushes `args` to `sink` unless `done` is set, and sets `done` when that
/// fails. Returns the failure the first time, `Ok` otherwise.
fn write_once(
    sink: &mut impl Write,
    done: &AtomicBool,
    args: fmt::Arguments<'_>,
) -> io::Result<()> {
    if done.load(Ordering::Relaxed) {
        return Ok(());
    }
    let result = sink.write_fmt(args).and_then(|()| sink.flush());
    if result.is_err() {
        done.store(true, Ordering::Relaxed);
    }
    result
}

/// `print!` through the printer.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::out(format_args!($($arg)*)) };
}

/// `println!` through the printer.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` through the printer.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// A count with thousands separators: `19,950`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes `room` bytes, then fails every write as a closed pipe would.
    struct Pipe {
        got: Vec<u8>,
        room: usize,
        attempts: usize,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.attempts += 1;
            if self.got.len() + buf.len() > self.room {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.got.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_stops_the_printing_and_nothing_else() {
        let mut pipe = Pipe {
            got: Vec::new(),
            room: 6,
            attempts: 0,
        };
        let done = AtomicBool::new(false);
        assert!(write_once(&mut pipe, &done, format_args!("line\n")).is_ok());
        let first = write_once(&mut pipe, &done, format_args!("{}\n", "x".repeat(10)));
        assert_eq!(first.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let attempts = pipe.attempts;
        // From then on, nothing is tried and nothing fails.
        for _ in 0..3 {
            assert!(write_once(&mut pipe, &done, format_args!("more\n")).is_ok());
        }
        assert_eq!(pipe.attempts, attempts);
        assert_eq!(pipe.got, b"line\n");
    }
}
