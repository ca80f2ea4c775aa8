//! The cost of a sandboxed lab from Rust: `nshost::Lab::sandbox(LAB)` started and
//! dropped (built, torn down, the session's sandbox gone), against `nshost try LAB` as a
//! command; the median of N runs each.
//!
//! ```sh
//! cargo build --release && cargo run --release --example lab_cost -- topologies/small.yaml 20
//! ```

use std::time::{Duration, Instant};

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), nshost::api::Error> {
    let mut args = std::env::args().skip(1);
    let lab = args
        .next()
        .unwrap_or_else(|| "topologies/small.yaml".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let bin = nshost::api::find_binary()?;
    let mut api = Vec::new();
    let mut checked = Vec::new();
    let mut command = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let built = nshost::Lab::sandbox(&lab)?;
        drop(built);
        api.push(t.elapsed());
        // As `try` does: the checks too.
        let t = Instant::now();
        let built = nshost::Lab::sandbox(&lab)?;
        built.check()?;
        drop(built);
        checked.push(t.elapsed());
        let t = Instant::now();
        let out = std::process::Command::new(&bin)
            .args(["try", "-q", &lab])
            .output()
            .expect("nshost try runs");
        command.push(t.elapsed());
        assert!(
            out.status.success() || out.status.code() == Some(1),
            "{out:?}"
        );
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{lab}, median of {runs} ({}):", bin.display());
    println!("  Lab::sandbox + drop   {:7.1} ms", ms(median(api)));
    println!("  ... + check           {:7.1} ms", ms(median(checked)));
    println!("  nshost try (command)  {:7.1} ms", ms(median(command)));
    Ok(())
}
