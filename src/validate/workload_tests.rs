//! Unit tests of a node's `files:` and `run:`: templating through defaults, groups and
//! ranges, sources read through a fake reader, modes, limits and the problems.

use std::cell::RefCell;
use std::collections::HashMap;

use super::{Invalid, MAX_FILE_BYTES, SourceError, SourceReader, validate_with};
use crate::lab::{Lab, NodeFile, NodeProcess, ProcessCommand};
use crate::topology::{SourceFile, parse};

/// Sources from memory, counting the reads of each.
#[derive(Default)]
struct Fake {
    files: HashMap<&'static str, Result<Vec<u8>, SourceError>>,
    reads: RefCell<HashMap<String, usize>>,
}

impl Fake {
    fn with(mut self, path: &'static str, read: Result<Vec<u8>, SourceError>) -> Self {
        self.files.insert(path, read);
        self
    }
}

impl SourceReader for Fake {
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        *self.reads.borrow_mut().entry(path.to_string()).or_default() += 1;
        let read = self.files.get(path).cloned().unwrap_or_else(|| {
            Err(SourceError::Io(
                "No such file or directory (os error 2)".into(),
            ))
        })?;
        if read.len() as u64 > limit {
            return Err(SourceError::TooBig {
                size: read.len() as u64,
                limit,
            });
        }
        Ok(read)
    }
}

fn check(yaml: &str, reader: &Fake) -> Result<Lab, Invalid> {
    let src = SourceFile::from_text("lab.yaml", yaml);
    let topo = parse(&src).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    validate_with(&src, &topo, reader)
}

/// The problems of an invalid lab: (code, message).
fn problems(yaml: &str, reader: &Fake) -> Vec<(&'static str, String)> {
    match check(yaml, reader) {
        Ok(_) => panic!("valid"),
        Err(e) => e
            .problems
            .iter()
            .map(|p| (p.code.as_str(), p.message.clone()))
            .collect(),
    }
}

fn file(path: &str, content: &str, mode: u32, source: Option<&str>) -> NodeFile {
    NodeFile {
        path: path.into(),
        content: content.as_bytes().to_vec(),
        mode,
        source: source.map(str::to_string),
    }
}

const LAB: &str = r##"
name: w
defaults:
  routers:
    files:
      /etc/motd: "router {name}, number {i}\n"
    run:
      hello: "echo {name}"
groups:
  bird:
    routers:
      files:
        "/etc/bird/{name}.conf": {source: "bird-{i}.conf", mode: 0640}
      run:
        bird: [bird, -c, "/etc/bird/{name}.conf", -s, /run/bird.ctl]
routers:
  "r[1-2]":
    group: bird
    interfaces: {eth0: {addresses: ["10.0.0.{i}/24"]}}
  edge:
    interfaces: {eth0: {addresses: [10.0.0.9/24]}}
    files:
      /etc/motd: {content: "the edge\n", mode: 600}
      /usr/local/bin/up: {content: "#!/bin/sh\n", mode: "0o755"}
    run:
      hello: [/bin/true]
"##;

