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
    let options = Options {
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

fn corpus() -> import::Imported {
    let dir = Path::new(ROOT).join("tests/import/corpus/tsim-facts");
    import_dir(
        &dir,
        "tests/import/corpus/tsim-facts",
        "enterprise",
        Some("topologies/enterprise.extra.yaml"),
    )
}

/// The figures issue 8 measured on the corpus.
#[test]
fn corpus_counts() {
    let r = corpus().report;
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
         --with topologies/enterprise.extra.yaml -o topologies/enterprise.yaml"
    );
    // And the same import twice is the same file.
    assert_eq!(corpus().yaml, imported.yaml);
}
