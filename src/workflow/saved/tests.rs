//! Saved plans without a kernel: the file read back as written, the digest and its
//! canonical form, the differences named object by object, damaged files refused; the
//! test kit's model of the kernel applies the saved schedule.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::*;
use crate::plan::testkit::{self, *};
use crate::state::{AddressKey, DevSetting, Namespace};
use crate::workflow::{FileOrigins, Loaded, Planned, Timings, load_source};

pub(super) const LAB: &str = "\
name: savedtest
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.0.0.1/24]}
    sysctls:
      net.ipv4.conf.all.rp_filter: 2
hosts:
  h1: {address: 10.0.0.2/24}
";

/// The plan of `text` against `live`, as `workflow::plan_loaded` makes it.
pub(super) fn planned(text: &str, live: NetState) -> Planned {
    let Loaded {
        source,
        lab,
        desired,
    } = load_source(SourceFile::from_text("lab.yaml", text)).unwrap();
    let changes = crate::plan::diff(&lab.name, &desired, &live).unwrap();
    let plan = crate::plan::order(&lab.name, changes, &desired);
    Planned {
        lab: lab.name.clone(),
        file: Some(Box::new(FileOrigins {
            source,
            origins: lab.origins,
        })),
        desired,
        live,
        strays: Vec::new(),
        plan,
        timings: Timings::default(),
        services: Default::default(),
        workload: Default::default(),
    }
}

