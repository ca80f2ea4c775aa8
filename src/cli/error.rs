//! A command's error: the library's workflow errors, and those of the layers above the
//! workflow (graphs, node lookup, import), rendered by miette in `main`.

use nshost::report::ErrorReport;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Workflow(#[from] nshost::workflow::Error),
    /// `nshost graph`: Graphviz missing or failing, an output file not written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Graph(#[from] nshost::graph::GraphError),
    /// `nshost::no_such_node`, `nshost::ambiguous_node`: a node name for `exec`, `logs`.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Locate(#[from] nshost::status::LocateError),
    /// `nshost import`: facts that cannot be read or turned into a lab.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Import(#[from] nshost::import::ImportError),
}

impl Error {
    /// The JSON report of the error (`--output json`).
    pub fn report(&self) -> ErrorReport {
        match self {
            Error::Workflow(e) => ErrorReport::of(e),
            other => ErrorReport::of_diagnostic(other),
        }
    }
}
