//! Forged saved plans refused when read, without a kernel: names validation refuses, an
//! operation scheduled in another namespace than its change's, a change whose object
//! the pin does not cover. The pin's digest and the checksum are computed again, as a
//! forger would.

use serde_json::Value;

use super::tests::{LAB, planned, saved_bytes, sysctl_planned};
use super::*;

/// A plan whose one change sets the sysctl `net.ipv4.conf.all.rp_filter` of `r1`.
fn sysctl_plan() -> Vec<u8> {
    saved_bytes(&sysctl_planned(), "sysctl.plan")
}

/// `bytes` edited as JSON, with the pin's digest and the checksum made to match again.
fn forged(bytes: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(bytes).unwrap();
    edit(&mut value);
    let mut file: SavedFile = serde_json::from_value(value).unwrap();
    file.pinned.digest = pin::digest(&pin::unwire_pinned(file.pinned.namespaces.clone()));
    file.checksum = file.checksum();
    serde_json::to_vec(&file).unwrap()
}

/// The error reading `bytes` gives: its code and its text.
fn refused(bytes: &[u8]) -> (String, String) {
    match from_bytes("forged.plan", bytes) {
        Ok(_) => panic!("a forged plan was accepted"),
        Err(e) => {
            let code = miette::Diagnostic::code(&e).map(|c| c.to_string());
            (code.unwrap_or_default(), e.to_string())
        }
    }
}

#[test]
fn an_unforged_plan_reads() {
    assert!(from_bytes("lab.plan", &forged(&sysctl_plan(), |_| {})).is_ok());
}

#[test]
fn names_are_checked_as_validation_checks_them() {
    let plan = sysctl_plan();
    // The namespace renamed everywhere the plan names it: change, step, pin.
    let renamed = forged(&plan, |v| {
        v["plan"]["changes"][0]["ns"] = "../r1".into();
        v["plan"]["stages"][0]["steps"][0]["executor"]["ns"] = "../r1".into();
        let pinned = v["pinned"]["namespaces"].as_object_mut().unwrap();
        let seen = pinned.remove("r1").unwrap();
        pinned.insert("../r1".into(), seen);
    });
    assert_eq!(
        refused(&renamed),
        (
            "nshost::plan_bad_name".into(),
            "forged.plan is refused: the namespace name `../r1` of change 1 contains `/`".into()
        )
    );
    // A sysctl key that would be a path out of /proc/sys.
    let key = forged(&plan, |v| {
        v["plan"]["changes"][0]["key"] = "net.ipv4.conf.all.rp_filter.....".into();
    });
    let (code, text) = refused(&key);
    assert_eq!(code, "nshost::plan_bad_name");
    assert!(
        text.contains(
            "the sysctl key `net.ipv4.conf.all.rp_filter.....` of change 1 contains `..`"
        ),
        "{text}"
    );
    // An interface name longer than the kernel's, in the desired state.
    let ifname = forged(&plan, |v| {
        let links = v["desired"]["h1"]["links"].as_object_mut().unwrap();
        let eth0 = links.remove("eth0").unwrap();
        links.insert("eth0-much-too-long".into(), eth0);
    });
    assert_eq!(
        refused(&ifname).1,
        "forged.plan is refused: the interface name `eth0-much-too-long` of the desired \
         state is longer than 15 bytes"
    );
    // A namespace the plan reads.
    let read = forged(&plan, |v| {
        v["observe"]["firewalls"] = serde_json::json!(["."]);
    });
    assert!(
        refused(&read)
            .1
            .contains("of what the plan reads of the kernel is `.` or `..`"),
        "{}",
        refused(&read).1
    );
}

#[test]
fn every_operation_runs_in_its_changes_namespace() {
    let moved = forged(&sysctl_plan(), |v| {
        v["plan"]["stages"][0]["steps"][0]["executor"]["ns"] = "h1".into();
    });
    assert_eq!(
        refused(&moved),
        (
            "nshost::bad_plan".into(),
            "forged.plan is not a usable saved plan: its schedule runs change 1 (set sysctl \
             net.ipv4.conf.all.rp_filter = 2) on an executor of namespace h1"
                .into()
        )
    );
}

#[test]
fn what_a_plan_sets_is_pinned() {
    let unread = forged(&sysctl_plan(), |v| {
        v["observe"]["sysctls"]
            .as_object_mut()
            .unwrap()
            .remove("r1")
            .unwrap();
    });
    let (code, text) = refused(&unread);
    assert_eq!(code, "nshost::bad_plan");
    assert!(
        text.contains(
            "change 1 (set sysctl net.ipv4.conf.all.rp_filter = 2) sets what the plan does \
             not read of the kernel, so its pin does not cover it"
        ),
        "{text}"
    );
}

#[test]
fn what_a_plan_deletes_is_in_its_pin() {
    // A route of h1 deleted, with h1 pinned as the plan's empty model of it.
    let p = planned(LAB, NetState::default());
    let gone = forged(&saved_bytes(&p, "lab.plan"), |v| {
        let change = serde_json::json!({
            "op": "delete_route",
            "ns": "r1",
            "key": {"table": 254, "dst": "10.9.0.0/16", "metric": 0},
            "route": {"gateway": null, "dev": "eth0", "proto": 4}
        });
        v["plan"]["changes"] = serde_json::json!([change]);
        v["plan"]["stages"] = serde_json::json!([{"steps": [{
            "executor": {"executor": "netlink", "ns": "r1"},
            "ops": [{"change": 0, "part": "main"}]
        }]}]);
        v["pinned"]["namespaces"] = serde_json::json!({"r1": {"entry": "absent"}});
    });
    let (code, text) = refused(&gone);
    assert_eq!(code, "nshost::bad_plan");
    assert!(
        text.contains(
            "change 1 (delete route 10.9.0.0/16) acts on namespace r1, which its pin does not hold"
        ),
        "{text}"
    );
    // r1 pinned as the lab's, without that route.
    let absent = forged(&gone, |v| {
        v["pinned"]["namespaces"]["r1"] = serde_json::json!({
            "entry": "namespace", "owner": "savedtest", "role": "router", "links": {},
            "addresses": [], "routes": [], "rules": [], "sysctls": {}
        });
    });
    let text = refused(&absent).1;
    assert!(
        text.contains("acts on an object of namespace r1 that its pin does not hold"),
        "{text}"
    );
}

/// A plan bigger than the limit is refused by its size, before it is read: a sparse
/// file of 1 GiB takes no memory and no time.
#[test]
fn a_huge_plan_is_refused_by_its_size() {
    let path = std::env::temp_dir().join(format!("nshost-huge-{}.plan", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 30).unwrap();
    let err = read(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        err,
        format!(
            "{} is not a usable saved plan: it is 1,073,741,824 bytes, more than the \
             160 MiB a saved plan may be",
            path.display()
        )
    );
}

/// A firewall of the plan that would make its loader read a file (an nft `include`) is
/// refused as validation refuses it in a lab file.
#[test]
fn a_firewall_that_reads_a_file_is_refused() {
    let forged = forged(&sysctl_plan(), |v| {
        v["desired"]["r1"]["firewall"] = serde_json::json!({
            "nftables": {"tables": {"inet f": {"chains": {"": {"rules": ["include \"/etc/shadow\""]}}}}}
        });
    });
    let (code, text) = refused(&forged);
    assert_eq!(code, "nshost::bad_plan", "{text}");
    assert!(
        text.contains("its nftables firewall of namespace r1 would read a file of this machine"),
        "{text}"
    );
}
