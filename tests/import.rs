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
        kernel_lacks_ipset_types: Vec::new(),
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

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// `--output json`: stdout is one JSON document, the report with the lab file as
/// `yaml`, with or without `-o` (without it, the YAML alone used to be printed).
#[test]
fn json_output_is_one_document_with_or_without_a_file() {
    let facts = "tests/import/kernel-refusals/facts";
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(ROOT).join("schemas/output/import.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let dir = std::env::temp_dir().join(format!("nshost-import-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = dir.join("lab.yaml");
    let with_file = ["-o", lab.to_str().unwrap()];
    for extra in [&[][..], &with_file[..]] {
        let args = [
            &["import", "tsim-facts", facts, "--output", "json"][..],
            extra,
        ]
        .concat();
        let out = nshost(&args);
        assert!(out.status.success(), "{}", text(out.stderr));
        assert_eq!(text(out.stderr), "", "stderr stays quiet in JSON mode");
        let stdout = text(out.stdout);
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("{args:?}: stdout is not one JSON document ({e}):\n{stdout}")
        });
        assert_eq!(doc["format_version"], 1);
        assert_eq!(doc["imported"]["routes"], 10);
        let yaml = doc["yaml"].as_str().expect("the lab file is a field");
        assert!(yaml.starts_with("# Imported by `nshost import tsim-facts"));
        assert!(validator.is_valid(&doc), "the document follows its schema");
        if !extra.is_empty() {
            assert_eq!(std::fs::read_to_string(&lab).unwrap(), yaml);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The header comment of a lab file, its lines joined.
fn header(yaml: &str) -> String {
    yaml.lines()
        .map_while(|l| l.strip_prefix("# "))
        .collect::<Vec<_>>()
        .join(" ")
}

const SHARED: &str = "tests/import/shared-subnet";

/// A host added by hand on a subnet two routers share gets the first router as its
/// gateway: the import warns, naming both routers and what to write to choose; a host
/// whose gateway is written, or behind one router, does not warn.
#[test]
fn a_gateway_picked_among_routers_is_a_warning() {
    let dir = Path::new(ROOT).join(SHARED).join("facts");
    let additions = format!("{SHARED}/hosts.yaml");
    let imported = import_dir(&dir, "facts", "shared", Some(&additions));
    assert_eq!(
        imported.report.warnings,
        [format!(
            "host `pc` is on 10.0.0.0/24, which routers r1 (10.0.0.1) and r2 (10.0.0.2) \
             share: its gateway is r1's 10.0.0.1, the first of them in the lab file; to \
             choose another, give the host `gateway: 10.0.0.2` (or another of their \
             addresses) in {additions}, and import again"
        )]
    );
    // What it says is what the lab does.
    let src = SourceFile::from_text("lab.yaml", &imported.yaml);
    let loaded = nshost::workflow::load_source(src).expect("the lab is valid");
    let gateways: Vec<String> = ["pc", "srv"]
        .iter()
        .map(|h| {
            let ns = &loaded.desired.namespaces[*h];
            let (_, route) = ns.routes.iter().next().expect("a default route");
            route.gateway.unwrap().to_string()
        })
        .collect();
    assert_eq!(gateways, ["10.0.0.1", "10.0.0.2"]);

    // On the command line: on stderr in full, and alone with -q.
    let args = [
        "import",
        "tsim-facts",
        &format!("{SHARED}/facts"),
        "--with",
        &additions,
    ];
    let out = nshost(&args);
    assert!(out.status.success());
    let stderr = text(out.stderr);
    assert!(
        stderr.contains("\nwarning: host `pc` is on 10.0.0.0/24"),
        "{stderr}"
    );
    let quiet = nshost(&[&args[..], &["-q"]].concat());
    assert!(quiet.status.success());
    let stderr = text(quiet.stderr);
    assert!(
        stderr.starts_with("warning: host `pc`") && stderr.lines().count() == 1,
        "-q prints the warning alone:\n{stderr}"
    );
    assert!(text(quiet.stdout).contains("\nhosts:\n  pc: "));
}

/// `-q`'s help says what it does for `import`, not only for plans.
#[test]
fn quiet_is_described_for_import() {
    let help = text(nshost(&["import", "--help"]).stdout);
    assert!(
        help.contains("for `import`, only its warnings and errors"),
        "{help}"
    );
    assert!(
        help.contains("With `-q`, stderr has only the warnings"),
        "{help}"
    );
}

/// Sets left out because the kernel lacks their type are reported as such, not as
/// left out on request, and the lab's header names no flag the user did not give.
#[test]
fn sets_the_kernel_lacks_are_not_left_out_on_request() {
    let options = Options {
        name: Some("corpus".into()),
        source: CORPUS.into(),
        kernel_lacks_ipset_types: MISSING_IPSET_TYPES.iter().map(|t| t.to_string()).collect(),
        ..Options::default()
    };
    let imported =
        import::import(Format::TsimFacts, &Path::new(ROOT).join(CORPUS), &options).unwrap();
    let r = &imported.report;
    assert_eq!(r.count(Category::KernelLacks), 12);
    assert_eq!(r.count(Category::OnRequest), 0);
    assert!(r.without_ipset_types.is_empty());
    assert_eq!(r.kernel_lacks_ipset_types, MISSING_IPSET_TYPES);
    let human = r.human();
    assert!(!human.contains("on request"), "{human}");
    assert!(
        human.contains(
            "br-core_facts.txt:572: create test_hash_net_net hash:net,net: left out: this \
             kernel lacks ipset type hash:net,net"
        ),
        "{human}"
    );
    let header = header(&imported.yaml);
    assert!(!header.contains("--without-ipset-type"), "{header}");
    assert!(
        header.contains("ipset types the importing machine's kernel lacks"),
        "{header}"
    );
    // Flags given by hand are recorded, and their sets left out on request.
    let e = corpus();
    assert!(e.yaml.contains("--without-ipset-type hash:mac"));
    assert_eq!(e.report.count(Category::KernelLacks), 0);
}

/// The headline's count of facts left out is the number of facts the report lists
/// (it said 108, the facts the kernel would refuse, over 177 entries).
#[test]
fn one_count_of_facts_left_out() {
    let e = corpus();
    let listed: usize = e.report.left_out.iter().map(|g| g.facts.len()).sum();
    assert_eq!(listed, 177);
    let human = e.report.human();
    let headline = human.lines().nth(1).unwrap();
    assert!(
        headline
            .starts_with("Left out: 177 facts: 57 the kernel makes itself, 108 it would refuse"),
        "{headline}"
    );
    let header = header(&e.yaml);
    assert!(header.contains("Left out: 177 facts:"), "{header}");
}

/// What the lab's kernel will hold otherwise than the facts say is in the report, each
/// located: LOG prefixes it cuts, empty tables nshost does not create, rules on an
/// interface the router lacks.
#[test]
fn changes_are_reported() {
    let e = corpus();
    let found = |file: &str, line: usize| {
        e.report
            .approximated
            .iter()
            .find(|f| f.file == file && f.line == line)
            .unwrap_or_else(|| panic!("{file}:{line} is not reported:\n{}", e.report.human()))
            .reason
            .clone()
    };
    assert_eq!(
        found("br-core_facts.txt", 460),
        "the LOG prefix is 30 characters; the kernel keeps the first 29: \
         \"FWD-ICMP-10_1_0_0-10_100_1_0:\""
    );
    assert!(found("br-core_facts.txt", 539).starts_with("the nat table holds no rule"));
    assert!(
        found("dc-core_facts.txt", 65).starts_with("the router has no device eth2"),
        "{}",
        found("dc-core_facts.txt", 65)
    );
    let human = e.report.human();
    let n = e.report.approximated.len();
    assert!(
        human.contains(&format!("Imported changed: {n} facts")),
        "{human}"
    );
    assert!(
        human.contains(&format!("\napproximated ({n}):\n")),
        "{human}"
    );
}