#[test]
fn files_and_commands_are_templated_through_defaults_groups_and_ranges() {
    let reader = Fake::default()
        .with("bird-1.conf", Ok(b"router id 1;\n".to_vec()))
        .with("bird-2.conf", Ok(b"router id 2;\n".to_vec()));
    let lab = check(LAB, &reader).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    let r2 = &lab.nodes["r2"].workload;
    assert_eq!(
        r2.files,
        [
            file(
                "/etc/bird/r2.conf",
                "router id 2;\n",
                0o640,
                Some("bird-2.conf")
            ),
            file("/etc/motd", "router r2, number 2\n", 0o644, None),
        ],
        "the node's entries (from its group) first, then the defaults'"
    );
    assert_eq!(
        r2.run,
        [
            NodeProcess {
                name: "bird".into(),
                command: ProcessCommand::Argv(
                    ["bird", "-c", "/etc/bird/r2.conf", "-s", "/run/bird.ctl"]
                        .map(String::from)
                        .to_vec()
                ),
            },
            NodeProcess {
                name: "hello".into(),
                command: ProcessCommand::Shell("echo r2".into()),
            },
        ]
    );
    let edge = &lab.nodes["edge"].workload;
    assert_eq!(
        edge.files,
        [
            file("/etc/motd", "the edge\n", 0o600, None),
            file("/usr/local/bin/up", "#!/bin/sh\n", 0o755, None),
        ],
        "the node's own `/etc/motd` wins over the default's"
    );
    assert_eq!(
        edge.run,
        [NodeProcess {
            name: "hello".into(),
            command: ProcessCommand::Argv(vec!["/bin/true".into()]),
        }]
    );
    // Each command's place, for the plan-time check of its program.
    let at = |node: &str, name: &str| {
        let span = lab.origins.processes[&(node.to_string(), name.to_string())];
        &LAB[span.offset..span.offset + span.len]
    };
    assert_eq!(at("r1", "hello"), "\"echo {name}\"");
    assert_eq!(at("r2", "bird"), "bird", "a list's program");
    assert_eq!(at("edge", "hello"), "/bin/true");
    assert_eq!(lab.origins.processes.len(), 5);
}

