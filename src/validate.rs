//! Validation: checks a parsed topology and resolves it into a `Lab`, reporting every
//! problem at once as miette diagnostics pointing at the YAML.
//!
//! The checks run in passes (names, tables, networks, interfaces, network membership,
//! addresses, fabric names, then per node routes, rules, gateways and sysctls). A pass
//! never stops at a bad value: it reports it, leaves it out and goes on, so that one
//! mistake is reported once and does not hide the others.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use indexmap::IndexMap;
use ipnet::IpNet;
use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};

use crate::lab::{IfaceKind, Lab, LabInterface, LabNetwork, LabNode, LabRoute};
use crate::naming;
use crate::state::{Fwmark, NsRole, PortRange, RT_TABLE_MAIN, RTPROT_BOOT, Rule};
use crate::topology::{
    Family, NamedMap, Ports, Proto, RouteSpec, RuleSpec, SourceFile, Spanned, SysctlValue,
    TableRef, Topology, span_of, thousands,
};

/// Every problem found in a lab file. Rendered, it lists each problem with its labels:
/// the first [`Invalid::SHOWN`], then one line saying how many more there are.
#[derive(Debug, thiserror::Error)]
#[error("{} in {}", plural(.problems.len(), "problem"), .file)]
pub struct Invalid {
    /// The lab file's name.
    pub file: String,
    /// The lab file, for the labels of the problems.
    pub source_code: NamedSource<Arc<str>>,
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
    /// The line after the problems shown (its count set when rendered).
    omitted: Omitted,
}

impl Invalid {
    /// How many problems a rendering shows.
    pub const SHOWN: usize = 50;

    /// The problems found in `src`.
    pub fn new(src: &SourceFile, problems: Vec<Problem>) -> Self {
        Invalid {
            file: src.name.clone(),
            source_code: src.shared_source(),
            problems,
            omitted: Omitted::default(),
        }
    }
}

impl Diagnostic for Invalid {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("nshost::invalid"))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source_code)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        let shown = self
            .problems
            .iter()
            .take(Self::SHOWN)
            .map(|p| p as &dyn Diagnostic);
        let more = self.problems.len().saturating_sub(Self::SHOWN);
        self.omitted.more.store(more, Ordering::Relaxed);
        let omitted = (more > 0).then_some(&self.omitted as &dyn Diagnostic);
        Some(Box::new(shown.chain(omitted)))
    }
}

/// The line that stands for the problems not shown.
#[derive(Debug, Default, thiserror::Error)]
#[error(
    "... and {} more {} (the first {} are shown)",
    thousands(self.more.load(Ordering::Relaxed)),
    if self.more.load(Ordering::Relaxed) == 1 { "problem" } else { "problems" },
    Invalid::SHOWN
)]
struct Omitted {
    more: AtomicUsize,
}

impl Diagnostic for Omitted {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("nshost::more_problems"))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
}

/// One problem in a lab file, with labels pointing at the YAML.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    /// A short stable code, e.g. `nshost::duplicate_address`.
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<LabeledSpan>,
    pub help: Option<String>,
    source_code: NamedSource<Arc<str>>,
}

impl Problem {
    /// A problem in the file `source_code` holds, without labels yet.
    pub fn new(
        code: &'static str,
        message: impl Into<String>,
        source_code: NamedSource<Arc<str>>,
    ) -> Self {
        Problem {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            source_code,
        }
    }

    /// Adds a label at `span` (builder style).
    pub fn label(mut self, span: SourceSpan, text: impl Into<String>) -> Self {
        self.with_label(span, text);
        self
    }

    /// Sets the help text (builder style).
    pub fn help_text(mut self, text: impl Into<String>) -> Self {
        self.with_help(text);
        self
    }

    pub fn with_label(&mut self, span: SourceSpan, text: impl Into<String>) -> &mut Self {
        self.labels
            .push(LabeledSpan::new_with_span(Some(text.into()), span));
        self
    }

    pub fn with_help(&mut self, text: impl Into<String>) -> &mut Self {
        self.help = Some(text.into());
        self
    }
}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source_code)
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Checks `topo` (parsed from `src`) and resolves it.
pub fn validate(src: &SourceFile, topo: &Topology) -> Result<Lab, Invalid> {
    let mut cx = Cx {
        text: &src.text,
        source: src.shared_source(),
        problems: Vec::new(),
    };
    let lab = resolve(&mut cx, topo);
    if cx.problems.is_empty() {
        Ok(lab)
    } else {
        Err(Invalid::new(src, cx.problems))
    }
}

/// The problem collector.
struct Cx<'s> {
    text: &'s str,
    source: NamedSource<Arc<str>>,
    problems: Vec<Problem>,
}

impl Cx<'_> {
    fn span<T>(&self, s: &Spanned<T>) -> SourceSpan {
        span_of(s, self.text)
    }

    fn report(&mut self, code: &'static str, message: impl Into<String>) -> &mut Problem {
        self.problems
            .push(Problem::new(code, message, self.source.clone()));
        self.problems.last_mut().expect("just pushed")
    }
}

/// A network as declared under `networks`, after its own checks.
struct DeclaredNet {
    key_span: SourceSpan,
    subnets: Vec<(IpNet, SourceSpan)>,
    mtu: Option<u32>,
    allow_overlap: bool,
}

/// Any network of the lab, declared or inferred, for the lab-wide checks.
struct NetInfo {
    name: String,
    /// Subnets with the place each comes from (a declared subnet, or the address an
    /// inferred subnet was taken from).
    subnets: Vec<(IpNet, SourceSpan)>,
    mtu: Option<u32>,
    allow_overlap: bool,
    inferred: bool,
    /// Where the network is named (declared key, or the first address it was inferred from).
    span: SourceSpan,
}

/// One interface of a node (a router interface or a host's single interface).
struct Member<'t> {
    node: &'t Spanned<String>,
    router: bool,
    ifname: String,
    /// Where the interface is named: its key, a host's `interface`, or the host's name.
    name_span: SourceSpan,
    /// `None` for veth, else the standalone kind.
    standalone: Option<String>,
    explicit_network: Option<&'t Spanned<String>>,
    /// The addresses that parsed, in file order.
    addrs: Vec<(IpNet, SourceSpan)>,
    mtu: Option<u32>,
    up: bool,
    /// The network, once resolved.
    network: Option<String>,
    /// Set when an address lies outside the member's network (already reported).
    misplaced: bool,
}

impl Member<'_> {
    fn describe(&self) -> String {
        let what = if self.router { "router" } else { "host" };
        format!("{what} `{}` interface `{}`", self.node.value, self.ifname)
    }
}

