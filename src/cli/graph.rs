//! `nshost graph`: a picture of the lab, in DOT, Mermaid or SVG, coloured by what the
//! kernel lacks when the lab is applied here.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::Error;
use clap::{Args, ValueEnum};
use nshost::graph::{self, Graph, GraphError, Observed};
use nshost::status::Target;
use nshost::workflow;
use nshost::{errln, out};

use super::{Global, LockWait, Output};

/// Draw the lab's nodes and networks, coloured by what the kernel lacks.
///
/// Routers, hosts and networks, and which interface is on which network. When the lab
/// is applied here, what the kernel lacks is red and dashed and what has drifted
/// orange.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("lab_source").required(true).args(["file", "lab"])))]
#[command(after_help = GRAPH_EXAMPLES)]
pub struct GraphArgs {
    /// The lab file (YAML); or name the lab with --lab.
    pub file: Option<PathBuf>,
    /// Draw the lab of this name as the kernel has it, without its file (networks by
    /// their bridge's name).
    #[arg(long, value_parser = super::lab_name, conflicts_with = "offline")]
    pub lab: Option<String>,
    /// `dot` (Graphviz), `mermaid`, or `svg` (drawn by Graphviz's `dot`, which must be
    /// installed).
    #[arg(long, value_enum, default_value_t = Format::Dot)]
    pub format: Format,
    /// Write the drawing to FILE instead of stdout.
    #[arg(short = 'o', long = "out", alias = "out-file", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Do not look at the kernel: the lab as the file says, uncoloured.
    #[arg(long)]
    pub offline: bool,
    /// Draw every host. Without it, where more than 12 hosts of a network have nothing
    /// but their one interface on it, they are one node, `200 hosts (h0..h199)` (the
    /// JSON lists every host either way).
    #[arg(long)]
    pub unfold: bool,
    #[command(flatten)]
    pub lock: LockWait,
}

/// What `nshost graph` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Dot,
    Mermaid,
    Svg,
}

pub fn run(args: GraphArgs, global: &Global) -> Result<ExitCode, Error> {
    let g = match (&args.file, &args.lab) {
        (Some(file), _) => of_file(file, &args, global)?,
        (None, Some(lab)) => {
            // Shared, as for status: never an apply half done.
            let _lock = workflow::lock_shared(lab, args.lock.lock_timeout)?;
            Graph::of_status(&nshost::status::lab(Target::Name(lab.clone()))?)
        }
        (None, None) => unreachable!("clap requires a file or --lab"),
    };
    print(&g, &args, global)
}

/// The graph of a lab file, coloured by the kernel unless `--offline`.
fn of_file(file: &Path, args: &GraphArgs, global: &Global) -> Result<Graph, Error> {
    let loaded = workflow::load(file)?;
    super::warnings(&loaded, global);
    let lab = loaded.lab.clone();
    let mut g = Graph::of(&lab);
    if !args.offline {
        match graph::observe(loaded, args.lock.lock_timeout) {
            Observed::NotApplied => {}
            Observed::Planned(plan) => graph::live::colour(&mut g, &lab, &plan),
            // Said with JSON too (the document's `checked` is false); not with -q.
            Observed::Unreadable(why) if !global.quiet => {
                errln!("note: the graph is not coloured by the live kernel: {why}");
            }
            Observed::Unreadable(_) => {}
        }
    }
    Ok(g)
}

/// Draws `g` to `-o FILE` or stdout, or prints it as JSON.
fn print(g: &Graph, args: &GraphArgs, global: &Global) -> Result<ExitCode, Error> {
    // The drawing goes to `-o FILE`, or to stdout unless stdout is for the JSON.
    let drawing = match (global.output, &args.out) {
        (Output::Json, None) => None,
        _ if args.unfold => Some(draw(g, args.format)?),
        _ => Some(draw(&g.clone().folded(graph::FOLD_ABOVE), args.format)?),
    };
    if let (Some(text), Some(path)) = (&drawing, &args.out) {
        std::fs::write(path, text).map_err(|source| GraphError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    match global.output {
        // The document is a `Graph` (its fields after `format_version`).
        Output::Json => super::print_json(serde_json::to_value(g).expect("JSON serializes")),
        Output::Human => {
            if let (Some(text), None) = (&drawing, &args.out) {
                out!("{text}");
            }
        }
        Output::Junit => unreachable!("refused before the run (main.rs)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn draw(g: &Graph, format: Format) -> Result<String, GraphError> {
    Ok(match format {
        Format::Dot => graph::dot::render(g),
        Format::Mermaid => graph::mermaid::render(g),
        Format::Svg => graph::render_svg(&graph::dot::render(g))?,
    })
}

/// The examples `nshost graph --help` shows (and its page in the book).
const GRAPH_EXAMPLES: &str = "\
Examples:
  nshost graph lab.yaml --format svg -o lab.svg
  nshost graph lab.yaml --offline | dot -Tpng > lab.png   # the DOT text, without the kernel
  nshost graph --lab small --format mermaid               # a lab as the kernel has it";
