//! SVG through Graphviz: the DOT text piped into `dot -Tsvg`, the one subprocess
//! `nshost graph` runs (drawing a graph well is Graphviz's job). Without Graphviz,
//! an error that says how to install it, and that `--format dot` needs nothing.

use std::io::{self, Write};
use std::process::{Command, Stdio};

/// What can stop a graph from being drawn or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GraphError {
    #[error("`dot` (Graphviz) is not installed, or not on PATH: SVG needs it")]
    #[diagnostic(
        code(nshost::graphviz_missing),
        help(
            "install Graphviz (`apt-get install graphviz`, `dnf install graphviz` or `brew \
             install graphviz`), or print the graph with `--format dot` or `--format mermaid`, \
             which need nothing else"
        )
    )]
    DotMissing,
    #[error("`dot -Tsvg` failed ({status}){}", stderr_text(.stderr))]
    #[diagnostic(code(nshost::graphviz_failed))]
    DotFailed { status: String, stderr: String },
    #[error("cannot run `dot`")]
    #[diagnostic(code(nshost::graphviz_failed))]
    DotIo(#[source] io::Error),
    #[error("cannot write {path}")]
    #[diagnostic(code(nshost::write))]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

fn stderr_text(stderr: &str) -> String {
    let stderr = stderr.trim();
    if stderr.is_empty() {
        String::new()
    } else {
        format!(": {stderr}")
    }
}

/// Draws `dot_text` as SVG with `dot -Tsvg` (found on `PATH`, then in `/usr/sbin` and
/// `/sbin`: [`crate::tools`]).
pub fn render_svg(dot_text: &str) -> Result<String, GraphError> {
    let dot = crate::tools::find("dot").ok_or(GraphError::DotMissing)?;
    let mut child = match Command::new(dot)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(GraphError::DotMissing),
        Err(e) => return Err(GraphError::DotIo(e)),
    };
    // Written from a thread, so a large graph cannot block on a full pipe either way.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = dot_text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(GraphError::DotIo)?;
    let written = writer.join().expect("the writer does not panic");
    if !out.status.success() {
        return Err(GraphError::DotFailed {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    written.map_err(GraphError::DotIo)?;
    String::from_utf8(out.stdout).map_err(|e| GraphError::DotIo(io::Error::other(e)))
}
