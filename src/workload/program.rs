//! The plan-time check that each process's program exists in its node: looked up as
//! the supervisor would (`PATH`, or the path itself when it holds a `/`), in the node's
//! own root when its supervisor runs (through `/proc/<pid>/root`), else on the machine,
//! counting the files the node declares (a program can be one). For a `/bin/sh -c`
//! command, the program is the string's first word when it is a plain one (after
//! `exec`), not a shell keyword or builtin.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::lab::{NodeFile, ProcessCommand, SHELL_WORDS};

/// The program a command runs, when it can be told without running it.
pub fn program_of(command: &ProcessCommand) -> Option<String> {
    match command {
        ProcessCommand::Argv(v) => v.first().cloned(),
        ProcessCommand::Shell(s) => {
            let mut words = s.split_whitespace();
            let mut first = words.next()?;
            if first == "exec" {
                first = words.next()?;
            }
            let plain = first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./+-".contains(c));
            // `VAR=value cmd` and the like are left to the shell.
            (plain && !SHELL_WORDS.contains(&first)).then(|| first.to_string())
        }
    }
}

/// Whether `program` can be found in the node whose root is `root` (`/` or a
/// supervisor's `/proc/<pid>/root`), given the files it declares.
pub fn found(program: &str, root: &Path, files: &[NodeFile]) -> bool {
    let declared = |p: &str| files.iter().any(|f| f.path == p && f.mode & 0o111 != 0);
    let runnable = |p: &str| {
        declared(p)
            || root
                .join(p.trim_start_matches('/'))
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return program.starts_with('/') && runnable(program);
    }
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .any(|d| runnable(&PathBuf::from(d).join(program).to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_of_a_shell_command_is_its_first_plain_word() {
        let sh = |s: &str| program_of(&ProcessCommand::Shell(s.into()));
        assert_eq!(sh("bird -f -c x").as_deref(), Some("bird"));
        assert_eq!(
            sh("exec /usr/sbin/bird -f").as_deref(),
            Some("/usr/sbin/bird")
        );
        assert_eq!(sh("while true; do sleep 1; done"), None);
        assert_eq!(sh("A=1 prog"), None);
        let argv = ProcessCommand::Argv(vec!["zebra".into(), "-d".into()]);
        assert_eq!(program_of(&argv).as_deref(), Some("zebra"));
    }

    #[test]
    fn programs_are_found_in_path_in_the_root_or_among_declared_files() {
        assert!(found("sh", Path::new("/"), &[]));
        assert!(found("/bin/sh", Path::new("/"), &[]));
        assert!(!found("no-such-program-here", Path::new("/"), &[]));
        assert!(!found("sh", Path::new("/nonexistent-root"), &[]));
        let script = NodeFile {
            path: "/usr/local/bin/mine".into(),
            content: b"#!/bin/sh\n".to_vec(),
            mode: 0o755,
            source: None,
        };
        assert!(found(
            "/usr/local/bin/mine",
            Path::new("/"),
            std::slice::from_ref(&script)
        ));
        let mut data = script;
        data.mode = 0o644;
        assert!(!found("/usr/local/bin/mine", Path::new("/"), &[data]));
    }
}
