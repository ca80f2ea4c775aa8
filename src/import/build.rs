//! From facts to a lab: what the kernel makes itself is left out, every route is tried
//! on a model of the router's FIB ([`super::fib`]) in the order the lab will add them,
//! networks are inferred from the subnets the routers share, and everything left out
//! is reported with its file, line and reason.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;

use super::Format;
use super::facts::{At, Facts, InterfaceFact, RouterFacts, RuleAction, RuleFact};
use super::model::{Interface, Lab, Network, Router};
use super::report::{
    Category, ImportReport, ImportedCounts, LeftOutFact, LeftOutGroup, TableCount,
};
use crate::state::RT_TABLE_MAIN;

mod routes;

use routes::routes;

/// The MTU a veth gets when none is said.
const DEFAULT_MTU: u32 = 1500;

/// Collects what is left out.
#[derive(Default)]
struct Left(BTreeMap<Category, Vec<LeftOutFact>>);

impl Left {
    fn add(
        &mut self,
        category: Category,
        what: &str,
        router: &str,
        at: &At,
        text: &str,
        reason: String,
    ) {
        self.0.entry(category).or_default().push(LeftOutFact {
            what: what.to_string(),
            router: router.to_string(),
            file: at.file.clone(),
            line: at.line,
            text: text.to_string(),
            reason,
        });
    }
}

/// What building the lab gathers beside it for the report: the facts left out and
/// those approximated, and the counts of what is imported.
#[derive(Default)]
struct Tally {
    left: Left,
    approximated: Vec<LeftOutFact>,
    counts: ImportedCounts,
    /// The iptables rules imported, by table.
    by_table: BTreeMap<String, usize>,
}

/// The ipset types left out on request, and those the kernel lacks.
type IpsetTypes<'a> = (&'a [String], &'a [String]);

/// Judges `facts` and builds the lab named `name`.
///
/// `without_ipset_types` are ipset types to leave out on request, with their members,
/// `kernel_lacks` those left out because the kernel lacks them; each line left out is
/// reported.
pub fn build(
    format: Format,
    source: &str,
    name: &str,
    facts: Facts,
    without_ipset_types: &[String],
    kernel_lacks: &[String],
) -> (Lab, ImportReport) {
    let mut tally = Tally::default();
    unreadable(&facts, &mut tally.left);
    let tables = tables(&facts.routers);
    let networks = networks(&facts.routers);
    let ipset_types = (without_ipset_types, kernel_lacks);
    let routers: Vec<Router> = facts
        .routers
        .iter()
        .map(|rf| router(rf, &tables, &networks, ipset_types, &mut tally))
        .collect();
    tally
        .approximated
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    tally.counts.routers = routers.len();
    tally.counts.networks = networks.list.len();
    tally.counts.tables = tables.len();
    let report = tally.report(format, source, name, &facts.files, ipset_types);
    let lab = Lab {
        name: name.to_string(),
        header: Vec::new(),
        tables,
        networks: networks.list,
        routers,
    };
    (lab, report)
}

/// The lines no reader understood, each with the router of its file.
fn unreadable(facts: &Facts, left: &mut Left) {
    for u in &facts.unread {
        let router = facts
            .routers
            .iter()
            .find(|r| r.file == u.at.file)
            .map_or("", |r| r.name.as_str());
        left.add(
            Category::Unreadable,
            "line",
            router,
            &u.at,
            &u.text,
            u.reason.clone(),
        );
    }
}