/// A scratch file of this test process, never the same twice: tests running side by
/// side save files of the same name.
fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("nshost-saved-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// `LAB` planned against a live lab whose one difference is the sysctl
/// `net.ipv4.conf.all.rp_filter` of `r1`.
pub(super) fn sysctl_planned() -> Planned {
    let desired = planned(LAB, NetState::default()).desired;
    let mut live = testkit::as_live(&desired);
    live.namespaces
        .get_mut("r1")
        .unwrap()
        .sysctls
        .insert("net.ipv4.conf.all.rp_filter".into(), "0".into());
    planned(LAB, live)
}

/// Saves `planned` and returns the file's bytes.
pub(super) fn saved_bytes(planned: &Planned, name: &str) -> Vec<u8> {
    let path = scratch(name);
    let report = save(planned, &path).unwrap();
    assert_eq!(report.digest, pin::digest(&capture_of(planned)));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    bytes
}

fn capture_of(planned: &Planned) -> Pinned {
    pin::capture(
        &pin::scope(&planned.plan),
        &planned.live,
        &planned.strays,
        &planned.desired,
    )
}

fn err_text(e: Error) -> String {
    e.to_string()
}

#[test]
fn plan_files_are_told_from_lab_files() {
    assert!(looks_like_plan(b"{\"nshost_plan\": 1}"));
    assert!(looks_like_plan(b"\n {\n   \"nshost_plan\":1"));
    // Cut short after the magic: still a plan (a damaged one).
    assert!(looks_like_plan(b"{\"nshost_plan\""));
    // A lab file written as JSON (YAML allows it) is a lab file.
    assert!(!looks_like_plan(b"{\"name\": \"x\", \"nshost_plan\": 1}"));
    assert!(!looks_like_plan(b"name: x\n"));
    assert!(!looks_like_plan(b""));
    assert!(!looks_like_plan(b"{\"nshost_pla"));
    assert!(!is_saved_plan(Path::new("-")));
    assert!(is_saved_plan(Path::new("/nonexistent/x.plan")));
    assert!(!is_saved_plan(Path::new("/nonexistent/x.yaml")));
    // And a lab file that is a saved plan is said to be one.
    let bytes = saved_bytes(&planned(LAB, NetState::default()), "a.plan");
    let text = String::from_utf8(bytes).unwrap();
    let e = load_source(SourceFile::from_text("a.plan", &text)).unwrap_err();
    assert_eq!(err_text(e), "a.plan is a saved plan, not a lab file");
}

#[test]
fn a_saved_plan_reads_back_as_it_was_written() {
    let full =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/full.yaml"))
            .unwrap();
    for (text, live) in [
        (LAB.to_string(), NetState::default()),
        (full.clone(), NetState::default()),
    ] {
        let p = planned(&text, live);
        let bytes = saved_bytes(&p, "lab.plan");
        assert!(looks_like_plan(&bytes));
        let back = from_bytes("lab.plan", &bytes).unwrap();
        assert_eq!(back.lab(), p.lab);
        assert_eq!(back.plan, p.plan);
        assert_eq!(back.plan.stages, p.plan.stages);
        assert_eq!(back.desired, p.desired);
        assert_eq!(back.pinned, capture_of(&p));
        assert_eq!(back.loaded.desired, p.desired);
        let want = ObserveSpec::for_desired(&p.lab, &p.desired);
        assert_eq!(back.spec.sysctls, want.sysctls);
        assert_eq!(back.spec.settings, want.settings);
        assert_eq!(back.spec.fabric, want.fabric);
        assert_eq!(back.spec.only, None);
    }
    // Against a live lab: the pinned namespaces keep every observed attribute.
    let p = sysctl_planned();
    assert_eq!(
        p.plan.changes.len(),
        1,
        "one sysctl to set: {:?}",
        p.plan.changes
    );
    let back = from_bytes("lab.plan", &saved_bytes(&p, "lab.plan")).unwrap();
    let Seen::Namespace(r1) = &back.pinned["r1"] else {
        panic!("r1 is pinned as a namespace: {:?}", back.pinned)
    };
    assert_eq!(&**r1, &p.live.namespaces["r1"]);
    assert_eq!(
        back.pinned.keys().collect::<Vec<_>>(),
        ["r1"],
        "only what the plan acts in"
    );
}

#[test]
fn the_digest_covers_exactly_the_pinned_objects() {
    let live = as_live(&small_lab("lab").build());
    let names: BTreeSet<String> = ["web1", "web3"].map(String::from).into();
    let pinned = pin::capture(&names, &live, &[], &NetState::default());
    assert_eq!(pinned["web3"], Seen::Absent);
    let digest = pin::digest(&pinned);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 7 + 64,
        "{digest}"
    );
    // The same objects, the same digest; through the file's form and back too.
    assert_eq!(
        pin::digest(&pin::capture(
            &names,
            &live.clone(),
            &[],
            &NetState::default()
        )),
        digest
    );
    let round = pin::unwire_pinned(pin::wire_pinned(&pinned));
    assert_eq!(round, pinned);
    assert_eq!(pin::digest(&round), digest);

    let changed = |f: &dyn Fn(&mut NetState)| {
        let mut s = live.clone();
        f(&mut s);
        pin::digest(&pin::capture(&names, &s, &[], &NetState::default()))
    };
    fn web1(s: &mut NetState) -> &mut Namespace {
        s.namespaces.get_mut("web1").unwrap()
    }
    // Outside the scope: not covered.
    assert_eq!(
        changed(&|s| {
            s.namespaces.remove("web2");
        }),
        digest
    );
    // A sysctl as the kernel prints it is compared in its normal form.
    assert_eq!(
        changed(&|s| {
            web1(s)
                .sysctls
                .insert("net.ipv4.tcp_rmem".into(), "4096\t87380 6291456".into());
        }),
        changed(&|s| {
            web1(s)
                .sysctls
                .insert("net.ipv4.tcp_rmem".into(), "4096 87380 6291456".into());
        }),
    );
    // Everything else in scope is.
    type Edit = Box<dyn Fn(&mut NetState)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "address",
            Box::new(|s| {
                web1(s).addresses.clear();
            }),
        ),
        (
            "mtu",
            Box::new(|s| web1(s).links.get_mut("eth0").unwrap().mtu = Some(1400)),
        ),
        (
            "ifindex",
            Box::new(|s| web1(s).links.get_mut("eth0").unwrap().ifindex = Some(999)),
        ),
        (
            "route",
            Box::new(|s| {
                web1(s).routes.clear();
            }),
        ),
        (
            "rule",
            Box::new(|s| {
                web1(s).rules.insert(rule_from(5, "10.9.0.0/16", 9));
            }),
        ),
        ("owner", Box::new(|s| web1(s).owner = Some("other".into()))),
        (
            "a name taken",
            Box::new(|s| {
                s.namespaces.insert("web3".into(), foreign_ns(None));
            }),
        ),
    ];
    for (what, edit) in &edits {
        assert_ne!(changed(edit.as_ref()), digest, "{what} is covered");
    }
    // An entry that holds no namespace, under a name the plan creates.
    let stray = crate::kernel::Stray {
        name: "web3".into(),
        what: "a FIFO".into(),
    };
    assert_ne!(
        pin::digest(&pin::capture(&names, &live, &[stray], &NetState::default())),
        digest
    );
}

