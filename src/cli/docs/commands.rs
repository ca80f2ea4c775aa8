//! One page per command of the command line, from its clap definition: what it does,
//! its usage, its arguments and options, and the examples its `--help` shows.

use std::fmt::Write;

use clap::{Arg, Command};

use super::one_line;

/// The pages, by file name: `README.md` (the list) and `NAME.md` for each command.
pub fn pages(mut cmd: Command) -> Vec<(String, String)> {
    cmd.build();
    let mut index = String::from(
        "# Commands\n\n\
         Generated from the command line's own definition (`cargo xtask docs`): each page is \
         what `nshost COMMAND --help` prints, examples included.\n\n\
         Every command takes `-q` (only the result), `-v` (where the time goes) and \
         `--output json` where it prints a report ([JSON documents](../../json.md)).\n\n\
         | command | what it does |\n|---|---|\n",
    );
    let mut pages = Vec::new();
    let subs: Vec<Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    for mut sub in subs {
        let name = sub.get_name().to_string();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let _ = writeln!(index, "| [`{name}`]({name}.md) | {} |", one_line(&about));
        pages.push((format!("{name}.md"), page(&mut sub)));
    }
    pages.push(("README.md".into(), index));
    pages
}

/// A command's page.
fn page(sub: &mut Command) -> String {
    let name = sub.get_name().to_string();
    let mut out = format!("# nshost {name}\n\n");
    let about = sub
        .get_long_about()
        .or(sub.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = writeln!(out, "{}\n", about.trim());
    let usage = sub.render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    let _ = writeln!(out, "```text\n{usage}\n```\n");
    let (positional, options): (Vec<&Arg>, Vec<&Arg>) = sub
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
        .partition(|a| a.is_positional());
    if !positional.is_empty() {
        out.push_str("## Arguments\n\n");
        for arg in positional {
            let _ = writeln!(out, "- {}", item(arg));
        }
        out.push('\n');
    }
    if !options.is_empty() {
        out.push_str("## Options\n\n");
        for arg in options {
            let _ = writeln!(out, "- {}", item(arg));
        }
        out.push('\n');
    }
    if let Some(examples) = sub.get_after_long_help().or(sub.get_after_help()) {
        let text = examples.to_string();
        let body = text.trim().trim_start_matches("Examples:");
        out.push_str("## Examples\n\n```sh\n");
        for line in body.trim_matches('\n').lines() {
            let _ = writeln!(
                out,
                "{}",
                line.strip_prefix("  ").unwrap_or(line).trim_end()
            );
        }
        out.push_str("```\n\n");
    }
    let _ = writeln!(
        out,
        "See also: `nshost {name} --help`, `nshost man {name}`."
    );
    out
}

/// One argument: its flags and value, what it is for, its default and choices.
fn item(arg: &Arg) -> String {
    let takes_values = arg.get_num_args().is_some_and(|n| n.takes_values());
    let values: Vec<String> = if !takes_values {
        vec![]
    } else if let Some(names) = arg.get_value_names() {
        names.iter().map(|n| format!("<{n}>")).collect()
    } else {
        vec![format!("<{}>", arg.get_id().as_str().to_uppercase())]
    };
    let mut flag = Vec::new();
    if let Some(short) = arg.get_short() {
        flag.push(format!("-{short}"));
    }
    if let Some(long) = arg.get_long() {
        flag.push(format!("--{long}"));
    }
    let mut head = flag.join(", ");
    if !values.is_empty() {
        if !head.is_empty() {
            head.push(' ');
        }
        head.push_str(&values.join(" "));
    }
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| one_line(&h.to_string()))
        .unwrap_or_default();
    let mut text = format!("`{head}`: {help}");
    if !text.ends_with('.') {
        text.push('.');
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && takes_values {
        let _ = write!(text, " Default: `{}`.", defaults.join(","));
    }
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| format!("`{}`", p.get_name()))
        .collect();
    if !choices.is_empty() && takes_values {
        let _ = write!(text, " One of {}.", choices.join(", "));
    }
    text
}
