//! The status reports and their rendering, from states built without a kernel: a lab
//! file's desired state stands for the live one, as `kernel::observe` would read it
//! back after an apply (every link up, with its carrier).

use crate::plan::testkit::link_mut;
use crate::state::{LinkKind, NetState, OperState};
use crate::topology::SourceFile;
use crate::workflow::{self, Loaded};

use super::render::{self, View};
use super::*;

fn loaded(name: &str, text: &str) -> Loaded {
    workflow::load_source(SourceFile::from_text(name, text)).expect("the lab loads")
}

fn small() -> Loaded {
    loaded(
        "topologies/small.yaml",
        include_str!("../../topologies/small.yaml"),
    )
}

fn full() -> Loaded {
    loaded(
        "topologies/full.yaml",
        include_str!("../../topologies/full.yaml"),
    )
}

/// The desired state as the kernel reports it once applied: operational states set
/// (the loopback's unknown, as the kernel has it).
fn as_live(desired: &NetState) -> NetState {
    let mut live = desired.clone();
    for ns in live.namespaces.values_mut() {
        for link in ns.links.values_mut() {
            link.oper = Some(if link.kind == LinkKind::Loopback {
                OperState::Unknown
            } else {
                OperState::Up
            });
        }
    }
    live
}

/// The report of a lab file against `live`, with the plan between them.
fn compared(loaded: &Loaded, live: &NetState) -> LabStatus {
    let changes = crate::plan::diff(&loaded.lab.name, &loaded.desired, live).expect("no conflicts");
    let plan = crate::plan::order(&loaded.lab.name, changes, &loaded.desired);
    let mut cx = Context::from_loaded(loaded);
    cx.file = Some(loaded.source.name.clone());
    cx.plan = Some(&plan);
    build(&cx, live)
}

fn unnamed(lab: &str, live: &NetState) -> LabStatus {
    build(&Context::from_live(lab, live), live)
}

#[test]
fn a_lab_in_sync_with_its_file() {
    let small = small();
    let status = compared(&small, &as_live(&small.desired));
    assert_eq!(status.health.state, HealthState::Ok);
    assert_eq!(status.changes, Some(0));
    assert!(
        status
            .nodes
            .iter()
            .all(|n| n.drift.as_ref().unwrap().in_sync())
    );
    insta::assert_snapshot!("small_summary", render::lab(&status, View::Summary));
}

#[test]
fn every_view_of_a_lab_with_tables_and_rules() {
    let full = full();
    let status = compared(&full, &as_live(&full.desired));
    assert_eq!(status.changes, Some(0));
    insta::assert_snapshot!("full_all", render::lab(&status, View::All));
    for view in [View::Interfaces, View::Routes, View::Rules] {
        let text = render::lab(&status, view);
        assert!(
            render::lab(&status, View::All).contains(text.split_once("\n\n").unwrap().1),
            "{view:?} is part of all"
        );
    }
}

#[test]
fn named_tables_are_shown_by_name_with_the_file_and_by_number_without() {
    let full = full();
    let live = as_live(&full.desired);
    let with = compared(&full, &live);
    let without = unnamed(&full.lab.name, &live.owned_by(&full.lab.name));
    let tables = |s: &LabStatus| -> Vec<String> {
        let mut t: Vec<String> = s
            .nodes
            .iter()
            .flat_map(|n| n.routes.iter().map(|r| r.table.clone()))
            .chain(
                s.nodes
                    .iter()
                    .flat_map(|n| n.rules.iter().map(|r| r.table.clone())),
            )
            .collect();
        t.sort();
        t.dedup();
        t
    };
    assert!(
        tables(&with)
            .iter()
            .any(|t| t.parse::<u32>().is_err() && t != "main")
    );
    assert!(
        tables(&without)
            .iter()
            .all(|t| t == "main" || t.parse::<u32>().is_ok()),
        "{:?}",
        tables(&without)
    );
}

