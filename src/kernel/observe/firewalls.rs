//! Reading the firewalls of the lab's namespaces, with the kernel's tools, each on a
//! short-lived thread inside its namespace.

use std::collections::BTreeSet;

use super::ObserveSpec;
use crate::kernel::KernelError;
use crate::kernel::netns;
use crate::state::NetState;

/// Reads the firewalls `spec` asks for and those `found` in use, of the lab's
/// namespaces that exist, each on a short-lived thread inside its namespace.
pub(super) fn read_firewalls(
    spec: &ObserveSpec,
    found: &BTreeSet<String>,
    state: &mut NetState,
) -> Result<(), KernelError> {
    let names: Vec<&String> = spec
        .firewalls
        .union(found)
        .filter(|n| {
            state
                .namespaces
                .get(*n)
                .is_some_and(|ns| (spec.all_labs || ns.owned_by(&spec.lab)) && !ns.stray)
        })
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let t = std::time::Instant::now();
    let parts = crate::kernel::firewall::backend().readable_parts();
    let read = netns::on_threads(&names, |name| {
        match netns::enter(name) {
            Ok(Some(())) => {}
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        }
        crate::kernel::firewall::backend()
            .read_here(&parts)
            .map(Some)
            .map_err(|e| e.to_string())
    });
    for (name, fw) in names.into_iter().zip(read) {
        match fw {
            Ok(Some(fw)) => {
                if let Some(ns) = state.namespaces.get_mut(name) {
                    *ns.firewall = fw;
                }
            }
            Ok(None) => {}
            Err(error) => {
                return Err(KernelError::Firewall {
                    ns: name.clone(),
                    error,
                });
            }
        }
    }
    crate::trace::detail("observe: firewalls", t);
    Ok(())
}