fn resolve(cx: &mut Cx, topo: &Topology) -> Lab {
    let name = topo.name.value.clone();
    check_lab_name(cx, topo);
    let prefix = topo
        .prefix
        .as_ref()
        .map(|p| p.value.clone())
        .unwrap_or_default();
    let fabric_ns = naming::fabric_ns(&prefix, &name);
    let tables = check_tables(cx, topo);
    let declared = check_networks(cx, topo);
    check_node_names(cx, topo, &prefix, &fabric_ns);

    let mut members = collect_members(cx, topo);
    let nets = resolve_networks(cx, &declared, &mut members);
    check_overlaps(cx, &nets);
    check_duplicate_addresses(cx, &members);
    check_fabric_names(cx, &nets, &members);

    // Each node's members, found by the node's key (one pass, not one per node).
    let mut by_node: HashMap<(bool, *const Spanned<String>), Vec<&Member>> = HashMap::new();
    for m in &members {
        by_node
            .entry((m.router, std::ptr::from_ref(m.node)))
            .or_default()
            .push(m);
    }
    let mut nodes = BTreeMap::new();
    for (key, router) in &topo.routers {
        let mine = by_node
            .get(&(true, std::ptr::from_ref(key)))
            .cloned()
            .unwrap_or_default();
        let interfaces = lab_interfaces(&mine, &nets);
        let ifnames: Vec<&str> = mine.iter().map(|m| m.ifname.as_str()).collect();
        let connected: Vec<IpNet> = mine
            .iter()
            .flat_map(|m| m.addrs.iter().map(|(a, _)| a.trunc()))
            .collect();
        let routes = check_routes(cx, key, &router.routes, &ifnames, &connected, &tables);
        let rules = check_rules(cx, key, &router.rules, &ifnames, &tables);
        let mut sysctls = check_sysctls(cx, &router.sysctls);
        for forwarding in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
            sysctls
                .entry(forwarding.to_string())
                .or_insert_with(|| "1".to_string());
        }
        nodes.insert(
            key.value.clone(),
            LabNode {
                ns: naming::node_ns(&prefix, &key.value),
                role: NsRole::Router,
                interfaces,
                routes,
                rules,
                sysctls,
            },
        );
    }
    for (key, host) in &topo.hosts {
        let Some(&me) = by_node
            .get(&(false, std::ptr::from_ref(key)))
            .and_then(|mine| mine.first())
        else {
            continue;
        };
        let interfaces = lab_interfaces(&[me], &nets);
        let routes = host_routes(cx, key, host.gateway.as_ref(), me, &members);
        let sysctls = check_sysctls(cx, &host.sysctls);
        nodes.insert(
            key.value.clone(),
            LabNode {
                ns: naming::node_ns(&prefix, &key.value),
                role: NsRole::Host,
                interfaces,
                routes,
                rules: Vec::new(),
                sysctls,
            },
        );
    }

    let networks = nets
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                LabNetwork {
                    bridge: naming::bridge_name(&n.name),
                    subnets: n.subnets.iter().map(|(s, _)| *s).collect(),
                    mtu: n.mtu,
                    inferred: n.inferred,
                },
            )
        })
        .collect();
    Lab {
        name,
        fabric_ns,
        networks,
        nodes,
        origins: Default::default(),
        warnings: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------
// Names

/// Why `s` is not a word of `[A-Za-z0-9_.-]`, if it is not.
fn bad_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
}

fn check_lab_name(cx: &mut Cx, topo: &Topology) {
    let name = &topo.name;
    let span = cx.span(name);
    let name_ok = match naming::lab_name_problem(&name.value) {
        Some(problem) => {
            let report = cx
                .report("nshost::bad_lab_name", problem.message(&name.value))
                .with_label(span, problem.label());
            if let Some(help) = problem.help() {
                report.with_help(help);
            }
            false
        }
        None => true,
    };
    let mut prefix_ok = true;
    if let Some(prefix) = &topo.prefix
        && let Some(c) = bad_char(&prefix.value)
    {
        prefix_ok = false;
        let span = cx.span(prefix);
        cx.report(
            "nshost::bad_prefix",
            format!("the prefix `{}` contains {c:?}", prefix.value),
        )
        .with_label(span, format!("{c:?} is not allowed here"))
        .with_help("a prefix may hold only letters, digits, `_`, `.` and `-`");
    }
    if name_ok && prefix_ok {
        let prefix = topo.prefix.as_ref().map_or("", |p| p.value.as_str());
        let fabric = naming::fabric_ns(prefix, &name.value);
        if let Some(problem) = naming::ns_name_problem(&fabric) {
            cx.report(
                "nshost::bad_namespace_name",
                format!("the fabric namespace name `{fabric}` {problem}"),
            )
            .with_label(span, "the fabric namespace is named after the lab");
        }
    }
}

fn check_node_names(cx: &mut Cx, topo: &Topology, prefix: &str, fabric_ns: &str) {
    let mut seen: HashMap<&str, (SourceSpan, &str)> = HashMap::new();
    let routers = topo.routers.keys().map(|k| (k, "router"));
    let hosts = topo.hosts.keys().map(|k| (k, "host"));
    for (key, what) in routers.chain(hosts) {
        let span = cx.span(key);
        let ns = naming::node_ns(prefix, &key.value);
        if key.value.is_empty() {
            cx.report(
                "nshost::bad_node_name",
                format!("a {what} has an empty name"),
            )
            .with_label(span, "empty name");
        } else if let Some(problem) = naming::ns_name_problem(&ns) {
            cx.report(
                "nshost::bad_node_name",
                format!(
                    "the namespace name `{ns}` of {what} `{}` {problem}",
                    key.value
                ),
            )
            .with_label(span, format!("namespace name {problem}"));
        } else if ns == fabric_ns {
            cx.report(
                "nshost::node_is_fabric",
                format!(
                    "{what} `{}` would take the namespace of the lab's fabric",
                    key.value
                ),
            )
            .with_label(span, format!("namespace `{ns}` is the fabric's"))
            .with_help("rename the node; `<lab>-fabric` holds the lab's bridges");
        }
        if let Some((first, first_what)) = seen.get(key.value.as_str()) {
            cx.report(
                "nshost::duplicate_node",
                format!("the node name `{}` is used twice", key.value),
            )
            .with_label(*first, format!("a {first_what} named `{}`", key.value))
            .with_label(span, format!("and a {what} with the same name"))
            .with_help("every router and host needs its own name: each is a namespace");
        } else {
            seen.insert(&key.value, (span, what));
        }
    }
}

/// Reports an unusable interface name; `true` when the name is fine.
fn check_ifname(cx: &mut Cx, name: &str, span: SourceSpan, declared: bool) -> bool {
    if let Some(problem) = naming::ifname_problem(name) {
        let message = if name.is_empty() {
            "an interface name is empty".to_string()
        } else {
            format!("the interface name `{name}` {problem}")
        };
        let p = cx
            .report("nshost::bad_interface_name", message)
            .with_label(span, format!("interface name {problem}"));
        if problem.contains("longer") {
            p.with_help("Linux interface names are at most 15 bytes");
        }
        false
    } else if declared && name == "lo" {
        cx.report(
            "nshost::reserved_interface_name",
            "`lo` cannot be declared as an interface",
        )
        .with_label(span, "every namespace already has its loopback `lo`")
        .with_help("routes and rules may use `lo` without declaring it");
        false
    } else {
        true
    }
}

// ---------------------------------------------------------------------------------
// Tables

/// Declared table names to their number (`None` when the number is unusable and was
/// already reported).
type Tables = IndexMap<String, Option<u32>>;