/// The canonical form the digest is taken over, pinned: changing it changes every
/// digest, which is a new plan format.
#[test]
fn canonical_form() {
    let mut live = as_live(
        &LabBuilder::new("lab")
            .network("lan")
            .host("h1")
            .attach("h1", "eth0", "lan", &["10.0.0.2/24"])
            .route("h1", "default", "10.0.0.1")
            .link_setting(
                "h1",
                "eth0",
                DevSetting {
                    section: crate::state::settings::Section::Ipv4Conf,
                    name: "promote_secondaries".into(),
                },
                "1",
            )
            .build(),
    );
    live.namespaces
        .get_mut("h1")
        .unwrap()
        .links
        .get_mut("eth0")
        .unwrap()
        .mac = Some("02:00:00:00:00:01".parse().unwrap());
    let names: BTreeSet<String> = ["h1", "h2"].map(String::from).into();
    let pinned = pin::capture(&names, &live, &[], &NetState::default());
    let text = String::from_utf8(pin::canonical(&pinned)).unwrap();
    insta::assert_snapshot!(text, @r#"{"h1":{"entry":"namespace","owner":"lab","role":"host","links":{"eth0":{"kind":{"kind":"veth","peer":{"ns":"lab-fabric","name":"h1-62rwpptqt"}},"mtu":1500,"up":true,"master":null,"mac":"02:00:00:00:00:01","settings":{"net.ipv4.conf.*.promote_secondaries":"1"},"ifindex":2},"lo":{"kind":{"kind":"loopback"},"mtu":65536,"up":true,"master":null,"ifindex":1}},"addresses":[[{"ifname":"eth0","addr":"10.0.0.2/24"},{}]],"routes":[[{"table":254,"dst":"0.0.0.0/0","metric":0},{"gateway":"10.0.0.1","dev":"eth0","proto":3}]],"rules":[],"sysctls":{}},"h2":{"entry":"absent"}}"#);
    assert_eq!(
        pin::digest(&pinned),
        pin::sha256_of(&[b"nshost-pin/1\n".as_slice(), text.as_bytes()].concat())
    );
}

/// Each kind of change, named as a plan names objects.
#[test]
fn differences_name_each_object() {
    let live = as_live(&small_lab("lab").build());
    let names: BTreeSet<String> = ["hq-gw", "web1", "web2", "web3", "web4", "web5"]
        .map(String::from)
        .into();
    let then = pin::capture(&names, &live, &[], &NetState::default());
    let mut now = live.clone();
    {
        let web1 = now.namespaces.get_mut("web1").unwrap();
        web1.addresses.remove(&AddressKey {
            ifname: "eth0".into(),
            addr: net("10.1.1.10/24"),
        });
        let eth0 = web1.links.get_mut("eth0").unwrap();
        eth0.mtu = Some(1400);
        eth0.ifindex = Some(77);
        web1.sysctls
            .insert("net.ipv4.ip_forward".into(), "1".into());
        let hq = now.namespaces.get_mut("hq-gw").unwrap();
        hq.links.remove("eth1");
        hq.sysctls.insert("net.ipv4.ip_forward".into(), "0".into());
        hq.rules.clear();
        hq.routes.insert(
            main_route("10.9.0.0/16"),
            Box::new(route(Some("10.1.1.9"), Some("eth0"))),
        );
    }
    now.namespaces.remove("web2");
    now.namespaces.insert("web3".into(), foreign_ns(None));
    now.namespaces
        .insert("web4".into(), foreign_ns(Some("other")));
    let strays = [crate::kernel::Stray {
        name: "web5".into(),
        what: "a FIFO".into(),
    }];
    let now = pin::capture(&names, &now, &strays, &NetState::default());
    let listed: Vec<String> = compare::differences("lab", &then, &now)
        .iter()
        .map(ToString::to_string)
        .collect();
    insta::assert_snapshot!(listed.join("\n"), @r"
    namespace hq-gw: link eth1 (veth, peer lab-fabric/hq-gw-kwd3xkzxq, mtu 1500, up) was removed since the plan was made
    namespace hq-gw: route 10.9.0.0/16 via 10.1.1.9 dev eth0 was added since the plan was made
    namespace hq-gw: rule 100: from 10.1.0.0/16 lookup 100 was removed since the plan was made
    namespace hq-gw: sysctl net.ipv4.ip_forward changed since the plan was made: 1 -> 0
    namespace web1: link eth0 changed since the plan was made: mtu 1500, ifindex 12 -> mtu 1400, ifindex 77
    namespace web1: address 10.1.1.10/24 on eth0 was removed since the plan was made
    namespace web1: sysctl net.ipv4.ip_forward = 1 was added since the plan was made
    namespace web2 was removed since the plan was made
    namespace web3 appeared since the plan was made (a namespace nshost did not create)
    namespace web4 appeared since the plan was made (a namespace of lab other)
    namespace web5 appeared since the plan was made (an entry that is a FIFO)
    ");
    // Nothing changed, nothing listed.
    assert_eq!(compare::differences("lab", &then, &then), vec![]);
}

/// The refusal, as the user reads it.
#[test]
fn the_refusal_names_what_changed() {
    let live = as_live(&small_lab("small").build());
    let names: BTreeSet<String> = ["web1", "web9"].map(String::from).into();
    let then = pin::capture(&names, &live, &[], &NetState::default());
    let mut changed = live.clone();
    changed
        .namespaces
        .get_mut("web1")
        .unwrap()
        .addresses
        .clear();
    changed.namespaces.insert("web9".into(), foreign_ns(None));
    let now = pin::capture(&names, &changed, &[], &NetState::default());
    let err = Error::from(SavedError::Stale(Box::new(StalePlan {
        path: "small.plan".into(),
        lab: "small".into(),
        differences: compare::differences("small", &then, &now),
    })));
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, &err)
        .unwrap();
    insta::assert_snapshot!(out);
}

#[test]
fn damaged_and_foreign_files_are_refused() {
    let p = planned(LAB, NetState::default());
    let bytes = saved_bytes(&p, "lab.plan");
    let refuse = |bytes: &[u8]| match from_bytes("lab.plan", bytes) {
        Ok(_) => panic!("accepted"),
        Err(e) => {
            let code = miette::Diagnostic::code(&e).map(|c| c.to_string());
            (code.unwrap_or_default(), e.to_string())
        }
    };
    // Cut short.
    let (code, text) = refuse(&bytes[..bytes.len() / 2]);
    assert_eq!(code, "nshost::bad_plan");
    assert!(
        text.contains("it is cut short (truncated at line"),
        "{text}"
    );
    // One value edited.
    let text_of = String::from_utf8(bytes.clone()).unwrap();
    let edited = text_of.replacen("10.0.0.2/24", "10.0.0.3/24", 1);
    assert_ne!(edited, text_of);
    assert_eq!(
        refuse(edited.as_bytes()),
        (
            "nshost::bad_plan".into(),
            "lab.plan is not a usable saved plan: its checksum does not match its contents \
             (it was changed after it was saved)"
                .to_string()
        )
    );
    // Another nshost, another format.
    let other = text_of.replacen(
        &format!("\"nshost_version\": \"{}\"", env!("CARGO_PKG_VERSION")),
        "\"nshost_version\": \"0.0.1\"",
        1,
    );
    assert_eq!(
        refuse(other.as_bytes()),
        (
            "nshost::plan_version".into(),
            format!(
                "lab.plan was saved by nshost 0.0.1; this is nshost {}",
                env!("CARGO_PKG_VERSION")
            )
        )
    );
    let format = text_of.replacen("\"nshost_plan\": 1", "\"nshost_plan\": 7", 1);
    assert_eq!(refuse(format.as_bytes()).0, "nshost::plan_version");
    // Not JSON past the magic, not a plan at all, a field missing.
    assert!(
        refuse(b"{\"nshost_plan\": 1, x}")
            .1
            .contains("not valid JSON")
    );
    assert!(
        refuse(b"name: x\n")
            .1
            .contains("does not begin with the `nshost_plan` field")
    );
    let missing = format!(
        "{{\"nshost_plan\": 1, \"nshost_version\": \"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        refuse(missing.as_bytes())
            .1
            .contains("does not hold a plan")
    );
}

#[test]
fn schedules_are_checked() {
    let mut plan = planned(LAB, NetState::default()).plan;
    assert_eq!(schedule_problem(&plan), None);
    plan.stages[0].steps[0].ops[0].change = plan.changes.len();
    assert!(schedule_problem(&plan).unwrap().contains("names change"));
    plan.stages.clear();
    assert_eq!(
        schedule_problem(&plan).as_deref(),
        Some("its schedule leaves changes out")
    );
}

/// The saved schedule, run by the model of the kernel, converges; the same plan is
/// stale afterwards (everything it pinned changed), and a plan with no changes pins
/// nothing and is never stale.
#[test]
fn an_applied_plan_is_stale_the_second_time() {
    let p = planned(LAB, NetState::default());
    let back = from_bytes("lab.plan", &saved_bytes(&p, "lab.plan")).unwrap();
    let after = sim::apply(&NetState::default(), &back.plan, false).unwrap();
    let rest = crate::plan::diff(back.lab(), &back.desired, &after).unwrap();
    assert_eq!(rest, vec![], "the saved schedule converges");
    let names: BTreeSet<String> = back.pinned.keys().cloned().collect();
    assert_eq!(
        names,
        ["h1", "r1", "savedtest-fabric"].map(String::from).into()
    );
    let now = pin::capture(&names, &after, &[], &NetState::default());
    assert_ne!(pin::digest(&now), back.digest);
    let listed: Vec<String> = compare::differences(back.lab(), &back.pinned, &now)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        listed,
        [
            "namespace h1 appeared since the plan was made (a namespace of lab savedtest)",
            "namespace r1 appeared since the plan was made (a namespace of lab savedtest)",
            "namespace savedtest-fabric appeared since the plan was made (a namespace of lab savedtest)",
        ]
    );
    // Planned again against the result: nothing to do, nothing pinned.
    let empty = planned(LAB, after);
    assert!(empty.plan.is_empty());
    let back = from_bytes("lab.plan", &saved_bytes(&empty, "lab.plan")).unwrap();
    assert!(back.pinned.is_empty());
    assert_eq!(pin::digest(&Pinned::new()), back.digest);
}

