//! The session's operations, one function each, calling the library as the command
//! line's commands do; each result is the document the command prints with
//! `--output json`.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::Error;
use super::protocol::{Domain, Format, LabSource, Shutdown, SocketType};
use crate::report::{self, ApplyReport, PlanJson, PlanReport, ProblemReport, Versioned};
use crate::status::{self, Target};
use crate::topology::SourceFile;
use crate::workflow::{self, Loaded};
use crate::{check, kernel, validate, workload};

/// How long a request waits for another nshost's lock on its lab.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// What a session keeps between requests.
#[derive(Default)]
pub struct State {
    /// The last lab applied: the default of requests that name none.
    pub current: Option<Loaded>,
    /// Every lab applied and not destroyed since, in order: destroyed at the end.
    pub applied: Vec<String>,
    /// The session runs in a sandbox of its own: what runs beside it is its own.
    pub sandbox: bool,
}

/// A document as `--output json` prints it (`format_version` first).
fn document(report: impl serde::Serialize) -> Value {
    serde_json::to_value(Versioned {
        format_version: report::FORMAT_VERSION,
        report,
    })
    .expect("a report serializes")
}

/// Reads, parses, validates and lowers the lab a request gives.
fn load(src: &LabSource) -> Result<Loaded, Error> {
    match (&src.file, &src.text) {
        (Some(file), None) => Ok(workflow::load(file)?),
        (None, Some(text)) => {
            let source = SourceFile::from_text(src.name.as_deref().unwrap_or("lab.yaml"), text);
            // Relative paths start where the request says, else in the session's
            // directory (not beside the text's name).
            let dir = src.dir.clone().unwrap_or_else(|| Path::new(".").into());
            Ok(workflow::load_source_with(
                source,
                &validate::DirReader { dir },
            )?)
        }
        _ => Err(Error::Protocol(
            "a lab is `file` (a path) or `text` (YAML), one of them".into(),
        )),
    }
}

impl State {
    /// The lab a request names, else the current one.
    fn lab(&self, named: Option<&str>) -> Result<String, Error> {
        named
            .map(str::to_string)
            .or_else(|| self.current.as_ref().map(|l| l.lab.name.clone()))
            .ok_or(Error::NoLab)
    }

    /// `apply`: the lab applied; it becomes the current lab.
    pub fn apply(&mut self, src: &LabSource) -> Result<Value, Error> {
        let loaded = load(src)?;
        let warnings = ProblemReport::all(&loaded.lab.warnings);
        let name = loaded.lab.name.clone();
        let _lock = workflow::lock(&name, LOCK_WAIT)?;
        let mut planned = workflow::plan_loaded(loaded.clone())?;
        let applied = workflow::apply(&mut planned, workflow::ApplyOptions::default())?;
        if !self.applied.contains(&name) {
            self.applied.push(name);
        }
        self.current = Some(loaded);
        Ok(document(ApplyReport {
            plan: PlanJson::of(&planned.plan),
            notes: report::notes(&planned),
            applied,
            warnings,
            checks: None,
        }))
    }

    /// `plan`: what an apply of the lab would do.
    pub fn plan(&self, src: &LabSource) -> Result<Value, Error> {
        let loaded = load(src)?;
        let warnings = ProblemReport::all(&loaded.lab.warnings);
        let _lock = workflow::lock_shared(&loaded.lab.name, LOCK_WAIT)?;
        let planned = workflow::plan_loaded(loaded)?;
        Ok(document(PlanReport {
            plan: PlanJson::of(&planned.plan),
            timings: planned.timings.clone(),
            notes: report::notes(&planned),
            warnings,
            saved: None,
        }))
    }

    /// `status`: the lab node by node, as a document or as the table for people.
    pub fn status(&self, lab: Option<&str>, format: Option<Format>) -> Result<Value, Error> {
        let lab = self.lab(lab)?;
        let _lock = workflow::lock_shared(&lab, LOCK_WAIT)?;
        let status = status::lab(Target::Name(lab))?;
        Ok(match format.unwrap_or(Format::Json) {
            Format::Json => document(report::LabStatusReport { status }),
            Format::Text => {
                json!({"text": status::render::lab(&status, status::render::View::Summary)})
            }
        })
    }

    /// `check`: the lab's checks (those of its file for the current lab, else the
    /// default ones of what the kernel holds).
    pub fn check(
        &self,
        lab: Option<&str>,
        wait_ms: Option<u64>,
        format: Option<Format>,
    ) -> Result<Value, Error> {
        let name = self.lab(lab)?;
        let _lock = workflow::lock_shared(&name, LOCK_WAIT)?;
        let suite = match &self.current {
            Some(loaded) if loaded.lab.name == name => {
                crate::sites::suite_here(&loaded.lab, check::Suite::of(&loaded.lab))
            }
            _ => status::default_suite(&status::lab(Target::Name(name))?),
        };
        let options = check::Options {
            wait: wait_ms.map(Duration::from_millis),
            ..check::Options::default()
        };
        let checked = workflow::run_checks(&suite, &options)?;
        Ok(match format.unwrap_or(Format::Json) {
            Format::Json => document(checked),
            Format::Text => {
                json!({"text": check::report::human(&checked), "passed": checked.ok()})
            }
        })
    }

