//! The two-site case: the same generated lab split over two "machines" inside one
//! sandbox (each a network and mount namespace of its own with its own `/run`, joined
//! by an underlay veth 192.0.2.1 - 192.0.2.2, as in the kernel tests), routers `r0`,
//! `r1` and their hosts on site `a`, `r2`, `r3` and theirs on `b`, so the four router
//! links between the halves are stretched by VXLAN. Both machines run nshost at once,
//! as two real machines would; a step's wall clock is from starting both to the end of
//! the later one, each process's own figures are kept too.

use std::io;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::inner::{Job, Step};
use crate::labgen::GenLab;

/// The generated lab with `sites`: hosts and routers of `r2` and `r3` on site `b`.
pub fn yaml(lab: &GenLab) -> String {
    let mut y = lab.to_yaml();
    y = y.replacen(
        "networks:\n",
        "sites:\n  a: {underlay: 192.0.2.1}\n  b: {underlay: 192.0.2.2}\nnetworks:\n",
        1,
    );
    for r in ["r2", "r3"] {
        y = y.replacen(
            &format!("  {r}:\n    interfaces:\n"),
            &format!("  {r}:\n    site: b\n    interfaces:\n"),
            1,
        );
    }
    for h in lab.hosts.iter().filter(|h| h.router >= 2) {
        y = y.replacen(
            &format!(
                "  {}: {{address: {}, network: {}}}\n",
                h.name, h.address, h.network
            ),
            &format!(
                "  {}: {{address: {}, network: {}, site: b}}\n",
                h.name, h.address, h.network
            ),
            1,
        );
    }
    y
}

/// A stand-in machine: a process in a network and mount namespace of its own, with a
/// tmpfs on `/run`; it lives as long as its standard input is open.
struct Machine {
    holder: Child,
    pid: String,
}

impl Machine {
    fn new() -> io::Result<Machine> {
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
            ])
            .arg(
                "mount -t tmpfs tmpfs /run && mkdir /run/netns && \
                 mount -t tmpfs tmpfs /run/netns && echo ready && exec cat",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().expect("piped")).read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(io::Error::other("a machine did not set itself up"));
        }
        let pid = holder.id().to_string();
        Ok(Machine { holder, pid })
    }

    /// `program args` on this machine (`nsenter` execs it: same process).
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid, "-n", "-m", "--"])
            .arg(program)
            .args(args);
        c
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        drop(self.holder.stdin.take());
        let _ = self.holder.wait();
    }
}

fn sh(cmd: &mut Command) -> io::Result<()> {
    run_quiet(cmd.stdin(Stdio::null()))
}

/// Runs `cmd` with the standard input it has, failing with its stderr.
fn run_quiet(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Two machines joined by an underlay veth.
fn machines() -> io::Result<(Machine, Machine)> {
    let (a, b) = (Machine::new()?, Machine::new()?);
    let ip = Path::new("ip");
    sh(Command::new("ip").args(["link", "add", "ua", "type", "veth", "peer", "name", "ub"]))?;
    for (m, dev, addr) in [(&a, "ua", "192.0.2.1/24"), (&b, "ub", "192.0.2.2/24")] {
        sh(Command::new("ip").args([
            "link",
            "set",
            dev,
            "netns",
            &format!("/proc/{}/ns/net", m.pid),
        ]))?;
        sh(&mut m.command(ip, &["addr", "add", addr, "dev", dev]))?;
        sh(&mut m.command(ip, &["link", "set", dev, "up"]))?;
        sh(&mut m.command(ip, &["link", "set", "lo", "up"]))?;
    }
    Ok((a, b))
}

/// Runs both commands at once (see [`crate::procs::at_once`]); the lab file goes to
/// each on its standard input (`-`): the machines have their own `/run`, where the
/// file is not.
fn both(
    cmds: [Command; 2],
    file: &Path,
    logs: &Path,
    tag: &str,
) -> io::Result<(Duration, Vec<Step>)> {
    let mut fed = Vec::new();
    for (mut cmd, site) in cmds.into_iter().zip(["a", "b"]) {
        cmd.stdin(std::fs::File::open(file)?);
        fed.push((cmd, format!("{tag}_{site}")));
    }
    crate::procs::at_once(fed, logs)
}

/// The two-site run: apply both sites at once, plan both (no-op), check from a host on
/// `a` to one on `b` across the tunnels, destroy both.
pub fn run(job: &Job, lab: &GenLab, work: &Path) -> Vec<Step> {
    const STEPS: [&str; 3] = ["apply", "plan", "destroy"];
    let failed = |why: String| STEPS.iter().map(|s| Step::failed(s, why.clone())).collect();
    let Some(bin) = job.nshost_bin.clone() else {
        return failed("no nshost binary".into());
    };
    let file: PathBuf = work.join("sites.yaml");
    if let Err(e) = std::fs::write(&file, yaml(lab)) {
        return failed(format!("writing {}: {e}", file.display()));
    }
    let (a, b) = match machines() {
        Ok(m) => m,
        Err(e) => return failed(format!("making the two machines: {e}")),
    };
    let f = "-";
    let on_both = |verb: &str, extra: &[&str]| -> [Command; 2] {
        [(&a, "a"), (&b, "b")].map(|(m, site)| {
            let mut args = vec![verb, "--site", site, f];
            args.extend_from_slice(extra);
            m.command(&bin, &args)
        })
    };
    let mut steps = Vec::new();
    for (step, verb, extra) in [
        ("apply", "apply", &[][..]),
        ("plan", "plan", &["--detailed-exitcode"][..]),
        ("destroy", "destroy", &[][..]),
    ] {
        match both(on_both(verb, extra), &file, work, step) {
            Ok((wall, each)) => {
                let mut whole = crate::procs::whole(step, wall, &each);
                if step == "apply" && whole.error.is_none() {
                    // Across the core tunnel: h0 (on r0, site a) to h2 (on r2, site b).
                    let mut check = a.command(
                        &bin,
                        &["check", "--site", "a", f, "--from", "h0", "--to", "h2"],
                    );
                    let fed = std::fs::File::open(&file).map(|lab| check.stdin(lab));
                    if let Err(e) = fed.and_then(run_quiet) {
                        whole.wall_ms = None;
                        whole.error = Some(format!("exited 0 but h0 does not reach h2: {e}"));
                    }
                }
                steps.push(whole);
                if step == "apply" {
                    steps.extend(each);
                }
            }
            Err(e) => steps.push(Step::failed(step, e.to_string())),
        }
    }
    steps
}
