//! Unit tests of validation as a whole: inference, and which problems a lab has.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Invalid, validate};
use crate::lab::{IfaceKind, Lab};
use crate::state::{ObjectId, PortRange, RT_TABLE_MAIN, RouteKey};
use crate::topology::{SourceFile, parse};

fn check(yaml: &str) -> Result<Lab, Invalid> {
    let src = SourceFile::from_text("lab.yaml", yaml);
    let topo = parse(&src).unwrap_or_else(|e| panic!("{e:?}"));
    validate(&src, &topo)
}

fn lab(yaml: &str) -> Lab {
    check(yaml).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
}

/// Where each object of the valid lab `yaml` is written.
fn objects(yaml: &str) -> HashMap<ObjectId, crate::lab::Span> {
    let src = SourceFile::from_text("lab.yaml", yaml);
    let topo = parse(&src).expect("parses");
    super::object_origins(&src, &topo).expect("valid")
}

fn codes(yaml: &str) -> Vec<&'static str> {
    match check(yaml) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(|p| p.code.as_str()).collect(),
    }
}

fn net(ip: &str) -> IpNet {
    ip.parse().unwrap()
}

fn ip(ip: &str) -> IpAddr {
    ip.parse().unwrap()
}

#[test]
fn smoke() {
    let lab = lab("
name: demo
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
hosts:
  h1: {address: 10.1.1.10/24}
");
    assert_eq!(lab.networks.len(), 1);
    let h1 = &lab.nodes["h1"];
    assert_eq!(h1.routes[0].route.gateway, Some(ip("10.1.1.1")));
    assert_eq!(h1.routes[0].dst, net("0.0.0.0/0"));
}

#[test]
fn dual_stack_members_share_one_inferred_network() {
    let lab = lab("
name: demo
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24, 2001:db8:1::1/64]}
hosts:
  h1: {address: '2001:db8:1::10/64', secondary: [10.1.1.10/24]}
");
    assert_eq!(lab.networks.len(), 1, "{:?}", lab.networks);
    let n = &lab.networks["10.1.1.0/24"];
    assert!(n.inferred);
    assert_eq!(n.subnets, vec![net("10.1.1.0/24"), net("2001:db8:1::/64")]);
    let gws: Vec<_> = lab.nodes["h1"]
        .routes
        .iter()
        .map(|r| r.route.gateway)
        .collect();
    assert_eq!(gws, vec![Some(ip("10.1.1.1")), Some(ip("2001:db8:1::1"))]);
}

