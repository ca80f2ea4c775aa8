//! `observe`: reads the live kernel into a `NetState`. Every namespace under
//! `/run/netns` is looked at once, on a few short-lived threads each holding at most a
//! couple of descriptors at a time: its owner from its loopback mark (one request), and,
//! for the lab's own namespaces, their links, addresses, routes, rules and the settings
//! the spec asks for. Entries that hold no namespace are never entered: the lab's own
//! (left by an interrupted run) come back as strays of the state, anything else in a
//! list of strays that the caller reports, so that nothing there can fail or hang a lab.

mod contents;
mod early;
mod fabric;
mod firewalls;
mod links;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::kernel::KernelError;
use crate::kernel::netns::{self, Entry};
use crate::state::settings::DevSetting;
use crate::state::{Namespace, NetState, SmallMap, SmallSet};

use fabric::{Fabrics, find_fabric, resolve_peers};
use firewalls::read_firewalls;
use links::look;

pub use early::complete;
pub use fabric::{find_fabrics, mark_here};

/// What to observe.
#[derive(Debug, Clone, Default)]
pub struct ObserveSpec {
    pub lab: String,
    /// The lab's fabric namespace, for resolving veth peers.
    pub fabric: Option<String>,
    /// Namespace-wide sysctl keys to read, per namespace.
    /// (The sets of one namespace are small ones: a lab of 10,000 hosts names a
    /// setting or two in each, and B-tree nodes for them were megabytes.)
    pub sysctls: BTreeMap<String, SmallSet<String>>,
    /// Settings to read, per namespace and link.
    pub settings: BTreeMap<String, SmallMap<String, SmallSet<DevSetting>>>,
    /// Only these namespaces (verification after an apply re-reads what it touched);
    /// `None` for all.
    pub only: Option<BTreeSet<String>>,
    /// Every lab's namespaces are read in full, not only `lab`'s (`status` of the whole
    /// machine): `lab` and `fabric` are then not used, and each node's veth peers are
    /// resolved in its own lab's fabric.
    pub all_labs: bool,
    /// Only the links are read (one dump per namespace): no addresses, routes, rules or
    /// settings.
    pub links_only: bool,
    /// The lab's namespaces whose firewall is read, with the kernel's tools (those
    /// whose desired state has one, or had one at the last apply). Nothing is run for
    /// the others.
    pub firewalls: BTreeSet<String>,
    /// Namespaces whose links are read one by one, by name, instead of dumped: only
    /// these (the loopback is always read). A verification reads so the few ports of
    /// the fabric an apply could have changed, not its thousands.
    pub partial_links: BTreeMap<String, BTreeSet<String>>,
    /// An early read, made before the lab's file is loaded (see [`early`]): every
    /// link's device configuration is kept, no setting is read and no firewall, until
    /// [`complete`] reads what the lab's spec asks for.
    pub early: bool,
}

impl ObserveSpec {
    /// Whether namespaces marked as `owner`'s are read past their mark.
    fn reads(&self, owner: &str) -> bool {
        self.all_labs || owner == self.lab
    }
}

impl ObserveSpec {
    /// What to read to compare with `desired`: the settings it names.
    pub fn for_desired(lab: &str, desired: &NetState) -> Self {
        let mut spec = ObserveSpec {
            lab: lab.to_string(),
            fabric: desired.fabric().map(str::to_string),
            ..ObserveSpec::default()
        };
        for (name, ns) in &desired.namespaces {
            if !ns.sysctls.is_empty() {
                spec.sysctls
                    .insert(name.clone(), ns.sysctls.keys().cloned().collect());
            }
            if !ns.firewall.is_empty() {
                spec.firewalls.insert(name.clone());
            }
            let settings: SmallMap<String, SmallSet<DevSetting>> = ns
                .links
                .iter()
                .filter(|(_, link)| !link.settings.is_empty())
                .map(|(ifname, link)| (ifname.clone(), link.settings.keys().cloned().collect()))
                .collect();
            if !settings.is_empty() {
                spec.settings.insert(name.clone(), settings);
            }
        }
        spec
    }
}

/// An entry under `/run/netns` that is no namespace and not this lab's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub name: String,
    /// What it is: "a FIFO", "an empty mount point of lab `x`", ...
    pub what: String,
}

/// The live state, and what else is under the namespace directory.
#[derive(Debug, Default)]
pub struct Observed {
    pub state: NetState,
    pub strays: Vec<Stray>,
    /// What an early read keeps for [`complete`].
    early: Option<Box<early::Kept>>,
}

/// The result of looking at one entry.
enum Seen {
    Namespace(String, Box<Dumped>),
    Foreign(String, Option<String>),
    Stray(Stray),
    /// An empty mount point of a lab that is read: its name, lab and role.
    OwnStray(String, String, crate::state::NsRole),
    Gone,
}

/// One of the lab's namespaces, dumped.
struct Dumped {
    ns: Namespace,
    raw_peers: Vec<(String, u32, Option<i32>)>,
    fabric_nsid: Option<i32>,
    /// Holds nftables tables or ipsets though the lab gives it no firewall (rules
    /// made by hand): its firewall is read too.
    netfilter: bool,
    /// An early read's links' device configurations (`IFLA_AF_SPEC`), by link.
    af_specs: Vec<(String, Vec<u8>)>,
}

