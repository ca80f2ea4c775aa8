//! A plan's early read of the kernel (made while the lab file is parsed) completed with
//! the file's spec is the read a plan makes after the parse, settings and firewalls
//! included; and plan and apply with it find what they found without it.

use std::ffi::OsStr;

use nshost::kernel::{self, ObserveSpec};

use crate::ktest::*;

#[test]
fn an_early_read_completed_is_the_read_made_after_the_parse() {
    let (direct, early, facts): (String, String, Vec<String>) = sandboxed(|| {
        let file = topology("full.yaml");
        nshost([OsStr::new("apply"), file.as_os_str()]).ok();
        // Changed by hand: a namespace-wide sysctl, a device setting netlink carries,
        // one it does not, and a firewall where the lab has none.
        let sysctl = |ns: &str, kv: &str| {
            run("ip", &["netns", "exec", ns, "sysctl", "-qw", kv]).ok();
        };
        sysctl("fl-pc", "net.ipv6.conf.all.accept_ra=1");
        sysctl("fl-pc", "net.ipv4.conf.ens3.promote_secondaries=0");
        sysctl("fl-isp", "net.ipv4.conf.all.rp_filter=2");
        run(
            "ip",
            &["netns", "exec", "fl-web", "nft", "add table inet byhand"],
        )
        .ok();
        let loaded = nshost::workflow::load(&file).expect("full.yaml loads");
        let spec = ObserveSpec::for_desired(&loaded.lab.name, &loaded.desired);
        // A lab just applied still settles (carrier and IPv6 states): the two reads
        // are made again, a few times, until nothing moved between them. A difference
        // of the early read itself shows in every try.
        let read_both = || {
            let direct = kernel::observe(&spec).expect("observe");
            let first = kernel::observe(&ObserveSpec::early(&loaded.lab.name)).expect("early");
            let done = kernel::observe::complete(first, &spec)
                .expect("the early read is of this lab and fabric")
                .expect("completed");
            (direct, done)
        };
        let (mut direct, mut done) = read_both();
        for _ in 0..5 {
            if format!("{:?}", direct.state) == format!("{:?}", done.state) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            (direct, done) = read_both();
        }
        let pc = &done.state.namespaces["fl-pc"];
        let facts = vec![
            format!(
                "accept_ra {:?}",
                pc.sysctls.get("net.ipv6.conf.all.accept_ra")
            ),
            format!(
                "promote {:?}",
                pc.links["ens3"]
                    .settings
                    .iter()
                    .map(|(s, v)| format!("{s:?}={v}"))
                    .collect::<Vec<_>>()
            ),
            format!(
                "web firewall empty {}",
                done.state.namespaces["fl-web"].firewall.is_empty()
            ),
        ];
        (
            format!("{:#?}", direct.state),
            format!("{:#?}", done.state),
            facts,
        )
    });
    assert_eq!(direct, early);
    assert_eq!(facts[0], "accept_ra Some(\"1\")", "{facts:?}");
    assert!(facts[1].contains("=0"), "{facts:?}");
    assert_eq!(facts[2], "web firewall empty false", "{facts:?}");
}

#[test]
fn plan_and_apply_read_early_find_the_same_changes() {
    let (noop, edited, applied, again): (Run, Run, Run, Run) = sandboxed(|| {
        let file = topology("full.yaml");
        nshost([OsStr::new("apply"), file.as_os_str()]).ok();
        let noop = nshost_env(
            &[("NSHOST_TRACE", "2")],
            [
                OsStr::new("plan"),
                OsStr::new("--detailed-exitcode"),
                file.as_os_str(),
            ],
        );
        run(
            "ip",
            &[
                "netns",
                "exec",
                "fl-pc",
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.accept_ra=1",
            ],
        )
        .ok();
        let edited = nshost([
            OsStr::new("plan"),
            OsStr::new("--detailed-exitcode"),
            file.as_os_str(),
        ]);
        let applied = nshost([OsStr::new("apply"), file.as_os_str()]);
        let again = nshost([
            OsStr::new("plan"),
            OsStr::new("--detailed-exitcode"),
            file.as_os_str(),
        ]);
        (noop, edited, applied, again)
    });
    // The plan read early (its trace says so), and found nothing to do.
    assert!(
        noop.stderr.contains("observe: early read completed"),
        "{}",
        noop.stderr
    );
    noop.code(0);
    let edited = edited.code(2).stdout;
    assert!(edited.contains("accept_ra"), "{edited}");
    applied.ok();
    again.code(0);
}
