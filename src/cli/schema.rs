//! `nshost schema`: the JSON Schema of the lab file format, or of a command's JSON
//! output (`--output-of plan`).

use std::process::ExitCode;

use clap::Args;
use nshost::outln;
use nshost::workflow::Error;

/// Print the JSON Schema of the lab file format, or of a command's JSON output.
#[derive(Args, Debug)]
#[command(after_help = SCHEMA_EXAMPLES)]
pub struct SchemaArgs {
    /// Print the schema of this command's `--output json` document instead (`error`:
    /// the document of any command that fails).
    #[arg(long, value_name = "COMMAND", value_parser = output_names())]
    pub output_of: Option<String>,
}

fn output_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(nshost::report::SCHEMAS.iter().map(|(n, _)| *n))
}

pub fn run(args: SchemaArgs) -> Result<ExitCode, Error> {
    // The schema document itself, unwrapped: editors read it as it is.
    let schema = match &args.output_of {
        None => serde_json::to_value(nshost::topology::json_schema()),
        Some(name) => {
            serde_json::to_value(nshost::report::schema_named(name).expect("clap checked the name"))
        }
    }
    .expect("JSON serializes");
    outln!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("JSON serializes")
    );
    Ok(ExitCode::SUCCESS)
}

/// The examples `nshost schema --help` shows (and its page in the book).
const SCHEMA_EXAMPLES: &str = "\
Examples:
  nshost schema > schemas/topology.schema.json
  nshost schema --output-of plan                 # the schema of `plan --output json`";
