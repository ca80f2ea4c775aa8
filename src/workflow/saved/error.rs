//! What stops a saved plan from being written, read or applied.

use std::fmt::Write as _;

use crate::workflow::saved::compare::Difference;
use crate::workflow::saved::trust::BadName;

/// What stops a saved plan from being written, read or applied.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SavedError {
    /// The kernel changed, in what the plan's digest covers, since the plan was made.
    #[error("{}", stale_text(.0))]
    #[diagnostic(
        code(nshost::stale_plan),
        help(
            "nothing was changed; make the plan again (`nshost plan LAB -o FILE`), review it, \
             and apply that"
        )
    )]
    Stale(Box<StalePlan>),
    /// Not a saved plan, or one cut short or damaged.
    #[error("{path} is not a usable saved plan: {reason}")]
    #[diagnostic(
        code(nshost::bad_plan),
        help("make the plan again: `nshost plan LAB -o FILE`")
    )]
    Corrupt { path: String, reason: String },
    /// A plan saved by another version of nshost (or in another format).
    #[error("{path} was saved by {made}; this is nshost {this}")]
    #[diagnostic(
        code(nshost::plan_version),
        help(
            "a saved plan is applied by the nshost that made it; make the plan again with \
             this one: `nshost plan LAB -o FILE`"
        )
    )]
    Version {
        path: String,
        made: String,
        this: String,
    },
    /// A name in a saved plan that validation refuses in a lab file: a forged or
    /// damaged plan.
    #[error(
        "{path} is refused: the {} `{}` of {} {}",
        bad.what,
        bad.name,
        bad.place,
        bad.problem
    )]
    #[diagnostic(
        code(nshost::plan_bad_name),
        help(
            "nothing was read or changed; a saved plan is as trusted as the person who hands \
             it to you, and nshost acts only on names a lab file could hold: make the plan \
             again from the lab file (`nshost plan LAB -o FILE`)"
        )
    )]
    BadName { path: String, bad: BadName },
    /// A saved plan that acts in namespaces its lab does not own (read from the kernel).
    #[error("{}", outside_text(path, lab, namespaces))]
    #[diagnostic(
        code(nshost::plan_outside_lab),
        help(
            "nothing was changed; a saved plan acts only in the namespaces marked as its \
             lab's and in those it creates where nothing is: make the plan again from the \
             lab file (`nshost plan LAB -o FILE`)"
        )
    )]
    OutsideLab {
        path: String,
        lab: String,
        /// Each namespace, with why it is not the lab's.
        namespaces: Vec<(String, String)>,
    },
    /// A saved plan given where a lab file is wanted.
    #[error("{path} is a saved plan, not a lab file")]
    #[diagnostic(
        code(nshost::not_a_lab_file),
        help(
            "`nshost apply {path}` applies it; plan and validate read the lab file it was made from"
        )
    )]
    NotALabFile { path: String },
    /// The plan could not be written.
    #[error("cannot write the plan to {path}")]
    #[diagnostic(code(nshost::write))]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A saved plan the kernel no longer matches, with what changed.
#[derive(Debug)]
pub struct StalePlan {
    pub path: String,
    pub lab: String,
    pub differences: Vec<Difference>,
}

fn stale_text(stale: &StalePlan) -> String {
    let n = stale.differences.len();
    let mut out = format!(
        "the saved plan {} of lab `{}` is stale: the kernel changed in {n} object{} it \
         was made against",
        stale.path,
        stale.lab,
        if n == 1 { "" } else { "s" }
    );
    for d in &stale.differences {
        let _ = write!(out, "\n  {d}");
    }
    out
}

fn outside_text(path: &str, lab: &str, namespaces: &[(String, String)]) -> String {
    let mut out = format!("the saved plan {path} acts outside lab `{lab}`:");
    for (ns, why) in namespaces {
        let _ = write!(out, "\n  namespace {ns} is not lab {lab}'s: {why}");
    }
    out
}