#[test]
fn settings_and_macs_read_back() {
    let setting = DevSetting {
        section: crate::state::settings::Section::Ipv6Conf,
        name: "accept_ra".into(),
    };
    let text = serde_json::to_string(&setting).unwrap();
    assert_eq!(text, "\"net.ipv6.conf.*.accept_ra\"");
    assert_eq!(serde_json::from_str::<DevSetting>(&text).unwrap(), setting);
    assert!(serde_json::from_str::<DevSetting>("\"net.ipv4.ip_forward\"").is_err());
    let mac: crate::state::MacAddr = serde_json::from_str("\"02:00:5e:10:00:ff\"").unwrap();
    assert_eq!(mac.to_string(), "02:00:5e:10:00:ff");
    assert!(serde_json::from_str::<crate::state::MacAddr>("\"02:00\"").is_err());
}

/// A routing daemon's routes come and go: they are not pinned (the plan never touches
/// them), unless the lab owns their protocol.
#[test]
fn a_daemons_routes_are_not_pinned() {
    let desired = small_lab("lab").build();
    let live = as_live(&desired);
    let names: BTreeSet<String> = ["web1"].map(String::from).into();
    let digest = pin::digest(&pin::capture(&names, &live, &[], &desired));
    let mut with_bird = live.clone();
    let mut bird = route(Some("10.1.1.1"), None);
    bird.proto = 12;
    with_bird.namespaces.get_mut("web1").unwrap().routes.insert(
        crate::state::RouteKey::new(254, "10.77.0.0/24".parse().unwrap(), 32),
        Box::new(bird),
    );
    assert_eq!(
        pin::digest(&pin::capture(&names, &with_bird, &[], &desired)),
        digest
    );
    let mut owning = desired.clone();
    owning.namespaces.get_mut("web1").unwrap().protocols = [12].into_iter().collect();
    assert_ne!(
        pin::digest(&pin::capture(&names, &with_bird, &[], &owning)),
        digest
    );
}
