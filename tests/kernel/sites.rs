//! One lab over two machines (`topologies/two-sites.yaml`), on one: inside the test's
//! sandbox, two "machines", each a network and mount namespace of its own with its own
//! `/run` (made by the test with `unshare`, not by nshost), joined by an underlay veth
//! 192.0.2.1/24 - 192.0.2.2/24. The real binary runs in each (`nsenter`) with `--site a`
//! and `--site b`, and the kernel of each is looked at with `ip` and `bridge`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::ktest::*;

/// A stand-in machine: a process in a network and mount namespace of its own, with a
/// tmpfs on `/run` (and `/run/netns`). It lives as long as its standard input is open.
struct Machine {
    holder: Child,
    pid: String,
}

impl Machine {
    fn new() -> Machine {
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
            ])
            .arg(
                "mount -t tmpfs tmpfs /run && mkdir /run/netns && \
                 mount -t tmpfs tmpfs /run/netns && echo ready && exec cat",
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting a machine");
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "the machine did not set itself up");
        // `unshare` without --fork runs `sh` in its own process, which `exec`s `cat`.
        let pid = holder.id().to_string();
        Machine { holder, pid }
    }

    /// The `nsenter` arguments that run a program on this machine.
    fn enter(&self) -> Vec<&str> {
        vec!["-t", &self.pid, "-n", "-m", "--"]
    }

    /// Runs `program` with `args` on this machine.
    fn run(&self, program: &str, args: &[&str]) -> Run {
        let mut all = self.enter();
        all.push(program);
        all.extend_from_slice(args);
        run("nsenter", &all)
    }

    /// Runs nshost with `args` on this machine.
    fn nshost(&self, args: &[&str]) -> Run {
        let mut cmd = wrapped_nshost("nsenter", &self.enter());
        cmd.args(args);
        run_command(
            &format!("nshost {} (machine {})", args.join(" "), self.pid),
            cmd,
        )
    }

    /// A JSON document printed by `program args` on this machine.
    fn json(&self, program: &str, args: &[&str]) -> Value {
        self.run(program, args).json()
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        drop(self.holder.stdin.take());
        let _ = self.holder.wait();
    }
}

/// Two machines joined by an underlay veth: `a` at 192.0.2.1, `b` at 192.0.2.2.
fn machines() -> (Machine, Machine) {
    let (a, b) = (Machine::new(), Machine::new());
    ip(&["link", "add", "ua", "type", "veth", "peer", "name", "ub"]);
    ip(&[
        "link",
        "set",
        "ua",
        "netns",
        &format!("/proc/{}/ns/net", a.pid),
    ]);
    ip(&[
        "link",
        "set",
        "ub",
        "netns",
        &format!("/proc/{}/ns/net", b.pid),
    ]);
    for (m, dev, addr) in [(&a, "ua", "192.0.2.1/24"), (&b, "ub", "192.0.2.2/24")] {
        m.run("ip", &["addr", "add", addr, "dev", dev]).ok();
        m.run("ip", &["link", "set", dev, "up"]).ok();
        m.run("ip", &["link", "set", "lo", "up"]).ok();
    }
    (a, b)
}

/// `check --site SITE` in JSON: (exit code, each check as `from->to:passed`).
fn checks(m: &Machine, site: &str, lab: &str) -> (i32, Vec<String>) {
    let run = m.nshost(&["check", "--site", site, lab, "--output", "json"]);
    let report = run.json();
    let lines = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}->{}:{}",
                str_of(c, "from"),
                str_of(c, "to"),
                c["passed"].as_bool().unwrap()
            )
        })
        .collect();
    (run.code, lines)
}

