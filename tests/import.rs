//! `nshost import`: golden cases (each `tests/import/<case>/facts/` imported, its lab
//! file and report snapshotted beside it), the corpus's counts, and the bundled
//! enterprise lab, which must be what the importer makes of the corpus and its
//! additions, byte for byte.

use std::path::Path;

use nshost::import::report::Category;
use nshost::import::{self, Format, Options};
use nshost::topology::{SourceFile, parse};
use nshost::validate::validate;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn import_dir(dir: &Path, source: &str, name: &str, extra: Option<&str>) -> import::Imported {
    import_with(dir, source, name, extra, &[])
}

/// The ipset types this machine's kernel lacks (CONFIG_IP_SET_HASH_NETNET, _MAC and
/// _IPMAC unset), which the enterprise lab leaves out.
const MISSING_IPSET_TYPES: [&str; 3] = ["hash:net,net", "hash:mac", "hash:ip,mac"];

fn import_with(
    dir: &Path,
    source: &str,
    name: &str,
    extra: Option<&str>,
    without: &[&str],
) -> import::Imported {
    let options = Options {
        without_ipset_types: without.iter().map(|t| t.to_string()).collect(),
        name: Some(name.to_string()),
        source: source.to_string(),
        extra: extra.map(|e| {
            let text = std::fs::read_to_string(Path::new(ROOT).join(e)).expect("additions exist");
            (e.to_string(), text)
        }),
    };
    import::import(Format::TsimFacts, dir, &options).expect("the facts import")
}

#[test]
fn golden_cases() {
    insta::glob!("import/*/facts", |path| {
        let case = path.parent().expect("a case folder");
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let imported = import_dir(path, "facts", &name, None);
        insta::with_settings!({
            snapshot_path => case,
            prepend_module_to_snapshot => false,
            snapshot_suffix => "",
            omit_expression => true,
        }, {
            insta::assert_snapshot!("lab", imported.yaml);
            insta::assert_snapshot!("report", imported.report.human());
        });
    });
}

/// Every imported lab is a valid lab file.
#[test]
fn imported_labs_are_valid() {
    insta::glob!("import/*/facts", |path| {
        let name = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let imported = import_dir(path, "facts", &name, None);
        assert_valid(&name, &imported.yaml);
    });
    assert_valid("enterprise", &corpus().yaml);
}

fn assert_valid(name: &str, yaml: &str) {
    let src = SourceFile::from_text("lab.yaml", yaml);
    let topology = parse(&src).unwrap_or_else(|e| panic!("{name}: the lab does not parse: {e:?}"));
    if let Err(e) = validate(&src, &topology) {
        panic!("{name}: the lab is invalid: {e:?}");
    }
}

const CORPUS: &str = "tests/import/corpus/tsim-facts";

/// The enterprise lab: the corpus, but the ipset types this kernel lacks, and the
/// hand-written additions.
fn corpus() -> import::Imported {
    import_with(
        &Path::new(ROOT).join(CORPUS),
        CORPUS,
        "enterprise",
        Some("topologies/enterprise.extra.yaml"),
        &MISSING_IPSET_TYPES,
    )
}

