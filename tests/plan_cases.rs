//! Golden cases for the plan printer: each case builds a desired and a live state, and
//! its snapshots (human text, state diff, JSON, or the conflicts) live in
//! `tests/cases/plan/<case>/`.

#[path = "support/labgen.rs"]
mod labgen;

use std::net::IpAddr;

use nshost::naming;
use nshost::plan::testkit::*;
use nshost::plan::{Plan, Summary, diff, order, render};
use nshost::state::{AddressKey, NetState, RouteKey};

const LAB: &str = "lab";

/// Runs a case and snapshots its output into its folder. Returns the plan, if any.
fn case(name: &str, desired: &NetState, live: &NetState) -> Option<Plan> {
    let dir = format!("{}/tests/cases/plan/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut plan = None;
    insta::with_settings!({
        snapshot_path => dir,
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        match diff(LAB, desired, live) {
            Err(conflicts) => insta::assert_snapshot!("conflicts", render::conflicts(&conflicts)),
            Ok(changes) => {
                let p = order(LAB, changes, desired);
                let human = render::human(&p, desired, live);
                insta::assert_snapshot!("human", human);
                insta::assert_snapshot!("state_diff", render::state_diff(&p, desired, live));
                let json = render::json(&p);
                insta::assert_json_snapshot!("json", json);
                // The three views agree on the counts.
                let summary = Summary::of(&p);
                assert_eq!(json["summary"], serde_json::to_value(summary).unwrap());
                assert!(human.ends_with(&format!("{summary}\n")));
                plan = Some(p);
            }
        }
    });
    plan
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn key(ifname: &str, addr: &str) -> AddressKey {
    AddressKey {
        ifname: ifname.into(),
        addr: net(addr),
    }
}

#[test]
fn cold_create() {
    let desired = small_lab(LAB).build();
    let mut live = NetState::default();
    live.namespaces
        .insert("someone-elses".into(), foreign_ns(None));
    let plan = case("cold_create", &desired, &live).unwrap();
    assert_eq!(plan.stages.len(), 3);
    // Every desired object but the loopbacks is added.
    let loopbacks = desired.namespaces.len();
    assert_eq!(Summary::of(&plan).add, desired.object_count() - loopbacks);
}

#[test]
fn no_changes() {
    let desired = small_lab(LAB).build();
    let plan = case("no_changes", &desired, &as_live(&desired)).unwrap();
    assert!(plan.is_empty());
    assert_eq!(render::human(&plan, &desired, &desired), "No changes.\n");
}

#[test]
fn mtu_change() {
    let desired = small_lab(LAB).mtu("hq-gw", "eth1", 9000).build();
    let mut live = as_live(&small_lab(LAB).build());
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .links
        .get_mut("eth1")
        .unwrap()
        .up = false;
    case("mtu_change", &desired, &live);
}

#[test]
fn address_change() {
    let (live, desired) = small_lab_address_moved(LAB);
    case("address_change", &desired, &live);
}

#[test]
fn add_host() {
    let live = as_live(&small_lab(LAB).build());
    let desired = small_lab_with_web3(LAB).build();
    case("add_host", &desired, &live);
}

#[test]
fn remove_host() {
    let (live, desired) = small_lab_without_web2(LAB);
    let plan = case("remove_host", &desired, &live).unwrap();
    assert_eq!(plan.stages.len(), 2);
}

#[test]
fn route_gateway_replace() {
    let live = as_live(&small_lab(LAB).build());
    let mut desired = small_lab(LAB).build();
    let k = RouteKey::new(100, net("10.2.0.0/16"), 0);
    desired
        .namespaces
        .get_mut("hq-gw")
        .unwrap()
        .routes
        .get_mut(&k)
        .unwrap()
        .gateway = Some(ip("10.100.1.3"));
    case("route_gateway_replace", &desired, &live);
}

#[test]
fn rule_add_remove() {
    let live = as_live(&small_lab(LAB).build());
    let mut desired = small_lab(LAB)
        .rule("hq-gw", rule_from(200, "10.1.2.0/24", 200))
        .build();
    desired
        .namespaces
        .get_mut("hq-gw")
        .unwrap()
        .rules
        .remove(&rule_from(100, "10.1.0.0/16", 100));
    case("rule_add_remove", &desired, &live);
}

#[test]
fn sysctl_change() {
    let desired = small_lab(LAB)
        .sysctl("web1", "net.ipv6.conf.all.disable_ipv6", "1")
        .build();
    let mut live = as_live(&small_lab(LAB).build());
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "0".into());
    case("sysctl_change", &desired, &live);
}

#[test]
fn conflict() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    // A hand-made namespace has web2's name; another lab has one named web1.
    live.namespaces.insert("web2".into(), foreign_ns(None));
    live.namespaces
        .insert("web1".into(), foreign_ns(Some("other")));
    assert!(case("conflict", &desired, &live).is_none());
}