/// The vxlan ends in a machine's fabric: (name, VNI, local, master, socket elsewhere).
fn vxlan_ends(m: &Machine) -> Vec<(String, u64, String, String, bool)> {
    let links = m.json(
        "ip",
        &["-n", "two-sites-fabric", "-d", "-j", "link", "show"],
    );
    let mut out: Vec<_> = links
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["linkinfo"]["info_kind"] == "vxlan")
        .map(|l| {
            let data = &l["linkinfo"]["info_data"];
            (
                str_of(l, "ifname").to_string(),
                data["id"].as_u64().unwrap(),
                str_of(data, "local").to_string(),
                str_of(l, "master").to_string(),
                l.get("link_netnsid").is_some(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A machine's all-zero (flood) entries of `dev`'s forwarding database: their
/// destinations.
fn flood_entries(m: &Machine, dev: &str) -> Vec<String> {
    let fdb = m.json(
        "bridge",
        &["-n", "two-sites-fabric", "-j", "fdb", "show", "dev", dev],
    );
    fdb.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .map(|e| str_of(e, "dst").to_string())
        .collect()
}

#[test]
fn a_lab_over_two_machines() {
    sandboxed(|| {
        let (a, b) = machines();
        let lab = topology("two-sites.yaml");
        let lab = lab.to_str().unwrap();
        // Without --site, a lab with sites is refused: it would be all on one machine.
        let refused = a.nshost(&["plan", lab]).code(1);
        assert!(refused.stderr.contains("--site"), "{}", refused.stderr);

        a.nshost(&["apply", "--site", "a", lab]).ok();
        b.nshost(&["apply", "--site", "b", lab]).ok();
        // Each machine holds its own nodes and its fabric, nothing of the other's.
        let names = |m: &Machine| -> Vec<String> {
            let out = m.run("ls", &["/run/netns"]).ok();
            out.lines().map(str::to_string).collect()
        };
        assert_eq!(names(&a), ["ha", "ha2", "ra", "two-sites-fabric"]);
        assert_eq!(names(&b), ["hb", "hb2", "rb", "two-sites-fabric"]);

        // Reachable across the tunnels: on the stretched lan, and behind the router of
        // the other site (lan to ra, then the stretched core to rb).
        let want_a = [
            "ha->hb:true",
            "ha->hb2:true",
            "ha2->hb2:true",
            "ra->rb:true",
        ];
        let want_b = ["hb->ha:true", "hb2->ha:true", "hb2->ha2:true"];
        assert_eq!(checks(&a, "a", lab), (0, want_a.map(String::from).to_vec()));
        assert_eq!(checks(&b, "b", lab), (0, want_b.map(String::from).to_vec()));

        // A second apply on each is a no-op.
        for (m, site) in [(&a, "a"), (&b, "b")] {
            let plan = m.nshost(&["plan", "--site", site, lab, "--detailed-exitcode"]);
            assert_eq!(plan.ok(), "No changes.\n");
            let again = m.nshost(&["apply", "--site", site, lab, "--output", "json"]);
            assert_eq!(again.json()["plan"]["changes"], Value::Array(vec![]));
        }

        // The vxlan ends, in each fabric, with their sockets in the machine's own
        // namespace (a link namespace), and a flood entry to the other site.
        let vni_lan = nshost::sites::derived_vni("two-sites", "lan") as u64;
        for (m, local, peer) in [
            (&a, "192.0.2.1", "192.0.2.2"),
            (&b, "192.0.2.2", "192.0.2.1"),
        ] {
            assert_eq!(
                vxlan_ends(m),
                [
                    ("vx-core".into(), 7800, local.into(), "br-core".into(), true),
                    (
                        "vx-lan".into(),
                        vni_lan,
                        local.into(),
                        "br-lan".into(),
                        true
                    ),
                ]
            );
            assert_eq!(flood_entries(m, "vx-lan"), [peer]);
            assert_eq!(flood_entries(m, "vx-core"), [peer]);
        }
        let status = a.nshost(&["status", "--site", "a", lab]).ok();
        assert!(
            status.contains("vx-lan") && status.contains("192.0.2.2"),
            "{status}"
        );

        // A flood entry removed by hand is put back, and one added by hand removed.
        a.run(
            "bridge",
            &[
                "-n",
                "two-sites-fabric",
                "fdb",
                "del",
                "00:00:00:00:00:00",
                "dev",
                "vx-lan",
                "dst",
                "192.0.2.2",
            ],
        )
        .ok();
        a.run(
            "bridge",
            &[
                "-n",
                "two-sites-fabric",
                "fdb",
                "append",
                "00:00:00:00:00:00",
                "dev",
                "vx-core",
                "dst",
                "192.0.2.9",
            ],
        )
        .ok();
        let drift = a
            .nshost(&["plan", "--site", "a", lab, "--detailed-exitcode"])
            .code(2);
        assert!(drift.stdout.contains("~ link vx-lan"), "{}", drift.stdout);
        assert!(drift.stdout.contains("~ link vx-core"), "{}", drift.stdout);
        a.nshost(&["apply", "--site", "a", lab]).ok();
        assert_eq!(flood_entries(&a, "vx-lan"), ["192.0.2.2"]);
        assert_eq!(flood_entries(&a, "vx-core"), ["192.0.2.2"]);

        // Destroying site b leaves site a as it was: its plan is still empty.
        b.nshost(&["destroy", "--site", "b", lab]).ok();
        // Its tunnel ends went before destroy returned, not when the kernel got round to
        // cleaning up the deleted namespaces: no vxlan socket (UDP 4789) is left on b.
        let udp = b.run("cat", &["/proc/net/udp"]).ok();
        assert!(!udp.contains(":12B5 "), "a vxlan socket is left:\n{udp}");
        assert_eq!(names(&b), Vec::<String>::new());
        assert_eq!(names(&a), ["ha", "ha2", "ra", "two-sites-fabric"]);
        let plan = a.nshost(&["plan", "--site", "a", lab, "--detailed-exitcode"]);
        assert_eq!(plan.ok(), "No changes.\n");
        let gone = a.nshost(&[
            "check",
            "--site",
            "a",
            lab,
            "--from",
            "ha",
            "--to",
            "hb",
            "--expect",
            "unreachable",
            "--retries",
            "0",
        ]);
        gone.ok();

        // Re-applying b brings reachability back.
        b.nshost(&["apply", "--site", "b", lab]).ok();
        assert_eq!(checks(&a, "a", lab), (0, want_a.map(String::from).to_vec()));
        assert_eq!(checks(&b, "b", lab), (0, want_b.map(String::from).to_vec()));
    })
}

/// Each site names the device its tunnels go out of (`device:`): the vxlan ends are
/// made over it (it is in the machine's namespace, the ends in the fabric), traffic
/// crosses, and the second plan is empty on both (observe names the device where the
/// tunnel's socket is). Naming it where it was not remakes the ends.
#[test]
fn sites_name_their_underlay_device() {
    sandboxed(|| {
        let (a, b) = machines();
        let text = std::fs::read_to_string(topology("two-sites.yaml")).unwrap();
        let file = scratch("two-sites.yaml", &text);
        // Each machine has a /run of its own: it reads the file through this process's.
        let seen = format!("/proc/{}/root{}", std::process::id(), file.display());
        let lab = seen.as_str();
        a.nshost(&["apply", "--site", "a", lab]).ok();
        b.nshost(&["apply", "--site", "b", lab]).ok();
        let with = edit(
            &edit(
                &text,
                "a: {underlay: 192.0.2.1}",
                "a: {underlay: 192.0.2.1, device: ua}",
            ),
            "b: {underlay: 192.0.2.2}",
            "b: {underlay: 192.0.2.2, device: ub}",
        );
        std::fs::write(&file, &with).unwrap();
        for (m, site) in [(&a, "a"), (&b, "b")] {
            let plan = m
                .nshost(&["plan", "--site", site, lab, "--detailed-exitcode"])
                .code(2)
                .stdout;
            assert!(plan.contains("vx-lan"), "{plan}");
            m.nshost(&["apply", "--site", site, lab]).ok();
        }
        for (m, site) in [(&a, "a"), (&b, "b")] {
            let plan = m.nshost(&["plan", "--site", site, lab, "--detailed-exitcode"]);
            assert_eq!(plan.ok(), "No changes.\n");
        }
        assert_eq!(checks(&a, "a", lab).0, 0);
        assert_eq!(checks(&b, "b", lab).0, 0);
        // The kernel says so: each end's lower device, an index of the machine's own
        // namespace, is the underlay veth's.
        for (m, dev) in [(&a, "ua"), (&b, "ub")] {
            let index = m.json("ip", &["-j", "link", "show", dev])[0]["ifindex"].as_u64();
            let links = m.json(
                "ip",
                &[
                    "-n",
                    "two-sites-fabric",
                    "-d",
                    "-j",
                    "link",
                    "show",
                    "vx-lan",
                ],
            );
            let link = links[0]["linkinfo"]["info_data"]["link"].clone();
            // ip, reading the fabric, prints an index it cannot name there as `ifN`.
            let named = index.map(|i| format!("if{i}"));
            assert!(
                link.as_u64() == index || link.as_str() == named.as_deref(),
                "vx-lan's link {link} is {dev} ({index:?})"
            );
        }
    })
}
