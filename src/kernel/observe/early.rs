//! An early read for a plan: the lab's namespaces are read (links, addresses, routes,
//! rules, veth peers, whether netfilter is in use) before the lab's file is loaded, when
//! only the lab's name is known, so that the reading overlaps the parsing. What depends
//! on the file is read once its spec is known ([`complete`]): the devconf settings from
//! the device configurations kept for every link, the `/proc/sys` settings and sysctls
//! from inside the namespaces that have some, and the firewalls. The result is the
//! state [`super::observe`] reads with that spec, or nothing when the early read cannot
//! give it (another lab, another fabric, a narrower spec): the caller then reads anew.

use std::collections::{BTreeSet, HashMap};

use super::contents::{ProcSettings, proc_settings};
use super::firewalls::read_firewalls;
use super::{ObserveSpec, Observed};
use crate::kernel::KernelError;
use crate::kernel::message::devconf_read;
use crate::kernel::netns;

/// What an early read keeps for [`complete`].
#[derive(Debug, Default)]
pub(super) struct Kept {
    pub(super) lab: String,
    /// The fabric it found by its mark (`None`: none there).
    pub(super) fabric: Option<String>,
    /// The namespaces that hold nftables tables or ipsets.
    pub(super) netfilter: BTreeSet<String>,
    /// Every link's `IFLA_AF_SPEC`, by (namespace, link).
    pub(super) af_specs: HashMap<(String, String), Vec<u8>>,
}

impl ObserveSpec {
    /// An early read of `lab` (see the module's text).
    pub fn early(lab: &str) -> Self {
        ObserveSpec {
            lab: lab.to_string(),
            early: true,
            ..ObserveSpec::default()
        }
    }
}

/// The state that [`super::observe`] reads with `spec`, from the early read `observed`:
/// `None` when that read cannot give it (not an early read, or one of another lab or
/// fabric, or `spec` reads other namespaces than the lab's); the caller reads anew.
pub fn complete(
    mut observed: Observed,
    spec: &ObserveSpec,
) -> Option<Result<Observed, KernelError>> {
    let kept = observed.early.take()?;
    if spec.early || spec.all_labs || spec.links_only || spec.only.is_some() {
        return None;
    }
    if kept.lab != spec.lab || !same_fabric(&kept, spec, &observed) {
        return None;
    }
    // Settings the link dump carries (`IFLA_INET_CONF`).
    for (name, links) in &spec.settings {
        let Some(ns) = observed.state.namespaces.get_mut(name) else {
            continue;
        };
        for (ifname, settings) in links.iter() {
            let (Some(af), Some(link)) = (
                kept.af_specs.get(&(name.clone(), ifname.clone())),
                ns.links.get_mut(ifname),
            ) else {
                continue;
            };
            for s in settings.iter() {
                if let Some(v) = s.devconf_index().and_then(|i| devconf_read(af, i)) {
                    link.settings.insert(s.clone(), v.to_string());
                }
            }
        }
    }
    // Settings under /proc/sys, from inside the lab's namespaces that have some.
    let inside: Vec<&String> = observed
        .state
        .namespaces
        .iter()
        .filter(|(name, ns)| {
            ns.owned_by(&spec.lab)
                && !ns.stray
                && (spec.sysctls.contains_key(*name)
                    || spec.settings.get(*name).is_some_and(|links| {
                        links.iter().any(|(_, s)| s.iter().any(|s| !s.is_netlink()))
                    }))
        })
        .map(|(name, _)| name)
        .collect();
    let read = netns::on_threads(&inside, |name| -> Option<ProcSettings> {
        netns::enter(name).ok()??;
        let ns = state_links(&observed.state, name);
        Some(proc_settings(spec, name, |ifname| ns.contains(ifname)))
    });
    let inside: Vec<String> = inside.into_iter().cloned().collect();
    for (name, read) in inside.iter().zip(read) {
        // Gone since the early read: read everything anew.
        let read = read?;
        if let Some(ns) = observed.state.namespaces.get_mut(name) {
            read.set(ns);
        }
    }
    if let Err(e) = read_firewalls(spec, &kept.netfilter, &mut observed.state) {
        return Some(Err(e));
    }
    Some(Ok(observed))
}

/// The names of namespace `name`'s links in `state`.
fn state_links(state: &crate::state::NetState, name: &str) -> BTreeSet<String> {
    state
        .namespaces
        .get(name)
        .map(|ns| ns.links.keys().cloned().collect())
        .unwrap_or_default()
}

/// Whether the early read resolved veth peers in the fabric `spec` names: the same one,
/// or none found where the spec's is not there at all.
fn same_fabric(kept: &Kept, spec: &ObserveSpec, observed: &Observed) -> bool {
    match (&kept.fabric, &spec.fabric) {
        (a, b) if a == b => true,
        (None, Some(f)) => {
            !observed.state.namespaces.contains_key(f)
                && !observed.strays.iter().any(|s| &s.name == f)
        }
        _ => false,
    }
}