/// One router of the lab: its interfaces, routes, rules and firewall texts, in that
/// order, with what is left out or approximated of it.
fn router(
    rf: &RouterFacts,
    tables: &[(String, u32)],
    networks: &Networks,
    ipset_types: IpsetTypes,
    tally: &mut Tally,
) -> Router {
    let interfaces = interfaces(rf, networks, tally);
    let (routes, made) = routes(rf, &mut tally.left);
    tally.counts.kernel_valid_routes += routes.len() + made;
    tally.counts.routes += routes.len();
    let rules = rules(rf, tables, &mut tally.left);
    tally.counts.rules += rules.len();
    let iptables = rf.iptables.as_ref().map(|t| {
        tally.count_iptables(&t.text);
        t.text.clone()
    });
    let ipsets = rf.ipsets.as_ref().and_then(|s| {
        let text = ipsets(rf, s, ipset_types, &mut tally.left);
        tally.counts.ipsets += text.lines().filter(|l| l.starts_with("create ")).count();
        tally.counts.ipset_members += text.lines().filter(|l| l.starts_with("add ")).count();
        (!text.is_empty()).then_some(text)
    });
    connected_gaps(rf, &mut tally.approximated);
    super::changed::router(rf, &mut tally.approximated);
    Router {
        name: rf.name.clone(),
        file: rf.file.clone(),
        interfaces,
        routes,
        rules,
        iptables,
        ipsets,
    }
}

/// The router's interfaces but its loopbacks, each on its network (with its MTU where
/// it differs from the network's); a point-to-point one is approximated by a veth.
fn interfaces(rf: &RouterFacts, networks: &Networks, tally: &mut Tally) -> Vec<Interface> {
    let mut interfaces = Vec::new();
    for i in rf.interfaces.iter().filter(|i| !i.loopback) {
        let Some(net) = networks.of(&rf.name, &i.name) else {
            continue;
        };
        let net_mtu = networks.list[net].mtu.unwrap_or(DEFAULT_MTU);
        interfaces.push(Interface {
            name: i.name.clone(),
            network: networks.list[net].name.clone(),
            addresses: i.addresses.iter().map(|a| a.net).collect(),
            mtu: i.mtu.filter(|m| *m != net_mtu),
            up: i.up,
            mac: i.mac.clone(),
        });
        tally.counts.interfaces += 1;
        tally.counts.macs += usize::from(i.mac.is_some());
        if i.point_to_point {
            tally.approximated.push(LeftOutFact {
                what: "interface".into(),
                router: rf.name.clone(),
                file: i.at.file.clone(),
                line: i.at.line,
                text: format!("{} (point-to-point, no broadcast)", i.name),
                reason: format!(
                    "an ordinary veth on network `{}`, with a broadcast address: a lab has no tunnels",
                    networks.list[net].name
                ),
            });
        }
    }
    interfaces
}

/// The router's rules a lab can hold: not the kernel's defaults, of a priority a lab
/// takes, looking up a table the lab knows.
fn rules(rf: &RouterFacts, tables: &[(String, u32)], left: &mut Left) -> Vec<RuleFact> {
    let mut rules = Vec::new();
    for rule in &rf.rules {
        let at = rule.at.clone().unwrap_or(At {
            file: rf.file.clone(),
            line: 0,
        });
        if rule.is_kernel_default() {
            left.add(
                Category::KernelMade,
                "default rule",
                &rf.name,
                &at,
                &rule.text,
                "the kernel's own".into(),
            );
            continue;
        }
        if !(1..=32765).contains(&rule.priority) {
            left.add(Category::NotExpressible, "rule", &rf.name, &at, &rule.text,
                "a lab's rules have priorities 1 to 32765 (0, 32766 and 32767 are the kernel's defaults')".into());
            continue;
        }
        if let Some(RuleAction::Lookup(t)) = &rule.action
            && !known_table(t, tables)
        {
            left.add(
                Category::NotExpressible,
                "rule",
                &rf.name,
                &at,
                &rule.text,
                format!("table `{t}` is named by no routing table section"),
            );
            continue;
        }
        rules.push(rule.clone());
    }
    rules
}

