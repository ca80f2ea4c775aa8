//! Labs in parallel: four labs of N/4 hosts each (lab `bench<k>`, node names under the
//! prefix `p<k>-`), applied by four nshost processes started together, then destroyed
//! the same way; the wall clock runs from starting the four to the end of the last.
//! Compared with one lab of N hosts applied by one nshost.

use std::path::Path;
use std::time::Duration;

use crate::inner::{self, Job, Step};
use crate::labgen::GenLab;
use crate::sandbox;

/// How many labs share the hosts.
pub const LABS: usize = 4;

/// The lab files: `(path, lab, prefix)`.
fn labs(n: usize, work: &Path) -> std::io::Result<Vec<(std::path::PathBuf, GenLab, String)>> {
    (0..LABS)
        .map(|k| {
            let lab = GenLab::new(&format!("bench{k}"), (n / LABS).max(2));
            let prefix = format!("p{k}-");
            let text = lab.to_yaml().replacen(
                &format!("name: {}\n", lab.name),
                &format!("name: {}\nprefix: {prefix}\n", lab.name),
                1,
            );
            let path = work.join(format!("lab{k}.yaml"));
            std::fs::write(&path, text)?;
            Ok((path, lab, prefix))
        })
        .collect()
}

/// Every lab's namespaces are there (nodes and fabric, under its prefix) and nothing
/// else, and in each lab the first host reaches the last across the routers.
fn check(labs: &[(std::path::PathBuf, GenLab, String)]) -> Result<(), String> {
    let have = sandbox::netns_names().map_err(|e| format!("listing /run/netns: {e}"))?;
    let want: usize = labs.iter().map(|(_, l, _)| l.node_names().len() + 1).sum();
    if have.len() != want {
        return Err(format!("{} namespaces instead of {want}", have.len()));
    }
    for (_, lab, prefix) in labs {
        let (first, last) = (&lab.hosts[0], &lab.hosts[lab.hosts.len() - 1]);
        sandbox::udp_reachable(
            &format!("{prefix}{}", last.name),
            &format!("{prefix}{}", first.name),
            first.address.addr(),
            Duration::from_secs(3),
        )
        .map_err(|e| format!("{}: not reachable: {e}", lab.name))?;
    }
    Ok(())
}

/// Runs `verb` on every lab at once: one step for the whole, failing if any did.
fn all(bin: &Path, verb: &str, labs: &[(std::path::PathBuf, GenLab, String)], work: &Path) -> Step {
    let cmds = labs
        .iter()
        .enumerate()
        .map(|(k, (file, _, _))| {
            (
                inner::nshost_command(bin, verb, file, work),
                format!("{verb}_{k}"),
            )
        })
        .collect();
    match crate::procs::at_once(cmds, work) {
        Err(e) => Step::failed(verb, e.to_string()),
        Ok((wall, each)) => crate::procs::whole(verb, wall, &each),
    }
}

/// Applies the four labs at once and checks them, then destroys them at once.
pub fn run(job: &Job, work: &Path) -> Vec<Step> {
    let Some(bin) = job.nshost_bin.clone() else {
        return vec![Step::failed("apply", "no nshost binary")];
    };
    let labs = match labs(job.n, work) {
        Ok(l) => l,
        Err(e) => return vec![Step::failed("apply", format!("writing the labs: {e}"))],
    };
    let mut apply = all(&bin, "apply", &labs, work);
    if apply.error.is_none()
        && let Err(e) = check(&labs)
    {
        apply.wall_ms = None;
        apply.error = Some(format!("exited 0 but the labs are wrong: {e}"));
    }
    if apply.error.is_some() {
        return vec![apply];
    }
    let mut destroy = all(&bin, "destroy", &labs, work);
    if destroy.error.is_none()
        && let Ok(left) = sandbox::netns_names()
        && !left.is_empty()
    {
        destroy.wall_ms = None;
        destroy.error = Some(format!("{} namespaces left", left.len()));
    }
    vec![apply, destroy]
}
