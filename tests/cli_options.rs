//! One command line: the options that mean one thing on every command (`-o/--out`,
//! `--lab`, `-q`, `--output json`), the manual pages and the completions' helper, each
//! checked over every command that has them.

#[path = "support/ktest.rs"]
mod ktest;
#[path = "support/cli_runs.rs"]
mod runs;
#[path = "support/sandbox.rs"]
mod sandbox;

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
