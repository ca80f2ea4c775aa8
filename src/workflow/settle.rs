//! Waiting, after a verified apply, until the lab's veths pass frames: the kernel turns
//! a new veth's carrier on in its `linkwatch` work, which takes the rtnl lock and so
//! can lag behind the apply on a busy machine; until then the end drops every frame,
//! and a check run right after the apply loses its first ARP request.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::kernel::{self, ObserveSpec};
use crate::state::NetState;

/// How long an apply waits for carriers before it says which links are not up.
const PATIENCE: Duration = Duration::from_secs(5);

/// The veth ends `desired` wants up, with a peer it also wants up, that `live` shows
/// not passing frames yet (by namespace), among the namespaces `live` holds.
pub fn waiting(desired: &NetState, live: &NetState) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // The live state holds only what the verification read again: a few namespaces
    // of a large lab, looked up in the desired one.
    for (ns_name, have) in &live.namespaces {
        let Some(ns) = desired.namespaces.get(ns_name) else {
            continue;
        };
        for (name, link) in &ns.links {
            let Some(peer) = link.kind.peer() else {
                continue;
            };
            let peer_up = desired
                .namespaces
                .get(&peer.ns)
                .and_then(|p| p.links.get(&peer.name))
                .is_some_and(|p| p.up);
            let passes = have
                .links
                .get(name)
                .and_then(|l| l.oper)
                .is_none_or(|o| o.passes());
            if link.up && peer_up && !passes {
                out.entry(ns_name.clone()).or_default().insert(name.clone());
            }
        }
    }
    out
}

/// Re-reads the links of the namespaces in `pending` until every one listed passes
/// frames, or [`PATIENCE`] runs out; returns those that still do not, as `ns/link`.
pub fn wait(
    lab: &str,
    desired: &NetState,
    mut pending: BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    while !pending.is_empty() && start.elapsed() < PATIENCE {
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
        let spec = ObserveSpec {
            lab: lab.to_string(),
            only: Some(pending.keys().cloned().collect()),
            links_only: true,
            ..ObserveSpec::default()
        };
        let Ok(observed) = kernel::observe(&spec) else {
            break;
        };
        let still = waiting(desired, &observed.state);
        pending.retain(|ns, links| {
            links.retain(|l| still.get(ns).is_some_and(|s| s.contains(l)));
            !links.is_empty()
        });
    }
    pending
        .into_iter()
        .flat_map(|(ns, links)| links.into_iter().map(move |l| format!("{ns}/{l}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testkit::{as_live, link_mut, small_lab};
    use crate::state::OperState;

    fn lab() -> NetState {
        small_lab("t").build()
    }

    fn set_oper(live: &mut NetState, ns: &str, link: &str, oper: OperState) {
        link_mut(live, ns, link).oper = Some(oper);
    }

    #[test]
    fn a_veth_whose_carrier_is_not_on_yet_is_waited_for() {
        let desired = lab();
        let mut live = as_live(&desired);
        assert!(waiting(&desired, &live).is_empty());
        set_oper(&mut live, "web1", "eth0", OperState::LowerLayerDown);
        set_oper(&mut live, "web2", "eth0", OperState::Up);
        let w = waiting(&desired, &live);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w["web1"].contains("eth0"));
    }

    #[test]
    fn an_end_the_lab_keeps_down_is_not_waited_for() {
        let mut desired = lab();
        link_mut(&mut desired, "web1", "eth0").up = false;
        let mut live = as_live(&desired);
        set_oper(&mut live, "web1", "eth0", OperState::Down);
        // Its fabric end, up but with a peer that is down, is not waited for either.
        let fabric = desired.fabric().unwrap().to_string();
        let port = desired.namespaces["web1"].links["eth0"]
            .kind
            .peer()
            .unwrap()
            .name
            .clone();
        set_oper(&mut live, &fabric, &port, OperState::LowerLayerDown);
        assert!(waiting(&desired, &live).is_empty());
    }
}
