//! Unit tests of the diff of root qdiscs (`impair`): set, changed in place, taken
//! away, and set again on a link made anew.

use super::*;
use crate::plan::testkit::*;
use crate::state::{LinkKind, Netem, Qdisc, Tbf};

const LAB: &str = "lab";

fn tbf(rate: u64) -> Box<Qdisc> {
    Box::new(Qdisc::Tbf(Tbf::new(rate, 10_000, 100_000).unwrap()))
}

fn with_qdisc(mut state: NetState, q: Option<Box<Qdisc>>) -> NetState {
    link_mut(&mut state, "web1", "eth0").qdisc = q;
    state
}

/// A qdisc change of web1's eth0: from, to.
type QdiscChange = (Option<Box<Qdisc>>, Option<Box<Qdisc>>);

fn qdisc_changes(desired: &NetState, live: &NetState) -> Vec<QdiscChange> {
    diff(LAB, desired, live)
        .expect("no conflicts")
        .into_iter()
        .filter_map(|c| match c {
            Change::SetQdisc { ns, link, from, to } => {
                assert_eq!((ns.as_str(), link.as_str()), ("web1", "eth0"));
                Some((from, to))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_qdisc_is_set_changed_and_taken_away() {
    let plain = small_lab(LAB).build();
    let slow = with_qdisc(plain.clone(), Some(tbf(125_000)));
    let fast = with_qdisc(plain.clone(), Some(tbf(250_000)));
    // Set where there is none.
    assert_eq!(
        qdisc_changes(&slow, &as_live(&plain)),
        vec![(None, Some(tbf(125_000)))]
    );
    // Nothing to do when the kernel has it.
    assert_eq!(qdisc_changes(&slow, &as_live(&slow)), vec![]);
    // Changed in place, from the old to the new.
    assert_eq!(
        qdisc_changes(&fast, &as_live(&slow)),
        vec![(Some(tbf(125_000)), Some(tbf(250_000)))]
    );
    // Another kind is replaced.
    let netem = with_qdisc(
        plain.clone(),
        Some(Box::new(Qdisc::Netem(Netem::default()))),
    );
    assert_eq!(qdisc_changes(&slow, &as_live(&netem)).len(), 1);
    // Taken away when the lab no longer has it.
    assert_eq!(
        qdisc_changes(&plain, &as_live(&slow)),
        vec![(Some(tbf(125_000)), None)]
    );
}

#[test]
fn a_link_made_anew_gets_its_qdisc_again() {
    let slow = with_qdisc(small_lab(LAB).build(), Some(tbf(125_000)));
    let mut live = as_live(&slow);
    // The live end is no longer the pair's: the pair is made again, without a qdisc.
    link_mut(&mut live, "web1", "eth0").kind = LinkKind::Veth { peer: None };
    assert_eq!(
        qdisc_changes(&slow, &live),
        vec![(None, Some(tbf(125_000)))]
    );
}
