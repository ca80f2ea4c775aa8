//! Addresses on a router's loopback: applied, converged, and removed with the file's
//! line like any other address.

use crate::ktest::*;
use crate::*;

const LAB: &str = "\
name: lb
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
    loopback: [10.255.0.1/32, 192.0.2.53/32, \"2001:db8:ff::1/128\"]
hosts:
  h1: {address: 10.1.1.10/24}
";

fn lo_addresses() -> String {
    run("ip", &["-n", "r1", "-br", "addr", "show", "dev", "lo"]).ok()
}

#[test]
fn loopback_addresses_are_applied_and_removed() {
    let (up, after) = sandboxed(|| {
        let file = scratch("lb.yaml", LAB);
        apply(&file);
        assert_converged(&file);
        let up = lo_addresses();
        let fewer = scratch("fewer.yaml", &edit(LAB, " 192.0.2.53/32,", ""));
        apply(&fewer);
        assert_converged(&fewer);
        let after = lo_addresses();
        nshost(["destroy", fewer.to_str().unwrap()]).ok();
        (up, after)
    });
    for a in ["10.255.0.1/32", "192.0.2.53/32", "2001:db8:ff::1/128"] {
        assert!(up.contains(a), "{a} in {up}");
    }
    assert!(!after.contains("192.0.2.53"), "{after}");
    assert!(after.contains("10.255.0.1/32"), "{after}");
}
