//! Validation: checks a parsed topology and resolves it into a `Lab`, reporting every
//! problem at once as miette diagnostics pointing at the YAML.

use crate::lab::Lab;
use crate::topology::{SourceFile, Topology};

/// Every problem found in a lab file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{} problem(s) in {}", .problems.len(), .file)]
pub struct Invalid {
    pub file: String,
    #[related]
    pub problems: Vec<miette::Report>,
}

/// Checks `topo` (parsed from `src`) and resolves it.
pub fn validate(src: &SourceFile, topo: &Topology) -> Result<Lab, Invalid> {
    let _ = (src, topo);
    todo!("validate")
}
