//! What keeps a saved plan inside its lab. A plan is as trusted as the person who hands
//! it to you: its checksum and its pin's digest are plain SHA-256, which anyone holding
//! the file can compute again, so they catch accidents, not forgeries. What a forged
//! plan could do is closed here instead:
//!
//! - every name in it is one validation accepts of a lab file ([`bad_name`]): a
//!   namespace name is a plain file name (no `/`, not `..`), an interface name fits the
//!   kernel's 15 bytes, a sysctl key is a network one without `..`;
//! - every operation of its schedule runs where its change acts ([`misplaced_op`]);
//! - against the kernel, under the lab's lock and before anything is written, every
//!   namespace it acts in is marked as the lab's, or is free and created by the plan
//!   itself ([`outside_lab`]).

use crate::kernel::Observed;
use crate::naming::{ifname_problem, ns_name_problem};
use crate::plan::order::ops_of;
use crate::plan::task::created_namespaces;
use crate::plan::{Change, Plan};
use crate::state::{Link, LinkRef, Namespace, Route, Rule};
use crate::validate::sysctl_key_problem;

/// A name validation would refuse, and where the plan holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadName {
    /// What the name is: `namespace name`, `interface name`, `sysctl key`.
    pub what: &'static str,
    pub name: String,
    /// Where it is: `change 3`, `the desired state`, ...
    pub place: String,
    pub problem: &'static str,
}

/// Collects the first bad name met.
struct Names<'p> {
    place: &'p str,
    bad: Option<BadName>,
}

impl Names<'_> {
    fn check(&mut self, what: &'static str, name: &str, problem: Option<&'static str>) {
        if let (None, Some(problem)) = (&self.bad, problem) {
            self.bad = Some(BadName {
                what,
                name: name.to_string(),
                place: self.place.to_string(),
                problem,
            });
        }
    }

    fn ns(&mut self, name: &str) {
        self.check("namespace name", name, ns_name_problem(name));
    }

    fn ifname(&mut self, name: &str) {
        self.check("interface name", name, ifname_problem(name));
    }

    fn sysctl(&mut self, key: &str) {
        self.check("sysctl key", key, sysctl_key_problem(key));
    }

    fn link_ref(&mut self, r: &LinkRef) {
        self.ns(&r.ns);
        self.ifname(&r.name);
    }

    fn link(&mut self, name: &str, link: &Link) {
        self.ifname(name);
        if let Some(master) = &link.master {
            self.ifname(master);
        }
        if let Some(peer) = link.kind.peer() {
            self.link_ref(peer);
        }
        if let Some(lower) = link.kind.lower() {
            self.ifname(lower);
        }
        for setting in link.settings.keys() {
            self.sysctl(&setting.key(name));
        }
    }

    fn route(&mut self, route: &Route) {
        let devs = route
            .dev
            .iter()
            .chain(route.nexthops.iter().flat_map(|n| &n.dev));
        for dev in devs {
            self.ifname(dev);
        }
    }

    fn rule(&mut self, rule: &Rule) {
        for dev in rule.iif.iter().chain(&rule.oif) {
            self.ifname(dev);
        }
    }

    fn namespace(&mut self, name: &str, ns: &Namespace) {
        self.ns(name);
        for (ifname, link) in &ns.links {
            self.link(ifname, link);
        }
        for key in ns.addresses.keys() {
            self.ifname(&key.ifname);
        }
        for route in ns.routes.values() {
            self.route(route);
        }
        for rule in ns.rules.iter() {
            self.rule(rule);
        }
        for key in ns.sysctls.keys() {
            self.sysctl(key);
        }
    }

    fn change(&mut self, change: &Change) {
        self.ns(change.ns());
        match change {
            Change::AddNamespace { .. }
            | Change::DeleteNamespace { .. }
            | Change::SetFirewall { .. } => {}
            Change::AddLink {
                name, link, peer, ..
            } => {
                self.link(name, link);
                if let Some(peer) = peer {
                    self.link_ref(&peer.at);
                    self.link(&peer.at.name, &peer.link);
                }
            }
            Change::UpdateLink { name, from, to, .. } => {
                self.link(name, from);
                self.link(name, to);
            }
            Change::DeleteLink { name, link, .. } => self.link(name, link),
            Change::AddAddress { key, .. } | Change::DeleteAddress { key, .. } => {
                self.ifname(&key.ifname);
            }
            Change::AddRoute { route, .. } | Change::DeleteRoute { route, .. } => {
                self.route(route);
            }
            Change::ReplaceRoute { from, to, .. } => {
                self.route(from);
                self.route(to);
            }
            Change::AddRule { rule, .. } | Change::DeleteRule { rule, .. } => self.rule(rule),
            Change::SetSysctl { key, .. } => self.sysctl(key),
            Change::SetQdisc { link, .. } => self.ifname(link),
            Change::SetLinkSetting { link, setting, .. } => {
                self.ifname(link);
                self.sysctl(&setting.key(link));
            }
        }
    }
}

