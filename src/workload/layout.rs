//! Where a node's workload is kept on the machine, and the two records exchanged with
//! its supervisor: `<run dir>/nodes/<node>/` holds `spec.json` (what it must run,
//! written by apply before it starts or reloads the supervisor), `state.json` (what it
//! runs, written by the supervisor after each change), `files/` (the declared files'
//! contents, bind-mounted into the node) and `logs/<process>.log`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::LiveProcess;

/// The directory of `node` of `lab`.
pub fn node_dir(lab: &str, node: &str) -> PathBuf {
    nodes_dir(lab).join(node)
}

/// The directory holding every node's directory.
pub fn nodes_dir(lab: &str) -> PathBuf {
    crate::services::control::run_dir(lab).join("nodes")
}

/// The log of process `name` of `node`.
pub fn log_path(lab: &str, node: &str, name: &str) -> PathBuf {
    node_dir(lab, node).join(log_file(name))
}

/// The log of process `name`, within its node's directory.
pub fn log_file(name: &str) -> PathBuf {
    Path::new("logs").join(format!("{name}.log"))
}

/// A file the supervisor puts in the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecFile {
    pub path: String,
    pub mode: u32,
    /// Its content's file under `files/` (a new name for each new content, so that the
    /// supervisor sees which changed).
    pub content: String,
}

/// A process the supervisor runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecProcess {
    pub name: String,
    pub argv: Vec<String>,
}

/// What a node's supervisor must run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// Increased by each apply that changes it; the supervisor reports the generation
    /// it has carried out.
    pub generation: u64,
    pub lab: String,
    pub node: String,
    /// The node's namespace.
    pub ns: String,
    pub files: Vec<SpecFile>,
    pub run: Vec<SpecProcess>,
    /// Processes to start again even though their command is the same (a file they
    /// read changed, or they failed).
    #[serde(default)]
    pub restart: Vec<String>,
}

/// What a node's supervisor runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The spec's generation it carried out.
    pub generation: u64,
    pub processes: Vec<LiveProcess>,
    /// Why the last spec could not be carried out in full, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Reads a JSON record, `None` when it is not there or not readable.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let f = crate::safe_file::open_read(path).ok()?;
    serde_json::from_reader(io::BufReader::new(f)).ok()
}

/// Writes a JSON record atomically (mode 0600).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("a record serializes");
    crate::safe_file::write_atomically(path, &bytes, 0o600)
}

/// The spec of `node`, if one was written.
pub fn read_spec(lab: &str, node: &str) -> Option<Spec> {
    read_json(&node_dir(lab, node).join("spec.json"))
}

/// The state its supervisor last wrote.
pub fn read_state(lab: &str, node: &str) -> Option<State> {
    read_json(&node_dir(lab, node).join("state.json"))
}

/// The nodes that have a directory (a spec written, a supervisor that ran).
pub fn nodes_with_dirs(lab: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(nodes_dir(lab)) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}
