//! `nshost status`, `exec` and `shell` against real labs: the machine's labs found from
//! their marks alone, one lab's views, drift after changes made by hand, and commands
//! run inside a node with their arguments, input and exit codes passed through.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ktest::*;
use crate::small::*;
use crate::*;

/// The small lab and its prefixed copy, applied side by side, from files at fixed
/// paths (so that the output names them the same everywhere).
fn two_labs() -> (std::path::PathBuf, std::path::PathBuf) {
    let small = scratch("small.yaml", &small_text());
    let other = scratch("other.yaml", &other_text());
    apply(&small);
    apply(&other);
    (small, other)
}

/// `nshost status --output json` of the machine.
fn machine() -> Value {
    nshost(["status", "--output", "json"]).code(0).json()
}

/// Waits until every lab is healthy: the kernel brings a new veth's carrier up
/// asynchronously (its link watch), so a status right after an apply may catch an
/// interface still without it. Fails after 10 s.
fn wait_healthy() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = machine();
        let labs = m["status"]["labs"].as_array().unwrap();
        if labs.iter().all(|l| l["health"]["state"] == "ok") {
            return;
        }
        assert!(Instant::now() < deadline, "labs not healthy: {m:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_of_a_machine_without_labs() {
    let (text, json) = sandboxed(|| {
        let text = nshost(["status"]).ok();
        (text, machine())
    });
    assert_eq!(text, "No nshost labs on this machine.\n");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["status"]["labs"], Value::Array(Vec::new()));
}