/// What the saved plan names, for [`bad_name`].
pub struct Named<'a> {
    pub plan: &'a Plan,
    pub desired: &'a crate::state::NetState,
    pub pinned: &'a super::Pinned,
    pub spec: &'a crate::kernel::ObserveSpec,
}

/// The first name of a saved plan that validation would refuse, if there is one: in its
/// changes, its schedule, its desired state, its pin and what it reads of the kernel.
pub fn bad_name(named: &Named) -> Option<BadName> {
    for (i, change) in named.plan.changes.iter().enumerate() {
        let place = format!("change {}", i + 1);
        let mut names = Names {
            place: &place,
            bad: None,
        };
        names.change(change);
        if names.bad.is_some() {
            return names.bad;
        }
    }
    let mut names = Names {
        place: "the schedule",
        bad: None,
    };
    for (_, step) in named.plan.steps() {
        names.ns(step.executor.ns());
    }
    names.place = "the desired state";
    for (name, ns) in &named.desired.namespaces {
        names.namespace(name, ns);
    }
    names.place = "the pinned objects";
    for name in named.pinned.keys() {
        names.ns(name);
    }
    names.place = "what the plan reads of the kernel";
    let spec = named.spec;
    for name in spec.fabric.iter().chain(&spec.firewalls) {
        names.ns(name);
    }
    for (name, keys) in &spec.sysctls {
        names.ns(name);
        for key in keys.iter() {
            names.sysctl(key);
        }
    }
    for (name, links) in &spec.settings {
        names.ns(name);
        for (ifname, settings) in links {
            names.ifname(ifname);
            for setting in settings.iter() {
                names.sysctl(&setting.key(ifname));
            }
        }
    }
    names.bad
}

/// What is wrong with where the schedule runs an operation, if anything: each runs on
/// an executor of its change's own namespace (or of the far end of a pair it creates),
/// exactly as `plan` schedules it.
pub fn misplaced_op(plan: &Plan) -> Option<String> {
    let created = created_namespaces(&plan.changes);
    for (_, step) in plan.steps() {
        for op in &step.ops {
            let change = &plan.changes[op.change];
            let fits = ops_of(change, &created)
                .iter()
                .any(|(part, ex)| *part == op.part && *ex == step.executor);
            if !fits {
                return Some(format!(
                    "its schedule runs change {} ({}) on an executor of namespace {}",
                    op.change + 1,
                    change.describe(),
                    step.executor.ns()
                ));
            }
        }
    }
    None
}

/// Every namespace the plan acts in that is not its lab's, with why: one marked as
/// another lab's or as none's, an entry that holds no namespace, or a name where
/// nothing is that the plan does not create. Read from the kernel (`observed`, the
/// whole namespace directory), not from the plan.
pub fn outside_lab(plan: &Plan, observed: &Observed) -> Vec<(String, String)> {
    let created = created_namespaces(&plan.changes);
    let mut out = Vec::new();
    for name in plan.touched_namespaces() {
        let live = observed.state.namespaces.get(&name);
        let stray = observed.strays.iter().find(|s| s.name == name);
        let why = match (live, stray) {
            (Some(ns), _) => match ns.owner.as_deref() {
                Some(owner) if owner == plan.lab => continue,
                Some(owner) => format!("it is lab {owner}'s"),
                None => "nshost did not create it".to_string(),
            },
            (None, Some(stray)) => format!("the entry there is {}", stray.what),
            (None, None) if created.contains(name.as_str()) => continue,
            (None, None) => "there is none, and the plan does not create it".to_string(),
        };
        out.push((name, why));
    }
    out
}

