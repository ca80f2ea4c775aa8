//! The warm pool (`nshost pool`): a 10-node lab (the generated lab with 6 hosts: 4
//! routers, 6 hosts, and its fabric), whatever the size N, applied from a warm pool and
//! from nothing; and [`CYCLES`] build/destroy cycles of it with a pool (destroy gives
//! the nodes back, reset) and without. Everything in one sandbox, one after the other,
//! so the ratios compare figures of the same run.

use std::path::Path;
use std::time::Duration;

use crate::inner::{self, Job, Step};
use crate::labgen::GenLab;

/// Build/destroy cycles timed in each of the two cycle rows.
pub const CYCLES: usize = 100;

/// Hosts of the pool's lab: with the 4 routers, 10 nodes.
const HOSTS: usize = 6;

/// The steps, as the rows name them.
pub const STEPS: [&str; 4] = ["apply_pool", "apply_fresh", "cycles_pool", "cycles_fresh"];

pub fn run(job: &Job, work: &Path) -> Vec<Step> {
    let Some(bin) = job.nshost_bin.clone() else {
        return STEPS
            .iter()
            .map(|s| Step::failed(s, "no nshost binary (see the message at the start)"))
            .collect();
    };
    let lab = GenLab::new(inner::LAB_NAME, HOSTS);
    let yaml = work.join("lab.yaml");
    if let Err(e) = std::fs::write(&yaml, lab.to_yaml()) {
        return vec![Step::failed("apply_pool", format!("writing the lab: {e}"))];
    }
    let nshost = |verb: &str| inner::nshost_command(&bin, verb, &yaml, work);
    let pool = |args: &[&str]| -> Result<(), String> {
        let mut c = std::process::Command::new(&bin);
        c.arg("pool").args(args).current_dir(work);
        let out = c.output().map_err(|e| e.to_string())?;
        out.status
            .success()
            .then_some(())
            .ok_or_else(|| inner::tail(&String::from_utf8_lossy(&out.stderr)))
    };
    // One timed apply, checked, then an untimed destroy.
    let once = |step: &str| -> Step {
        let applied =
            inner::measure_checked(step, nshost("apply"), work, || inner::check_lab(&lab));
        if let Err(e) = inner::run_quiet(nshost("destroy")) {
            return Step::failed(step, format!("destroy after it: {e}"));
        }
        applied
    };
    // `CYCLES` applies and destroys: the sum of their wall clocks.
    let cycles = |step: &str| -> Step {
        let mut total = Duration::ZERO;
        for k in 0..CYCLES {
            for verb in ["apply", "destroy"] {
                match inner::timed(nshost(verb)) {
                    Ok(d) => total += d,
                    Err(e) => return Step::failed(step, format!("cycle {k}, {verb}: {e}")),
                }
            }
        }
        Step {
            step: step.to_string(),
            wall_ms: Some(inner::ms(total)),
            ..Step::default()
        }
    };
    let nodes = lab.node_names().len() + 1;
    let mut steps = Vec::new();
    // Room for two labs: one to take, one to give back while the other's namespace
    // ids are not freed yet.
    if let Err(e) = pool(&["fill", &(2 * nodes).to_string()]) {
        return STEPS
            .iter()
            .map(|s| Step::failed(s, format!("pool fill: {e}")))
            .collect();
    }
    steps.push(once("apply_pool"));
    steps.push(cycles("cycles_pool"));
    if let Err(e) = pool(&["drain"]) {
        steps.push(Step::failed("apply_fresh", format!("pool drain: {e}")));
        return steps;
    }
    steps.push(once("apply_fresh"));
    steps.push(cycles("cycles_fresh"));
    steps
}
