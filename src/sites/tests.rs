//! Sites without a kernel: validation of `sites`, what each site reconciles, and its
//! plan on the kernel model.

use std::collections::BTreeSet;

use super::*;
use crate::plan::testkit::{oracle::check_order, sim};
use crate::plan::{Change, Executor, Part, diff, order};
use crate::state::{LinkKind, NetState};
use crate::topology::SourceFile;
use crate::workflow::{self, Loaded};

const TWO_SITES: &str = include_str!("../../topologies/two-sites.yaml");

fn load(text: &str) -> Loaded {
    workflow::load_source(SourceFile::from_text("lab.yaml", text))
        .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
}

fn codes(text: &str) -> Vec<&'static str> {
    match workflow::load_source(SourceFile::from_text("lab.yaml", text)) {
        Ok(_) => Vec::new(),
        Err(workflow::Error::Invalid(e)) => e.problems.iter().map(|p| p.code.as_str()).collect(),
        Err(e) => panic!("{e:?}"),
    }
}

/// The report of an invalid lab, as printed (no colours).
fn report(text: &str) -> String {
    let Err(e) = workflow::load_source(SourceFile::from_text("lab.yaml", text)) else {
        panic!("valid")
    };
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, &e)
        .unwrap();
    out
}

/// [`select`] on a loaded lab, as `workflow::load_site` does.
fn select_loaded(mut loaded: Loaded, site: Option<&str>) -> Result<Loaded, SiteError> {
    select(&mut loaded.lab, &mut loaded.desired, site)?;
    Ok(loaded)
}

fn site(name: &str) -> Loaded {
    select_loaded(load(TWO_SITES), Some(name)).unwrap()
}

#[test]
fn the_bundled_lab_places_every_node_and_stretches_two_networks() {
    let lab = load(TWO_SITES).lab;
    let sites = lab.sites.as_ref().expect("sites");
    let placed: Vec<(&str, &str)> = sites
        .placement
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        placed,
        [
            ("ha", "a"),
            ("ha2", "a"),
            ("hb", "b"),
            ("hb2", "b"),
            ("ra", "a"),
            ("rb", "b")
        ]
    );
    let stretched: Vec<(&str, u32, &str)> = sites
        .stretched
        .iter()
        .map(|(n, s)| (n.as_str(), s.vni, s.device.as_str()))
        .collect();
    assert_eq!(
        stretched,
        [
            ("core", 7800, "vx-core"),
            ("lan", derived_vni("two-sites", "lan"), "vx-lan")
        ]
    );
    assert_eq!(sites.networks["a-net"], BTreeSet::from(["a".to_string()]));
    // Not written: the largest MTU the tunnels carry over a 1500-byte IPv4 underlay,
    // for the network and for its interfaces.
    assert_eq!(lab.networks["lan"].mtu, Some(1450));
    assert_eq!(lab.nodes["hb"].interfaces["eth0"].mtu, Some(1450));
    assert_eq!(lab.networks["a-net"].mtu, None);
}