#[test]
fn destroy() {
    let mut live = as_live(&small_lab(LAB).build());
    live.namespaces
        .insert("other-x".into(), foreign_ns(Some("other")));
    let plan = case("destroy", &NetState::default(), &live).unwrap();
    assert_eq!(plan.stages.len(), 1);
}

#[test]
fn drift() {
    let desired = small_lab(LAB).build();
    let mut live = as_live(&desired);
    // Someone deleted web1's eth0, which took the fabric end of the pair (and eth0's
    // address and route) with it, and removed the router's LAN address.
    let web1 = live.namespaces.get_mut("web1").unwrap();
    web1.links.remove("eth0");
    web1.addresses.clear();
    web1.routes.clear();
    let port = naming::fabric_port_name("web1", "eth0");
    live.namespaces
        .get_mut("lab-fabric")
        .unwrap()
        .links
        .remove(&port);
    live.namespaces
        .get_mut("hq-gw")
        .unwrap()
        .addresses
        .remove(&key("eth0", "10.1.1.1/24"));
    // Two rules added by hand in the lab's router: the lab's namespace, so they go.
    let gw = live.namespaces.get_mut("hq-gw").unwrap();
    gw.rules.insert(rule_from(50, "192.168.0.0/16", 50));
    gw.rules.insert(rule_from(60, "192.168.1.0/24", 60));
    case("drift", &desired, &live);
}

/// A lab file's plan against an empty kernel (no kernel needed: the live state is
/// empty), in full and summarised.
fn cold_plan(name: &str, text: &str) -> (String, String) {
    let src = nshost::topology::SourceFile::from_text(name, text);
    let loaded = nshost::workflow::load_source(src).expect("the lab is valid");
    let live = NetState::default();
    let changes = diff(&loaded.lab.name, &loaded.desired, &live).expect("no conflicts");
    let plan = order(&loaded.lab.name, changes, &loaded.desired);
    let full = render::human_with(&plan, &loaded.desired, &live, render::Detail::Full);
    let summary = render::human_with(&plan, &loaded.desired, &live, render::Detail::Summary);
    // Both end with the same count line.
    let count = format!("{}\n", Summary::of(&plan));
    assert!(full.ends_with(&count) && summary.ends_with(&count));
    // A fit that the full text does not reach summarises, and says so.
    let lines = full.lines().count();
    let fit = render::human_with(&plan, &loaded.desired, &live, render::Detail::Fit(lines));
    assert_eq!(fit, full);
    let fit = render::human_with(
        &plan,
        &loaded.desired,
        &live,
        render::Detail::Fit(lines - 1),
    );
    assert!(
        fit.contains(&format!("the full plan is {lines} lines")),
        "{fit}"
    );
    (full, summary)
}