#[test]
fn a_source_given_to_many_nodes_is_read_once() {
    let yaml = "
name: w
defaults:
  hosts:
    files: {/etc/a: {source: a.txt}}
hosts:
  h[1-50]: {address: \"10.0.0.{i}/24\"}
";
    let reader = Fake::default().with("a.txt", Ok(b"a".to_vec()));
    let lab = check(yaml, &reader).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    assert_eq!(lab.nodes["h50"].workload.files[0].content, b"a");
    assert_eq!(reader.reads.borrow()["a.txt"], 1);
}

#[test]
fn modes_are_octal_permission_bits() {
    let modes = [
        ("0755", Some(0o755)),
        ("755", Some(0o755)),
        ("\"0640\"", Some(0o640)),
        ("0o600", Some(0o600)),
        ("0", Some(0)),
        ("0777", Some(0o777)),
        ("4755", None),
        ("0o1777", None),
        ("493", None),
        ("rwx", None),
        ("\"\"", None),
    ];
    for (mode, bits) in modes {
        let yaml = format!(
            "name: w\nhosts:\n  h1:\n    address: 10.0.0.1/24\n    files: {{/a: {{content: x, mode: {mode}}}}}\n"
        );
        match (check(&yaml, &Fake::default()), bits) {
            (Ok(lab), Some(bits)) => {
                assert_eq!(lab.nodes["h1"].workload.files[0].mode, bits, "{mode}")
            }
            (Err(e), None) => {
                assert_eq!(e.problems[0].code.as_str(), "nshost::file_mode", "{mode}")
            }
            (got, _) => panic!("{mode}: {:?}", got.map(|l| l.nodes["h1"].workload.clone())),
        }
    }
    let setuid = problems(
        "name: w\nhosts:\n  h1: {address: 10.0.0.1/24, files: {/a: {content: x, mode: 6755}}}\n",
        &Fake::default(),
    );
    assert_eq!(setuid[0].1, "the mode `6755` sets setuid and setgid");
}

#[test]
fn sources_too_big_or_unreadable_are_located_errors() {
    let big = vec![b'x'; MAX_FILE_BYTES as usize + 1];
    let reader = Fake::default()
        .with("big", Ok(big))
        .with("dir", Err(SourceError::Directory));
    let yaml = "
name: w
hosts:
  h1:
    address: 10.0.0.1/24
    files:
      /a: {source: big}
      /b: {source: dir}
      /c: {source: missing}
      /d: {source: \"\"}
";
    assert_eq!(
        problems(yaml, &reader),
        [
            (
                "nshost::file_too_big",
                "cannot read the source `big`: it is 1048577 bytes, more than the 1 MiB a file may be".to_string()
            ),
            (
                "nshost::file_source",
                "cannot read the source `dir`: it is a directory".to_string()
            ),
            (
                "nshost::file_source",
                "cannot read the source `missing`: No such file or directory (os error 2)".to_string()
            ),
            ("nshost::file_source", "a file's `source` is empty".to_string()),
        ]
    );
}

#[test]
fn inline_text_and_the_whole_lab_have_a_cap() {
    let text = "x".repeat(MAX_FILE_BYTES as usize + 1);
    let yaml =
        format!("name: w\nhosts:\n  h1: {{address: 10.0.0.1/24, files: {{/a: \"{text}\"}}}}\n");
    assert_eq!(
        problems(&yaml, &Fake::default()),
        [(
            "nshost::file_too_big",
            "the file's text is 1048577 bytes, more than the 1 MiB a file may be".to_string()
        )]
    );
    // 65 hosts given a 1 MiB file each: 65 MiB, more than the 64 MiB of a lab.
    let reader = Fake::default().with("one-mib", Ok(vec![b'x'; MAX_FILE_BYTES as usize]));
    let yaml = "
name: w
defaults:
  hosts:
    files: {/a: {source: one-mib}}
hosts:
  h[1-65]: {address: \"10.0.0.{i}/24\"}
";
    assert_eq!(
        problems(yaml, &reader),
        [(
            "nshost::file_too_big",
            "the lab's files are more than 64 MiB in all".to_string()
        )]
    );
}

#[test]
fn each_bad_path_command_and_name_is_reported() {
    let yaml = r#"
name: w
hosts:
  h1:
    address: 10.0.0.1/24
    files:
      etc/a: x
      /etc/../etc/b: x
      /proc/sys/net/x: x
      /dev: x
      /: x
      "/etc/a\nb": x
      /etc/c: x
      /etc//c: x
      /etc/d: {}
      /etc/e: {content: x, source: y}
    run:
      a: ""
      b: "   "
      c: []
      d: ["", x]
      .hidden: "true"
      "a b": "true"
      e: ["x\0y"]
"#;
    let codes: Vec<(&str, String)> = problems(yaml, &Fake::default());
    let expected = [
        ("nshost::file_path", "the file path `etc/a` is relative"),
        (
            "nshost::file_path",
            "the file path `/etc/../etc/b` has `..`",
        ),
        (
            "nshost::file_path",
            "the file path `/proc/sys/net/x` is under `/proc`",
        ),
        ("nshost::file_path", "the file path `/dev` is under `/dev`"),
        ("nshost::file_path", "the file path `/` is the root"),
        (
            "nshost::file_path",
            "the file path \"/etc/a\\nb\" holds a line feed",
        ),
        (
            "nshost::file_path",
            "the file path `/etc//c` is not normalized",
        ),
        ("nshost::duplicate_file", "`h1` has the file `/etc/c` twice"),
        (
            "nshost::file_content",
            "a file block has no `content` or `source`",
        ),
        (
            "nshost::file_content",
            "a file has both `content` and `source`",
        ),
        ("nshost::empty_command", "a process has no command"),
        ("nshost::empty_command", "a process has no command"),
        ("nshost::empty_command", "a process has no command"),
        ("nshost::empty_command", "a process has no command"),
        (
            "nshost::process_name",
            "the process name \".hidden\" starts with `.`",
        ),
        (
            "nshost::process_name",
            "the process name \"a b\" holds a character other than letters, digits, `.`, `_` and `-`",
        ),
        ("nshost::bad_command", "a command holds a NUL"),
    ];
    let expected: Vec<(&str, String)> = expected.iter().map(|(c, m)| (*c, m.to_string())).collect();
    assert_eq!(codes, expected);
}

#[test]
fn a_bad_default_is_one_problem_however_many_nodes_take_it() {
    let yaml = "
name: w
defaults:
  hosts:
    files: {etc/a: x}
    run: {\".x\": \"\"}
hosts:
  h[1-20]: {address: \"10.0.0.{i}/24\"}
";
    let codes: Vec<&str> = problems(yaml, &Fake::default())
        .into_iter()
        .map(|(code, _)| code)
        .collect();
    assert_eq!(
        codes,
        [
            "nshost::file_path",
            "nshost::process_name",
            "nshost::empty_command"
        ]
    );
}