/// The figures issue 8 measured on the corpus.
#[test]
fn corpus_counts() {
    let r = import_dir(&Path::new(ROOT).join(CORPUS), CORPUS, "corpus", None).report;
    let c = &r.imported;
    assert_eq!(c.routers, 10);
    assert_eq!(c.interfaces, 27);
    assert_eq!(c.macs, 24);
    assert_eq!(c.tables, 8);
    assert_eq!(c.kernel_valid_routes, 345);
    assert_eq!(c.routes, 318);
    assert_eq!(c.rules, 266);
    assert_eq!(c.iptables_rules, 1653);
    let by_table: Vec<(&str, usize)> = c
        .iptables_rules_by_table
        .iter()
        .map(|t| (t.table.as_str(), t.rules))
        .collect();
    assert_eq!(by_table, [("filter", 1549), ("mangle", 80), ("nat", 24)]);
    assert_eq!((c.ipsets, c.ipset_members), (17, 45));
    assert_eq!(r.count(Category::UnreachableGateway), 76);
    assert_eq!(r.count(Category::MissingDevice), 30);
    assert_eq!(r.count(Category::ForeignSource), 2);
    assert_eq!(r.count(Category::KernelRefuses), 0);
    // 27 connected routes and 3 default rules on each of the 10 routers.
    assert_eq!(r.count(Category::KernelMade), 57);
    assert_eq!(r.count(Category::Unreadable), 0);
    assert_eq!(r.count(Category::NotExpressible), 0);
    // Every fact left out is located.
    for g in &r.left_out {
        assert_eq!(g.count, g.facts.len());
        for f in &g.facts {
            assert!(f.file.ends_with("_facts.txt") && f.line > 0, "{f:?}");
        }
    }
    // The 453 routes of the corpus are all accounted for.
    let routes_left: usize = r
        .left_out
        .iter()
        .flat_map(|g| &g.facts)
        .filter(|f| f.what == "route")
        .count();
    assert_eq!(c.kernel_valid_routes + routes_left, 453);

    // The enterprise lab leaves out the 3 sets of the types this kernel lacks, and
    // their 9 members.
    let e = corpus().report;
    assert_eq!((e.imported.ipsets, e.imported.ipset_members), (14, 36));
    assert_eq!(e.count(Category::OnRequest), 12);
    assert_eq!(e.imported.kernel_valid_routes, 345);
}

#[test]
fn enterprise_lab_is_the_import_of_the_corpus() {
    let path = Path::new(ROOT).join("topologies/enterprise.yaml");
    let committed = std::fs::read_to_string(&path).expect("topologies/enterprise.yaml exists");
    let imported = corpus();
    assert!(
        committed == imported.yaml,
        "topologies/enterprise.yaml is not what the importer makes of the corpus; regenerate it:\n\
         nshost import tsim-facts tests/import/corpus/tsim-facts --name enterprise \
         --without-ipset-type hash:net,net --without-ipset-type hash:mac \
         --without-ipset-type hash:ip,mac --with topologies/enterprise.extra.yaml \
         -o topologies/enterprise.yaml"
    );
    // And the same import twice is the same file.
    assert_eq!(corpus().yaml, imported.yaml);
}

fn nshost(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nshost"))
        .args(args)
        .current_dir(ROOT)
        .env("NO_COLOR", "1")
        .output()
        .expect("nshost runs")
}

/// The command line: the lab on stdout (or in `-o`), the report on stderr and in
/// `--report`, an input with no facts an error.
#[test]
fn import_command() {
    let dir = std::env::temp_dir().join(format!("nshost-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let facts = "tests/import/kernel-refusals/facts";
    let out = nshost(&["import", "tsim-facts", facts, "--name", "kernel-refusals"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.starts_with(
        "# Imported by `nshost import tsim-facts tests/import/kernel-refusals/facts`"
    ));
    assert!(stdout.contains("\nname: kernel-refusals\n"));
    assert!(
        stderr.starts_with("Imported 1 router (3 interfaces, 3 MACs)"),
        "{stderr}"
    );
    assert!(stderr.contains(
        "r1_facts.txt:34: 10.5.0.0/16 dev eth7 scope link: the router has no device eth7"
    ));

    let lab = dir.join("lab.yaml");
    let report = dir.join("report.json");
    let out = nshost(&[
        "import",
        "tsim-facts",
        facts,
        "-q",
        "-o",
        lab.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "-q prints nothing"
    );
    assert!(
        std::fs::read_to_string(&lab)
            .unwrap()
            .contains("\nname: facts\n")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["imported"]["routes"], 10);
    let categories: Vec<(&str, u64)> = doc["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["category"].as_str().unwrap(),
                g["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        categories,
        [
            ("kernel_made", 5),
            ("unreachable_gateway", 5),
            ("missing_device", 1),
            ("foreign_source", 1),
            ("kernel_refuses", 1)
        ]
    );
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("schemas/output/import.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    assert!(validator.is_valid(&doc), "the report follows its schema");

    let out = nshost(&["import", "tsim-facts", "tests/import"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("nshost::import::no_facts"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
