//! Link impairments (`impair`, issue 18): a tbf root qdisc applied, replanned as a
//! no-op, changed in place, removed, rolled back; netem refused at plan time where the
//! kernel lacks `sch_netem`; and the rate a tbf gives, measured by a TCP transfer.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ktest::*;
use crate::rollback::fail_every_stage;
use crate::*;

const LAB: &str = "\
name: imp
networks:
  lan: {subnets: [10.9.0.0/24]}
hosts:
  h1: {address: 10.9.0.1/24, impair: {rate: 10mbit}}
  h2: {address: 10.9.0.2/24}
";

/// The root qdisc of `dev` in `ns`, as `tc -j` shows it.
fn root_qdisc(ns: &str, dev: &str) -> Value {
    let out = run("tc", &["-j", "-n", ns, "qdisc", "show", "dev", dev, "root"]).ok();
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("tc: {e}: {out}"));
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null)
}

/// The kind and rate (bytes per second) of the root qdisc of `dev` in `ns`.
fn tbf_rate(ns: &str, dev: &str) -> (String, Option<u64>) {
    let q = root_qdisc(ns, dev);
    (
        str_of(&q, "kind").to_string(),
        q["options"]["rate"].as_u64(),
    )
}

fn plan_text(file: &std::path::Path) -> String {
    nshost(["plan".as_ref(), file.as_os_str()]).ok()
}

/// Issue 18: an interface's `impair` is a tbf root qdisc, in the kernel's units, so a
/// replan after the apply has nothing to do; a changed rate is changed in place (the
/// plan shows the old and the new), and a removed `impair` takes the qdisc away.
#[test]
fn a_tbf_is_applied_replanned_changed_and_removed() {
    let out = sandboxed(|| {
        let file = scratch("imp.yaml", LAB);
        let first = plan_text(&file);
        apply(&file);
        assert_converged(&file);
        let applied = tbf_rate("h1", "eth0");
        let other = str_of(&root_qdisc("h2", "eth0"), "kind").to_string();

        let faster = edit(LAB, "rate: 10mbit", "rate: 20mbit");
        let file = scratch("imp.yaml", &faster);
        let change = plan_text(&file);
        apply(&file);
        assert_converged(&file);
        let changed = tbf_rate("h1", "eth0");

        let none = edit(LAB, ", impair: {rate: 10mbit}", "");
        let file = scratch("imp.yaml", &none);
        let removal = plan_text(&file);
        apply(&file);
        assert_converged(&file);
        let removed = str_of(&root_qdisc("h1", "eth0"), "kind").to_string();
        (first, applied, other, change, changed, removal, removed)
    });
    let (first, applied, other, change, changed, removal, removed) = out;
    assert!(
        first.contains("+ qdisc eth0: tbf rate 10mbit burst 12500b limit 75000b"),
        "{first}"
    );
    assert_eq!(applied, ("tbf".to_string(), Some(1_250_000)));
    assert_eq!(other, "noqueue", "h2 has no impair");
    assert!(
        change.contains("~ qdisc eth0: rate 10mbit -> 20mbit, burst 12500b -> 25000b"),
        "{change}"
    );
    assert_eq!(changed, ("tbf".to_string(), Some(2_500_000)));
    assert!(
        removal.contains("- qdisc eth0: tbf rate 20mbit"),
        "{removal}"
    );
    assert_eq!(removed, "noqueue");
}

/// A qdisc changed by hand on an impaired interface is drift, put back by the next
/// apply; a tbf on an interface without `impair` is the lab's too and taken away.
#[test]
fn a_tbf_changed_by_hand_is_drift() {
    let (plan, after, stray) = sandboxed(|| {
        let file = scratch("imp.yaml", LAB);
        apply(&file);
        run(
            "tc",
            &[
                "-n", "h1", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "1mbit",
                "burst", "10kb", "latency", "10ms",
            ],
        )
        .ok();
        run(
            "tc",
            &[
                "-n", "h2", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "1mbit",
                "burst", "10kb", "latency", "10ms",
            ],
        )
        .ok();
        let plan = plan_code(&file).code(2).stdout;
        apply(&file);
        assert_converged(&file);
        (
            plan,
            tbf_rate("h1", "eth0"),
            str_of(&root_qdisc("h2", "eth0"), "kind").to_string(),
        )
    });
    assert!(
        plan.contains("~ qdisc eth0: rate 1mbit -> 10mbit"),
        "{plan}"
    );
    assert!(plan.contains("- qdisc eth0: tbf rate 1mbit"), "{plan}");
    assert_eq!(after, ("tbf".to_string(), Some(1_250_000)));
    assert_eq!(stray, "noqueue");
}

