//! `nshost schema`: the JSON Schema of the lab file format.

use std::process::ExitCode;

use nshost::outln;
use nshost::workflow::Error;

pub fn run() -> Result<ExitCode, Error> {
    // The schema document itself, unwrapped: editors read it as it is.
    outln!(
        "{}",
        serde_json::to_string_pretty(&nshost::topology::json_schema()).expect("JSON serializes")
    );
    Ok(ExitCode::SUCCESS)
}
