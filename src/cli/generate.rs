//! `nshost completions SHELL` and `nshost man`: shell completions and the manual page,
//! generated from the command line's own definition (clap_complete, clap_mangen).

use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;
use nshost::out;
use nshost::workflow::Error;

/// Print the shell completion script for SHELL (`source <(nshost completions bash)`).
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completions of `cmd` for the shell.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<ExitCode, Error> {
    let mut buf = Vec::new();
    let name = cmd.get_name().to_string();
    clap_complete::generate(args.shell, &mut cmd, name, &mut buf);
    out!("{}", String::from_utf8_lossy(&buf));
    Ok(ExitCode::SUCCESS)
}

/// Prints the manual page of `cmd`, in roff (`nshost man | man -l -`).
pub fn man(cmd: clap::Command) -> Result<ExitCode, Error> {
    let mut buf = Vec::new();
    let man = clap_mangen::Man::new(cmd);
    man.render(&mut buf).expect("rendering to memory");
    out!("{}", String::from_utf8_lossy(&buf));
    Ok(ExitCode::SUCCESS)
}