impl Tally {
    /// Counts the rules of an `iptables-save` text, in all and by table.
    fn count_iptables(&mut self, text: &str) {
        let mut table = String::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('*') {
                table = name.trim().to_string();
            } else if line.starts_with("-A ") {
                self.counts.iptables_rules += 1;
                *self.by_table.entry(table.clone()).or_default() += 1;
            }
        }
    }

    /// The report of the lab `lab` imported from `source` (`files` read in `format`).
    fn report(
        self,
        format: Format,
        source: &str,
        lab: &str,
        files: &[String],
        (without, lacks): IpsetTypes,
    ) -> ImportReport {
        let Tally {
            left,
            approximated,
            mut counts,
            by_table,
        } = self;
        counts.iptables_rules_by_table = by_table
            .into_iter()
            .map(|(table, rules)| TableCount { table, rules })
            .collect();
        let left_out = left
            .0
            .into_iter()
            .map(|(category, facts)| LeftOutGroup {
                category,
                count: facts.len(),
                facts,
            })
            .collect();
        ImportReport {
            format: format.name().to_string(),
            source: source.to_string(),
            files: files.to_vec(),
            without_ipset_types: without.to_vec(),
            kernel_lacks_ipset_types: lacks
                .iter()
                .filter(|t| !without.contains(t))
                .cloned()
                .collect(),
            lab: lab.to_string(),
            imported: counts,
            left_out,
            approximated,
            warnings: Vec::new(),
            yaml: None,
        }
    }
}

/// The lab's named tables: every router's, by number. A name two routers number
/// differently is kept for neither (their rules then say the number).
fn tables(routers: &[RouterFacts]) -> Vec<(String, u32)> {
    let mut by_name: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for r in routers {
        for (name, number, _) in &r.tables {
            by_name.entry(name).or_default().push(*number);
        }
    }
    let mut out: Vec<(String, u32)> = by_name
        .into_iter()
        .filter(|(_, n)| n.iter().all(|x| *x == n[0]))
        .filter(|(_, n)| !matches!(n[0], 0 | 253..=255))
        .map(|(name, n)| (name.to_string(), n[0]))
        .collect();
    out.sort_by_key(|(name, n)| (*n, name.clone()));
    out
}

fn known_table(t: &str, tables: &[(String, u32)]) -> bool {
    matches!(t, "main" | "local" | "default")
        || t.parse::<u32>().is_ok()
        || tables.iter().any(|(n, _)| n == t)
}

/// The table a rule names as a lab file says it: its name when the lab declares it,
/// else its number.
pub fn table_ref(
    t: &str,
    routers_tables: &[(String, u32, At)],
    tables: &[(String, u32)],
) -> String {
    if tables.iter().any(|(n, _)| n == t) || matches!(t, "main" | "local" | "default") {
        return t.to_string();
    }
    routers_tables
        .iter()
        .find(|(n, _, _)| n == t)
        .map_or_else(|| t.to_string(), |(_, num, _)| num.to_string())
}

/// The networks, and which one each interface is on.
struct Networks {
    list: Vec<Network>,
    /// (router, interface) to the index in `list`.
    of: HashMap<(String, String), usize>,
}

impl Networks {
    fn of(&self, router: &str, iface: &str) -> Option<usize> {
        self.of
            .get(&(router.to_string(), iface.to_string()))
            .copied()
    }
}

