//! `nshost graph`: a picture of the lab, in DOT, Mermaid or SVG, coloured by what the
//! kernel lacks when the lab is applied here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use nshost::graph::{self, Graph, GraphError, Observed};
use nshost::workflow::{self, Error};
use nshost::{errln, out};

use super::{Global, LockWait, Output};

/// Draw the lab's nodes and networks, coloured by what the kernel lacks.
///
/// Routers, hosts and networks, and which interface is on which network. When the lab
/// is applied here, what the kernel lacks is red and dashed and what has drifted
/// orange.
#[derive(Args, Debug)]
pub struct GraphArgs {
    /// The lab file (YAML).
    pub file: PathBuf,
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
    let loaded = workflow::load(&args.file)?;
    super::warnings(&loaded, global);
    let lab = loaded.lab.clone();
    let mut g = Graph::of(&lab);
    if !args.offline {
        match graph::observe(loaded, args.lock.lock_timeout) {
            Observed::NotApplied => {}
            Observed::Planned(plan) => graph::live::colour(&mut g, &lab, &plan),
            Observed::Unreadable(why) => {
                errln!("note: the graph is not coloured by the live kernel: {why}");
            }
        }
    }
    // The drawing goes to `-o FILE`, or to stdout unless stdout is for the JSON.
    let drawing = match (global.output, &args.out) {
        (Output::Json, None) => None,
        _ => Some(draw(&g, args.format)?),
    };
    if let (Some(text), Some(path)) = (&drawing, &args.out) {
        std::fs::write(path, text).map_err(|source| GraphError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    match global.output {
        // The document is a `Graph` (its fields after `format_version`).
        Output::Json => super::print_json(serde_json::to_value(&g).expect("JSON serializes")),
        Output::Human => {
            if let (Some(text), None) = (&drawing, &args.out) {
                out!("{text}");
            }
        }
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
