//! `nshost completions SHELL` and `nshost man`: shell completions and the manual pages,
//! generated from the command line's own definition (clap_complete, clap_mangen); and
//! the hidden `nshost __complete nodes|labs` the completions call for the names of
//! this machine's nodes and labs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use clap_complete::Shell;
use nshost::out;
use nshost::workflow::Error;

/// Print the shell completion script for SHELL (`source <(nshost completions bash)`).
///
/// In bash, zsh and fish, node names (exec, shell) and lab names (--lab) complete from
/// the labs on this machine.
#[derive(Args, Debug)]
#[command(after_help = COMPLETIONS_EXAMPLES)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Print a manual page, in roff (`nshost man | man -l -`), or write them all.
#[derive(Args, Debug)]
#[command(after_help = MAN_EXAMPLES)]
pub struct ManArgs {
    /// The command whose page to print (`plan` prints nshost-plan(1)); without one,
    /// nshost(1).
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
    /// Write every page into DIR instead: nshost.1 and one nshost-COMMAND.1 for each
    /// command.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
}

/// The names the completions ask for (hidden: `nshost __complete nodes`).
#[derive(Args, Debug)]
pub struct CompleteArgs {
    /// What to list, one name a line, in natural order.
    #[arg(value_enum)]
    pub what: Names,
    /// Only the nodes of this lab.
    #[arg(long)]
    pub lab: Option<String>,
}

/// What `__complete` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Names {
    /// The nodes of the labs on this machine.
    Nodes,
    /// The labs on this machine.
    Labs,
}

/// Prints the completions of `cmd` for the shell, with node and lab names completed
/// by `nshost __complete` where the shell allows it.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> Result<ExitCode, Error> {
    let mut buf = Vec::new();
    let name = cmd.get_name().to_string();
    clap_complete::generate(args.shell, &mut cmd, name, &mut buf);
    let script = String::from_utf8_lossy(&buf);
    out!("{}", with_names(args.shell, &script));
    Ok(ExitCode::SUCCESS)
}

/// Bash: a function before clap's that completes `--lab`'s value and exec's and
/// shell's node. Zsh: clap's `_default` for those values turned into functions that
/// ask `nshost __complete`. Fish: more candidates for the same places.
fn with_names(shell: Shell, script: &str) -> String {
    match shell {
        Shell::Bash => format!("{script}\n{BASH_NAMES}"),
        Shell::Zsh => {
            let script = script
                .replace("]:LAB:_default'", "]:LAB:_nshost_labs'")
                .lines()
                .map(|l| {
                    if l.starts_with("':node -- ") && l.ends_with(":_default' \\") {
                        l.replace(":_default' \\", ":_nshost_nodes' \\")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            // The functions before the script's last lines, which call `_nshost`.
            match script.rfind("if [ \"$funcstack[1]\" = \"_nshost\" ]") {
                Some(at) => format!("{}{ZSH_NAMES}\n{}\n", &script[..at], &script[at..]),
                None => format!("{script}\n{ZSH_NAMES}"),
            }
        }
        Shell::Fish => format!("{script}\n{FISH_NAMES}"),
        _ => script.to_string(),
    }
}

const BASH_NAMES: &str = r#"# Node and lab names, from the labs on this machine (`nshost __complete nodes|labs`).
_nshost_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local nshost="${COMP_WORDS[0]}"
    if [[ "$prev" == "--lab" ]]; then
        COMPREPLY=( $(compgen -W "$("$nshost" __complete labs 2>/dev/null)" -- "$cur") )
        return 0
    fi
    local i w sub="" given=0 lab=()
    for (( i = 1; i < COMP_CWORD; i++ )); do
        w="${COMP_WORDS[i]}"
        if [[ -z "$sub" ]]; then
            case "$w" in
                exec|shell) sub="$w" ;;
                --output) (( i++ )) ;;
                -*) ;;
                *) break ;;
            esac
        elif [[ "$w" == "--lab" ]]; then
            lab=(--lab "${COMP_WORDS[i+1]}"); (( i++ ))
        elif [[ "$w" != -* || "$w" == "--" ]]; then
            given=1
        fi
    done
    if [[ -n "$sub" && $given -eq 0 && "$cur" != -* ]]; then
        COMPREPLY=( $(compgen -W "$("$nshost" __complete nodes "${lab[@]}" 2>/dev/null)" -- "$cur") )
        return 0
    fi
    _nshost "$@"
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _nshost_names -o nosort -o bashdefault -o default nshost
else
    complete -F _nshost_names -o bashdefault -o default nshost
fi
"#;

const ZSH_NAMES: &str = r#"# Node and lab names, from the labs on this machine (`nshost __complete nodes|labs`).
(( $+functions[_nshost_nodes] )) ||
_nshost_nodes() {
    local -a names
    names=(${(f)"$(${words[1]} __complete nodes 2>/dev/null)"})
    _describe -t nodes 'node' names
}
(( $+functions[_nshost_labs] )) ||
_nshost_labs() {
    local -a names
    names=(${(f)"$(${words[1]} __complete labs 2>/dev/null)"})
    _describe -t labs 'lab' names
}
"#;

const FISH_NAMES: &str = r#"# Node and lab names, from the labs on this machine (`nshost __complete nodes|labs`).
complete -c nshost -n "__fish_seen_subcommand_from exec shell" -f -a "(nshost __complete nodes)"
complete -c nshost -l lab -x -a "(nshost __complete labs)"
"#;

/// Lists node or lab names for the completions, one a line; nothing (and success) when
/// the kernel cannot be read, so that a completion never prints an error.
pub fn complete(args: CompleteArgs) -> Result<ExitCode, Error> {
    let names = match args.what {
        Names::Nodes => nshost::status::labs_nodes(args.lab.as_deref()).unwrap_or_default(),
        Names::Labs => nshost::status::labs()
            .map(|m| m.labs.into_iter().map(|l| l.lab).collect())
            .unwrap_or_default(),
    };
    for name in names {
        out!("{name}\n");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the manual page of `cmd` or of one of its commands, in roff, or writes every
/// page into a directory.
pub fn man(args: ManArgs, cmd: clap::Command) -> Result<ExitCode, Error> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    if let Some(dir) = &args.dir {
        clap_mangen::generate_to(cmd, dir).map_err(|source| Error::Write {
            path: dir.display().to_string(),
            source,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let page = match &args.command {
        None => cmd,
        Some(name) => {
            let found = cmd
                .get_subcommands()
                .find(|s| s.get_name() == name && !s.is_hide_set())
                .cloned();
            match found {
                Some(sub) => sub,
                None => {
                    let names: Vec<String> = cmd
                        .get_subcommands()
                        .filter(|s| !s.is_hide_set())
                        .map(|s| s.get_name().to_string())
                        .collect();
                    let message = format!(
                        "no command `{name}`, so no page nshost-{name}(1); the commands: {}",
                        names.join(", ")
                    );
                    let man = cmd.find_subcommand_mut("man").expect("man is a command");
                    man.error(clap::error::ErrorKind::InvalidValue, message)
                        .exit();
                }
            }
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .expect("rendering to memory");
    out!("{}", String::from_utf8_lossy(&buf));
    Ok(ExitCode::SUCCESS)
}

/// The examples `nshost completions --help` shows (and its page in the book).
const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  source <(nshost completions bash)
  nshost completions fish > ~/.config/fish/completions/nshost.fish";

/// The examples `nshost man --help` shows (and its page in the book).
const MAN_EXAMPLES: &str = "\
Examples:
  nshost man | man -l -
  nshost man plan | man -l -
  nshost man --dir /usr/local/share/man/man1";
