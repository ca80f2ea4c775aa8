//! `nshost import`: turns another tool's description of a network into a lab file.
//!
//! Every format has a submodule that reads its input into [`facts::Facts`], the routers
//! as their kernels held them (interfaces, routes of every table, rules, firewall text),
//! each fact with the file and line it came from. One format-neutral stage
//! ([`build`]) then decides, as the kernel would, what a lab can hold: it leaves out what
//! the kernel makes itself and what the kernel would refuse, infers the networks, and
//! yields the importer's lab model ([`model::Lab`]) and a [`report::ImportReport`] of
//! everything it left out. One emitter ([`emit`]) writes the model as a lab file.

pub mod build;
mod changed;
pub mod emit;
mod errors;
pub mod facts;
pub mod fib;
mod gateways;
pub mod iproute;
pub mod model;
pub mod report;
pub mod tsim;

use std::path::Path;

pub use errors::ImportError;
pub use report::ImportReport;

/// The formats `nshost import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A directory of the traceroute simulator's `*_facts.txt` files, one per router.
    #[value(name = "tsim-facts")]
    TsimFacts,
}

impl Format {
    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::TsimFacts => "tsim-facts",
        }
    }

    /// Reads the format's input at `path`.
    pub fn read(self, path: &Path) -> Result<facts::Facts, ImportError> {
        match self {
            Format::TsimFacts => tsim::read_dir(path),
        }
    }
}

/// The ipset types the input's sets are of, in order of first use.
pub fn ipset_types(facts: &facts::Facts) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    let texts = facts.routers.iter().filter_map(|r| r.ipsets.as_ref());
    for line in texts.flat_map(|t| t.text.lines()) {
        if let ["create", _, kind, ..] = line.split_whitespace().collect::<Vec<_>>()[..]
            && !types.iter().any(|t| t == kind)
        {
            types.push(kind.to_string());
        }
    }
    types
}

/// What an import yields: the lab file's text and the report.
#[derive(Debug)]
pub struct Imported {
    pub yaml: String,
    pub lab: model::Lab,
    pub report: ImportReport,
}

/// Options of an import.
#[derive(Debug, Default)]
pub struct Options {
    /// The lab's name; by default the input's file or directory name.
    pub name: Option<String>,
    /// How the input is named in the lab file's header and the report (the path as
    /// given, so that a lab regenerated from the same command is byte for byte the same).
    pub source: String,
    /// A lab-file fragment (top-level `hosts:` and `checks:` only) appended to the lab.
    pub extra: Option<(String, String)>,
    /// ipset types to leave out with their members (`hash:mac`...), on request.
    pub without_ipset_types: Vec<String>,
    /// ipset types to leave out with their members because the kernel lacks them
    /// (reported as such, and not as flags the user gave).
    pub kernel_lacks_ipset_types: Vec<String>,
}

/// Imports `path` in `format`.
pub fn import(format: Format, path: &Path, options: &Options) -> Result<Imported, ImportError> {
    let facts = format.read(path)?;
    let name = match &options.name {
        Some(n) => n.clone(),
        None => default_name(path),
    };
    if let Some(problem) = crate::naming::lab_name_problem(&name) {
        return Err(ImportError::BadName {
            name: name.clone(),
            reason: problem.message(&name),
        });
    }
    let (lab, report) = build::build(
        format,
        &options.source,
        &name,
        facts,
        &options.without_ipset_types,
        &options.kernel_lacks_ipset_types,
    );
    let extra = match &options.extra {
        Some((file, text)) => Some(emit::Extra::new(file, text)?),
        None => None,
    };
    let yaml = emit::lab_yaml(&lab, &report, extra.as_ref());
    let mut report = report;
    if let Some((file, _)) = &options.extra {
        report.warnings = gateways::shared(&lab, &yaml, file);
    }
    Ok(Imported { yaml, lab, report })
}

/// The lab name an input gives when none is asked for: its last path component, made
/// into a valid name.
fn default_name(path: &Path) -> String {
    let base = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "imported".into());
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "imported".into()
    } else {
        cleaned
    }
}
