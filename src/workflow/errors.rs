//! Everything that can stop a command, as one error type rendered by miette at the edge.

use std::fmt::Write as _;

use miette::{Diagnostic, LabeledSpan, NamedSource};

use crate::kernel::{ChangeError, KernelError};
use crate::lock::LockError;
use crate::plan::{self, Conflict};
use crate::problem::{Code, Invalid};
use crate::state::NetState;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The I/O error is the report's cause, printed under the message.
    #[error("cannot read {path}")]
    #[diagnostic(code(nshost::read))]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A file nshost was asked to write (`man --dir`).
    #[error("cannot write {path}")]
    #[diagnostic(code(nshost::write))]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] Invalid),
    /// The lab's record of the settings it manages could not be written before an
    /// apply (the I/O error, printed under the message, says why).
    #[error("cannot write the lab's record {path}")]
    #[diagnostic(
        code(nshost::record),
        help("nothing was changed; nshost writes it in NSHOST_LOCK_DIR (/run/nshost by default)")
    )]
    Record {
        path: String,
        source: std::io::Error,
    },
    #[error("{}", conflicts_text(.0))]
    #[diagnostic(
        code(nshost::conflict),
        help(
            "nshost never adopts or deletes what it did not create: for a namespace, rename the \
             lab's node, set a `prefix`, or remove the other namespace yourself; for a route, \
             see its line"
        )
    )]
    Conflicts(Vec<Conflict>),
    #[error("{}", strays_text(.0))]
    #[diagnostic(
        code(nshost::stray_entry),
        help(
            "look at the entry and remove it yourself if nothing needs it (nshost never removes what is not its own)"
        )
    )]
    StrayEntries(Vec<(String, String)>),
    #[error(transparent)]
    #[diagnostic(code(nshost::kernel))]
    Kernel(#[from] KernelError),
    /// A program nshost was asked to run (a shell, a command in a node) did not start.
    #[error("cannot run {program}")]
    #[diagnostic(code(nshost::spawn))]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
    /// `nshost::busy` when another nshost holds the lock, `nshost::lock` when the lock
    /// file cannot be used.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    #[error("{what}: permission denied")]
    #[diagnostic(
        code(nshost::not_permitted),
        help(
            "nshost creates namespaces and mounts them under /run/netns: run it as root, or try \
             the lab in a throwaway sandbox, as any user: nshost try LAB (or nshost try \
             LAB --shell, for a shell in it)"
        )
    )]
    NotPermitted { what: String },
    #[error("no lab named `{lab}` has anything on this machine")]
    #[diagnostic(code(nshost::no_such_lab), help("{}", labs_help(.labs)))]
    NoSuchLab { lab: String, labs: Vec<String> },
    #[error(transparent)]
    #[diagnostic(transparent)]
    ApplyFailed(Box<ApplyFailure>),
    /// A saved plan that cannot be written, read or applied (`nshost::stale_plan`, ...).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Saved(#[from] crate::workflow::saved::SavedError),
    /// `nshost::exec`: entering a node's namespace for good.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Enter(#[from] crate::kernel::enter::EnterError),
    /// Reachability checks that could not run (not their failing: that is a report).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Check(#[from] crate::check::CheckError),
    /// `nshost::services`: the lab's services daemon could not be started or stopped.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Services(#[from] crate::services::control::ControlError),
    /// `--site` missing for a lab with sites, given for one without, or unknown.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Site(#[from] crate::sites::SiteError),
    /// `nshost::pool`: the warm pool could not be filled, drained or read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Pool(#[from] crate::kernel::pool::PoolError),
    /// `nshost::workload`: a node's files or processes could not be put in place.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Workload(#[from] crate::workload::control::WorkloadError),
    /// `nshost::watched`, `nshost::watch`: a watcher that cannot start.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Watch(#[from] crate::workflow::watch::WatchError),
}