#[test]
fn inferred_network_is_named_after_the_first_member() {
    // The host comes first in the file but routers are members first.
    let lab = lab("
name: demo
hosts:
  h1: {address: 10.2.2.10/24, secondary: [10.1.1.10/24]}
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
      eth1: {addresses: [10.3.3.1/24]}
");
    let names: Vec<_> = lab.networks.keys().cloned().collect();
    assert_eq!(names, vec!["10.1.1.0/24", "10.3.3.0/24"]);
    assert_eq!(
        lab.networks["10.1.1.0/24"].subnets,
        vec![net("10.1.1.0/24"), net("10.2.2.0/24")]
    );
    // The host's gateway must be in one of the host's subnets: 10.1.1.1.
    assert_eq!(
        lab.nodes["h1"].routes[0].route.gateway,
        Some(ip("10.1.1.1"))
    );
}

#[test]
fn declared_subnet_wins_over_inference_and_most_specific_wins() {
    let lab = lab("
name: demo
networks:
  wide: {subnets: [10.0.0.0/8], allow_overlap: true}
  narrow: {subnets: [10.1.1.0/24], mtu: 1400}
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
      eth1: {addresses: [10.9.9.1/24]}
");
    let r1 = &lab.nodes["r1"];
    let net_of = |i: &str| match &r1.interfaces[i].kind {
        IfaceKind::Veth { network, .. } => network.clone(),
        _ => unreachable!(),
    };
    assert_eq!(net_of("eth0"), "narrow");
    assert_eq!(r1.interfaces["eth0"].mtu, Some(1400));
    assert_eq!(net_of("eth1"), "wide");
    assert_eq!(r1.interfaces["eth1"].mtu, None);
    assert_eq!(lab.networks.len(), 2);
}

#[test]
fn gateway_inference_follows_file_order_and_network() {
    let lab = lab("
name: demo
networks:
  lan: {subnets: [10.1.1.0/24]}
routers:
  b: {interfaces: {eth0: {addresses: [10.1.1.2/24]}}}
  a: {interfaces: {eth0: {addresses: [10.1.1.1/24]}}}
hosts:
  h1: {address: 10.1.1.10/24}
");
    assert_eq!(
        lab.nodes["h1"].routes[0].route.gateway,
        Some(ip("10.1.1.2"))
    );
}

#[test]
fn hosts_on_a_network_without_router_have_no_default_route() {
    let lab = lab("
name: demo
hosts:
  h1: {address: 10.1.1.10/24}
  h2: {address: 10.1.1.11/24, gateway: none}
");
    assert!(lab.nodes["h1"].routes.is_empty());
    assert!(lab.nodes["h2"].routes.is_empty());
}

#[test]
fn explicit_v6_gateway_still_needs_an_ipv4_one() {
    // A router is on the host's network, with no address on its IPv4 subnet.
    let yaml = "
name: demo
networks:
  lan: {subnets: [10.1.1.0/24, 10.1.2.0/24, '2001:db8::/64']}
routers:
  r1: {interfaces: {eth0: {network: lan, addresses: [10.1.2.1/24]}}}
hosts:
  h1: {address: 10.1.1.10/24, secondary: ['2001:db8::10/64'], gateway: '2001:db8::1'}
";
    assert_eq!(codes(yaml), vec!["nshost::no_gateway"]);
}

#[test]
fn a_bad_explicit_gateway_is_reported_once() {
    let yaml = "
name: demo
routers:
  r1: {interfaces: {eth0: {addresses: [10.1.1.1/24]}}}
hosts:
  h1: {address: 10.1.1.10/24, gateway: 10.9.9.1}
";
    assert_eq!(codes(yaml), vec!["nshost::gateway_not_connected"]);
}

#[test]
fn prefix_length_mismatch_makes_two_overlapping_inferred_networks() {
    let yaml = "
name: demo
routers:
  r1: {interfaces: {eth0: {addresses: [10.1.1.1/25]}}}
hosts:
  h1: {address: 10.1.1.10/24, gateway: 10.1.1.1}
";
    // The gateway is on the host's subnet, but the router is on another bridge: the
    // kernel takes it, so it is a warning (and the host is alone on its bridge).
    assert_eq!(codes(yaml), Vec::<&str>::new());
    let warned: Vec<_> = lab(yaml).warnings.iter().map(|w| w.code.as_str()).collect();
    assert_eq!(
        warned,
        ["nshost::overlapping_subnets", "nshost::lonely_host"]
    );
    assert!(lab(yaml).warnings[0].is_warning());
}

#[test]
fn forwarding_defaults_do_not_override_the_user() {
    let lab = lab("
name: demo
routers:
  r1:
    sysctls: {net.ipv4.ip_forward: 0, net.ipv4.conf.all.rp_filter: true}
");
    let s = &lab.nodes["r1"].sysctls;
    assert_eq!(s["net.ipv4.ip_forward"], "0");
    assert_eq!(s["net.ipv6.conf.all.forwarding"], "1");
    assert_eq!(s["net.ipv4.conf.all.rp_filter"], "1");
    assert!(lab.networks.is_empty());
}

#[test]
fn rule_family_and_table_names() {
    let lab = lab("
name: demo
tables: {isp: 100}
routers:
  r1:
    interfaces: {eth0: {addresses: ['2001:db8::1/64']}}
    rules:
      - {priority: 100, to: '2001:db8:5::/48', table: isp}
      - {priority: 101, family: ipv6, table: main, ipproto: tcp, dport: '80-90'}
      - {priority: 102, table: '100', iif: lo}
");
    let rules = &lab.nodes["r1"].rules;
    assert!(rules[0].v6 && rules[0].table == 100);
    assert!(rules[1].v6 && rules[1].table == RT_TABLE_MAIN);
    assert_eq!(rules[1].dport, Some(PortRange { start: 80, end: 90 }));
    assert!(!rules[2].v6 && rules[2].table == 100);
}

#[test]
fn a_host_outside_its_network_is_not_also_missing_a_gateway() {
    let yaml = "
name: demo
networks:
  lan: {subnets: [10.1.1.0/24]}
routers:
  r1: {interfaces: {eth0: {addresses: [10.1.1.1/24]}}}
hosts:
  h1: {network: lan, address: 10.1.2.10/24}
";
    assert_eq!(codes(yaml), vec!["nshost::address_outside_network"]);
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let yaml = "
name: ''
networks:
  a: {subnets: [10.0.0.0/8]}
  b: {subnets: [10.1.0.0/16]}
routers:
  r1:
    interfaces:
      eth0: {addresses: [nonsense]}
    routes:
      - {to: 10.9.0.0/16, dev: eth1, table: nope}
";
    assert_eq!(
        codes(yaml),
        vec![
            "nshost::bad_lab_name",
            "nshost::invalid_address",
            "nshost::unknown_interface",
            "nshost::unknown_table",
        ]
    );
}

/// The lab files of the repository that must validate: the full example and the valid
/// golden cases.
fn valid_files() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("topologies/full.yaml"),
        root.join("topologies/small.yaml"),
    ];
    for case in std::fs::read_dir(root.join("tests/cases/valid")).unwrap() {
        files.push(case.unwrap().path().join("lab.yaml"));
    }
    files
}

/// Every object `lower` makes of a lab has a place in the file, so that a failed change
/// is reported at its YAML line.
#[test]
fn every_lowered_object_has_an_origin() {
    for file in valid_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        // Named by its path, so that its sources are read beside it.
        let src = SourceFile::from_text(&file.display().to_string(), &text);
        let lab = validate(&src, &parse(&src).expect("parses"))
            .unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
        let origins = objects(&text);
        let state = crate::lower::lower(&lab);
        let mut count = 0;
        for (ns_name, ns) in &state.namespaces {
            let mut ids = vec![ObjectId::Namespace {
                ns: ns_name.clone(),
            }];
            for (name, link) in &ns.links {
                ids.push(ObjectId::Link {
                    ns: ns_name.clone(),
                    name: name.clone(),
                });
                if link.qdisc.is_some() {
                    ids.push(ObjectId::Qdisc {
                        ns: ns_name.clone(),
                        link: name.clone(),
                    });
                }
                ids.extend(link.settings.keys().map(|s| ObjectId::LinkSetting {
                    ns: ns_name.clone(),
                    link: name.clone(),
                    setting: s.clone(),
                }));
            }
            ids.extend(ns.addresses.keys().map(|k| ObjectId::Address {
                ns: ns_name.clone(),
                key: k.clone(),
            }));
            ids.extend(ns.routes.keys().map(|k| ObjectId::Route {
                ns: ns_name.clone(),
                key: k.clone(),
            }));
            ids.extend(ns.rules.iter().map(|r| ObjectId::Rule {
                ns: ns_name.clone(),
                rule: r.clone(),
            }));
            ids.extend(ns.sysctls.keys().map(|k| ObjectId::Sysctl {
                ns: ns_name.clone(),
                key: k.clone(),
            }));
            for id in ids {
                assert!(
                    origins.contains_key(&id),
                    "{}: no origin for {id:?}",
                    file.display()
                );
                count += 1;
            }
        }
        assert_eq!(count, state.object_count(), "{}", file.display());
        // And nothing else: an origin names an object of the state.
        assert_eq!(origins.len(), count, "{}", file.display());
    }
}

#[test]
fn origins_point_at_what_declares_each_object() {
    let text = "
name: demo
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
    routes:
      - {to: 10.9.0.0/16, via: 10.1.1.2}
      - {to: 10.9.0.0/16, via: 10.1.1.3}
    rules:
      - {priority: 100, fwmark: 7, table: main}
    sysctls:
      net.ipv4.conf.eth0.rp_filter: 2
      net.ipv4.conf.all.rp_filter: '0'
hosts:
  h1: {address: 10.1.1.10/24}
";
    let lab = lab(text);
    let origins = objects(text);
    let at = |id: &ObjectId| {
        let s = origins[id];
        &text[s.offset..s.offset + s.len]
    };
    let ns = |n: &str| n.to_string();
    assert_eq!(at(&ObjectId::Namespace { ns: ns("r1") }), "r1");
    assert_eq!(
        at(&ObjectId::Namespace {
            ns: ns("demo-fabric")
        }),
        "demo"
    );
    assert_eq!(
        at(&ObjectId::Link {
            ns: ns("demo-fabric"),
            name: crate::naming::fabric_port_name("r1", "eth0"),
        }),
        "eth0"
    );
    assert_eq!(
        at(&ObjectId::Link {
            ns: ns("demo-fabric"),
            name: crate::naming::bridge_name("10.1.1.0/24"),
        }),
        "10.1.1.1/24",
        "an inferred network comes from its first address"
    );
    let mut second = RouteKey::new(RT_TABLE_MAIN, net("10.9.0.0/16"), 0);
    second.alt = 1;
    assert_eq!(
        at(&ObjectId::Route {
            ns: ns("r1"),
            key: second
        }),
        "10.9.0.0/16"
    );
    assert_eq!(
        at(&ObjectId::Route {
            ns: ns("h1"),
            key: RouteKey::new(RT_TABLE_MAIN, net("0.0.0.0/0"), 0),
        }),
        "h1",
        "an inferred gateway comes from the host"
    );
    let rule = lab.nodes["r1"].rules[0].clone();
    assert_eq!(at(&ObjectId::Rule { ns: ns("r1"), rule }), "100");
    let rp_filter = crate::state::DevSetting {
        section: crate::state::settings::Section::Ipv4Conf,
        name: "rp_filter".into(),
    };
    assert_eq!(
        at(&ObjectId::LinkSetting {
            ns: ns("r1"),
            link: ns("eth0"),
            setting: rp_filter,
        }),
        "net.ipv4.conf.eth0.rp_filter"
    );
    assert_eq!(
        at(&ObjectId::Sysctl {
            ns: ns("r1"),
            key: ns("net.ipv4.ip_forward"),
        }),
        "r1",
        "forwarding comes with the router"
    );
    let sysctls: Vec<_> = lab
        .origins
        .sysctls
        .iter()
        .map(|o| {
            let key = &text[o.key_span.offset..o.key_span.offset + o.key_span.len];
            let value = &text[o.value_span.offset..o.value_span.offset + o.value_span.len];
            (o.ns.as_str(), o.key.as_str(), o.value.as_str(), key, value)
        })
        .collect();
    assert_eq!(
        sysctls,
        [
            (
                "r1",
                "net.ipv4.conf.all.rp_filter",
                "0",
                "net.ipv4.conf.all.rp_filter",
                "'0'"
            ),
            (
                "r1",
                "net.ipv4.conf.eth0.rp_filter",
                "2",
                "net.ipv4.conf.eth0.rp_filter",
                "2"
            ),
        ]
    );
}

#[test]
fn warnings_render_as_one_report_capped_at_fifty() {
    let mut text = String::from("name: demo\nrouters:\n  r1:\n    rules:\n");
    for i in 0..60 {
        text += &format!(
            "      - {{priority: {}, fwmark: 0, table: main}}\n",
            100 + i
        );
    }
    let src = SourceFile::from_text("lab.yaml", &text);
    let topo = parse(&src).unwrap();
    let lab = validate(&src, &topo).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)));
    assert_eq!(lab.warnings.len(), 60);
    let report = super::Warnings::new(&src, &lab.warnings).expect("warnings");
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, &report)
        .unwrap();
    assert!(out.contains("60 warnings in lab.yaml"), "{out}");
    assert_eq!(
        out.matches("Warning: nshost::fwmark_matches_all").count(),
        50
    );
    assert!(
        out.contains("... and 10 more warnings (the first 50 are shown)"),
        "{out}"
    );
    assert!(super::Warnings::new(&src, &[]).is_none());
}