    /// The node a request names, in its lab (else the current lab, else any lab).
    fn locate(&self, node: &str, lab: Option<&str>) -> Result<status::Located, Error> {
        let lab = lab.map(str::to_string).or_else(|| self.lab(None).ok());
        Ok(status::locate(node, lab.as_deref())?)
    }

    /// `logs`: what the node's processes printed, as `nshost logs NODE` prints it.
    pub fn logs(&self, node: &str, lab: Option<&str>) -> Result<Value, Error> {
        let located = self.locate(node, lab)?;
        let files = workload::logs::files(&located.lab, &located.node, None)?;
        let (text, _) = workload::logs::read(&located.node, &files, None);
        Ok(json!({"text": String::from_utf8_lossy(&text)}))
    }

    /// `exec`, in the node the request names.
    pub fn exec(&self, exec: super::exec::Exec<'_>) -> Result<Value, Error> {
        let located = self.locate(exec.node, exec.lab)?;
        let result = super::exec::run(super::exec::Exec {
            lab: Some(&located.lab),
            node: &located.node,
            ..exec
        })?;
        Ok(serde_json::to_value(result).expect("a result serializes"))
    }

    /// `netns`: the node's network namespace, as a descriptor.
    pub fn netns(&self, node: &str, lab: Option<&str>) -> Result<OwnedFd, Error> {
        let located = self.locate(node, lab)?;
        kernel::netns::open_fd(&located.ns).map_err(|cause| Error::Node {
            node: located.node,
            what: "opening its network namespace",
            cause,
        })
    }

    /// `socket`: a socket made in the node's network namespace, on a thread that
    /// enters it and ends.
    pub fn socket(
        &self,
        node: &str,
        lab: Option<&str>,
        domain: Domain,
        kind: SocketType,
        protocol: i32,
    ) -> Result<OwnedFd, Error> {
        let located = self.locate(node, lab)?;
        let fail = |what| {
            let node = located.node.clone();
            move |cause| Error::Node { node, what, cause }
        };
        let ns =
            kernel::netns::open_fd(&located.ns).map_err(fail("opening its network namespace"))?;
        let domain = match domain {
            Domain::Inet => libc::AF_INET,
            Domain::Inet6 => libc::AF_INET6,
            Domain::Unix => libc::AF_UNIX,
        };
        let kind = match kind {
            SocketType::Stream => libc::SOCK_STREAM,
            SocketType::Dgram => libc::SOCK_DGRAM,
            SocketType::Raw => libc::SOCK_RAW,
        };
        std::thread::spawn(move || -> Result<OwnedFd, (&'static str, std::io::Error)> {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| ("entering its network namespace", e.into()))?;
            // SAFETY: a plain system call; its descriptor is owned from here on.
            let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
            if fd < 0 {
                return Err(("making the socket", std::io::Error::last_os_error()));
            }
            // SAFETY: a new descriptor, owned by nothing else.
            Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        })
        .join()
        .expect("the socket thread does not panic")
        .map_err(|(what, cause)| fail(what)(cause))
    }

    /// `destroy`: every object of the lab removed.
    pub fn destroy(&mut self, lab: Option<&str>) -> Result<Value, Error> {
        let name = self.lab(lab)?;
        let _lock = workflow::lock(&name, LOCK_WAIT)?;
        let mut planned = workflow::plan_destroy(&name, true)?;
        let applied = workflow::apply(&mut planned, workflow::ApplyOptions::default())?;
        self.applied.retain(|l| *l != name);
        if self.current.as_ref().is_some_and(|l| l.lab.name == name) {
            self.current = None;
        }
        Ok(document(ApplyReport {
            plan: PlanJson::of(&planned.plan),
            notes: report::notes(&planned),
            applied,
            warnings: Vec::new(),
            checks: None,
        }))
    }

    /// The end: every lab applied is destroyed, and in a sandbox every process beside
    /// the session stopped. What failed is said on standard error.
    pub fn shutdown(&mut self) -> Shutdown {
        let mut done = Shutdown::default();
        let mut stopped = Vec::new();
        for lab in std::mem::take(&mut self.applied).into_iter().rev() {
            let destroyed = workflow::lock(&lab, LOCK_WAIT).and_then(|_lock| {
                let mut planned = workflow::plan_destroy(&lab, false)?;
                let some = !planned.plan.is_empty();
                let applied = workflow::apply(&mut planned, workflow::ApplyOptions::default())?;
                Ok((some, applied.stopped))
            });
            match destroyed {
                Ok((some, procs)) => {
                    if some {
                        done.destroyed.push(lab);
                    }
                    stopped.extend(procs);
                }
                Err(e) => crate::errln!("{:?}", miette::Report::new(e)),
            }
        }
        self.current = None;
        if self.sandbox {
            stopped.extend(kernel::procs::stop_beside_me("the session's sandbox"));
        }
        done.stopped = stopped
            .iter()
            .map(|p| format!("{} {}", p.pid, p.name))
            .collect();
        done
    }
}
