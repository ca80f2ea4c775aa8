//! What stops an import (facts it cannot use are reported, not errors).

/// An import that cannot be done.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    #[error("cannot read {path}")]
    #[diagnostic(code(nshost::import::read))]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    #[diagnostic(code(nshost::import::write))]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no `*_facts.txt` file")]
    #[diagnostic(
        code(nshost::import::no_facts),
        help("give the directory of the routers' facts files, one `<router>_facts.txt` each")
    )]
    NoFacts { path: String },
    #[error("{reason}")]
    #[diagnostic(code(nshost::import::name), help("name the lab with --name"))]
    BadName { name: String, reason: String },
    #[error("{file}: {reason}")]
    #[diagnostic(
        code(nshost::import::extra),
        help(
            "the additions file may hold top-level `hosts:` and `checks:` only; the rest comes from the facts"
        )
    )]
    Extra { file: String, reason: String },
}