/// A veth end whose peer is to be resolved: (namespace, link, peer ifindex, the peer's
/// nsid as seen from there, the fabric's nsid as seen from there).
type PendingPeer = (String, String, u32, Option<i32>, Option<i32>);

/// Reads the live state.
pub fn observe(spec: &ObserveSpec) -> Result<Observed, KernelError> {
    let t0 = std::time::Instant::now();
    let dir = netns::run_dir();
    let listed = match &spec.only {
        Some(only) => netns::list_only(only),
        None => netns::list(),
    };
    let mut entries = listed.map_err(|cause| KernelError::ListNamespaces {
        dir: dir.display().to_string(),
        cause,
    })?;
    // Every lab's fabric, by lab, when every lab is read: each node's dump asks for its
    // own lab's fabric's nsid.
    let fabrics: HashMap<String, String> = if spec.all_labs {
        find_fabrics(&entries, |_| true).into_iter().collect()
    } else {
        HashMap::new()
    };
    // The fabric is held open: every node's dump asks for its nsid by descriptor. A
    // spec without one (a destroy by lab name) looks for the lab's among the entries.
    let found;
    let fabric = match &spec.fabric {
        Some(f) if !spec.all_labs => Some(f.as_str()),
        Some(_) => None,
        None if spec.all_labs => None,
        None => {
            found = find_fabric(&spec.lab, &entries);
            found.as_deref()
        }
    };
    let spec = &ObserveSpec {
        fabric: fabric.map(str::to_string),
        ..spec.clone()
    };
    let fabric_fd: Option<OwnedFd> = spec.fabric.as_deref().and_then(|f| netns::open_fd(f).ok());
    let fabric_raw = fabric_fd.as_ref().map(AsRawFd::as_raw_fd);
    // The fabrics, by far the largest, go first so they are not last on the critical
    // path.
    let first: BTreeSet<&str> = spec
        .fabric
        .iter()
        .chain(fabrics.values())
        .map(String::as_str)
        .collect();
    entries.sort_by_key(|e| !matches!(e, Entry::File(n) if first.contains(n.as_str())));
    // Read here, on the thread that never leaves the machine's namespace; not at all
    // when there is nothing to read (the verification of a destroy): a link dump waits
    // for the rtnl lock, which the kernel's cleanup of deleted namespaces holds.
    let home: HashMap<u32, String> = if entries.is_empty() {
        HashMap::new()
    } else {
        nix::net::if_::if_nameindex()
            .map(|l| {
                l.iter()
                    .map(|i| (i.index(), i.name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let fabrics_of = Fabrics {
        held: fabric_raw,
        by_lab: &fabrics,
        home: &home,
    };
    let seen = netns::on_threads(&entries, |entry| look(spec, entry, &fabrics_of));
    drop(fabric_fd);
    crate::trace::detail("observe: open and dump", t0);

    let mut out = Observed::default();
    let mut peers: Vec<PendingPeer> = Vec::new();
    let mut netfilter = BTreeSet::new();
    let mut af_specs = HashMap::new();
    for s in seen {
        match s? {
            Seen::Namespace(name, d) => {
                if d.netfilter {
                    netfilter.insert(name.clone());
                }
                for (ifname, af) in d.af_specs {
                    af_specs.insert((name.clone(), ifname), af);
                }
                for (ifname, index, nsid) in d.raw_peers {
                    peers.push((name.clone(), ifname, index, nsid, d.fabric_nsid));
                }
                out.state.namespaces.insert(name, d.ns);
            }
            Seen::Foreign(name, owner) => {
                out.state.namespaces.insert(
                    name,
                    Namespace {
                        owner,
                        ..Namespace::default()
                    },
                );
            }
            Seen::OwnStray(name, lab, role) => {
                out.state.namespaces.insert(
                    name,
                    Namespace {
                        owner: Some(lab),
                        role,
                        stray: true,
                        ..Namespace::default()
                    },
                );
            }
            Seen::Stray(s) => out.strays.push(s),
            Seen::Gone => {}
        }
    }
    if spec.all_labs {
        // Each lab's peers in its own fabric.
        let mut by_lab: BTreeMap<String, Vec<PendingPeer>> = BTreeMap::new();
        for p in peers {
            if let Some(owner) = out.state.namespaces.get(&p.0).and_then(|n| n.owner.clone()) {
                by_lab.entry(owner).or_default().push(p);
            }
        }
        for (lab, peers) in by_lab {
            resolve_peers(&mut out.state, fabrics.get(&lab).map(String::as_str), peers);
        }
    } else {
        resolve_peers(&mut out.state, spec.fabric.as_deref(), peers);
    }
    if spec.early {
        out.early = Some(Box::new(early::Kept {
            lab: spec.lab.clone(),
            fabric: spec.fabric.clone(),
            netfilter,
            af_specs,
        }));
        return Ok(out);
    }
    read_firewalls(spec, &netfilter, &mut out.state)?;
    Ok(out)
}

/// The error of a dump in namespace `ns` that failed while reading `what`.
fn dump_error<'a>(ns: &'a str, what: &'static str) -> impl Fn(std::io::Error) -> KernelError + 'a {
    move |cause| KernelError::Dump {
        ns: ns.to_string(),
        what,
        cause,
    }
}
