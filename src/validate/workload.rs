//! A node's `files:` and `run:`, checked and resolved into its `Workload`: each path
//! absolute, normalized, not `/` and not under `/proc`, `/sys` or `/dev`, once per
//! node; each source read (see `sources`), each file at most 1 MiB; each mode
//! permission bits only; each command with a program; each process name fit to name a
//! log file. Every problem is reported, each at its place.

use std::collections::HashMap;

use miette::SourceSpan;

use super::sources::{MAX_FILE_BYTES, MAX_FILES_BYTES, SourceError, Sources, mib};
use super::{Code, Cx};
use crate::lab::{NodeFile, NodeProcess, ProcessCommand, Span, Workload};
use crate::topology::Spanned;
use crate::topology::workload::{Command, FileSpec, FileValue, Files, Run};

/// The mode of a file that does not say one.
pub const DEFAULT_MODE: u32 = 0o644;
/// The longest process name (it names a log file).
pub const PROCESS_NAME_MAX: usize = 64;
/// The trees of the kernel's own files, which no file of a lab may shadow.
const KERNEL_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Checks the files and processes of node `node`: its workload, and where each
/// process's command is written (a list's: its program).
pub(super) fn check_workload(
    cx: &mut Cx,
    sources: &mut Sources,
    node: &str,
    files: &Files,
    run: &Run,
) -> (Workload, Vec<(String, Span)>) {
    let mut workload = Workload::default();
    // Each normalized path, with where it is written.
    let mut seen: HashMap<String, SourceSpan> = HashMap::new();
    for (key, value) in files {
        let key_span = cx.span(key);
        let path = check_path(cx, key, key_span);
        if let Some(normal) = normalized(&key.value) {
            if let Some(&first) = seen.get(&normal) {
                cx.report(
                    Code::DuplicateFile,
                    format!("`{node}` has the file `{normal}` twice"),
                )
                .with_label(first, "first here")
                .with_label(key_span, "and again here")
                .with_help("give each path once (paths are compared normalized, after `{i}` and `{name}` are replaced)");
            } else {
                seen.insert(normal, key_span);
            }
        }
        let content = check_content(cx, sources, value);
        if let (Some(path), Some((content, mode, source))) = (path, content) {
            workload.files.push(NodeFile {
                path,
                content,
                mode,
                source,
            });
        }
    }
    let mut spans = Vec::with_capacity(run.len());
    for (name, command) in run {
        let named = check_process_name(cx, name);
        let command_span = cx.span(command);
        // A string's place, or a list's program's (a list's own is only its start).
        let program_span = match &command.value {
            Command::Argv(argv) if !argv.is_empty() => cx.span(&argv[0]),
            _ => command_span,
        };
        if let (true, Some(command)) = (named, check_command(cx, command, command_span)) {
            spans.push((name.value.clone(), program_span.into()));
            workload.run.push(NodeProcess {
                name: name.value.clone(),
                command,
            });
        }
    }
    (workload, spans)
}