#[test]
fn status_of_two_labs_side_by_side() {
    let (text, json) = sandboxed(|| {
        two_labs();
        wait_healthy();
        (nshost(["status"]).ok(), machine())
    });
    insta::assert_snapshot!(text, @r"
    LAB    ROUTERS  HOSTS  LINKS  NETWORKS  HEALTH
    other        2      4     10         5  ok
    small        2      4     10         5  ok
    ");
    let labs = json["status"]["labs"].as_array().unwrap();
    assert_eq!(labs.len(), 2);
    for lab in labs {
        // 6 nodes and the fabric.
        assert_eq!(lab["namespaces"], 7, "{lab}");
        assert_eq!(lab["health"]["problems"], Value::Array(Vec::new()));
    }
}

#[test]
fn status_of_one_lab_in_every_view() {
    let (summary, routes, interfaces, all, json) = sandboxed(|| {
        let (small, _) = two_labs();
        wait_healthy();
        let summary = nshost(["status".as_ref(), small.as_os_str()]).ok();
        let routes = nshost(["status", "--lab", "other", "--show", "routes"]).ok();
        let interfaces = nshost([
            "status",
            "--lab",
            "other",
            "--show",
            "interfaces",
            "--limit",
            "pc*",
            "--limit",
            "web?",
        ])
        .ok();
        let all = nshost(["status", "--lab", "small", "--show", "all"]).ok();
        let json = nshost([
            "status".as_ref(),
            small.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
            "--limit".as_ref(),
            "hq-*".as_ref(),
        ])
        .code(0)
        .json();
        (summary, routes, interfaces, all, json)
    });
    insta::assert_snapshot!("small_status", summary);
    insta::assert_snapshot!(routes, @r"
    Lab other: 2 routers, 4 hosts, 10 links, 5 networks
    Health: ok

    NODE   TABLE  DESTINATION  GATEWAY     DEV   METRIC  PROTO
    br-gw  main   10.1.0.0/16  10.100.1.1  wan0       0  boot
    db1    main   default      10.1.2.1    eth0       0  boot
    hq-gw  main   10.2.0.0/16  10.100.1.2  wan0       0  boot
    pc1    main   default      10.2.1.1    eth0       0  boot
    pc2    main   default      10.2.2.1    eth0       0  boot
    web1   main   default      10.1.1.1    eth0       0  boot
    ");
    // The limit selects nodes; the header still speaks of the whole lab.
    let nodes: Vec<&str> = interfaces
        .lines()
        .skip(3)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| !w.starts_with("eth") && *w != "lo")
        .collect();
    assert_eq!(nodes, ["NODE", "pc1", "pc2", "web1"], "{interfaces}");
    assert!(interfaces.starts_with("Lab other: 2 routers, 4 hosts"));
    for section in ["Nodes:", "Interfaces:", "Routes:", "Rules:", "Networks:"] {
        assert!(all.contains(section), "{section} in\n{all}");
    }
    let report = &json["status"];
    assert_eq!(report["changes"], 0);
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    let hq = &nodes[0];
    assert_eq!(hq["name"], "hq-gw");
    assert_eq!(hq["role"], "router");
    assert_eq!(hq["drift"]["reason"], "in sync");
    let wan0 = hq["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "wan0")
        .unwrap();
    assert_eq!(wan0["addresses"], serde_json::json!(["10.100.1.1/30"]));
    assert_eq!(wan0["oper"], "up");
    assert_eq!(wan0["network"], "wan");
}

#[test]
fn status_marks_what_drifted_from_the_file() {
    let (text, json, machine_after) = sandboxed(|| {
        let (small, _) = two_labs();
        wait_healthy();
        ip(&["-n", "web1", "link", "set", "eth0", "down"]);
        ip(&["-n", "pc1", "addr", "del", "10.2.1.10/24", "dev", "eth0"]);
        ip(&["netns", "del", "pc2"]);
        // The kernel tears a namespace down asynchronously, and the fabric end of its
        // veth pair with it: wait for that end to go (for at most 10 s).
        let port = nshost::naming::fabric_port_name("pc2", "eth0");
        let deadline = Instant::now() + Duration::from_secs(10);
        while links("small-fabric").contains_key(&port) {
            assert!(
                Instant::now() < deadline,
                "pc2's veth outlived its namespace"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let text = nshost(["status".as_ref(), small.as_os_str()]).ok();
        let json = nshost([
            "status".as_ref(),
            small.as_os_str(),
            "--output".as_ref(),
            "json".as_ref(),
        ])
        .code(0)
        .json();
        (text, json, machine())
    });
    let reasons: Vec<String> = json["status"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{} {}", str_of(n, "name"), str_of(&n["drift"], "reason")))
        .collect();
    assert_eq!(
        reasons,
        [
            "br-gw in sync",
            "db1 in sync",
            "hq-gw in sync",
            "pc1 2 changes",
            "pc2 missing",
            "web1 2 changes",
        ]
    );
    // The kernel took the default route away with the address, and with the link.
    let changes = |n: usize| json["status"]["nodes"][n]["drift"]["changes"].clone();
    assert_eq!(
        changes(3),
        serde_json::json!([
            "add address 10.2.1.10/24 on eth0",
            "add route default via 10.2.1.1"
        ])
    );
    assert_eq!(
        changes(5),
        serde_json::json!(["update link eth0", "add route default via 10.1.1.1"])
    );
    insta::assert_snapshot!("small_status_drifted", text);
    // The machine's view, without the file, sees the interface down.
    let small = &machine_after["status"]["labs"].as_array().unwrap()[1];
    assert_eq!(small["lab"], "small");
    assert_eq!(small["health"]["interfaces_down"], 1);
    assert_eq!(small["hosts"], 3);
}

#[test]
fn status_of_a_lab_that_is_not_there() {
    let run = sandboxed(|| {
        apply(&topology("small.yaml"));
        nshost(["status", "--lab", "nope"])
    });
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("nshost::no_such_lab"), "{}", run.stderr);
    assert!(run.stderr.contains("labs here: small"), "{}", run.stderr);
}

/// `nshost exec`, its standard input piped.
fn exec_with_input(args: &[&str], input: &str) -> Run {
    let mut child = nshost_command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning nshost");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    finish(&format!("nshost {}", args.join(" ")), child)
}

#[test]
fn exec_passes_arguments_input_and_exit_codes_through() {
    let (piped, addrs, quoted, not_found, not_runnable, shell) = sandboxed(|| {
        two_labs();
        let piped = exec_with_input(
            &[
                "exec",
                "web1",
                "--lab",
                "small",
                "--",
                "sh",
                "-c",
                "cat; exit 7",
            ],
            "through stdin\n",
        );
        let addrs = nshost(["exec", "o-web1", "--", "ip", "-j", "addr", "show"]).json();
        let quoted = nshost([
            "exec", "db1", "--lab", "small", "--", "printf", "[%s]", "a b", "", "--lab",
        ])
        .ok();
        let not_found = nshost(["exec", "pc1", "--lab", "small", "--", "nshost-no-such"]);
        let not_runnable = nshost(["exec", "pc1", "--lab", "small", "--", "/etc"]);
        let shell = {
            let mut child = nshost_command()
                .args(["shell", "pc2", "--lab", "other"])
                .env("SHELL", "/bin/sh")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"echo $NSHOST_LAB/$NSHOST_NODE; ls /sys/class/net; exit 3\n")
                .unwrap();
            finish("nshost shell pc2", child)
        };
        (piped, addrs, quoted, not_found, not_runnable, shell)
    });
    assert_eq!((piped.code, piped.stdout.as_str()), (7, "through stdin\n"));
    // The addresses of the node's namespace, o-web1 of lab other: the command ran there.
    let mut global: Vec<String> = addrs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            let ifname = str_of(l, "ifname").to_string();
            l["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["scope"] == "global")
                .map(move |a| format!("{ifname} {}/{}", str_of(a, "local"), a["prefixlen"]))
                .collect::<Vec<_>>()
        })
        .collect();
    global.sort();
    assert_eq!(global, ["eth0 10.1.1.10/24"]);
    assert_eq!(quoted, "[a b][][--lab]");
    assert_eq!(not_found.code, 127, "{}", not_found.stderr);
    assert!(
        not_found
            .stderr
            .contains("nshost-no-such: command not found")
    );
    assert_eq!(not_runnable.code, 126, "{}", not_runnable.stderr);
    // The shell sees the node's own /sys: its links, not the machine's.
    assert_eq!(
        (shell.code, shell.stdout.as_str()),
        (3, "other/pc2\neth0\nlo\n")
    );
}

#[test]
fn exec_names_ambiguous_and_unknown_nodes() {
    let (ambiguous, unknown, unknown_in_lab, fabric) = sandboxed(|| {
        two_labs();
        (
            nshost(["exec", "web1", "--", "true"]),
            nshost(["exec", "web2", "--", "true"]),
            nshost(["exec", "zzz", "--lab", "small", "--", "true"]),
            nshost(["exec", "small-fabric", "--", "true"]),
        )
    });
    assert_eq!(ambiguous.code, 1);
    assert_eq!(
        flat(&ambiguous.stderr).trim_end(),
        "nshost::ambiguous_node  `web1` is a node of several labs: other, small help: say which with --lab, e.g. `--lab other`"
    );
    assert_eq!(unknown.code, 1);
    assert_eq!(
        flat(&unknown.stderr).trim_end(),
        "nshost::no_such_node  no node named `web2` help: did you mean `web1`?"
    );
    assert!(
        flat(&unknown_in_lab.stderr).contains(
            "no node named `zzz` in lab `small` help: nodes here: br-gw, db1, hq-gw, pc1, pc2, web1"
        ),
        "{}",
        unknown_in_lab.stderr
    );
    // The fabric is no node.
    assert_eq!(fabric.code, 1);
    assert!(fabric.stderr.contains("nshost::no_such_node"));
}

/// A dump the kernel marks interrupted (`NLM_F_DUMP_INTR`, as during another lab's apply)
/// is run again by `Socket::dump` and only a whole one is seen: 200 dumps of 1000
/// addresses while another process adds and removes an address in the same namespace
/// every few milliseconds, no error and never a partial answer.
#[test]
fn dumps_during_churn_are_whole() {
    sandboxed(|| {
        use netlink_packet_route::RouteNetlinkMessage;
        use netlink_packet_route::address::{AddressAttribute, AddressMessage};
        use nshost::netlink::{Route, Socket, parse};
        use std::net::IpAddr;
        use std::process::Command;

        // veth pairs: this kind of machine's kernel may lack `dummy`.
        ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d0p"]);
        ip(&["link", "add", "d1", "type", "veth", "peer", "name", "d1p"]);
        let fixed: String = (0..1000)
            .map(|i| format!("addr add 10.8.{}.{}/32 dev d0\n", i / 250, i % 250 + 1))
            .collect();
        let mut batch = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        batch
            .stdin
            .take()
            .unwrap()
            .write_all(fixed.as_bytes())
            .unwrap();
        assert!(batch.wait().unwrap().success());
        // The churn: addresses of d1 added and removed as fast as `ip` goes.
        let mut churn = Command::new("ip")
            .args(["-force", "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut input = churn.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut n = 0u32;
            while Instant::now() < deadline {
                let a = format!("10.9.{}.{}/32", (n / 250) % 250, n % 250 + 1);
                if input
                    .write_all(format!("addr add {a} dev d1\naddr del {a} dev d1\n").as_bytes())
                    .is_err()
                {
                    return;
                }
                n += 1;
                // A change every few milliseconds, as an apply beside makes them, not a
                // flood that no bounded retry outlasts: many dumps are interrupted (the
                // test fails without the retry), none ten times in a row.
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let mut sock = Socket::<Route>::open().unwrap();
        let mut errors = Vec::new();
        for _ in 0..200 {
            let mut fixed_seen = 0;
            let run = sock.dump(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                |bytes| {
                    let Some(RouteNetlinkMessage::NewAddress(m)) = parse::<Route>(bytes) else {
                        return;
                    };
                    let in_fixed = m.attributes.iter().any(|a| {
                        matches!(a, AddressAttribute::Address(IpAddr::V4(v))
                            if v.octets()[..2] == [10, 8])
                    });
                    fixed_seen += usize::from(in_fixed);
                },
            );
            match run {
                Ok(()) if fixed_seen == 1000 => {}
                Ok(()) => errors.push(format!("{fixed_seen} of the 1000 addresses")),
                Err(e) => errors.push(e.to_string()),
            }
        }
        let _ = churn.kill();
        let _ = churn.wait();
        feeder.join().unwrap();
        assert_eq!(errors, Vec::<String>::new());
    })
}