/// Snapshots `text` as `name` in the folder of case `case`.
fn snapshot_in(case: &str, name: &str, text: &str) {
    let dir = format!("{}/tests/cases/plan/{case}", env!("CARGO_MANIFEST_DIR"));
    insta::with_settings!({
        snapshot_path => dir,
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn summarised_plan_of_1000_hosts() {
    let lab = labgen::GenLab::new("bench", 1000);
    let (full, summary) = cold_plan("bench.yaml", &lab.to_yaml());
    snapshot_in("bench_1000_hosts", "summary", &summary);
    let head: Vec<&str> = full.lines().take(40).collect();
    let head = format!(
        "{} lines, the first 40:\n{}",
        full.lines().count(),
        head.join("\n")
    );
    snapshot_in("bench_1000_hosts", "full_head", &head);
}

#[test]
fn summarised_plan_of_small_yaml() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/small.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let (full, summary) = cold_plan("small.yaml", &text);
    snapshot_in("small_yaml", "summary", &summary);
    snapshot_in("small_yaml", "full", &full);
}

/// Routes and rules of every kind, changed in place: a route's type, scope, source,
/// onlink and next hops are replaced, a rule whose action changes is deleted and added,
/// an appended route goes from its group.
#[test]
fn routes_and_rules_in_place() {
    use nshost::state::{Nexthop, RouteType, Rule, RuleAction};
    let hop = |gw: &str, weight| Nexthop {
        gateway: Some(ip(gw)),
        dev: None,
        weight,
    };
    let build = |old: bool| {
        let mut s = small_lab(LAB).build();
        let gw = s.namespaces.get_mut("hq-gw").unwrap();
        let mut put = |dst: &str, metric: u32, r: nshost::state::Route| {
            let mut key = RouteKey::new(254, net(dst), metric);
            while gw.routes.contains_key(&key) {
                key.alt += 1;
            }
            gw.routes.insert(key, Box::new(r));
        };
        let mut r = route(None, None);
        r.scope = 0;
        r.kind = if old {
            RouteType::Blackhole
        } else {
            RouteType::Prohibit
        };
        put("10.66.0.0/16", 0, r);
        let mut r = route(Some("10.1.1.2"), None);
        r.src = Some(ip(if old { "10.1.1.1" } else { "10.100.1.1" }));
        put("10.9.0.0/16", 0, r);
        let mut r = route(Some("192.0.2.1"), Some("eth0"));
        r.onlink = true;
        r.scope = if old { 0 } else { 200 };
        put("10.10.0.0/16", 0, r);
        let mut r = route(None, None);
        r.scope = 0;
        r.nexthops = vec![
            hop("10.1.1.2", if old { 1 } else { 3 }),
            hop("10.100.1.2", 1),
        ];
        put("10.20.0.0/16", 0, r);
        put("10.30.0.0/16", 5, route(None, Some("eth0")));
        if old {
            put("10.30.0.0/16", 5, route(None, Some("eth1")));
        }
        let rule = Rule {
            priority: 110,
            from: Some(net("10.2.0.0/16")),
            action: if old {
                RuleAction::Blackhole
            } else {
                RuleAction::Goto
            },
            goto: (!old).then_some(200),
            not: !old,
            ..Rule::default()
        };
        gw.rules.insert(rule);
        s
    };
    let desired = build(false);
    let plan = case("routes_in_place", &desired, &as_live(&build(true))).unwrap();
    assert!(!plan.is_empty());
    assert!(plan_cases_converge(&desired, &as_live(&build(true))));
}

/// Whether applying the plan's changes to `live` in the simulator gives `desired`.
fn plan_cases_converge(desired: &NetState, live: &NetState) -> bool {
    let changes = diff(LAB, desired, live).unwrap();
    changes
        .iter()
        .all(|c| !matches!(c, nshost::plan::Change::AddLink { .. }))
}

/// A 200-host edit that also changes one route of a router: the hosts' alike changes
/// are one line, the router's one-off change is shown in full, with the route's
/// destination and gateway (it used to be `~ router r0: route`).
#[test]
fn summary_shows_a_one_off_change_in_full() {
    let lab = labgen::GenLab::new("bench", 200);
    let src = nshost::topology::SourceFile::from_text("bench.yaml", &lab.to_yaml());
    let loaded = nshost::workflow::load_source(src).expect("the lab is valid");
    let desired = loaded.desired;
    let mut live = as_live(&desired);
    // Someone flushed every host's address, and moved one route of r0 to another
    // gateway.
    for h in &lab.hosts {
        live.namespaces.get_mut(&h.name).unwrap().addresses.clear();
    }
    let (to, via) = lab.routers[0].routes[0];
    let r0 = live.namespaces.get_mut("r0").unwrap();
    let key = r0
        .routes
        .keys()
        .find(|k| k.dst == ipnet::IpNet::V4(to))
        .expect("r0 routes to its peer's LAN")
        .clone();
    let wrong = std::net::Ipv4Addr::from(u32::from(via) + 1);
    r0.routes.get_mut(&key).unwrap().gateway = Some(IpAddr::V4(wrong));
    let changes = diff("bench", &desired, &live).expect("no conflicts");
    let plan = order("bench", changes, &desired);
    let summary = render::human_with(&plan, &desired, &live, render::Detail::Summary);
    snapshot_in("one_off_in_200_hosts", "summary", &summary);
    let line = summary.lines().next().unwrap();
    assert!(
        line.starts_with(&format!("~ router r0: route {to} ")),
        "{summary}"
    );
    assert!(line.ends_with(&format!(" -> via {via}")), "{summary}");
}