impl Error {
    /// The error as JSON: every problem of an invalid lab (not only the first ones a
    /// rendering shows), the parts of any other error.
    pub fn body(&self) -> crate::problem::json::ErrorBody {
        use crate::problem::json::{ErrorBody, ProblemReport};
        match self {
            Error::Invalid(inv) => {
                ErrorBody::with_problems(self, ProblemReport::all(&inv.problems))
            }
            other => ErrorBody::of_diagnostic(other),
        }
    }
}

impl Error {
    /// `NotPermitted` unless this process may manage network namespaces (CAP_SYS_ADMIN in
    /// its user namespace); `what` says what it was about to do.
    pub fn unless_permitted(what: &str) -> Result<(), Error> {
        if crate::process::may_manage_namespaces() {
            return Ok(());
        }
        Err(Error::NotPermitted {
            what: format!("{what} (CAP_SYS_ADMIN)"),
        })
    }

    /// A kernel error, or `NotPermitted` when that is what it means.
    pub fn from_kernel(e: KernelError) -> Self {
        if e.not_permitted() {
            Error::NotPermitted {
                what: e.to_string(),
            }
        } else {
            Error::Kernel(e)
        }
    }
}

fn labs_help(labs: &[String]) -> String {
    if labs.is_empty() {
        "there are no nshost labs here".into()
    } else {
        format!("labs here: {}", labs.join(", "))
    }
}

fn conflicts_text(conflicts: &[Conflict]) -> String {
    plan::render::conflicts(conflicts).trim_end().to_string()
}

fn strays_text(strays: &[(String, String)]) -> String {
    let mut out = String::from(
        "the lab needs names that are taken under /run/netns by entries that are not namespaces:",
    );
    for (name, what) in strays {
        let _ = write!(out, "\n  {name} is {what}");
    }
    out
}

/// What became of the changes an apply made before it failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "rollback", rename_all = "snake_case")]
pub enum RollbackOutcome {
    /// The kernel is back to what it was before the apply.
    RolledBack { undone: usize },
    /// Nothing had been changed.
    NothingToUndo,
    /// `--no-rollback`: the partial state is kept.
    Kept,
    /// Undoing failed too; the kernel is in between (the next apply converges it).
    Failed { reason: String },
}

/// What an apply left undone though the kernel accepted every change.
#[derive(Debug)]
pub enum Leftover {
    /// The changes verification still found, ordered, with the states it compared (the
    /// touched part of the desired state, and the live one), to show them as a plan.
    Changes {
        plan: Box<plan::Plan>,
        desired: Box<NetState>,
        live: Box<NetState>,
    },
    /// A step after the kernel's (the services, the nodes' workloads) did not finish,
    /// or the apply stopped on another error: what it said.
    Unfinished(String),
}

impl Leftover {
    /// The changes still to do (none for an unfinished step).
    pub fn changes(&self) -> &[plan::Change] {
        match self {
            Leftover::Changes { plan, .. } => &plan.changes,
            Leftover::Unfinished(_) => &[],
        }
    }
}

impl std::fmt::Display for Leftover {
    /// The changes as `plan` shows them, or the step's error.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leftover::Changes {
                plan,
                desired,
                live,
            } => f.write_str(&plan::render::human(plan, desired, live)),
            Leftover::Unfinished(text) => f.write_str(text),
        }
    }
}

/// An apply that failed, with the changes the kernel refused, where they come from in
/// the file, and what became of what was done.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.text())]
pub struct ApplyFailure {
    pub lab: String,
    /// The changes the kernel refused (empty when the apply ran but did not converge).
    pub failures: Vec<ChangeError>,
    /// When every change was accepted but the kernel still differs: what is left.
    pub not_converged: Option<Leftover>,
    pub rollback: RollbackOutcome,
    /// The lab file and the place of each failed object in it, when known.
    pub file: Option<NamedSource<std::sync::Arc<str>>>,
    pub labels: Vec<LabeledSpan>,
}

