//! Checks the benchmark's lab generator (`tests/support/labgen.rs`): the YAML it writes
//! parses as an nshost lab file and describes the lab the generator means.

#[path = "support/labgen.rs"]
mod labgen;

use std::collections::BTreeSet;

use labgen::GenLab;
use nshost::topology::{SourceFile, parse};

fn parsed(lab: &GenLab) -> nshost::topology::Topology {
    let src = SourceFile::from_text("bench.yaml", &lab.to_yaml());
    match parse(&src) {
        Ok(t) => t,
        Err(report) => panic!(
            "generated YAML does not parse: {report:?}\n{}",
            lab.to_yaml()
        ),
    }
}

#[test]
fn yaml_round_trips_the_generated_lab() {
    let lab = GenLab::new("bench", 10);
    let topo = parsed(&lab);
    assert_eq!(topo.name.value, "bench");
    assert_eq!(topo.networks.len(), 10);
    assert_eq!(topo.routers.len(), 4);
    assert_eq!(topo.hosts.len(), 10);
    let r0 = topo
        .routers
        .iter()
        .find(|(k, _)| k.value == "r0")
        .unwrap()
        .1;
    assert_eq!(r0.interfaces.len(), 4);
    assert_eq!(r0.routes.len(), 3);
    let h5 = topo.hosts.iter().find(|(k, _)| k.value == "h5").unwrap().1;
    assert_eq!(h5.address.as_ref().unwrap().value, "10.2.0.3/24");
    assert_eq!(h5.network.as_ref().map(|n| n.value.as_str()), Some("lan1"));
}

#[test]
fn addresses_are_unique_and_in_their_networks() {
    for n in [0, 1, 10, 1000, 1100] {
        let mut lab = GenLab::new("bench", n);
        lab.add_host();
        let mut seen = BTreeSet::new();
        let nets: std::collections::BTreeMap<_, _> = lab
            .networks
            .iter()
            .map(|n| (n.name.clone(), n.subnet))
            .collect();
        for r in &lab.routers {
            for i in &r.interfaces {
                assert!(nets[&i.network].contains(&i.address.addr()));
                assert!(seen.insert(i.address.addr()), "{} twice", i.address);
            }
        }
        for h in &lab.hosts {
            let net = nets[&h.network];
            assert!(
                net.contains(&h.address.addr()),
                "{} not in {net}",
                h.address
            );
            assert_ne!(h.address.addr(), net.network());
            assert_ne!(h.address.addr(), net.broadcast());
            assert!(seen.insert(h.address.addr()), "{} twice", h.address);
        }
        for r in 0..4 {
            assert!(!seen.contains(&lab.spare_address(r).addr()));
        }
        parsed(&lab);
    }
}

#[test]
fn lans_widen_when_hosts_no_longer_fit() {
    assert_eq!(GenLab::new("bench", 1000).lan_prefix(), 24);
    assert_eq!(GenLab::new("bench", 3000).lan_prefix(), 16);
    let lab = GenLab::new("bench", 3000);
    assert_eq!(lab.hosts[2999].address.to_string(), "10.4.2.239/16");
}

#[test]
fn routes_reach_every_other_lan_through_the_direct_link() {
    let lab = GenLab::new("bench", 4);
    for (a, r) in lab.routers.iter().enumerate() {
        let dsts: BTreeSet<_> = r.routes.iter().map(|(d, _)| *d).collect();
        let want: BTreeSet<_> = (0..4)
            .filter(|&b| b != a)
            .map(|b| lab.networks[b].subnet)
            .collect();
        assert_eq!(dsts, want);
        for (dst, via) in &r.routes {
            let b = (0..4).find(|&b| lab.networks[b].subnet == *dst).unwrap();
            let theirs: Vec<_> = lab.routers[b]
                .interfaces
                .iter()
                .map(|i| i.address.addr())
                .collect();
            assert!(theirs.contains(via), "r{a} -> {dst} via {via}");
        }
    }
}
