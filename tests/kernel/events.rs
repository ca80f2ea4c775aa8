//! The kernel event listener (`nshost::kernel::events`): one socket hears every tracked
//! namespace, names the namespace and the class of each notification, ignores
//! namespaces it does not track, reports a namespace that went away, and turns a
//! receive-buffer overflow into an `Overflow` notice.

use std::sync::mpsc;
use std::time::Duration;

use nshost::kernel::events::{ListenOptions, Notice, ObjectClass, listen};

use crate::ktest::*;

/// What a notice says, without its time: (namespace, class, deleted), or "overflow".
fn said(n: &Notice) -> (String, ObjectClass, bool) {
    match n {
        Notice::Changed {
            namespace,
            class,
            deleted,
            ..
        } => (namespace.clone(), *class, *deleted),
        Notice::Overflow { .. } => ("overflow".into(), ObjectClass::Namespace, false),
    }
}

/// Receives notices until one matches `want`, or panics after 10 s; returns those seen.
fn until(
    rx: &mpsc::Receiver<Notice>,
    want: (&str, ObjectClass, bool),
) -> Vec<(String, ObjectClass, bool)> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        if let Ok(n) = rx.recv_timeout(left) {
            let s = said(&n);
            let hit = s.0 == want.0 && s.1 == want.1 && s.2 == want.2;
            seen.push(s);
            if hit {
                return seen;
            }
        }
    }
    panic!("no notice {want:?} within 10 s; saw {seen:?}");
}

#[test]
fn one_socket_names_the_namespace_and_class_of_each_change() {
    let seen = sandboxed(|| {
        for ns in ["a", "b", "untracked"] {
            ip(&["netns", "add", ns]);
        }
        let (tx, rx) = mpsc::channel();
        let listener = listen(ListenOptions::default(), move |n| {
            let _ = tx.send(n);
        })
        .expect("listening");
        listener.track(&["a".into(), "b".into()]).expect("tracking");
        assert_eq!(listener.tracked(), 2);
        // Changes in the untracked namespace first: they must never be reported.
        ip(&["-n", "untracked", "link", "set", "lo", "up"]);
        ip(&["-n", "untracked", "addr", "add", "10.9.9.9/32", "dev", "lo"]);
        ip(&["-n", "a", "link", "set", "lo", "up"]);
        let mut seen = until(&rx, ("a", ObjectClass::Link, false));
        ip(&["-n", "b", "link", "set", "lo", "up"]);
        ip(&["-n", "b", "addr", "add", "10.1.1.1/32", "dev", "lo"]);
        seen.extend(until(&rx, ("b", ObjectClass::Address, false)));
        ip(&["-n", "a", "route", "add", "10.2.0.0/16", "dev", "lo"]);
        seen.extend(until(&rx, ("a", ObjectClass::Route, false)));
        ip(&["-n", "a", "route", "del", "10.2.0.0/16", "dev", "lo"]);
        seen.extend(until(&rx, ("a", ObjectClass::Route, true)));
        ip(&["-n", "b", "rule", "add", "pref", "100", "table", "7"]);
        seen.extend(until(&rx, ("b", ObjectClass::Rule, false)));
        // A tracked namespace deleted: its nsid here is released, and that is news.
        ip(&["netns", "del", "b"]);
        seen.extend(until(&rx, ("b", ObjectClass::Namespace, true)));
        assert_eq!(listener.tracked(), 1, "the deleted namespace is forgotten");
        drop(listener);
        ip(&["netns", "del", "a"]);
        ip(&["netns", "del", "untracked"]);
        seen
    });
    assert!(
        seen.iter().all(|(ns, _, _)| ns != "untracked"),
        "an untracked namespace was reported: {seen:?}"
    );
}

#[test]
fn a_receive_buffer_overflow_is_a_notice_and_is_counted() {
    let (overflows, notices) = sandboxed(|| {
        ip(&["netns", "add", "a"]);
        ip(&["-n", "a", "link", "set", "lo", "up"]);
        let (tx, rx) = mpsc::channel();
        // The receiving thread is held in its first call until the flood is over, so
        // the smallest buffer the kernel grants fills and the kernel drops the rest.
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let hold = std::sync::Mutex::new(Some(hold_rx));
        let listener = listen(
            ListenOptions {
                receive_buffer: 1,
                ..ListenOptions::default()
            },
            move |n| {
                if let Some(h) = hold.lock().unwrap().take() {
                    let _ = h.recv();
                }
                let _ = tx.send(n);
            },
        )
        .expect("listening");
        listener.track(&["a".into()]).expect("tracking");
        let script: String = (0..500)
            .map(|i| format!("route add 10.{}.{}.0/24 dev lo\n", i / 256, i % 256))
            .collect();
        let path = scratch("flood.batch", &script);
        ip(&["-n", "a", "-batch", path.to_str().unwrap()]);
        hold_tx.send(()).unwrap();
        let seen = until(&rx, ("overflow", ObjectClass::Namespace, false));
        let overflows = listener.overflows();
        drop(listener);
        ip(&["netns", "del", "a"]);
        (overflows, seen.len())
    });
    assert!(overflows >= 1, "no overflow counted");
    assert!(
        notices < 500,
        "all {notices} notices arrived: the buffer never overflowed"
    );
}

#[test]
fn nftables_changes_are_heard_on_the_netfilter_socket() {
    let seen = sandboxed(|| {
        ip(&["netns", "add", "fw"]);
        let (tx, rx) = mpsc::channel();
        let listener = listen(
            ListenOptions {
                netfilter: true,
                ..ListenOptions::default()
            },
            move |n| {
                let _ = tx.send(n);
            },
        )
        .expect("listening");
        listener.track(&["fw".into()]).expect("tracking");
        run(
            "ip",
            &["netns", "exec", "fw", "nft", "add", "table", "inet", "t"],
        )
        .ok();
        let seen = until(&rx, ("fw", ObjectClass::Firewall, false));
        drop(listener);
        ip(&["netns", "del", "fw"]);
        seen
    });
    assert_eq!(seen.last().map(|s| s.1), Some(ObjectClass::Firewall));
}
