//! `nshost import FORMAT INPUT`: another tool's description of a network as a lab file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use nshost::import::{self, Format, ImportError};

use crate::cli::Error;
use nshost::{errln, out};

use super::{Global, Output};

/// Write a lab file from another tool's description of a network
///
/// tsim-facts: a directory of the traceroute simulator's router facts. The lab file
/// goes to stdout (or `-o FILE`); the report of what was left out or changed, and why,
/// to stderr (and `--report FILE`, as JSON). With `-q`, stderr has only the warnings
/// (a host whose gateway is picked among several routers) and errors. With `--output
/// json`, stdout is one JSON document: the report, with the lab file's text as `yaml`.
#[derive(Args, Debug)]
#[command(after_help = IMPORT_EXAMPLES)]
pub struct ImportArgs {
    /// The input's format.
    #[arg(value_enum)]
    pub format: Format,
    /// The input: for tsim-facts, the directory of `*_facts.txt` files.
    pub input: PathBuf,
    /// Write the lab file here instead of on stdout.
    #[arg(short = 'o', long = "out", alias = "output-file", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the report (everything imported and left out) as JSON to FILE too.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The lab's name (default: the input's directory name).
    #[arg(long)]
    pub name: Option<String>,
    /// Append this file's top-level `hosts:` and `checks:` to the lab.
    #[arg(long, value_name = "FILE")]
    pub with: Option<PathBuf>,
    /// Leave out the ipsets of this type (`hash:mac`, ...) and their members, for a
    /// kernel built without it; repeatable. Reported like every fact left out.
    #[arg(long, value_name = "TYPE")]
    pub without_ipset_type: Vec<String>,
    /// Keep sets of every type. By default the kernel is asked which of the input's
    /// ipset types it has, and sets of the others are left out (as with
    /// `--without-ipset-type`, and reported), so that the lab applies here.
    #[arg(long)]
    pub any_kernel: bool,
}

pub fn run(args: ImportArgs, global: &Global) -> Result<ExitCode, Error> {
    let extra = match &args.with {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
                path: path.display().to_string(),
                source,
            })?;
            Some((path.display().to_string(), text))
        }
        None => None,
    };
    let without_ipset_types = args.without_ipset_type.clone();
    let mut kernel_lacks_ipset_types = Vec::new();
    if !args.any_kernel {
        let used = import::ipset_types(&args.format.read(&args.input)?);
        match nshost::kernel::netfilter::missing_ipset_types(&used) {
            Ok(Some(missing)) => {
                for kind in missing {
                    if !without_ipset_types.contains(&kind) {
                        if global.chatty() {
                            errln!(
                                "note: this kernel has no ipset type {kind}: its sets are left out"
                            );
                        }
                        kernel_lacks_ipset_types.push(kind);
                    }
                }
            }
            Ok(None) | Err(_) if used.is_empty() => {}
            Ok(None) | Err(_) => {
                if global.chatty() {
                    errln!(
                        "note: cannot ask this kernel which ipset types it has (not root?): every set is kept"
                    );
                }
            }
        }
    }
    let options = import::Options {
        name: args.name.clone(),
        source: args.input.display().to_string(),
        extra,
        without_ipset_types,
        kernel_lacks_ipset_types,
    };
    let mut imported = import::import(args.format, &args.input, &options)?;
    let write = |path: &PathBuf, text: &str| {
        std::fs::write(path, text).map_err(|source| ImportError::Write {
            path: path.display().to_string(),
            source,
        })
    };
    if let Some(path) = &args.report {
        let mut doc = serde_json::Map::new();
        doc.insert("format_version".into(), super::FORMAT_VERSION.into());
        if let serde_json::Value::Object(fields) =
            serde_json::to_value(&imported.report).expect("a report serializes")
        {
            doc.extend(fields);
        }
        let text = serde_json::to_string_pretty(&doc).expect("JSON serializes") + "\n";
        write(path, &text)?;
    }
    match &args.out {
        Some(path) => write(path, &imported.yaml)?,
        // With JSON, stdout is the one document, the lab file a field of it.
        None if global.output == Output::Json => {}
        None => out!("{}", imported.yaml),
    }
    match global.output {
        Output::Json => {
            imported.report.yaml = Some(std::mem::take(&mut imported.yaml));
            super::print_report(&imported.report);
        }
        Output::Human if global.quiet => {
            for w in &imported.report.warnings {
                errln!("warning: {w}");
            }
        }
        Output::Human => errln!("{}", imported.report.human().trim_end()),
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The examples `nshost import --help` shows (and its page in the book).
const IMPORT_EXAMPLES: &str = "\
Examples:
  nshost import tsim-facts facts/ -o lab.yaml
  nshost import tsim-facts facts/ --name hq --with hosts.yaml -o lab.yaml --report left-out.json";
