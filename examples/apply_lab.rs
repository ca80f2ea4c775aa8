//! Applies a lab file through the library API (`nshost::workflow`) rather than the CLI:
//! load (parse, validate, lower), plan against the live kernel, print the plan, then
//! apply it under the lab's lock and print what was done.
//!
//! ```text
//! cargo run --example apply_lab -- topologies/small.yaml [--plan-only]
//! ```
//!
//! Planning reads every namespace under `/run/netns`, and applying creates namespaces
//! and links, so it needs root, or a throwaway sandbox where it is root and its
//! namespaces vanish when it exits:
//!
//! ```text
//! cargo build --examples
//! unshare --user --map-root-user --net --mount --propagation private -- \
//!     sh -c 'mount -t tmpfs tmpfs /run &&
//!            target/debug/examples/apply_lab topologies/small.yaml && ip netns'
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use nshost::plan::{Summary, render};
use nshost::workflow;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(file) = args.next().map(PathBuf::from) else {
        eprintln!("usage: apply_lab LAB.yaml [--plan-only]");
        return ExitCode::from(2);
    };
    let plan_only = args.next().is_some_and(|a| a == "--plan-only");
    match run(&file, plan_only) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{:?}", miette::Report::new(err));
            ExitCode::FAILURE
        }
    }
}

fn run(file: &std::path::Path, plan_only: bool) -> Result<(), workflow::Error> {
    // Parse, validate and lower: no kernel yet.
    let loaded = workflow::load(file)?;
    println!(
        "lab `{}`: {} namespaces, {} objects",
        loaded.lab.name,
        loaded.desired.namespaces.len(),
        loaded.desired.object_count()
    );

    // One apply of a lab at a time: wait up to 30 s for another.
    let _lock = (!plan_only)
        .then(|| workflow::lock(&loaded.lab.name, Duration::from_secs(30)))
        .transpose()?;

    // The kernel's own checks, then observe the kernel and diff.
    let mut planned = workflow::plan_loaded(loaded)?;
    print!(
        "{}",
        render::human(&planned.plan, &planned.desired, &planned.live)
    );
    if plan_only || planned.plan.is_empty() {
        return Ok(());
    }

    // Apply, then re-observe and check that nothing is left to do.
    let applied = workflow::apply(&mut planned, workflow::ApplyOptions::default())?;
    let summary = Summary::of(&planned.plan);
    println!(
        "applied {} additions, {} changes, {} removals in {} netlink requests \
         ({} steps, {} namespaces created)",
        summary.add,
        summary.change,
        summary.destroy,
        applied.stats.netlink_requests,
        applied.stats.steps,
        applied.stats.namespaces_created,
    );
    Ok(())
}