/// What a change sets that the plan does not read of the kernel, if anything: the pin
/// covers what was read, so every sysctl, link setting and firewall the plan sets in a
/// namespace that exists is read (and pinned) with it.
pub fn unpinned(plan: &Plan, spec: &crate::kernel::ObserveSpec) -> Option<String> {
    let created = created_namespaces(&plan.changes);
    for (i, change) in plan.changes.iter().enumerate() {
        let ns = change.ns();
        let read = created.contains(ns)
            || match change {
                Change::SetSysctl { key, .. } => {
                    spec.sysctls.get(ns).is_some_and(|keys| keys.contains(key))
                }
                Change::SetLinkSetting { link, setting, .. } => spec
                    .settings
                    .get(ns)
                    .and_then(|links| links.get(link))
                    .is_some_and(|settings| settings.contains(setting)),
                Change::SetFirewall { .. } => spec.firewalls.contains(ns),
                _ => true,
            };
        if !read {
            return Some(format!(
                "change {} ({}) sets what the plan does not read of the kernel, so its pin \
                 does not cover it",
                i + 1,
                change.describe()
            ));
        }
    }
    None
}

/// What a change deletes or changes that its pin does not hold, if anything: each
/// namespace it acts in (but those it creates) is pinned as one, and every link,
/// address, route and rule it deletes, updates or replaces is there in the pin (which
/// the kernel must still match).
pub fn not_in_pin(plan: &Plan, pinned: &super::Pinned) -> Option<String> {
    let created = created_namespaces(&plan.changes);
    for (i, change) in plan.changes.iter().enumerate() {
        let name = change.ns();
        if created.contains(name) {
            continue;
        }
        let said = |what: &str| {
            Some(format!(
                "change {} ({}) acts on {what} its pin does not hold",
                i + 1,
                change.describe()
            ))
        };
        let Some(super::Seen::Namespace(ns)) = pinned.get(name) else {
            return said(&format!("namespace {name}, which"));
        };
        let held = match change {
            Change::UpdateLink { name, .. } | Change::DeleteLink { name, .. } => {
                ns.links.contains_key(name)
            }
            Change::DeleteAddress { key, .. } => ns.addresses.contains_key(key),
            Change::DeleteRoute { key, .. } | Change::ReplaceRoute { key, .. } => {
                ns.routes.contains_key(key)
            }
            Change::DeleteRule { rule, .. } => ns.rules.contains(rule),
            _ => true,
        };
        if !held {
            return said(&format!("an object of namespace {name} that"));
        }
    }
    None
}

/// A firewall the plan would load that makes its loader read a file of this machine (an
/// nft `include`, ...), refused as validation refuses it in a lab file: a plan's
/// firewalls are the loaders' input as they are.
pub fn firewall_reads_file(plan: &Plan, desired: &crate::state::NetState) -> Option<String> {
    use crate::firewall::{Firewall, Part, Ruleset, files, ipset, nft, xt};
    let text = |fw: &Firewall, part: Part| match part {
        Part::Iptables => xt::restore_text(&fw.iptables, &Ruleset::default()),
        Part::Ip6tables => xt::restore_text(&fw.ip6tables, &Ruleset::default()),
        Part::Nftables => nft::text(&fw.nftables),
        Part::Ipsets => ipset::restore_text(&fw.ipsets),
    };
    let wanted = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::SetFirewall { ns, to, .. } => Some((ns.as_str(), &**to)),
            _ => None,
        })
        .chain(
            desired
                .namespaces
                .iter()
                .map(|(ns, n)| (ns.as_str(), &*n.firewall)),
        );
    for (ns, fw) in wanted {
        for part in Part::ALL {
            if let Some(e) = files::file_reads(part, &text(fw, part)).first() {
                return Some(format!(
                    "its {} firewall of namespace {ns} would read a file of this machine: {}",
                    part.field(),
                    e.message
                ));
            }
        }
    }
    None
}