#[test]
fn a_site_has_its_nodes_its_bridges_and_its_vxlan_ends() {
    let a = site("a");
    let names: Vec<&str> = a.desired.namespaces.keys().map(String::as_str).collect();
    assert_eq!(names, ["ha", "ha2", "ra", "two-sites-fabric"]);
    let fabric = &a.desired.namespaces["two-sites-fabric"];
    let bridges: Vec<&str> = fabric
        .links
        .iter()
        .filter(|(_, l)| l.kind == LinkKind::Bridge)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(bridges, ["br-a-net", "br-core", "br-lan"]);
    // Only a's own veth ends: 3 of ra, 1 each of ha and ha2.
    let veths = fabric
        .links
        .values()
        .filter(|l| matches!(l.kind, LinkKind::Veth { .. }))
        .count();
    assert_eq!(veths, 5);
    let end = &fabric.links["vx-lan"];
    let LinkKind::Vxlan(v) = &end.kind else {
        panic!("{end:?}")
    };
    assert!(v.underlay);
    assert_eq!(v.local, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(v.remote, None);
    assert_eq!(v.flood, BTreeSet::from(["192.0.2.2".parse().unwrap()]));
    assert_eq!(end.master.as_deref(), Some("br-lan"));
    assert_eq!(end.mtu, Some(1450));
    // Stable, locally administered MACs on stretched networks only.
    let ha = &a.desired.namespaces["ha"].links["eth0"];
    let mac = ha.mac.expect("a MAC on a stretched network");
    assert_eq!(mac.0[0] & 0x03, 0x02, "{mac}");
    assert_eq!(
        site("a").desired.namespaces["ha"].links["eth0"].mac,
        Some(mac)
    );
    assert_eq!(a.desired.namespaces["ha2"].links["eth0"].mac, None);
    assert_eq!(a.lab.sites.as_ref().unwrap().here.as_deref(), Some("a"));
}

#[test]
fn the_sites_see_each_other() {
    let b = site("b");
    let fabric = &b.desired.namespaces["two-sites-fabric"];
    let LinkKind::Vxlan(v) = &fabric.links["vx-core"].kind else {
        panic!()
    };
    assert_eq!(v.local, Some("192.0.2.2".parse().unwrap()));
    assert_eq!(v.flood, BTreeSet::from(["192.0.2.1".parse().unwrap()]));
    assert_eq!(v.id, 7800);
    assert!(!fabric.links.contains_key("br-a-net"));
}

#[test]
fn a_site_plans_and_converges_on_the_kernel_model() {
    let desired = site("a").desired;
    let changes = diff("two-sites", &desired, &NetState::default()).unwrap();
    let plan = order("two-sites", changes, &desired);
    check_order(&plan);
    // The vxlan ends are made from the underlay, their flood entries from the fabric.
    let vx = plan
        .changes
        .iter()
        .position(|c| matches!(c, Change::AddLink { name, .. } if name == "vx-lan"))
        .expect("vx-lan is created");
    let steps: Vec<(Part, Executor)> = plan
        .steps()
        .flat_map(|(_, s)| {
            s.ops
                .iter()
                .filter(|op| op.change == vx)
                .map(|op| (op.part, s.executor.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let fabric = "two-sites-fabric".to_string();
    assert_eq!(
        steps,
        [
            (Part::Main, Executor::Underlay(fabric.clone())),
            (Part::Flood, Executor::Netlink(fabric))
        ]
    );
    for reverse in [false, true] {
        let after = sim::apply(&NetState::default(), &plan, reverse).unwrap();
        assert_eq!(diff("two-sites", &desired, &after).unwrap(), Vec::new());
    }
}

#[test]
fn a_changed_peer_changes_the_flood_entries_in_place() {
    let desired = site("a").desired;
    let mut live = desired.clone();
    let fabric = live.namespaces.get_mut("two-sites-fabric").unwrap();
    let LinkKind::Vxlan(v) = &mut fabric.links.get_mut("vx-lan").unwrap().kind else {
        panic!()
    };
    v.flood = BTreeSet::from(["192.0.2.9".parse().unwrap()]);
    let changes = diff("two-sites", &desired, &live).unwrap();
    assert!(
        matches!(changes.as_slice(), [Change::UpdateLink { name, .. }] if name == "vx-lan"),
        "{changes:#?}"
    );
    let plan = order("two-sites", changes, &desired);
    let after = sim::apply(&live, &plan, false).unwrap();
    assert_eq!(diff("two-sites", &desired, &after).unwrap(), Vec::new());
}

#[test]
fn a_lab_with_sites_needs_one_and_a_lab_without_takes_none() {
    let needed = select_loaded(load(TWO_SITES), None).unwrap_err();
    assert!(matches!(needed, SiteError::Needed { .. }), "{needed}");
    let unknown = select_loaded(load(TWO_SITES), Some("bb")).unwrap_err();
    assert_eq!(unknown.to_string(), "lab `two-sites` has no site `bb`");
    let one = "name: one\nrouters:\n  r: {interfaces: {eth0: {addresses: [10.0.0.1/24]}}}\nhosts:\n  h: {address: 10.0.0.2/24}\n";
    let none = select_loaded(load(one), Some("a")).unwrap_err();
    assert!(matches!(none, SiteError::NoSites { .. }), "{none}");
    let same = select_loaded(load(one), None).unwrap();
    assert_eq!(same.desired, load(one).desired);
}

#[test]
fn checks_run_from_the_site_they_are_sent_from() {
    let a = site("a");
    let suite = suite_here(&a.lab, Suite::of(&a.lab));
    let from: Vec<&str> = suite.checks.iter().map(|c| c.from.as_str()).collect();
    assert_eq!(from, ["ha", "ha", "ha2", "ra"]);
    assert_eq!(suite.namespaces.len(), 4);
}

#[test]
fn derived_vnis_are_stable_and_in_range() {
    assert_eq!(
        derived_vni("two-sites", "lan"),
        derived_vni("two-sites", "lan")
    );
    assert_ne!(
        derived_vni("two-sites", "lan"),
        derived_vni("two-sites", "core")
    );
    assert_ne!(derived_vni("x", "lan"), derived_vni("two-sites", "lan"));
    for n in ["a", "lan", "a-very-long-network-name"] {
        let v = derived_vni("lab", n);
        assert!((1..1 << 24).contains(&v), "{v}");
    }
    assert_eq!(vxlan_name("lan"), "vx-lan");
    assert_eq!(vxlan_name("a-very-long-network-name").len(), 15);
}

const BASE: &str = "\
name: s
sites:
  a: {underlay: 192.0.2.1}
  b: {underlay: 192.0.2.2}
networks:
  lan: {subnets: [10.0.0.0/24]}
routers:
  r: {interfaces: {eth0: {addresses: [10.0.0.254/24]}}}
hosts:
  h1: {address: 10.0.0.1/24}
  h2: {address: 10.0.0.2/24, site: b}
";

#[test]
fn sites_are_checked() {
    assert_eq!(codes(BASE), Vec::<&str>::new());
    let bad_site = BASE.replace("site: b}", "site: c}");
    assert_eq!(codes(&bad_site), ["nshost::unknown_site"]);
    let bad_default = format!("{BASE}default_site: z\n");
    assert_eq!(codes(&bad_default), ["nshost::unknown_site"]);
    let no_sites = "name: s\nrouters:\n  r: {interfaces: {eth0: {addresses: [10.0.0.254/24]}}}\nhosts:\n  h1: {address: 10.0.0.1/24, site: a}\n";
    assert_eq!(codes(no_sites), ["nshost::unknown_site"]);
    let bad_underlay = BASE.replace("192.0.2.2}", "0.0.0.0}");
    assert_eq!(codes(&bad_underlay), ["nshost::invalid_address"]);
    let bad_device = BASE.replace("192.0.2.2}", "192.0.2.2, device: a-name-far-too-long}");
    assert_eq!(codes(&bad_device), ["nshost::bad_interface_name"]);
    let mixed = BASE.replace("192.0.2.2}", "\"2001:db8::2\"}");
    assert_eq!(codes(&mixed), ["nshost::mixed_underlay"]);
    let too_big = BASE.replace("[10.0.0.0/24]}", "[10.0.0.0/24], mtu: 1500}");
    assert_eq!(codes(&too_big), ["nshost::stretched_mtu"]);
    let fits = BASE
        .replace("[10.0.0.0/24]}", "[10.0.0.0/24], mtu: 1500}")
        .replace("192.0.2.1}", "192.0.2.1, mtu: 9000}")
        .replace("192.0.2.2}", "192.0.2.2, mtu: 9000}");
    assert_eq!(codes(&fits), Vec::<&str>::new());
    let vni = BASE.replace("[10.0.0.0/24]}", "[10.0.0.0/24], vni: 16777216}");
    assert_eq!(codes(&vni), ["nshost::bad_vxlan_id"]);
    let port = BASE.replace("[10.0.0.0/24]}", "[10.0.0.0/24], vxlan_port: 0}");
    assert_eq!(codes(&port), ["nshost::bad_vxlan_port"]);
    let two = "\
name: s
sites:
  a: {underlay: 192.0.2.1}
  b: {underlay: 192.0.2.2}
networks:
  lan: {subnets: [10.0.0.0/24], vni: 5}
  lan2: {subnets: [10.0.1.0/24], vni: 5}
routers:
  r:
    interfaces:
      eth0: {addresses: [10.0.0.254/24]}
      eth1: {addresses: [10.0.1.254/24]}
hosts:
  h1: {address: 10.0.0.1/24}
  h2: {address: 10.0.0.2/24, site: b}
  h3: {address: 10.0.1.1/24}
  h4: {address: 10.0.1.2/24, site: b}
";
    assert_eq!(codes(two), ["nshost::duplicate_vni"]);
}

#[test]
fn a_network_too_big_for_its_tunnels_is_shown_where_its_mtu_is() {
    let too_big = BASE.replace("[10.0.0.0/24]}", "[10.0.0.0/24], mtu: 1500}");
    insta::assert_snapshot!(report(&too_big), @r"
    nshost::invalid

      × 1 problem in lab.yaml

    Error: nshost::stretched_mtu

      × network `lan` has MTU 1500, more than its VXLAN tunnels carry: 1450 over site `a`'s underlay
      │ (1500 - 50)
       ╭─[lab.yaml:6:38]
     5 │ networks:
     6 │   lan: {subnets: [10.0.0.0/24], mtu: 1500}
       ·                                      ──┬─
       ·                                        ╰── at most 1450
     7 │ routers:
       ╰────
      help: lower the network's `mtu` to 1450, or raise the sites' underlay `mtu` (the machines' links
            must carry it)
    ");
}