impl ApplyFailure {
    fn text(&self) -> String {
        let mut out = String::new();
        if let Some(rest) = &self.not_converged {
            let _ = write!(
                out,
                "apply of lab `{}` did not converge; the kernel still differs from the lab:\n{}",
                self.lab,
                rest.to_string().trim_end()
            );
        } else {
            let _ = write!(
                out,
                "apply of lab `{}` failed: the kernel refused {} change(s):",
                self.lab,
                self.failures.len()
            );
            for f in &self.failures {
                let _ = write!(out, "\n  {f}");
            }
        }
        let _ = write!(
            out,
            "\n{}",
            match &self.rollback {
                RollbackOutcome::RolledBack { undone } => format!(
                    "rolled back: {undone} change(s) undone; the kernel is as it was before the apply"
                ),
                RollbackOutcome::NothingToUndo => "nothing had been changed".to_string(),
                RollbackOutcome::Kept => {
                    "the changes made so far are kept (--no-rollback); `nshost apply` again converges, `nshost destroy` removes them".to_string()
                }
                RollbackOutcome::Failed { reason } => format!(
                    "rolling back failed too ({reason}); `nshost apply` again converges the lab, `nshost destroy` removes it"
                ),
            }
        );
        out
    }
}

impl Diagnostic for ApplyFailure {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(if self.not_converged.is_some() {
            Code::Verify
        } else {
            Code::ApplyFailed
        }))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.file
            .as_ref()
            .filter(|_| !self.labels.is_empty())
            .map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty())
            .then(|| Box::new(self.labels.iter().cloned()) as Box<dyn Iterator<Item = LabeledSpan>>)
    }
}

#[cfg(test)]
mod leftover_tests {
    use miette::Diagnostic;

    use super::{ApplyFailure, Leftover, RollbackOutcome};
    use crate::plan::{self, render};
    use crate::state::NetState;

    fn failure(left: Leftover) -> ApplyFailure {
        ApplyFailure {
            lab: "lab".into(),
            failures: Vec::new(),
            not_converged: Some(left),
            rollback: RollbackOutcome::Kept,
            file: None,
            labels: Vec::new(),
        }
    }

    /// What verification leaves is data (the changes), shown as the plan of them only
    /// in the message.
    #[test]
    fn what_is_left_is_shown_as_a_plan() {
        let desired = plan::testkit::small_lab("lab").build();
        let live = NetState::default();
        let changes = plan::diff("lab", &desired, &live).expect("no conflicts");
        let rest = plan::order("lab", changes.clone(), &desired);
        let shown = render::human(&rest, &desired, &live);
        let f = failure(Leftover::Changes {
            plan: Box::new(rest.clone()),
            desired: Box::new(desired),
            live: Box::new(live),
        });
        let left = f.not_converged.as_ref().expect("left");
        assert_eq!(left.changes(), &rest.changes[..]);
        assert_eq!(left.changes().len(), changes.len());
        let text = f.to_string();
        let head = "apply of lab `lab` did not converge; the kernel still differs from the lab:\n";
        assert_eq!(
            text.strip_prefix(head)
                .and_then(|t| t.strip_suffix("\nthe changes made so far are kept (--no-rollback); `nshost apply` again converges, `nshost destroy` removes them")),
            Some(shown.trim_end())
        );
        assert_eq!(
            f.code().map(|c| c.to_string()).as_deref(),
            Some("nshost::verify")
        );
    }

    #[test]
    fn an_unfinished_step_is_shown_as_it_said() {
        let f = failure(Leftover::Unfinished("the daemon did not start".into()));
        assert!(f.not_converged.as_ref().unwrap().changes().is_empty());
        assert!(
            f.to_string()
                .starts_with("apply of lab `lab` did not converge; the kernel still differs from the lab:\nthe daemon did not start\n"),
            "{f}"
        );
    }
}