/// The path with `.`, `..` and doubled `/` resolved (`None`: not absolute).
fn normalized(path: &str) -> Option<String> {
    let rest = path.strip_prefix('/')?;
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// The path, when it is one a file can be put at.
fn check_path(cx: &mut Cx, key: &Spanned<String>, span: SourceSpan) -> Option<String> {
    let path = key.value.as_str();
    let help = "a path inside the node: absolute, normalized, not `/` and not under `/proc`, `/sys` or `/dev`";
    let mut fine = true;
    if let Some(c) = path.chars().find(|c| matches!(c, '\0' | '\n' | '\r')) {
        let what = match c {
            '\0' => "a NUL",
            '\n' => "a line feed",
            _ => "a carriage return",
        };
        cx.report(
            Code::FilePath,
            format!("the file path {path:?} holds {what}"),
        )
        .with_label(span, format!("{what} in the path"))
        .with_help(help);
        return None;
    }
    let Some(normal) = normalized(path) else {
        cx.report(
            Code::FilePath,
            format!("the file path `{path}` is relative"),
        )
        .with_label(span, "not absolute")
        .with_help("a file's path is absolute, inside the node: `/etc/bird/bird.conf`");
        return None;
    };
    if normal == "/" {
        cx.report(
            Code::FilePath,
            format!("the file path `{path}` is the root"),
        )
        .with_label(span, "`/` is a directory")
        .with_help(help);
        return None;
    }
    if normal != path {
        let why = if path.split('/').any(|p| p == "..") {
            "has `..`"
        } else {
            "is not normalized"
        };
        cx.report(Code::FilePath, format!("the file path `{path}` {why}"))
            .with_label(span, why)
            .with_help(format!("write it `{normal}`"));
        fine = false;
    }
    if let Some(tree) = KERNEL_TREES
        .iter()
        .find(|t| normal == **t || normal.strip_prefix(**t).is_some_and(|r| r.starts_with('/')))
    {
        cx.report(
            Code::FilePath,
            format!("the file path `{path}` is under `{tree}`"),
        )
        .with_label(span, format!("in `{tree}`, the kernel's"))
        .with_help("`/proc`, `/sys` and `/dev` are the kernel's: a lab puts no file there");
        fine = false;
    }
    fine.then(|| path.to_string())
}

/// The content, mode and source of a file, when they are good.
fn check_content(
    cx: &mut Cx,
    sources: &mut Sources,
    value: &Spanned<FileValue>,
) -> Option<(Vec<u8>, u32, Option<String>)> {
    let span = cx.span(value);
    let (content, mode, source) = match &value.value {
        FileValue::Text(text) => (Some(text.clone().into_bytes()), DEFAULT_MODE, None),
        FileValue::Spec(spec) => {
            let mode = spec
                .mode
                .as_ref()
                .map_or(Some(DEFAULT_MODE), |m| check_mode(cx, m));
            let (content, source) = spec_content(cx, sources, spec, span);
            (content, mode?, source)
        }
    };
    let content = content?;
    let size = content.len() as u64;
    if source.is_none() && size > MAX_FILE_BYTES {
        cx.report(
            Code::FileTooBig,
            format!(
                "the file's text is {size} bytes, more than the {} a file may be",
                mib(MAX_FILE_BYTES)
            ),
        )
        .with_label(span, "too long")
        .with_help("put it in a file of its own and give it as `source`, smaller");
        return None;
    }
    let before = sources.total;
    sources.total += size;
    if sources.total > MAX_FILES_BYTES {
        if before <= MAX_FILES_BYTES {
            cx.report(
                Code::FileTooBig,
                format!(
                    "the lab's files are more than {} in all",
                    mib(MAX_FILES_BYTES)
                ),
            )
            .with_label(span, "this file passes the limit")
            .with_help("every node holds its own copy of its files: give fewer nodes big files");
        }
        return None;
    }
    Some((content, mode, source))
}

/// The bytes of a file block (`content` or `source`, not both) and its source's path.
fn spec_content(
    cx: &mut Cx,
    sources: &mut Sources,
    spec: &FileSpec,
    span: SourceSpan,
) -> (Option<Vec<u8>>, Option<String>) {
    match (&spec.content, &spec.source) {
        (Some(content), None) => (Some(content.value.clone().into_bytes()), None),
        (None, Some(source)) => {
            let at = cx.span(source);
            let path = source.value.as_str();
            if path.trim().is_empty() {
                cx.report(Code::FileSource, "a file's `source` is empty")
                    .with_label(at, "no path")
                    .with_help("`source` is a file on this machine, relative to the lab file");
                return (None, None);
            }
            match sources.read(path) {
                Ok(bytes) => (Some(bytes), Some(path.to_string())),
                Err(e) => {
                    let (code, help) = match e {
                        SourceError::TooBig { .. } => (
                            Code::FileTooBig,
                            "a node's file is a configuration, not a disk image".to_string(),
                        ),
                        _ => (
                            Code::FileSource,
                            "`source` is a regular file on this machine, relative to the lab file's directory".to_string(),
                        ),
                    };
                    cx.report(code, format!("cannot read the source `{path}`: {e}"))
                        .with_label(at, e.to_string())
                        .with_help(help);
                    (None, None)
                }
            }
        }
        (Some(content), Some(source)) => {
            let (c, s) = (cx.span(content), cx.span(source));
            cx.report(Code::FileContent, "a file has both `content` and `source`")
                .with_label(c, "the text")
                .with_label(s, "and a file to read")
                .with_help("give one of them");
            (None, None)
        }
        (None, None) => {
            cx.report(
                Code::FileContent,
                "a file block has no `content` or `source`",
            )
            .with_label(span, "nothing to put in the file")
            .with_help("give `content: TEXT` or `source: PATH` (a file beside the lab file)");
            (None, None)
        }
    }
}

/// The permission bits a `mode` writes: octal digits, whatever YAML makes of them.
fn check_mode(cx: &mut Cx, mode: &Spanned<String>) -> Option<u32> {
    let text = mode.value.trim();
    let digits = text.strip_prefix("0o").unwrap_or(text);
    let parsed = (!digits.is_empty() && digits.len() <= 4)
        .then(|| u32::from_str_radix(digits, 8).ok())
        .flatten();
    let span = cx.span(mode);
    match parsed {
        Some(bits) if bits <= 0o777 => Some(bits),
        Some(bits) => {
            cx.report(
                Code::FileMode,
                format!("the mode `{text}` sets {}", special_bits(bits)),
            )
            .with_label(span, "beyond `0777`")
            .with_help("a node's file has permission bits only, at most `0777`: setuid, setgid and sticky are refused");
            None
        }
        None => {
            cx.report(
                Code::FileMode,
                format!("the mode `{text}` is not octal permission bits"),
            )
            .with_label(span, "not octal")
            .with_help("a mode is octal, as `chmod` takes it: `0644`, `0755`, `600`");
            None
        }
    }
}

/// "setuid", "setgid and sticky", ... for the bits above `0777`.
fn special_bits(bits: u32) -> String {
    let names: Vec<&str> = [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")]
        .into_iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| n)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Whether a process name can name a log file.
fn check_process_name(cx: &mut Cx, name: &Spanned<String>) -> bool {
    let n = name.value.as_str();
    let why = if n.is_empty() {
        "is empty"
    } else if n.len() > PROCESS_NAME_MAX {
        "is longer than 64 bytes"
    } else if n.starts_with('.') {
        "starts with `.`"
    } else if !n
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        "holds a character other than letters, digits, `.`, `_` and `-`"
    } else {
        return true;
    };
    let span = cx.span(name);
    cx.report(
        Code::ProcessName,
        format!("the process name {n:?} {why}"),
    )
    .with_label(span, why)
    .with_help("a process name names its log file: 1 to 64 letters, digits, `.`, `_` and `-`, not first `.`");
    false
}

/// The command, when it has a program to run.
fn check_command(
    cx: &mut Cx,
    command: &Spanned<Command>,
    span: SourceSpan,
) -> Option<ProcessCommand> {
    let empty = |cx: &mut Cx, at: SourceSpan, label: &str| {
        cx.report(Code::EmptyCommand, "a process has no command")
            .with_label(at, label.to_string())
            .with_help("a command is a string run by `/bin/sh -c`, or a list: the program, then its arguments");
    };
    match &command.value {
        Command::Shell(line) => {
            if line.trim().is_empty() {
                empty(cx, span, "an empty command");
                return None;
            }
            if line.contains('\0') {
                cx.report(Code::BadCommand, "a command holds a NUL")
                    .with_label(span, "a NUL in the command")
                    .with_help("a program's arguments cannot hold NUL bytes");
                return None;
            }
            Some(ProcessCommand::Shell(line.clone()))
        }
        Command::Argv(argv) => {
            let Some(program) = argv.first() else {
                empty(cx, span, "an empty list");
                return None;
            };
            if program.value.trim().is_empty() {
                let at = cx.span(program);
                empty(cx, at, "an empty program");
                return None;
            }
            let mut fine = true;
            for arg in argv.iter().filter(|a| a.value.contains('\0')) {
                let at = cx.span(arg);
                cx.report(Code::BadCommand, "a command holds a NUL")
                    .with_label(at, "a NUL in the argument")
                    .with_help("a program's arguments cannot hold NUL bytes");
                fine = false;
            }
            fine.then(|| ProcessCommand::Argv(argv.iter().map(|a| a.value.clone()).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_lexically() {
        assert_eq!(normalized("/etc/a").as_deref(), Some("/etc/a"));
        assert_eq!(normalized("/etc//a/./b/").as_deref(), Some("/etc/a/b"));
        assert_eq!(normalized("/etc/../proc/x").as_deref(), Some("/proc/x"));
        assert_eq!(normalized("/..").as_deref(), Some("/"));
        assert_eq!(normalized("etc/a"), None);
    }

    #[test]
    fn special_bits_are_named() {
        assert_eq!(special_bits(0o4755), "setuid");
        assert_eq!(special_bits(0o7777), "setuid, setgid and sticky");
    }
}