/// A failed apply that was adding, or changing, a tbf is undone: the qdisc is as it
/// was before (none, or the old rate).
#[test]
fn a_failed_apply_puts_the_qdisc_back() {
    let (added, changed) = sandboxed(|| {
        let none = edit(LAB, ", impair: {rate: 10mbit}", "");
        apply(&scratch("imp.yaml", &none));
        let file = scratch("imp.yaml", LAB);
        let added = fail_every_stage(&file, "adding a tbf");
        assert_eq!(tbf_rate("h1", "eth0"), ("tbf".to_string(), Some(1_250_000)));
        // From 10mbit to 20mbit, failing: 10mbit again after each rollback.
        let file = scratch("imp.yaml", &edit(LAB, "rate: 10mbit", "rate: 20mbit"));
        let mut k = 0;
        loop {
            let fault = format!("stage:{k}");
            let run = nshost_env(
                &[("NSHOST_FAULT", &fault)],
                ["apply".as_ref(), file.as_os_str()],
            );
            if run.code == 0 {
                break;
            }
            assert!(flat(&run.stderr).contains("the kernel is as it was before the apply"));
            assert_eq!(tbf_rate("h1", "eth0"), ("tbf".to_string(), Some(1_250_000)));
            k += 1;
            assert!(k < 16);
        }
        assert_eq!(tbf_rate("h1", "eth0"), ("tbf".to_string(), Some(2_500_000)));
        (added, k)
    });
    assert!(added >= 1, "{added}");
    assert!(changed >= 1, "{changed}");
}

/// Whether this kernel has netem (in the sandbox, on its loopback).
fn kernel_has_netem() -> bool {
    let made = run(
        "tc",
        &["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
    )
    .code
        == 0;
    if made {
        run("tc", &["qdisc", "del", "dev", "lo", "root"]).ok();
    }
    made
}

/// netem's fields need `sch_netem`: a kernel without it refuses them at plan time, at
/// the fields, naming the module (nothing is made); one with it applies them.
#[test]
fn netem_fields_need_sch_netem() {
    let (has, plan, after) = sandboxed(|| {
        let has = kernel_has_netem();
        let file = scratch(
            "imp.yaml",
            &edit(
                LAB,
                "impair: {rate: 10mbit}",
                "impair: {delay: 10ms, loss: 1%}",
            ),
        );
        let plan = nshost(["plan".as_ref(), file.as_os_str()]);
        let after = if has {
            apply(&file);
            assert_converged(&file);
            str_of(&root_qdisc("h1", "eth0"), "kind").to_string()
        } else {
            String::new()
        };
        (has, plan, after)
    });
    if has {
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        assert!(
            plan.stdout
                .contains("+ qdisc eth0: netem delay 10ms loss 1%"),
            "{}",
            plan.stdout
        );
        assert_eq!(after, "netem");
    } else {
        let err = flat(&plan.stderr);
        assert_eq!(plan.code, 1, "{}", plan.stderr);
        assert!(err.contains("nshost::qdisc_missing"), "{}", plan.stderr);
        assert!(err.contains("sch_netem"), "{}", plan.stderr);
        // Located at both netem fields.
        assert!(plan.stderr.contains("delay: 10ms"), "{}", plan.stderr);
        assert_eq!(
            plan.stderr.matches("needs `sch_netem`").count(),
            2,
            "{}",
            plan.stderr
        );
    }
}

/// The calling thread enters namespace `ns`.
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
}

/// Issue 18: a TCP transfer through a link at `rate: 16mbit` runs at that rate, within
/// 10% (on the wire: the data and its segments' headers): measured at the receiver over
/// 2.5 s, after the first half second (the bucket's
/// burst and TCP's slow start). The bucket holds 32 ms of the rate and the queue 200
/// ms: on a loaded machine (the whole suite, other builds) the timer that releases
/// packets fires late, and a bucket of 4 ms lost the tokens of the delay (13.5
/// Mbit/s measured).
#[test]
fn a_rate_limited_link_carries_its_rate() {
    let bits_per_sec = sandboxed(|| {
        let file = scratch(
            "imp.yaml",
            &edit(
                LAB,
                "rate: 10mbit",
                "rate: 16mbit, burst: 64kb, latency: 200ms",
            ),
        );
        apply(&file);
        let receiver = std::thread::spawn(|| {
            enter("h2");
            let listener = TcpListener::bind("10.9.0.2:5001").unwrap();
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let start = Instant::now();
            let (from, to) = (Duration::from_millis(500), Duration::from_millis(3000));
            let mut counted = 0u64;
            let mut window: Option<Instant> = None;
            loop {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                let now = start.elapsed();
                if now < from {
                    continue;
                }
                // What the first read after `from` returns arrived before the window.
                let Some(opened) = window else {
                    window = Some(Instant::now());
                    continue;
                };
                counted += n as u64;
                if now >= to {
                    return counted as f64 * 8.0 / opened.elapsed().as_secs_f64();
                }
            }
            panic!("the sender stopped before the window closed")
        });
        std::thread::sleep(Duration::from_millis(200));
        let sender = std::thread::spawn(|| {
            enter("h1");
            let mut conn = TcpStream::connect("10.9.0.2:5001").unwrap();
            let mss =
                nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::TcpMaxSeg).unwrap();
            let chunk = vec![0x5au8; 64 * 1024];
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(4000) {
                if conn.write_all(&chunk).is_err() {
                    break;
                }
            }
            mss
        });
        let payload = receiver.join().unwrap();
        let mss = sender.join().unwrap();
        // tbf counts frames: each full segment of `mss` bytes of data is a frame of the
        // MTU plus the Ethernet header.
        payload * 1514.0 / f64::from(mss)
    });
    eprintln!("measured {bits_per_sec} bit/s");
    let want = 16_000_000.0;
    assert!(
        (bits_per_sec - want).abs() <= want * 0.10,
        "{bits_per_sec} bit/s through a 16mbit link"
    );
}
