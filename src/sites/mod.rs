//! One lab over several machines ("sites"): where each node is placed, which networks
//! are stretched between sites by kernel VXLAN, and the part of a lab one site
//! reconciles.
//!
//! The lab file is the same on every machine; `validate` resolves its `sites` into
//! [`LabSites`] (see `validate::sites`), and `--site NAME` [`select`]s what goes on
//! this machine: the nodes placed on it, the fabric with the bridges of the networks it
//! has members on, and for each stretched network a vxlan end in that bridge, created
//! from the machine's own (underlay) namespace so that its UDP socket stays there, with
//! a static flood entry towards every other site of the network (no multicast in the
//! underlay). Orchestration (which machine runs which command) is left to ssh, Ansible
//! or a DaemonSet: nshost has no daemon or protocol of its own.

mod place;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use self::place::place;
use crate::check::Suite;
use crate::lab::Lab;
pub use crate::lab::sites::{LabSites, Site, Stretch, derived_vni, vxlan_name};
use crate::state::NetState;

/// Why a site cannot be selected.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SiteError {
    #[error("lab `{lab}` is spread over sites ({}): say which one this machine is", .sites.join(", "))]
    #[diagnostic(
        code(nshost::site_needed),
        help("run it with --site NAME on each machine, e.g. --site {}", .sites[0])
    )]
    Needed { lab: String, sites: Vec<String> },
    #[error("lab `{lab}` has no sites, so there is no site `{site}`")]
    #[diagnostic(
        code(nshost::no_sites),
        help("leave out --site: the lab is on one machine; or declare `sites` in the file")
    )]
    NoSites { lab: String, site: String },
    #[error("lab `{lab}` has no site `{site}`")]
    #[diagnostic(code(nshost::unknown_site), help("{}", unknown_help(.sites, .site)))]
    Unknown {
        lab: String,
        site: String,
        sites: Vec<String>,
    },
}

fn unknown_help(sites: &[String], site: &str) -> String {
    let names: Vec<&str> = sites.iter().map(String::as_str).collect();
    match crate::topology::closest(site, names.iter().copied()) {
        Some(c) => format!("did you mean `{c}`? The sites are: {}", sites.join(", ")),
        None => format!("the sites are: {}", sites.join(", ")),
    }
}

/// Checks `site` against the lab's sites: a lab with sites needs one, a lab without
/// takes none.
fn resolve(lab: &Lab, site: Option<&str>) -> Result<Option<String>, SiteError> {
    match (&lab.sites, site) {
        (None, None) => Ok(None),
        (None, Some(s)) => Err(SiteError::NoSites {
            lab: lab.name.clone(),
            site: s.to_string(),
        }),
        (Some(sites), None) => Err(SiteError::Needed {
            lab: lab.name.clone(),
            sites: sites.sites.keys().cloned().collect(),
        }),
        (Some(sites), Some(s)) if sites.sites.contains_key(s) => Ok(Some(s.to_string())),
        (Some(sites), Some(s)) => Err(SiteError::Unknown {
            lab: lab.name.clone(),
            site: s.to_string(),
            sites: sites.sites.keys().cloned().collect(),
        }),
    }
}

/// Narrows a lab to what is placed on `site`: its desired state becomes the site's part
/// (see [`place`]), and the lab remembers which site it is. A lab without sites and no
/// `site` is left as it is.
pub fn select(lab: &mut Lab, desired: &mut NetState, site: Option<&str>) -> Result<(), SiteError> {
    let Some(site) = resolve(lab, site)? else {
        return Ok(());
    };
    let all = std::mem::take(desired);
    *desired = place(lab, all, &site);
    if let Some(sites) = &mut lab.sites {
        sites.here = Some(site);
    }
    Ok(())
}

/// Only the checks sent from nodes on the selected site, and only its namespaces
/// required to be there; a lab without a selected site keeps its suite.
pub fn suite_here(lab: &Lab, mut suite: Suite) -> Suite {
    let Some((sites, here)) = lab
        .sites
        .as_ref()
        .and_then(|s| s.here.as_deref().map(|h| (s, h)))
    else {
        return suite;
    };
    let on_site = |node: &str| sites.site_of(node) == here;
    suite.checks.retain(|c| on_site(&c.from));
    let kept: BTreeSet<&str> = lab
        .nodes
        .iter()
        .filter(|(name, _)| on_site(name))
        .map(|(_, n)| n.ns.as_str())
        .chain([lab.fabric_ns.as_str()])
        .collect();
    suite.namespaces.retain(|n| kept.contains(n.as_str()));
    suite
}