fn check_tables(cx: &mut Cx, topo: &Topology) -> Tables {
    let mut tables = Tables::new();
    let mut by_number: HashMap<u32, (SourceSpan, &str)> = HashMap::new();
    for (key, number) in &topo.tables {
        let key_span = cx.span(key);
        let num_span = cx.span(number);
        let mut ok = true;
        if key.value.is_empty() {
            cx.report(
                "nshost::bad_table_name",
                "a routing table has an empty name",
            )
            .with_label(key_span, "empty name");
            ok = false;
        } else if matches!(key.value.as_str(), "main" | "local" | "default") {
            cx.report(
                "nshost::bad_table_name",
                format!("`{}` is a built-in table name", key.value),
            )
            .with_label(key_span, "reserved by the kernel")
            .with_help("`main` can be used without declaring it; pick another name");
            ok = false;
        }
        let n = number.value;
        let valid_number = n != 0 && !(253..=255).contains(&n);
        if !valid_number {
            cx.report(
                "nshost::bad_table_number",
                format!("table `{}` has the number {n}, which is reserved", key.value),
            )
            .with_label(num_span, "not usable")
            .with_help("use a number from 1 to 4294967295 other than 253 (default), 254 (main) and 255 (local)");
        } else if let Some((first, first_name)) = by_number.get(&n) {
            cx.report(
                "nshost::duplicate_table_number",
                format!(
                    "tables `{first_name}` and `{}` have the same number {n}",
                    key.value
                ),
            )
            .with_label(*first, format!("`{first_name}` is table {n}"))
            .with_label(num_span, format!("`{}` is table {n} too", key.value));
        } else {
            by_number.insert(n, (num_span, &key.value));
        }
        if !key.value.is_empty() {
            tables.insert(key.value.clone(), (ok && valid_number).then_some(n));
        }
    }
    tables
}

/// The table number of a route or rule; `None` when it is wrong (and reported) or
/// refers to a table whose own declaration is wrong.
fn resolve_table(cx: &mut Cx, table: &Spanned<TableRef>, tables: &Tables) -> Option<u32> {
    let span = cx.span(table);
    let n = match &table.value {
        TableRef::Id(n) => *n,
        TableRef::Name(name) if name == "main" => return Some(RT_TABLE_MAIN),
        TableRef::Name(name) => match tables.get(name) {
            Some(n) => return *n,
            None => match name.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    let declared = if tables.is_empty() {
                        "no tables are declared under `tables`; `main` is built in".to_string()
                    } else {
                        format!(
                            "declared tables: {}; `main` is built in",
                            tables
                                .keys()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    cx.report("nshost::unknown_table", format!("unknown table `{name}`"))
                        .with_label(span, "not declared under `tables`")
                        .with_help(declared);
                    return None;
                }
            },
        },
    };
    if n == 0 || n == 253 || n == 255 {
        cx.report(
            "nshost::bad_table_number",
            format!("table {n} cannot be used"),
        )
        .with_label(span, "reserved table number")
        .with_help("use 254 (main) or a number from 1 to 4294967295 other than 253 and 255");
        return None;
    }
    Some(n)
}

// ---------------------------------------------------------------------------------
// Networks

fn check_mtu(cx: &mut Cx, mtu: Option<&Spanned<u32>>) -> Option<u32> {
    let mtu = mtu?;
    if (68..=65535).contains(&mtu.value) {
        Some(mtu.value)
    } else {
        let span = cx.span(mtu);
        cx.report(
            "nshost::bad_mtu",
            format!("MTU {} is out of range", mtu.value),
        )
        .with_label(span, "must be 68 to 65535");
        None
    }
}

/// A prefix with no host bits (a subnet or a route/rule destination).
fn parse_prefix(cx: &mut Cx, s: &Spanned<String>, what: &str) -> Option<IpNet> {
    let span = cx.span(s);
    match s.value.parse::<IpNet>() {
        Ok(net) if net.trunc() == net => Some(net),
        Ok(net) => {
            cx.report(
                "nshost::host_bits_set",
                format!("the {what} `{}` has host bits set", s.value),
            )
            .with_label(span, "host bits set")
            .with_help(format!("did you mean {}?", net.trunc()));
            // Carry on with the prefix meant, so that it is not reported again.
            Some(net.trunc())
        }
        Err(_) => {
            let p = cx
                .report(
                    "nshost::invalid_prefix",
                    format!("the {what} `{}` is not an IP prefix", s.value),
                )
                .with_label(span, "not a prefix");
            if let Ok(ip) = s.value.parse::<IpAddr>() {
                let len = if ip.is_ipv4() { 32 } else { 128 };
                p.with_help(format!("add the prefix length, e.g. `{ip}/{len}`"));
            } else {
                p.with_help("write a prefix like `10.1.1.0/24` or `2001:db8::/64`");
            }
            None
        }
    }
}

/// An interface address with its prefix length.
fn parse_address(cx: &mut Cx, s: &Spanned<String>) -> Option<(IpNet, SourceSpan)> {
    let span = cx.span(s);
    match s.value.parse::<IpNet>() {
        Ok(net) => Some((net, span)),
        Err(_) => {
            let p = cx
                .report(
                    "nshost::invalid_address",
                    format!("`{}` is not an IP address with a prefix length", s.value),
                )
                .with_label(span, "not an address/prefix-length");
            if let Ok(ip) = s.value.parse::<IpAddr>() {
                let len = if ip.is_ipv4() { 24 } else { 64 };
                p.with_help(format!("add the prefix length, e.g. `{ip}/{len}`"));
            } else {
                p.with_help("write an address like `10.1.1.1/24` or `2001:db8::1/64`");
            }
            None
        }
    }
}

fn parse_ip(cx: &mut Cx, s: &Spanned<String>) -> Option<IpAddr> {
    let span = cx.span(s);
    match s.value.parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            let p = cx
                .report(
                    "nshost::invalid_gateway",
                    format!("the gateway `{}` is not an IP address", s.value),
                )
                .with_label(span, "not an IP address");
            if let Ok(net) = s.value.parse::<IpNet>() {
                p.with_help(format!("a gateway has no prefix length: `{}`", net.addr()));
            }
            None
        }
    }
}

fn check_networks(cx: &mut Cx, topo: &Topology) -> IndexMap<String, DeclaredNet> {
    let mut nets = IndexMap::new();
    for (key, net) in &topo.networks {
        let key_span = cx.span(key);
        if key.value.is_empty() {
            cx.report("nshost::bad_network_name", "a network has an empty name")
                .with_label(key_span, "empty name");
        }
        let subnets = net
            .subnets
            .iter()
            .filter_map(|s| {
                let span = cx.span(s);
                parse_prefix(cx, s, "subnet").map(|n| (n, span))
            })
            .collect();
        let mtu = check_mtu(cx, net.mtu.as_ref());
        nets.insert(
            key.value.clone(),
            DeclaredNet {
                key_span,
                subnets,
                mtu,
                allow_overlap: net.allow_overlap,
            },
        );
    }
    nets
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn check_overlaps(cx: &mut Cx, nets: &[NetInfo]) {
    for (i, a) in nets.iter().enumerate() {
        for b in &nets[i + 1..] {
            if a.allow_overlap || b.allow_overlap {
                continue;
            }
            let hit = a.subnets.iter().find_map(|(sa, spa)| {
                b.subnets
                    .iter()
                    .find(|(sb, _)| overlap(sa, sb))
                    .map(|(sb, spb)| (sa, *spa, sb, *spb))
            });
            let Some((sa, spa, sb, spb)) = hit else {
                continue;
            };
            let describe = |n: &NetInfo, s: &IpNet| {
                if n.inferred {
                    format!("{s} (inferred network `{}`)", n.name)
                } else {
                    format!("{s} of network `{}`", n.name)
                }
            };
            let (la, lb) = (describe(a, sa), describe(b, sb));
            let help = if a.inferred || b.inferred {
                "an address that is in no declared subnet starts a network of its own; \
                 check its prefix length, or declare the network and name it with `network`"
            } else {
                "set `allow_overlap: true` on one of them if the overlap is intended"
            };
            cx.report(
                "nshost::overlapping_subnets",
                format!(
                    "networks `{}` and `{}` have overlapping subnets",
                    a.name, b.name
                ),
            )
            .with_label(spa, la)
            .with_label(spb, format!("overlaps {lb}"))
            .with_help(help);
        }
    }
}

// ---------------------------------------------------------------------------------
// Interfaces and network membership

fn check_kind(cx: &mut Cx, kind: &Spanned<String>) -> bool {
    let ok = !kind.value.is_empty()
        && kind
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        let span = cx.span(kind);
        cx.report(
            "nshost::bad_kind",
            format!("`{}` is not a link kind", kind.value),
        )
        .with_label(span, "not a kind name")
        .with_help("a kind is a lowercase word such as `veth` or `dummy`");
    }
    ok
}