/// One network per subnet: shared by several routers, named for them (or for the
/// interface name they all use, as `wg0`); a subnet on one router only is its own LAN
/// network, named `<router>.<interface>`. An interface without an address is on a
/// network of its own too.
fn networks(routers: &[RouterFacts]) -> Networks {
    let mut by_subnet: BTreeMap<IpNet, Vec<(&str, &InterfaceFact)>> = BTreeMap::new();
    let mut alone = Vec::new();
    for r in routers {
        for i in r.interfaces.iter().filter(|i| !i.loopback) {
            match i.addresses.first() {
                Some(a) => by_subnet
                    .entry(a.net.trunc())
                    .or_default()
                    .push((&r.name, i)),
                None => alone.push((r.name.as_str(), i)),
            }
        }
    }
    let mut groups: Vec<(IpNet, Vec<(&str, &InterfaceFact)>)> = by_subnet.into_iter().collect();
    // In the order the routers and their interfaces come.
    let order = |r: &str, i: &str| {
        routers
            .iter()
            .position(|x| x.name == r)
            .map(|p| (p, routers[p].interfaces.iter().position(|x| x.name == i)))
    };
    groups.sort_by_key(|(_, m)| order(m[0].0, &m[0].1.name));
    let mut list: Vec<Network> = Vec::new();
    let mut of = HashMap::new();
    for (subnet, members) in groups {
        let first = &members[0];
        let name = if members.len() == 1 {
            format!("{}.{}", first.0, first.1.name)
        } else if members.iter().all(|(_, i)| i.name == first.1.name)
            && !first.1.name.starts_with("eth")
        {
            first.1.name.clone()
        } else {
            let mut names: Vec<&str> = members.iter().map(|(r, _)| *r).collect();
            names.sort();
            names.dedup();
            names.join("+")
        };
        let mtus: Vec<u32> = members
            .iter()
            .map(|(_, i)| i.mtu.unwrap_or(DEFAULT_MTU))
            .collect();
        let mtu = (mtus.iter().all(|m| *m == mtus[0]) && mtus[0] != DEFAULT_MTU).then_some(mtus[0]);
        let mut subnets = vec![subnet];
        for (_, i) in &members {
            for a in &i.addresses[1..] {
                if !subnets.contains(&a.net.trunc()) {
                    subnets.push(a.net.trunc());
                }
            }
        }
        for (r, i) in &members {
            of.insert((r.to_string(), i.name.clone()), list.len());
        }
        list.push(Network { name, subnets, mtu });
    }
    for (r, i) in alone {
        of.insert((r.to_string(), i.name.clone()), list.len());
        list.push(Network {
            name: format!("{r}.{}", i.name),
            subnets: Vec::new(),
            mtu: i.mtu.filter(|m| *m != DEFAULT_MTU),
        });
    }
    Networks { list, of }
}

/// Addresses whose connected route the facts lack: the lab has it (the kernel makes it).
fn connected_gaps(rf: &RouterFacts, approximated: &mut Vec<LeftOutFact>) {
    for i in rf.interfaces.iter().filter(|i| i.up && !i.loopback) {
        for a in &i.addresses {
            let listed = rf.routes.iter().any(|r| {
                r.table == RT_TABLE_MAIN
                    && r.dst == a.net.trunc()
                    && r.dev.as_deref() == Some(&i.name)
                    && r.via.is_none()
            });
            if !listed && a.net.prefix_len() < a.net.max_prefix_len() {
                approximated.push(LeftOutFact {
                    what: "address".into(),
                    router: rf.name.clone(),
                    file: a.at.file.clone(),
                    line: a.at.line,
                    text: format!("{} on {}", a.net, i.name),
                    reason: "the facts list no connected route for it; the lab's kernel makes one"
                        .into(),
                });
            }
        }
    }
}

/// The router's `ipset save` text without the sets of the types left out (on request,
/// or because the kernel lacks them) and their members, each line left out reported.
fn ipsets(
    rf: &RouterFacts,
    s: &super::facts::Text,
    (without, lacks): (&[String], &[String]),
    left: &mut Left,
) -> String {
    // The sets left out, and why.
    let mut dropped: Vec<(&str, Category)> = Vec::new();
    let mut out = String::new();
    for (i, line) in s.text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = At {
            file: s.at.file.clone(),
            line: s.lines.get(i).copied().unwrap_or(s.at.line),
        };
        let leave = match words.as_slice() {
            ["create", set, kind, ..] if without.iter().any(|w| w == kind) => {
                dropped.push((set, Category::OnRequest));
                Some((
                    Category::OnRequest,
                    format!("set type {kind} left out on request (--without-ipset-type)"),
                ))
            }
            ["create", set, kind, ..] if lacks.iter().any(|w| w == kind) => {
                dropped.push((set, Category::KernelLacks));
                Some((
                    Category::KernelLacks,
                    format!("left out: this kernel lacks ipset type {kind}"),
                ))
            }
            ["add", set, ..] => dropped.iter().find(|d| d.0 == *set).map(|d| {
                let why = match d.1 {
                    Category::OnRequest => "is left out on request",
                    _ => "this kernel lacks",
                };
                (d.1, format!("a member of {set}, whose type {why}"))
            }),
            _ => None,
        };
        match leave {
            Some((category, reason)) => {
                let what = if words[0] == "create" {
                    "ipset"
                } else {
                    "ipset member"
                };
                left.add(category, what, &rf.name, &at, line, reason);
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
