//! One command line: the options that mean one thing on every command (`-o/--out`,
//! `--lab`, `-q`, `--output json`, `--output junit`), the manual pages and the completions' helper, each
//! checked over every command that has them.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/cli_runs.rs"]
mod runs;
#[path = "support/sandbox.rs"]
mod sandbox;
#[path = "support/xml.rs"]
mod xml;

use runs::*;

/// `-o/--out FILE` is the file written on every command that writes one, and the old
/// long names (`graph --out-file`, `import --output-file`) still work, unlisted.
#[test]
fn dash_o_is_out_everywhere() {
    for command in ["plan", "graph", "import"] {
        let help = nshost(&[command, "--help"]);
        assert_eq!(help.code, 0, "{}", help.stderr);
        assert!(
            help.stdout.contains("-o, --out <FILE>"),
            "{command} --help:\n{}",
            help.stdout
        );
        for old in ["--out-file", "--output-file"] {
            assert!(!help.stdout.contains(old), "{command} lists {old}");
        }
    }
    let dir = tempdir("dash-o");
    let file = |name: &str| dir.join(name).display().to_string();
    let graph = ["graph", "topologies/small.yaml", "--offline"];
    let import = [
        "import",
        "tsim-facts",
        "tests/import/corpus/tsim-facts",
        "--any-kernel",
        "-q",
    ];
    let runs = [
        nshost(&[&graph[..], &["-o", &file("g1")]].concat()),
        nshost(&[&graph[..], &["--out", &file("g2")]].concat()),
        nshost(&[&graph[..], &["--out-file", &file("g3")]].concat()),
        nshost(&[&import[..], &["-o", &file("i1")]].concat()),
        nshost(&[&import[..], &["--out", &file("i2")]].concat()),
        nshost(&[&import[..], &["--output-file", &file("i3")]].concat()),
    ];
    for run in &runs {
        assert_eq!(run.code, 0, "{}", transcript(run));
        assert_eq!(run.stdout, "", "the drawing or the lab went to the file");
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert!(read("g1").starts_with("graph "), "{}", read("g1"));
    assert_eq!(read("g1"), read("g2"));
    assert_eq!(read("g1"), read("g3"));
    assert!(read("i1").contains("routers:"), "{}", read("i1"));
    assert_eq!(read("i1"), read("i2"));
    assert_eq!(read("i1"), read("i3"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `validate`'s object count is `plan`'s count to add on a kernel without the lab, for
/// the bundled labs and every valid case (but those over several sites, which are
/// planned one site at a time): one function counts both.
#[test]
fn validate_counts_what_plan_adds_on_an_empty_kernel() {
    let mut labs: Vec<String> = ["small", "full", "big"]
        .iter()
        .map(|l| format!("topologies/{l}.yaml"))
        .collect();
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/valid");
    for entry in std::fs::read_dir(cases).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        labs.push(format!("tests/cases/valid/{name}/lab.yaml"));
    }
    // A lab over several machines is planned one site at a time, validated whole.
    labs.retain(|lab| {
        let text = std::fs::read_to_string(format!("{}/{lab}", env!("CARGO_MANIFEST_DIR")));
        !text.unwrap().contains("\nsites:")
    });
    labs.sort();
    let counts: Vec<Option<(String, u64, u64)>> = ktest::sandboxed(|| {
        labs.iter()
            .map(|lab| {
                let mut args = vec!["--output", "json", "validate", lab.as_str()];
                let validate = nshost(&args).json();
                args[2] = "plan";
                let plan = nshost(&args).json();
                // A link kind this kernel lacks (`dummy` here and there): not planned.
                if plan["error"]["problems"][0]["code"] == "nshost::unsupported_kind" {
                    return None;
                }
                let added = plan["plan"]["summary"]["add"].as_u64();
                let objects = validate["objects"].as_u64();
                Some((
                    lab.clone(),
                    objects.unwrap_or_else(|| panic!("{lab}: {validate}")),
                    added.unwrap_or_else(|| panic!("{lab}: {plan}")),
                ))
            })
            .collect()
    });
    let counts: Vec<_> = counts.into_iter().flatten().collect();
    assert!(counts.len() >= 15, "too few labs planned here: {counts:?}");
    for (lab, objects, added) in counts {
        assert_eq!(
            objects, added,
            "{lab}: validate counts {objects}, plan adds {added}"
        );
    }
}

/// What `-q` or `--output json` does to a command: honoured, or refused.
#[derive(Clone, Copy, Debug)]
enum Json {
    /// One JSON document on stdout, nothing on stderr, the plain run's exit code.
    Honoured,
    /// A usage error (exit 2) that names `--output json`, nothing on stdout.
    Refused,
}

#[derive(Clone, Copy, Debug)]
enum Quiet {
    /// At most this many lines on stdout, nothing on stderr, the plain run's code.
    Lines(usize),
    /// What the command makes (a drawing, a script, a page) and nothing else: stdout
    /// as without `-q`, nothing on stderr.
    Same,
}

/// Every command, run plainly, with `-q` and with `--output json`: each either
/// honours the option or refuses it with a usage error. In a sandbox, where the lab is
/// applied between `plan` and `destroy`; `nshost --help`'s list of commands must all
/// be in the table.
#[test]
fn quiet_and_json_are_honoured_or_refused_by_every_command() {
    use Json::*;
    use Quiet::*;
    let small = "topologies/small.yaml";
    let lab_out = std::env::temp_dir()
        .join(format!("nshost-cli-{}-import.yaml", std::process::id()))
        .display()
        .to_string();
    let corpus = "tests/import/corpus/tsim-facts";
    // A lab whose node runs a process, for `logs` (its log holds one stable line).
    let daemon_lab =
        std::env::temp_dir().join(format!("nshost-cli-{}-daemon.yaml", std::process::id()));
    std::fs::write(
        &daemon_lab,
        "name: daemon\nhosts:\n  d1:\n    address: 10.9.0.10/24\n    run: {idle: sleep 1000}\n  d2: {address: 10.9.0.11/24}\n",
    )
    .unwrap();
    let daemon_lab = daemon_lab.display().to_string();
    let table: Vec<(Vec<&str>, Json, Quiet)> = vec![
        (vec!["validate", small], Honoured, Lines(1)),
        (vec!["plan", small], Honoured, Lines(1)),
        (vec!["apply", small], Honoured, Lines(1)),
        (vec!["apply", &daemon_lab], Honoured, Lines(1)),
        (vec!["logs", "d1"], Refused, Same),
        (vec!["destroy", &daemon_lab], Honoured, Lines(1)),
        (vec!["plan", "--lab", "small"], Honoured, Lines(1)),
        (vec!["status"], Honoured, Lines(1)),
        (vec!["pool"], Honoured, Lines(1)),
        (vec!["status", "--lab", "small"], Honoured, Lines(3)),
        (vec!["status", small], Honoured, Lines(3)),
        (vec!["check", small], Honoured, Lines(1)),
        (vec!["graph", small], Honoured, Same),
        (vec!["graph", "--lab", "small"], Honoured, Same),
        (vec!["exec", "web1", "--", "echo", "hi"], Refused, Same),
        (vec!["shell", "web1"], Refused, Same),
        (vec!["destroy", small], Honoured, Lines(1)),
        (
            vec!["import", "tsim-facts", corpus, "--any-kernel"],
            Honoured,
            Same,
        ),
        (
            vec![
                "import",
                "tsim-facts",
                corpus,
                "--any-kernel",
                "-o",
                &lab_out,
            ],
            Honoured,
            Lines(0),
        ),
        (vec!["try"], Honoured, Lines(1)),
        (vec!["try", "--shell"], Refused, Lines(0)),
        (vec!["schema"], Honoured, Same),
        (vec!["completions", "bash"], Refused, Same),
        (vec!["man"], Refused, Same),
        (vec!["man", "plan"], Refused, Same),
        (vec!["__complete", "nodes"], Refused, Same),
    ];
    // Every command of `nshost --help` is in the table.
    let help = nshost(&["--help"]).stdout;
    let commands: Vec<&str> = commands_in(&help).filter(|c| *c != "help").collect();
    assert!(commands.len() >= 14, "{commands:?}");
    // Runs until stopped, printing JSON lines, one per event: its `--output json` and
    // its lines are tested by tests/kernel/watch.rs, which stops it.
    // `session` serves its protocol until its input ends, its first line naming its
    // pid: tested by tests/kernel/session.rs.
    let until_stopped = ["watch", "session"];
    for c in commands.iter().filter(|c| !until_stopped.contains(c)) {
        assert!(
            table.iter().any(|(args, ..)| args[0] == *c),
            "{c} is not in the table"
        );
    }
    let args: Vec<Vec<String>> = table
        .iter()
        .map(|(a, ..)| a.iter().map(ToString::to_string).collect())
        .collect();
    let runs: Vec<[ktest::Run; 3]> = ktest::sandboxed(move || {
        args.iter()
            .map(|a| {
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                // Before the command: after exec's `--` they would be the command's.
                [
                    nshost(&a),
                    nshost(&[&["-q"], &a[..]].concat()),
                    nshost(&[&["--output", "json"], &a[..]].concat()),
                ]
            })
            .collect()
    });
    let _ = std::fs::remove_file(&lab_out);
    let _ = std::fs::remove_file(&daemon_lab);
    for ((args, json, quiet), [plain, q, j]) in table.iter().zip(&runs) {
        let what = args.join(" ");
        assert!(
            [0, 1].contains(&plain.code),
            "nshost {what}:\n{}",
            transcript(plain)
        );
        match json {
            Honoured => {
                assert_eq!(
                    j.code,
                    plain.code,
                    "{what} --output json:\n{}",
                    transcript(j)
                );
                assert_eq!(j.stderr, "", "{what} --output json");
                let doc: Result<serde_json::Value, _> = serde_json::from_str(&j.stdout);
                assert!(doc.is_ok(), "{what} --output json:\n{}", j.stdout);
            }
            Refused => {
                assert_eq!(j.code, 2, "{what} --output json:\n{}", transcript(j));
                assert_eq!(j.stdout, "", "{what} --output json");
                assert!(j.stderr.contains("--output json"), "{}", j.stderr);
            }
        }
        assert_eq!(q.code, plain.code, "{what} -q:\n{}", transcript(q));
        assert_eq!(q.stderr, "", "{what} -q:\n{}", transcript(q));
        match quiet {
            Lines(n) => assert!(
                q.stdout.lines().count() <= *n,
                "{what} -q printed more than {n} lines:\n{}",
                q.stdout
            ),
            Same => assert_eq!(q.stdout, plain.stdout, "{what} -q"),
        }
    }
}

/// `nshost man --dir DIR` writes every page that nshost(1) names, and `nshost man
/// COMMAND` prints the same page; an unknown command is a usage error.
#[test]
fn every_manual_page_named_is_shipped() {
    let dir = tempdir("man");
    let run = nshost(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", transcript(&run));
    let main = std::fs::read_to_string(dir.join("nshost.1")).unwrap();
    assert_eq!(main, nshost(&["man"]).stdout);
    // roff writes `nshost-plan(1)` as `nshost\-plan(1)`.
    let named: Vec<&str> = main
        .split("nshost\\-")
        .skip(1)
        .filter_map(|r| r.split_once("(1)").map(|(name, _)| name))
        .collect();
    assert!(named.len() >= 14, "{named:?}");
    for name in named {
        let page = std::fs::read_to_string(dir.join(format!("nshost-{name}.1")))
            .unwrap_or_else(|e| panic!("nshost-{name}(1) is named but not written: {e}"));
        assert!(page.contains(&format!(".TH nshost-{name} 1")), "{page}");
        assert_eq!(page, nshost(&["man", name]).stdout, "nshost man {name}");
    }
    let unknown = nshost(&["man", "frobnicate"]);
    assert_eq!(unknown.code, 2, "{}", transcript(&unknown));
    assert!(
        unknown.stderr.contains("nshost-frobnicate(1)"),
        "{}",
        unknown.stderr
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The completions' helper lists the nodes and labs of this machine in natural order,
/// and bash's completion of `exec`'s node and of `--lab` uses it.
#[test]
fn node_and_lab_names_complete() {
    let runs: Vec<String> = ktest::sandboxed(|| {
        let text = std::fs::read_to_string(ktest::topology("small.yaml")).unwrap();
        let text = text
            .replace("  web1:", "  web10:")
            .replace("  db1:", "  web9:");
        let lab = ktest::scratch("small.yaml", &text);
        nshost(&["apply", lab.to_str().unwrap(), "-q"]).code(0);
        let script = nshost(&["completions", "bash"]).stdout;
        let script_file = ktest::scratch("nshost.bash", &script);
        let bash = |words: &str| {
            let line = format!(
                "source {}; COMP_WORDS=({} {words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _nshost_names; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script_file.display(),
                ktest::nshost_bin().display()
            );
            ktest::run("bash", &["-c", &line]).stdout
        };
        vec![
            nshost(&["__complete", "nodes"]).stdout,
            nshost(&["__complete", "labs"]).stdout,
            nshost(&["__complete", "nodes", "--lab", "other"]).stdout,
            bash("exec ''"),
            bash("shell --lab small web"),
            bash("exec web9 ''"),
            bash("status --lab ''"),
        ]
    });
    assert_eq!(runs[0], "br-gw\nhq-gw\npc1\npc2\nweb9\nweb10\n");
    assert_eq!(runs[1], "small\n");
    assert_eq!(runs[2], "");
    assert_eq!(runs[3], runs[0], "bash: exec NODE");
    assert_eq!(runs[4], "web9\nweb10\n", "bash: shell --lab small web");
    assert!(
        !runs[5].contains("web10"),
        "the command is not a node: {}",
        runs[5]
    );
    assert_eq!(runs[6], "small\n", "bash: --lab");
    // Zsh and fish ask the same helper, zsh from functions defined before its last
    // lines call `_nshost`.
    let zsh = nshost(&["completions", "zsh"]).stdout;
    assert!(zsh.contains("]:LAB:_nshost_labs' \\\n"), "{zsh}");
    assert!(zsh.contains("works too):_nshost_nodes' \\\n"), "{zsh}");
    let defined = zsh
        .find("_nshost_nodes() {")
        .expect("_nshost_nodes is defined");
    assert!(defined < zsh.rfind("_nshost \"$@\"").unwrap(), "{zsh}");
    assert!(!zsh.contains(":LAB:_default"), "{zsh}");
    let fish = nshost(&["completions", "fish"]).stdout;
    assert!(
        fish.contains("-f -a \"(nshost __complete nodes)\""),
        "{fish}"
    );
    assert!(
        fish.contains("-l lab -x -a \"(nshost __complete labs)\""),
        "{fish}"
    );
}

/// `--lab NAME` means the lab of that name as the kernel has it, without its file, on
/// `plan` (its removal, as `destroy --lab` counts it), `graph` (drawn from the kernel)
/// and `check` (the default checks, the same the file would get), as on `status`,
/// `destroy` and `exec`.
#[test]
fn lab_names_a_lab_without_its_file() {
    let runs: Vec<ktest::Run> = ktest::sandboxed(|| {
        let small = "topologies/small.yaml";
        vec![
            nshost(&["plan", "--lab", "small"]),
            nshost(&["apply", small, "-q"]),
            nshost(&["plan", "--lab", "small", "-q", "--detailed-exitcode"]),
            nshost(&["graph", "--lab", "small", "--output", "json"]),
            nshost(&["graph", "--lab", "small"]),
            nshost(&["check", "--lab", "small", "--output", "json"]),
            nshost(&["check", small, "--output", "json"]),
            nshost(&["destroy", "--lab", "small", "-q"]),
        ]
    });
    let checks = |run: &ktest::Run| -> Vec<String> {
        let doc = run.json();
        assert_eq!(doc["failed"], 0, "{doc}");
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{} -> {} {}", c["from"], c["to"], c["destination"]))
            .collect()
    };
    let (by_name, by_file) = (checks(&runs[5]), checks(&runs[6]));
    assert_eq!(by_file.len(), 8, "{by_file:?}");
    assert_eq!(by_name, by_file, "check --lab small, check small.yaml");
    assert_eq!(runs[0].code, 1, "{}", transcript(&runs[0]));
    assert!(
        runs[0].stderr.contains("no lab named `small`"),
        "{}",
        runs[0].stderr
    );
    assert_eq!(runs[2].code, 2, "changes: {}", transcript(&runs[2]));
    let destroyed = runs[7].stdout.split(" destroyed").next().unwrap();
    let destroyed = destroyed.rsplit(' ').next().unwrap();
    assert_eq!(
        runs[2].stdout,
        format!("Plan: 0 to add, 0 to change, {destroyed} to destroy.\n"),
        "{}",
        runs[7].stdout
    );
    let graph = runs[3].json();
    let nodes: Vec<&str> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["br-gw", "hq-gw", "db1", "pc1", "pc2", "web1"]);
    assert_eq!(graph["edges"].as_array().unwrap().len(), 10, "{graph}");
    assert_eq!(graph["networks"].as_array().unwrap().len(), 5, "{graph}");
    assert!(runs[4].stdout.starts_with("graph "), "{}", runs[4].stdout);
    assert!(runs[4].stdout.contains("web1"), "{}", runs[4].stdout);
}

/// `--output junit` is for `check` and `try` (not `try --shell`): every other command of
/// `nshost --help` refuses it as a usage error that names it, before anything runs.
#[test]
fn junit_is_refused_by_every_command_but_check_and_try() {
    // Arguments that parse, for the commands that need some (the refusal comes before
    // the run, so nothing here is read).
    fn args(c: &str) -> Vec<&str> {
        match c {
            "validate" | "plan" | "apply" | "destroy" | "watch" | "graph" => {
                vec![c, "topologies/small.yaml"]
            }
            "exec" => vec![c, "web1", "--", "true"],
            "shell" | "logs" => vec![c, "web1"],
            "import" => vec![c, "tsim-facts", "tests/import/corpus/tsim-facts"],
            "completions" => vec![c, "bash"],
            _ => vec![c],
        }
    }
    let help = nshost(&["--help"]).stdout;
    let commands: Vec<&str> = commands_in(&help)
        .filter(|c| !["help", "check", "try"].contains(c))
        .collect();
    assert!(commands.len() >= 14, "{commands:?}");
    let mut runs: Vec<Vec<&str>> = commands.iter().map(|c| args(c)).collect();
    runs.push(vec!["try", "--shell"]);
    runs.push(vec!["__complete", "nodes"]);
    for args in runs {
        let run = nshost(&[&["--output", "junit"], &args[..]].concat());
        let what = args.join(" ");
        assert_eq!(run.code, 2, "{what} --output junit:\n{}", transcript(&run));
        assert_eq!(run.stdout, "", "{what} --output junit");
        assert!(
            run.stderr
                .contains(&format!("`--output junit` is not for `nshost {}`", args[0])),
            "{what}: {}",
            run.stderr
        );
    }
}

/// `check --output junit` on a lab that cannot be checked (here, an invalid file) still
/// gives CI a report: one test case in error, with the error's code and its problem at
/// its line; the error is on stderr as usual, and the exit code 1.
#[test]
fn a_junit_report_of_an_error_is_one_test_case_in_error() {
    let dir = tempdir("junit-error");
    let file = dir.join("bad.yaml");
    std::fs::write(&file, "name: bad\nhosts:\n  h1: {adress: 10.0.0.1/24}\n").unwrap();
    let file = file.to_str().unwrap();
    let run = nshost(&["check", file, "--output", "junit"]);
    assert_eq!(run.code, 1, "{}", transcript(&run));
    assert!(run.stderr.contains("adress"), "{}", run.stderr);
    let doc = xml::parse(&run.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", run.stdout));
    assert_eq!(doc.name, "testsuites");
    assert_eq!((doc.get("tests"), doc.get("errors")), ("1", "1"));
    let suite = &doc.all("testsuite")[0];
    assert_eq!(suite.get("name"), format!("nshost check {file}"));
    let case = &suite.all("testcase")[0];
    let error = case.child("error").expect("an <error>");
    assert_eq!(error.get("type"), "nshost::invalid");
    assert!(error.text.contains("bad.yaml:3:"), "{}", error.text);
    assert!(error.text.contains("adress"), "{}", error.text);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The command names `nshost --help` lists.
fn commands_in(help: &str) -> impl Iterator<Item = &str> {
    help.split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
}