#[test]
fn drifted_and_missing_nodes_are_marked() {
    let small = small();
    let mut live = as_live(&small.desired);
    // web1's interface taken down, pc1's address deleted, pc2's namespace gone (and
    // with it the fabric end of its veth pair).
    let web1 = live.namespaces.get_mut("web1").unwrap();
    web1.links.get_mut("eth0").unwrap().up = false;
    let pc1 = live.namespaces.get_mut("pc1").unwrap();
    pc1.addresses.clear();
    live.namespaces.remove("pc2");
    let port = crate::naming::fabric_port_name("pc2", "eth0");
    live.namespaces
        .get_mut("small-fabric")
        .unwrap()
        .links
        .remove(&port);
    let status = compared(&small, &live);
    let reasons: Vec<(&str, &str)> = status
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.drift.as_ref().unwrap().reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("br-gw", "in sync"),
            ("db1", "in sync"),
            ("hq-gw", "in sync"),
            ("pc1", "1 change"),
            ("pc2", "missing"),
            ("web1", "1 change"),
        ]
    );
    assert_eq!(status.health.interfaces_down, 1);
    assert_eq!(status.health.state, HealthState::Degraded);
    insta::assert_snapshot!("small_drift", render::lab(&status, View::Summary));
}

#[test]
fn health_counts_each_problem() {
    let small = small();
    let mut live = as_live(&small.desired);
    let hq = live.namespaces.get_mut("hq-gw").unwrap();
    hq.links.get_mut("eth0").unwrap().oper = Some(OperState::LowerLayerDown);
    hq.links.get_mut("eth1").unwrap().kind = LinkKind::Veth { peer: None };
    live.namespaces.get_mut("db1").unwrap().stray = true;
    let fabric = live.namespaces.get_mut("small-fabric").unwrap();
    fabric.links.get_mut("br-wan").unwrap().up = false;
    let status = unnamed("small", &live);
    let h = &status.health;
    assert_eq!(
        (
            h.interfaces_down,
            h.without_carrier,
            h.veths_without_peer,
            h.empty_mount_points
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        h.summary(),
        "degraded: 1 interface down, 1 without carrier, 1 veth without its peer, 1 empty mount point"
    );
    insta::assert_debug_snapshot!(h.problems, @r#"
    [
        "db1 is an empty mount point (no namespace)",
        "hq-gw/eth0 is up without carrier (LOWERLAYERDOWN)",
        "hq-gw/eth1 has no peer in the lab",
        "small-fabric/br-wan is down",
    ]
    "#);
    // A fabric port without carrier is its node's interface being down: counted there.
    let mut live = as_live(&small.desired);
    let port = crate::naming::fabric_port_name("web1", "eth0");
    let fabric = live.namespaces.get_mut("small-fabric").unwrap();
    fabric.links.get_mut(&port).unwrap().oper = Some(OperState::LowerLayerDown);
    assert_eq!(unnamed("small", &live).health.summary(), "ok");
}

#[test]
fn the_machine_one_lab_a_row() {
    let small = small();
    let other = loaded(
        "other.yaml",
        &include_str!("../../topologies/small.yaml")
            .replace("name: small\n", "name: other\nprefix: o-\n"),
    );
    let mut live = as_live(&small.desired);
    link_mut(&mut live, "web1", "eth0").up = false;
    let other_live = as_live(&other.desired);
    let machine = MachineStatus {
        labs: vec![
            summarize(&unnamed("other", &other_live)),
            summarize(&unnamed("small", &live)),
        ],
        skipped: Vec::new(),
        pool: None,
    };
    insta::assert_snapshot!(render::machine(&machine), @r"
    LAB    ROUTERS  HOSTS  LINKS  NETWORKS  HEALTH
    other        2      4     10         5  ok
    small        2      4     10         5  degraded: 1 interface down
    ");
    // Without the file, node names come from the prefix the fabric's name shows.
    let names: Vec<String> = unnamed("other", &other_live)
        .nodes
        .into_iter()
        .map(|n| format!("{} {}", n.name, n.namespace))
        .collect();
    assert!(names.contains(&"web1 o-web1".to_string()), "{names:?}");
    assert_eq!(
        render::machine(&MachineStatus {
            labs: Vec::new(),
            skipped: Vec::new(),
            pool: None,
        }),
        "No nshost labs on this machine.\n"
    );
    let pool = nshost_pool(12, 24, 98_304);
    assert_eq!(
        render::machine(&MachineStatus {
            labs: Vec::new(),
            skipped: Vec::new(),
            pool: Some(pool),
        }),
        "No nshost labs on this machine.\n\n\
         Pool: 12 namespaces (target 24), about 0.09 MiB each, 1.1 MiB in all\n"
    );
}

fn nshost_pool(size: usize, target: usize, bytes: u64) -> crate::kernel::pool::PoolInfo {
    crate::kernel::pool::PoolInfo {
        size,
        target,
        bytes_per_namespace: Some(bytes),
    }
}

#[test]
fn limit_selects_nodes_by_glob_and_keeps_the_lab_totals() {
    let small = small();
    let mut status = unnamed("small", &as_live(&small.desired));
    let totals = status.totals.clone();
    status.limit(&[
        glob::Pattern::new("pc*").unwrap(),
        glob::Pattern::new("hq-?w").unwrap(),
    ]);
    let names: Vec<&str> = status.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["hq-gw", "pc1", "pc2"]);
    assert_eq!(status.totals, totals);
    assert_eq!((totals.routers, totals.hosts, totals.links), (2, 4, 10));
    status.limit(&[]);
    assert_eq!(status.nodes.len(), 3, "no pattern keeps what is there");
}

#[test]
fn the_json_report() {
    let small = small();
    let mut status = compared(&small, &as_live(&small.desired));
    status.limit(&[glob::Pattern::new("web1").unwrap()]);
    insta::assert_json_snapshot!("small_web1_json", status);
}

#[test]
fn report_types_have_a_schema() {
    let schema = schemars::schema_for!(LabStatus);
    let text = serde_json::to_string(&schema).unwrap();
    for field in [
        "nodes",
        "health",
        "drift",
        "interfaces",
        "oper",
        "lowerlayerdown",
    ] {
        assert!(text.contains(field), "{field} in the schema");
    }
    let schema = serde_json::to_string(&schemars::schema_for!(MachineStatus)).unwrap();
    assert!(schema.contains("routers") && schema.contains("skipped"));
}

/// Nodes, and each node's interfaces, are listed in natural order: `web9` before
/// `web10`, `eth2` before `eth10`.
#[test]
fn nodes_in_natural_order() {
    let lab = loaded(
        "n.yaml",
        &include_str!("../../topologies/small.yaml")
            .replace("  web1:", "  web10:")
            .replace("  db1:", "  web9:"),
    );
    let status = compared(&lab, &as_live(&lab.desired));
    let names: Vec<&str> = status.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["br-gw", "hq-gw", "pc1", "pc2", "web9", "web10"]);
    let lab = loaded(
        "n.yaml",
        &include_str!("../../topologies/small.yaml")
            .replace(
                "      eth0: {addresses: [10.1.1.1/24]}",
                "      eth10: {addresses: [10.1.1.1/24]}",
            )
            .replace(
                "      eth1: {addresses: [10.1.2.1/24]}",
                "      eth2: {addresses: [10.1.2.1/24]}",
            ),
    );
    let status = compared(&lab, &as_live(&lab.desired));
    let hq = status.nodes.iter().find(|n| n.name == "hq-gw").unwrap();
    let ifaces: Vec<&str> = hq.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(ifaces, ["eth2", "eth10", "lo", "wan0"]);
}