fn collect_members<'t>(cx: &mut Cx, topo: &'t Topology) -> Vec<Member<'t>> {
    let mut members = Vec::new();
    for (node, router) in &topo.routers {
        for (key, iface) in &router.interfaces {
            let name_span = cx.span(key);
            check_ifname(cx, &key.value, name_span, true);
            let standalone = match &iface.kind {
                Some(kind) if kind.value != "veth" => {
                    check_kind(cx, kind);
                    Some(kind.value.clone())
                }
                _ => None,
            };
            if let (Some(kind), Some(network)) = (&standalone, &iface.network) {
                let span = cx.span(network);
                cx.report(
                    "nshost::network_on_standalone",
                    format!("a `{kind}` interface cannot be on a network"),
                )
                .with_label(span, "only veth interfaces join networks")
                .with_help("remove `network`, or remove `kind` to make it a veth");
            }
            if standalone.is_none() && iface.network.is_none() && iface.addresses.is_empty() {
                cx.report(
                    "nshost::no_network",
                    format!(
                        "router `{}` interface `{}` is on no network",
                        node.value, key.value
                    ),
                )
                .with_label(name_span, "neither `network` nor an address")
                .with_help(
                    "name its network with `network:`, or give it an address to infer it from",
                );
            }
            let addrs = iface
                .addresses
                .iter()
                .filter_map(|a| parse_address(cx, a))
                .collect();
            let mtu = check_mtu(cx, iface.mtu.as_ref());
            members.push(Member {
                node,
                router: true,
                ifname: key.value.clone(),
                name_span,
                explicit_network: if standalone.is_none() {
                    iface.network.as_ref()
                } else {
                    None
                },
                standalone,
                addrs,
                mtu,
                up: iface.up.as_ref().is_none_or(|u| u.value),
                network: None,
                misplaced: false,
            });
        }
    }
    for (node, host) in &topo.hosts {
        let (ifname, name_span) = match &host.interface {
            Some(i) => {
                let span = cx.span(i);
                check_ifname(cx, &i.value, span, true);
                (i.value.clone(), span)
            }
            None => ("eth0".to_string(), cx.span(node)),
        };
        let addrs = std::iter::once(&host.address)
            .chain(&host.secondary)
            .filter_map(|a| parse_address(cx, a))
            .collect();
        let mtu = check_mtu(cx, host.mtu.as_ref());
        members.push(Member {
            node,
            router: false,
            ifname,
            name_span,
            standalone: None,
            explicit_network: host.network.as_ref(),
            addrs,
            mtu,
            up: true,
            network: None,
            misplaced: false,
        });
    }
    members
}

/// Resolves every veth member's network, explicit or inferred, and returns all the
/// networks of the lab: the declared ones in file order, then the inferred ones.
fn resolve_networks(
    cx: &mut Cx,
    declared: &IndexMap<String, DeclaredNet>,
    members: &mut [Member],
) -> Vec<NetInfo> {
    let mut inferable = Vec::new();
    for (i, m) in members.iter_mut().enumerate() {
        if m.standalone.is_some() {
            continue;
        }
        if let Some(net) = m.explicit_network {
            if declared.contains_key(&net.value) {
                m.network = Some(net.value.clone());
            } else {
                let span = cx.span(net);
                let help = if declared.is_empty() {
                    "no networks are declared under `networks`; leave `network` out to infer it from the address".to_string()
                } else {
                    format!(
                        "declared networks: {}",
                        declared
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                cx.report(
                    "nshost::unknown_network",
                    format!("unknown network `{}`", net.value),
                )
                .with_label(span, "not declared under `networks`")
                .with_help(help);
            }
            continue;
        }
        let Some((first, first_span)) = m.addrs.first().copied() else {
            continue;
        };
        // The declared networks with the most specific subnet holding the address.
        let mut best: Option<(u8, Vec<&String>)> = None;
        for (name, net) in declared {
            let Some(len) = net
                .subnets
                .iter()
                .filter(|(s, _)| s.contains(&first.addr()))
                .map(|(s, _)| s.prefix_len())
                .max()
            else {
                continue;
            };
            match &mut best {
                Some((l, names)) if *l == len => names.push(name),
                Some((l, _)) if *l > len => {}
                _ => best = Some((len, vec![name])),
            }
        }
        match best {
            None => inferable.push(i),
            Some((_, names)) if names.len() == 1 => m.network = Some(names[0].clone()),
            Some((_, names)) => {
                let list = names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                cx.report(
                    "nshost::ambiguous_network",
                    format!("{} could be on {list}", m.describe()),
                )
                .with_label(first_span, format!("{first} is in the subnets of {list}"))
                .with_help("name the network with `network:`");
            }
        }
    }

    // Inferred networks: members whose subnets (the address prefixes) meet share one,
    // named after the first address of its first member.
    let mut parent: Vec<usize> = (0..inferable.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: HashMap<IpNet, usize> = HashMap::new();
    for (slot, &i) in inferable.iter().enumerate() {
        for (a, _) in &members[i].addrs {
            match owner.get(&a.trunc()) {
                Some(&other) => {
                    let (ra, rb) = (root(&mut parent, slot), root(&mut parent, other));
                    let (lo, hi) = (ra.min(rb), ra.max(rb));
                    parent[hi] = lo;
                }
                None => {
                    owner.insert(a.trunc(), slot);
                }
            }
        }
    }
    let mut groups: IndexMap<usize, Vec<usize>> = IndexMap::new();
    for (slot, &i) in inferable.iter().enumerate() {
        let r = root(&mut parent, slot);
        groups.entry(r).or_default().push(i);
    }

    let mut nets: Vec<NetInfo> = declared
        .iter()
        .map(|(name, d)| NetInfo {
            name: name.clone(),
            subnets: d.subnets.clone(),
            mtu: d.mtu,
            allow_overlap: d.allow_overlap,
            inferred: false,
            span: d.key_span,
        })
        .collect();
    for group in groups.values() {
        let mut subnets: Vec<(IpNet, SourceSpan)> = Vec::new();
        for &i in group {
            for (a, span) in &members[i].addrs {
                if !subnets.iter().any(|(s, _)| *s == a.trunc()) {
                    subnets.push((a.trunc(), *span));
                }
            }
        }
        let name = subnets[0].0.to_string();
        if let Some(d) = declared.get(&name) {
            cx.report(
                "nshost::inferred_network_name_taken",
                format!("the inferred network `{name}` has the name of a declared network"),
            )
            .with_label(subnets[0].1, format!("infers network `{name}`"))
            .with_label(d.key_span, "a declared network of that name")
            .with_help("add this subnet to the declared network's `subnets`, or rename it");
            continue;
        }
        for &i in group {
            members[i].network = Some(name.clone());
        }
        nets.push(NetInfo {
            span: subnets[0].1,
            name,
            subnets,
            mtu: None,
            allow_overlap: false,
            inferred: true,
        });
    }

    // Addresses must lie in the subnets of the declared network they are on.
    for m in members.iter_mut() {
        let Some(net) = m.network.as_ref().and_then(|n| declared.get(n)) else {
            continue;
        };
        if net.subnets.is_empty() {
            continue;
        }
        for (a, span) in &m.addrs {
            if net.subnets.iter().any(|(s, _)| s.contains(&a.addr())) {
                continue;
            }
            m.misplaced = true;
            let name = m.network.as_deref().unwrap_or_default();
            let list = net
                .subnets
                .iter()
                .map(|(s, _)| s.to_string())
                .collect::<Vec<_>>();
            let help = match list.as_slice() {
                [one] => format!("the subnet of `{name}` is {one}"),
                many => format!("the subnets of `{name}` are {}", many.join(", ")),
            };
            cx.report(
                "nshost::address_outside_network",
                format!("{} is outside its network's subnet", a.addr()),
            )
            .with_label(*span, format!("not in any subnet of `{name}`"))
            .with_label(net.key_span, format!("`{name}` is declared here"))
            .with_help(help);
        }
    }
    nets
}

fn check_duplicate_addresses(cx: &mut Cx, members: &[Member]) {
    let mut all: Vec<(IpAddr, SourceSpan, String)> = members
        .iter()
        .flat_map(|m| {
            m.addrs
                .iter()
                .map(move |(a, span)| (a.addr(), *span, m.describe()))
        })
        .collect();
    all.sort_by_key(|(_, span, _)| span.offset());
    let mut first: HashMap<IpAddr, (SourceSpan, &str)> = HashMap::new();
    for (ip, span, who) in &all {
        if let Some((first_span, first_who)) = first.get(ip) {
            cx.report(
                "nshost::duplicate_address",
                format!("the address {ip} is used twice"),
            )
            .with_label(*first_span, format!("on {first_who}"))
            .with_label(*span, format!("and again on {who}"))
            .with_help("every address in a lab must be unique");
        } else {
            first.insert(*ip, (*span, who));
        }
    }
}

fn check_fabric_names(cx: &mut Cx, nets: &[NetInfo], members: &[Member]) {
    // Each fabric name with where it comes from and, for a fabric port, its node.
    let bridges = nets.iter().map(|n| {
        (
            naming::bridge_name(&n.name),
            n.span,
            format!("the bridge of network `{}`", n.name),
            None,
        )
    });
    let ports = members.iter().filter(|m| m.standalone.is_none()).map(|m| {
        (
            naming::fabric_port_name(&m.node.value, &m.ifname),
            m.name_span,
            format!("the fabric end of {}", m.describe()),
            Some(m.node.value.as_str()),
        )
    });
    let mut names: HashMap<String, (SourceSpan, String, Option<&str>)> = HashMap::new();
    for (name, span, what, node) in bridges.chain(ports) {
        if let Some((first_span, first_what, first_node)) = names.get(&name) {
            if node.is_some() && node == *first_node {
                // One node name used twice: already reported as a duplicate node.
                continue;
            }
            cx.report(
                "nshost::fabric_name_collision",
                format!("`{name}` is both {first_what} and {what}"),
            )
            .with_label(*first_span, first_what.clone())
            .with_label(span, what)
            .with_help("the fabric names are derived from these names; rename one of them");
        } else {
            names.insert(name, (span, what, node));
        }
    }
}

fn lab_interfaces(mine: &[&Member], nets: &[NetInfo]) -> BTreeMap<String, LabInterface> {
    mine.iter()
        .map(|m| {
            let net_mtu = m
                .network
                .as_ref()
                .and_then(|n| nets.iter().find(|x| &x.name == n))
                .and_then(|n| n.mtu);
            let kind = match &m.standalone {
                Some(kind) if kind == "ifb" => IfaceKind::Ifb,
                Some(_) => IfaceKind::Dummy,
                None => IfaceKind::Veth {
                    network: m.network.clone().unwrap_or_default(),
                    fabric_name: naming::fabric_port_name(&m.node.value, &m.ifname),
                },
            };
            (
                m.ifname.clone(),
                LabInterface {
                    kind,
                    addresses: m.addrs.iter().map(|(a, _)| *a).collect(),
                    mtu: m.mtu.or(net_mtu),
                    up: m.up,
                },
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Routes, rules, gateways

/// Reports an interface reference (route `dev`, rule `iif`/`oif`) that is not one of
/// the node's interfaces or `lo`.
fn check_if_ref(cx: &mut Cx, s: &Spanned<String>, node: &str, ifnames: &[&str]) -> bool {
    let span = cx.span(s);
    if !check_ifname(cx, &s.value, span, false) {
        return false;
    }
    if s.value == "lo" || ifnames.contains(&s.value.as_str()) {
        return true;
    }
    let list = std::iter::once("lo")
        .chain(ifnames.iter().copied())
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    cx.report(
        "nshost::unknown_interface",
        format!("`{node}` has no interface `{}`", s.value),
    )
    .with_label(span, "no such interface")
    .with_help(format!("the interfaces of `{node}`: {list}"));
    false
}

fn check_routes(
    cx: &mut Cx,
    node: &Spanned<String>,
    specs: &[RouteSpec],
    ifnames: &[&str],
    connected: &[IpNet],
    tables: &Tables,
) -> Vec<LabRoute> {
    let mut routes = Vec::new();
    let mut seen: HashMap<(u32, IpNet, u32), SourceSpan> = HashMap::new();
    for spec in specs {
        let to_span = cx.span(&spec.to);
        let dst = match spec.to.value.as_str() {
            "default" => Some(IpNet::from(ipnet::Ipv4Net::default())),
            "default6" => Some(IpNet::from(ipnet::Ipv6Net::default())),
            _ => parse_prefix(cx, &spec.to, "route destination"),
        };
        if spec.via.is_none() && spec.dev.is_none() {
            cx.report(
                "nshost::route_without_nexthop",
                format!(
                    "the route to `{}` has neither `via` nor `dev`",
                    spec.to.value
                ),
            )
            .with_label(to_span, "where should this go?")
            .with_help("add `via: <gateway>` and/or `dev: <interface>`");
        }
        let mut ok = dst.is_some();
        let gateway = spec.via.as_ref().and_then(|via| {
            let ip = parse_ip(cx, via)?;
            let via_span = cx.span(via);
            if let Some(dst) = dst
                && dst.addr().is_ipv4() != ip.is_ipv4()
            {
                cx.report(
                    "nshost::family_mismatch",
                    format!("the route to {dst} has the gateway {ip} of the other address family"),
                )
                .with_label(to_span, family_name(dst.addr()))
                .with_label(via_span, family_name(ip));
                return None;
            }
            if !connected.iter().any(|s| s.contains(&ip)) {
                let list = connected
                    .iter()
                    .filter(|s| s.addr().is_ipv4() == ip.is_ipv4())
                    .map(ToString::to_string)
                    .collect::<Vec<_>>();
                let help = if list.is_empty() {
                    format!("`{}` has no {} address", node.value, family_name(ip))
                } else {
                    format!("`{}` is connected to {}", node.value, list.join(", "))
                };
                cx.report(
                    "nshost::gateway_unreachable",
                    format!(
                        "gateway {ip} unreachable from {}'s connected subnets",
                        node.value
                    ),
                )
                .with_label(via_span, "not on a connected subnet")
                .with_help(help);
                return None;
            }
            Some(ip)
        });
        ok &= spec.via.is_none() || gateway.is_some();
        if let Some(dev) = &spec.dev {
            ok &= check_if_ref(cx, dev, &node.value, ifnames);
        }
        let table = match &spec.table {
            Some(t) => resolve_table(cx, t, tables),
            None => Some(RT_TABLE_MAIN),
        };
        let (Some(dst), Some(table), true) = (dst, table, ok) else {
            continue;
        };
        let metric = kernel_metric(&dst, spec.metric.as_ref().map_or(0, |m| m.value));
        if let Some(first) = seen.get(&(table, dst, metric)) {
            cx.report(
                "nshost::duplicate_route",
                format!(
                    "`{}` has two routes to {dst} in table {table} with metric {metric}",
                    node.value
                ),
            )
            .with_label(*first, "first route")
            .with_label(to_span, "same destination, table and metric")
            .with_help("give one of them another `metric` or `table`");
            continue;
        }
        seen.insert((table, dst, metric), to_span);
        routes.push(LabRoute {
            table,
            dst,
            metric,
            gateway,
            dev: spec.dev.as_ref().map(|d| d.value.clone()),
            proto: RTPROT_BOOT,
        });
    }
    routes
}

/// The metric the kernel gives a route: IPv6 routes added with metric 0 get 1024
/// (`IP6_RT_PRIO_USER`), so the desired state must say 1024 to match the live one.
pub fn kernel_metric(dst: &IpNet, metric: u32) -> u32 {
    match dst {
        IpNet::V6(_) if metric == 0 => IP6_RT_PRIO_USER,
        _ => metric,
    }
}

/// The kernel's metric for IPv6 routes added without one.
pub const IP6_RT_PRIO_USER: u32 = 1024;

fn family_name(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn ipproto_number(cx: &mut Cx, p: &Spanned<Proto>) -> Option<u8> {
    match &p.value {
        Proto::Number(n) => Some(*n),
        Proto::Name(name) => match name.as_str() {
            "tcp" => Some(6),
            "udp" => Some(17),
            "icmp" => Some(1),
            "icmpv6" => Some(58),
            "sctp" => Some(132),
            _ => {
                let span = cx.span(p);
                cx.report(
                    "nshost::unknown_ipproto",
                    format!("unknown IP protocol `{name}`"),
                )
                .with_label(span, "unknown protocol")
                .with_help("use `tcp`, `udp`, `icmp`, `icmpv6`, `sctp` or a protocol number");
                None
            }
        },
    }
}

/// The ports a rule can match: the kernel rejects 0 and 65535 in a rule's port range.
const RULE_PORTS: std::ops::RangeInclusive<u16> = 1..=65534;

fn port_range(cx: &mut Cx, p: &Spanned<Ports>) -> Option<PortRange> {
    let span = cx.span(p);
    let text = match &p.value {
        Ports::Port(n) => {
            let n = *n;
            if !RULE_PORTS.contains(&n) {
                cx.report(
                    "nshost::bad_port_range",
                    format!("port {n} cannot be matched by a rule"),
                )
                .with_label(span, "out of range")
                .with_help("rule ports are 1-65534 (the kernel rejects 0 and 65535)");
                return None;
            }
            return Some(PortRange { start: n, end: n });
        }
        Ports::Range(s) => s,
    };
    let parsed = match text.split_once('-') {
        Some((lo, hi)) => lo
            .trim()
            .parse::<u16>()
            .ok()
            .zip(hi.trim().parse::<u16>().ok()),
        None => text.trim().parse::<u16>().ok().map(|n| (n, n)),
    };
    match parsed {
        Some((start, end)) if !RULE_PORTS.contains(&start) || !RULE_PORTS.contains(&end) => {
            cx.report(
                "nshost::bad_port_range",
                format!("the port range `{text}` cannot be matched by a rule"),
            )
            .with_label(span, "out of range")
            .with_help("rule ports are 1-65534 (the kernel rejects 0 and 65535)");
            None
        }
        Some((start, end)) if start <= end => Some(PortRange { start, end }),
        Some((start, end)) => {
            cx.report(
                "nshost::bad_port_range",
                format!("the port range `{text}` is backwards"),
            )
            .with_label(span, "start above end")
            .with_help(format!("did you mean `{end}-{start}`?"));
            None
        }
        None => {
            cx.report(
                "nshost::bad_port_range",
                format!("`{text}` is not a port or a port range"),
            )
            .with_label(span, "not a port range")
            .with_help("write a port (`80`) or an inclusive range (`\"1000-2000\"`)");
            None
        }
    }
}

fn check_rules(
    cx: &mut Cx,
    node: &Spanned<String>,
    specs: &[RuleSpec],
    ifnames: &[&str],
    tables: &Tables,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut seen: HashMap<Rule, SourceSpan> = HashMap::new();
    for spec in specs {
        let prio_span = cx.span(&spec.priority);
        let mut ok = true;
        let priority = spec.priority.value;
        if !(1..=32765).contains(&priority) {
            cx.report(
                "nshost::bad_rule_priority",
                format!("rule priority {priority} is out of range"),
            )
            .with_label(prio_span, "must be 1 to 32765")
            .with_help("0, 32766 and 32767 are the kernel's local, main and default rules");
            ok = false;
        }
        let from = spec
            .from
            .as_ref()
            .map(|f| (parse_prefix(cx, f, "rule source"), cx.span(f)));
        let to = spec
            .to
            .as_ref()
            .map(|t| (parse_prefix(cx, t, "rule destination"), cx.span(t)));
        ok &= from.is_none_or(|(n, _)| n.is_some()) && to.is_none_or(|(n, _)| n.is_some());
        let mut v6: Option<(bool, SourceSpan)> = None;
        for (net, span) in [from, to].into_iter().flatten() {
            let Some(net) = net else { continue };
            let is_v6 = net.addr().is_ipv6();
            match v6 {
                Some((other, other_span)) if other != is_v6 => {
                    cx.report(
                        "nshost::family_mismatch",
                        "the rule's `from` and `to` are of different address families",
                    )
                    .with_label(other_span, if other { "IPv6" } else { "IPv4" })
                    .with_label(span, if is_v6 { "IPv6" } else { "IPv4" });
                    ok = false;
                }
                Some(_) => {}
                None => v6 = Some((is_v6, span)),
            }
        }
        if let Some(family) = &spec.family {
            let fam_v6 = family.value == Family::Ipv6;
            match v6 {
                Some((is_v6, span)) if is_v6 != fam_v6 => {
                    let fam_span = cx.span(family);
                    cx.report(
                        "nshost::family_mismatch",
                        "the rule's `family` does not match its prefixes",
                    )
                    .with_label(fam_span, if fam_v6 { "IPv6" } else { "IPv4" })
                    .with_label(span, if is_v6 { "IPv6" } else { "IPv4" })
                    .with_help("leave `family` out: the prefixes already say it");
                    ok = false;
                }
                Some(_) => {}
                None => v6 = Some((fam_v6, cx.span(family))),
            }
        }
        if let Some(iif) = &spec.iif {
            ok &= check_if_ref(cx, iif, &node.value, ifnames);
        }
        if let Some(oif) = &spec.oif {
            ok &= check_if_ref(cx, oif, &node.value, ifnames);
        }
        let ipproto = match &spec.ipproto {
            Some(p) => {
                let n = ipproto_number(cx, p);
                ok &= n.is_some();
                n
            }
            None => None,
        };
        let sport = spec.sport.as_ref().map(|p| port_range(cx, p));
        let dport = spec.dport.as_ref().map(|p| port_range(cx, p));
        ok &= sport.is_none_or(|p| p.is_some()) && dport.is_none_or(|p| p.is_some());
        for ports in [&spec.sport, &spec.dport].into_iter().flatten() {
            let span = cx.span(ports);
            match (&spec.ipproto, ipproto) {
                (None, _) => {
                    cx.report("nshost::ports_need_ipproto", "a port match needs `ipproto`")
                        .with_label(span, "ports without a protocol")
                        .with_help("add `ipproto: tcp`, `udp` or `sctp`");
                    ok = false;
                }
                (Some(p), Some(n)) if !matches!(n, 6 | 17 | 132) => {
                    let proto_span = cx.span(p);
                    cx.report(
                        "nshost::ports_need_ipproto",
                        "a port match needs `ipproto` tcp, udp or sctp",
                    )
                    .with_label(proto_span, "this protocol has no ports")
                    .with_label(span, "ports");
                    ok = false;
                }
                _ => {}
            }
        }
        let table = resolve_table(cx, &spec.table, tables);
        let Some(table) = table else { continue };
        if !ok {
            continue;
        }
        let rule = Rule {
            v6: v6.is_some_and(|(v, _)| v),
            priority,
            from: Rule::prefix(from.and_then(|(n, _)| n)),
            to: Rule::prefix(to.and_then(|(n, _)| n)),
            iif: spec.iif.as_ref().map(|s| s.value.clone()),
            oif: spec.oif.as_ref().map(|s| s.value.clone()),
            fwmark: spec
                .fwmark
                .as_ref()
                .and_then(|s| Fwmark::new(s.value, None)),
            tos: spec.tos.as_ref().map(|s| s.value),
            ipproto,
            sport: sport.flatten(),
            dport: dport.flatten(),
            table,
        };
        if let Some(first) = seen.get(&rule) {
            cx.report(
                "nshost::duplicate_rule",
                format!("`{}` has the same rule twice", node.value),
            )
            .with_label(*first, "first rule")
            .with_label(prio_span, "identical rule")
            .with_help("remove one of them");
            continue;
        }
        seen.insert(rule.clone(), prio_span);
        rules.push(rule);
    }
    rules
}

/// A host's default routes: explicit or inferred gateways per address family.
fn host_routes(
    cx: &mut Cx,
    node: &Spanned<String>,
    gateway: Option<&Spanned<String>>,
    me: &Member,
    members: &[Member],
) -> Vec<LabRoute> {
    let mut v4: Option<IpAddr> = None;
    let mut v6: Option<IpAddr> = None;
    let mut failed = false;
    if let Some(gw) = gateway {
        match parse_ip(cx, gw) {
            Some(ip) if me.addrs.iter().any(|(a, _)| a.trunc().contains(&ip)) => {
                if ip.is_ipv4() {
                    v4 = Some(ip);
                } else {
                    v6 = Some(ip);
                }
            }
            Some(ip) => {
                let span = cx.span(gw);
                let list = me
                    .addrs
                    .iter()
                    .map(|(a, _)| a.trunc().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                cx.report(
                    "nshost::gateway_not_connected",
                    format!(
                        "gateway {ip} not on any connected subnet of `{}`",
                        node.value
                    ),
                )
                .with_label(span, "not on a connected subnet")
                .with_help(format!("`{}` is connected to {list}", node.value));
                failed = true;
            }
            None => failed = true,
        }
    }
    if v4.is_none() && !failed {
        v4 = infer_gateway(me, members, false);
    }
    if v6.is_none() && !failed {
        v6 = infer_gateway(me, members, true);
    }
    let has_v4 = me.addrs.iter().any(|(a, _)| a.addr().is_ipv4());
    if has_v4
        && v4.is_none()
        && !failed
        && !me.misplaced
        && let Some(network) = &me.network
    {
        let (addr, span) = me
            .addrs
            .iter()
            .find(|(a, _)| a.addr().is_ipv4())
            .copied()
            .expect("has an IPv4 address");
        cx.report(
            "nshost::no_gateway",
            format!("no gateway for host `{}` can be inferred", node.value),
        )
        .with_label(span, format!("no router on `{network}` has an address in {}", addr.trunc()))
        .with_help("set `gateway:` to a router address on the host's subnet, or add a router interface to the network");
    }
    let mut routes = Vec::new();
    if let Some(gw) = v4 {
        routes.push(default_route(IpNet::from(ipnet::Ipv4Net::default()), gw));
    }
    if let Some(gw) = v6 {
        routes.push(default_route(IpNet::from(ipnet::Ipv6Net::default()), gw));
    }
    routes
}

fn default_route(dst: IpNet, gateway: IpAddr) -> LabRoute {
    LabRoute {
        table: RT_TABLE_MAIN,
        dst,
        metric: kernel_metric(&dst, 0),
        gateway: Some(gateway),
        dev: None,
        proto: RTPROT_BOOT,
    }
}

/// The first router interface address (in file order) on the host's network whose
/// subnet holds one of the host's addresses of the family.
fn infer_gateway(host: &Member, members: &[Member], v6: bool) -> Option<IpAddr> {
    let network = host.network.as_ref()?;
    let host_addrs: Vec<IpAddr> = host
        .addrs
        .iter()
        .map(|(a, _)| a.addr())
        .filter(|a| a.is_ipv6() == v6)
        .collect();
    members
        .iter()
        .filter(|m| m.router && m.network.as_ref() == Some(network))
        .flat_map(|m| m.addrs.iter().map(|(a, _)| *a))
        .filter(|a| a.addr().is_ipv6() == v6)
        .find(|a| host_addrs.iter().any(|h| a.trunc().contains(h)))
        .map(|a| a.addr())
}

// ---------------------------------------------------------------------------------
// sysctls

/// Why a sysctl key is unusable, if it is.
fn sysctl_key_problem(key: &str) -> Option<&'static str> {
    if !key.starts_with("net.") {
        Some("does not start with `net.`")
    } else if let Some(_c) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')))
    {
        Some("may hold only `a-z`, `0-9`, `_`, `.` and `-`")
    } else if key.contains("..") {
        Some("contains `..`")
    } else if key.ends_with('.') {
        Some("ends with `.`")
    } else {
        None
    }
}

fn check_sysctls(
    cx: &mut Cx,
    sysctls: &NamedMap<Spanned<SysctlValue>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in sysctls {
        let mut ok = true;
        if let Some(problem) = sysctl_key_problem(&key.value) {
            let span = cx.span(key);
            cx.report(
                "nshost::bad_sysctl_key",
                format!("the sysctl key `{}` {problem}", key.value),
            )
            .with_label(span, problem)
            .with_help("nshost sets only network sysctls, e.g. `net.ipv4.conf.all.rp_filter`");
            ok = false;
        }
        let text = value.value.to_kernel();
        if text.is_empty() {
            let span = cx.span(value);
            cx.report(
                "nshost::empty_sysctl_value",
                format!("the sysctl `{}` has an empty value", key.value),
            )
            .with_label(span, "empty value");
            ok = false;
        }
        if ok {
            out.insert(key.value.clone(), text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::parse;

    fn check(yaml: &str) -> Result<Lab, Invalid> {
        let src = SourceFile::from_text("lab.yaml", yaml);
        let topo = parse(&src).unwrap_or_else(|e| panic!("{e:?}"));
        validate(&src, &topo)
    }

    fn lab(yaml: &str) -> Lab {
        check(yaml).unwrap_or_else(|e| panic!("{:?}", miette::Report::new(e)))
    }

    fn codes(yaml: &str) -> Vec<&'static str> {
        match check(yaml) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.iter().map(|p| p.code).collect(),
        }
    }

    fn net(ip: &str) -> IpNet {
        ip.parse().unwrap()
    }

    fn ip(ip: &str) -> IpAddr {
        ip.parse().unwrap()
    }

    #[test]
    fn smoke() {
        let lab = lab("
name: demo
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
hosts:
  h1: {address: 10.1.1.10/24}
");
        assert_eq!(lab.networks.len(), 1);
        let h1 = &lab.nodes["h1"];
        assert_eq!(h1.routes[0].gateway, Some(ip("10.1.1.1")));
        assert_eq!(h1.routes[0].dst, net("0.0.0.0/0"));
    }

    #[test]
    fn dual_stack_members_share_one_inferred_network() {
        let lab = lab("
name: demo
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24, 2001:db8:1::1/64]}
hosts:
  h1: {address: '2001:db8:1::10/64', secondary: [10.1.1.10/24]}
");
        assert_eq!(lab.networks.len(), 1, "{:?}", lab.networks);
        let n = &lab.networks["10.1.1.0/24"];
        assert!(n.inferred);
        assert_eq!(n.subnets, vec![net("10.1.1.0/24"), net("2001:db8:1::/64")]);
        let gws: Vec<_> = lab.nodes["h1"].routes.iter().map(|r| r.gateway).collect();
        assert_eq!(gws, vec![Some(ip("10.1.1.1")), Some(ip("2001:db8:1::1"))]);
    }

    #[test]
    fn inferred_network_is_named_after_the_first_member() {
        // The host comes first in the file but routers are members first.
        let lab = lab("
name: demo
hosts:
  h1: {address: 10.2.2.10/24, secondary: [10.1.1.10/24]}
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
      eth1: {addresses: [10.3.3.1/24]}
");
        let names: Vec<_> = lab.networks.keys().cloned().collect();
        assert_eq!(names, vec!["10.1.1.0/24", "10.3.3.0/24"]);
        assert_eq!(
            lab.networks["10.1.1.0/24"].subnets,
            vec![net("10.1.1.0/24"), net("10.2.2.0/24")]
        );
        // The host's gateway must be in one of the host's subnets: 10.1.1.1.
        assert_eq!(lab.nodes["h1"].routes[0].gateway, Some(ip("10.1.1.1")));
    }

    #[test]
    fn declared_subnet_wins_over_inference_and_most_specific_wins() {
        let lab = lab("
name: demo
networks:
  wide: {subnets: [10.0.0.0/8], allow_overlap: true}
  narrow: {subnets: [10.1.1.0/24], mtu: 1400}
routers:
  r1:
    interfaces:
      eth0: {addresses: [10.1.1.1/24]}
      eth1: {addresses: [10.9.9.1/24]}
");
        let r1 = &lab.nodes["r1"];
        let net_of = |i: &str| match &r1.interfaces[i].kind {
            IfaceKind::Veth { network, .. } => network.clone(),
            _ => unreachable!(),
        };
        assert_eq!(net_of("eth0"), "narrow");
        assert_eq!(r1.interfaces["eth0"].mtu, Some(1400));
        assert_eq!(net_of("eth1"), "wide");
        assert_eq!(r1.interfaces["eth1"].mtu, None);
        assert_eq!(lab.networks.len(), 2);
    }

    #[test]
    fn gateway_inference_follows_file_order_and_network() {
        let lab = lab("
name: demo
networks:
  lan: {subnets: [10.1.1.0/24]}
routers:
  b: {interfaces: {eth0: {addresses: [10.1.1.2/24]}}}
  a: {interfaces: {eth0: {addresses: [10.1.1.1/24]}}}
hosts:
  h1: {address: 10.1.1.10/24}
");
        assert_eq!(lab.nodes["h1"].routes[0].gateway, Some(ip("10.1.1.2")));
    }

    #[test]
    fn explicit_v6_gateway_still_needs_an_ipv4_one() {
        let yaml = "
name: demo
hosts:
  h1: {address: 10.1.1.10/24, secondary: ['2001:db8::10/64'], gateway: '2001:db8::1'}
";
        assert_eq!(codes(yaml), vec!["nshost::no_gateway"]);
    }

    #[test]
    fn a_bad_explicit_gateway_is_reported_once() {
        let yaml = "
name: demo
routers:
  r1: {interfaces: {eth0: {addresses: [10.1.1.1/24]}}}
hosts:
  h1: {address: 10.1.1.10/24, gateway: 10.9.9.1}
";
        assert_eq!(codes(yaml), vec!["nshost::gateway_not_connected"]);
    }

    #[test]
    fn prefix_length_mismatch_makes_two_overlapping_inferred_networks() {
        let yaml = "
name: demo
routers:
  r1: {interfaces: {eth0: {addresses: [10.1.1.1/25]}}}
hosts:
  h1: {address: 10.1.1.10/24, gateway: 10.1.1.1}
";
        // The gateway is on the host's subnet, but the router is on another bridge.
        assert_eq!(codes(yaml), vec!["nshost::overlapping_subnets"]);
    }

    #[test]
    fn forwarding_defaults_do_not_override_the_user() {
        let lab = lab("
name: demo
routers:
  r1:
    sysctls: {net.ipv4.ip_forward: 0, net.ipv4.conf.all.rp_filter: true}
");
        let s = &lab.nodes["r1"].sysctls;
        assert_eq!(s["net.ipv4.ip_forward"], "0");
        assert_eq!(s["net.ipv6.conf.all.forwarding"], "1");
        assert_eq!(s["net.ipv4.conf.all.rp_filter"], "1");
        assert!(lab.networks.is_empty());
    }

    #[test]
    fn rule_family_and_table_names() {
        let lab = lab("
name: demo
tables: {isp: 100}
routers:
  r1:
    interfaces: {eth0: {addresses: ['2001:db8::1/64']}}
    rules:
      - {priority: 100, to: '2001:db8:5::/48', table: isp}
      - {priority: 101, family: ipv6, table: main, ipproto: tcp, dport: '80-90'}
      - {priority: 102, table: '100', iif: lo}
");
        let rules = &lab.nodes["r1"].rules;
        assert!(rules[0].v6 && rules[0].table == 100);
        assert!(rules[1].v6 && rules[1].table == RT_TABLE_MAIN);
        assert_eq!(rules[1].dport, Some(PortRange { start: 80, end: 90 }));
        assert!(!rules[2].v6 && rules[2].table == 100);
    }

    #[test]
    fn a_host_outside_its_network_is_not_also_missing_a_gateway() {
        let yaml = "
name: demo
networks:
  lan: {subnets: [10.1.1.0/24]}
routers:
  r1: {interfaces: {eth0: {addresses: [10.1.1.1/24]}}}
hosts:
  h1: {network: lan, address: 10.1.2.10/24}
";
        assert_eq!(codes(yaml), vec!["nshost::address_outside_network"]);
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let yaml = "
name: ''
networks:
  a: {subnets: [10.0.0.0/8]}
  b: {subnets: [10.1.0.0/16]}
routers:
  r1:
    interfaces:
      eth0: {addresses: [nonsense]}
    routes:
      - {to: 10.9.0.0/16, dev: eth1, table: nope}
";
        assert_eq!(
            codes(yaml),
            vec![
                "nshost::bad_lab_name",
                "nshost::invalid_address",
                "nshost::overlapping_subnets",
                "nshost::unknown_interface",
                "nshost::unknown_table",
            ]
        );
    }
}
