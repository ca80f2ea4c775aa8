//! What an import did: the counts of what it imported, and every fact it left out, by
//! category, each with its file, line and reason. Printed on stderr for people and
//! written as JSON with `--report FILE` (schema: `schemas/output/import.schema.json`).

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::Serialize;

/// The report of one import.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ImportReport {
    /// The input format (`tsim-facts`).
    pub format: String,
    /// The input, as named on the command line.
    pub source: String,
    /// The input files read.
    pub files: Vec<String>,
    /// The ipset types left out on request (`--without-ipset-type`).
    pub without_ipset_types: Vec<String>,
    /// The ipset types left out because the kernel the import ran on lacks them
    /// (`--any-kernel` keeps them).
    pub kernel_lacks_ipset_types: Vec<String>,
    /// The lab's name.
    pub lab: String,
    pub imported: ImportedCounts,
    /// Facts left out, one group per category (only categories that have some).
    pub left_out: Vec<LeftOutGroup>,
    /// Facts imported as something close but not the same, and why.
    pub approximated: Vec<LeftOutFact>,
    /// What the lab may not do as the input meant, and how to choose otherwise (a host
    /// on a subnet two routers share takes the first one as its gateway).
    pub warnings: Vec<String>,
    /// The lab file's text: in the document of `--output json`, not in `--report FILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yaml: Option<String>,
}

/// What the lab holds, counted.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct ImportedCounts {
    pub routers: usize,
    /// Router interfaces (loopbacks not counted).
    pub interfaces: usize,
    /// Interfaces with their MAC address.
    pub macs: usize,
    pub networks: usize,
    /// Named routing tables.
    pub tables: usize,
    /// Routes written to the lab file.
    pub routes: usize,
    /// Routes the kernel accepts: those written, and the connected routes it makes
    /// itself from the addresses.
    pub kernel_valid_routes: usize,
    /// Policy rules written (the kernel's three default rules per router are not).
    pub rules: usize,
    /// iptables rules (`-A` lines), all tables.
    pub iptables_rules: usize,
    /// iptables rules by table.
    pub iptables_rules_by_table: Vec<TableCount>,
    /// ipsets (`create` lines).
    pub ipsets: usize,
    /// ipset members (`add` lines).
    pub ipset_members: usize,
}

/// Rules of one netfilter table.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TableCount {
    pub table: String,
    pub rules: usize,
}

/// Why a fact is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Made by the kernel itself (an address's connected route in main, the local
    /// table, the three default rules): the lab gets it without saying it.
    KernelMade,
    /// A route whose gateway the kernel cannot reach (`Nexthop has invalid gateway`).
    UnreachableGateway,
    /// A route naming a device the router lacks (`Cannot find device`).
    MissingDevice,
    /// A route whose `src` the router does not own (`Invalid prefsrc address`).
    ForeignSource,
    /// Something else the kernel refuses (a duplicate route, a device that is down).
    KernelRefuses,
    /// A fact a lab file cannot say.
    NotExpressible,
    /// A line the importer cannot read.
    Unreadable,
    /// Left out because the command line asked (`--without-ipset-type`).
    OnRequest,
    /// An ipset (and its members) of a type the kernel the import ran on lacks.
    KernelLacks,
}

impl Category {
    /// The category's heading in the human report.
    pub fn title(self) -> &'static str {
        match self {
            Category::KernelMade => "made by the kernel itself",
            Category::UnreachableGateway => "kernel-invalid: gateway unreachable",
            Category::MissingDevice => "kernel-invalid: device the router lacks",
            Category::ForeignSource => "kernel-invalid: src the router does not own",
            Category::KernelRefuses => "kernel-invalid: refused otherwise",
            Category::NotExpressible => "not expressible in a lab file",
            Category::Unreadable => "unreadable",
            Category::OnRequest => "left out on request",
            Category::KernelLacks => "left out: this kernel lacks their ipset type",
        }
    }

    /// Whether facts of this category are ones the kernel would refuse.
    pub fn kernel_invalid(self) -> bool {
        matches!(
            self,
            Category::UnreachableGateway
                | Category::MissingDevice
                | Category::ForeignSource
                | Category::KernelRefuses
        )
    }
}

/// The facts left out for one reason.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LeftOutGroup {
    pub category: Category,
    pub count: usize,
    pub facts: Vec<LeftOutFact>,
}

/// One fact left out (or approximated).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LeftOutFact {
    /// What it is: `route`, `rule`, `interface`, `line`...
    pub what: String,
    pub router: String,
    pub file: String,
    /// 1-based line in `file`.
    pub line: usize,
    /// The fact as recorded.
    pub text: String,
    pub reason: String,
}

impl ImportReport {
    /// Facts left out in `category`.
    pub fn count(&self, category: Category) -> usize {
        self.left_out
            .iter()
            .find(|g| g.category == category)
            .map_or(0, |g| g.count)
    }

    /// How many facts are left out, in all and by reason: `177 facts: 57 the kernel
    /// makes itself, 108 it would refuse, 0 a lab file cannot say, 0 unreadable, 12 on
    /// request`. The total is the number of facts the report lists.
    pub fn left_out_counts(&self) -> String {
        let total: usize = self.left_out.iter().map(|g| g.count).sum();
        let invalid: usize = self
            .left_out
            .iter()
            .filter(|g| g.category.kernel_invalid())
            .map(|g| g.count)
            .sum();
        let mut s = format!(
            "{}: {} the kernel makes itself, {invalid} it would refuse, {} a lab file cannot \
             say, {} unreadable",
            plural(total, "fact"),
            self.count(Category::KernelMade),
            self.count(Category::NotExpressible),
            self.count(Category::Unreadable),
        );
        if let n @ 1.. = self.count(Category::OnRequest) {
            let _ = write!(s, ", {n} on request");
        }
        if let n @ 1.. = self.count(Category::KernelLacks) {
            let _ = write!(s, ", {n} of ipset types this kernel lacks");
        }
        s
    }

    /// The report for people: what was imported, then every group left out, each fact
    /// on a line of its own (the kernel's own in one line per router and kind).
    pub fn human(&self) -> String {
        let c = &self.imported;
        let mut out = String::new();
        let by_table: Vec<String> = c
            .iptables_rules_by_table
            .iter()
            .map(|t| format!("{} {}", t.table, t.rules))
            .collect();
        let tables = if by_table.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_table.join(", "))
        };
        let _ = writeln!(
            out,
            "Imported {} ({}, {}) on {}, {}, {} ({} kernel-valid with the {} the kernel makes \
             itself), {}, {}{tables}, {} with {}.",
            plural(c.routers, "router"),
            plural(c.interfaces, "interface"),
            plural(c.macs, "MAC"),
            plural(c.networks, "network"),
            plural(c.tables, "table"),
            plural(c.routes, "route"),
            c.kernel_valid_routes,
            c.kernel_valid_routes - c.routes,
            plural(c.rules, "rule"),
            plural(c.iptables_rules, "iptables rule"),
            plural(c.ipsets, "ipset"),
            plural(c.ipset_members, "member"),
        );
        let _ = writeln!(out, "Left out: {}.", self.left_out_counts());
        if !self.approximated.is_empty() {
            let _ = writeln!(
                out,
                "Imported changed: {} (approximated, below).",
                plural(self.approximated.len(), "fact")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        for g in &self.left_out {
            let _ = writeln!(out, "\n{} ({}):", g.category.title(), g.count);
            if g.category == Category::KernelMade {
                // One line per router: `r1: 2 connected routes, 3 default rules`.
                let mut tally: Vec<(String, Vec<(String, usize)>)> = Vec::new();
                for f in &g.facts {
                    let i = match tally.iter().position(|t| t.0 == f.router) {
                        Some(i) => i,
                        None => {
                            tally.push((f.router.clone(), Vec::new()));
                            tally.len() - 1
                        }
                    };
                    let kinds = &mut tally[i].1;
                    match kinds.iter_mut().find(|k| k.0 == f.what) {
                        Some(k) => k.1 += 1,
                        None => kinds.push((f.what.clone(), 1)),
                    }
                }
                for (router, kinds) in tally {
                    let kinds: Vec<String> = kinds.iter().map(|(w, n)| plural(*n, w)).collect();
                    let _ = writeln!(out, "  {router}: {}", kinds.join(", "));
                }
                continue;
            }
            for f in &g.facts {
                let _ = writeln!(out, "  {}:{}: {}: {}", f.file, f.line, f.text, f.reason);
            }
        }
        if !self.approximated.is_empty() {
            let _ = writeln!(out, "\napproximated ({}):", self.approximated.len());
            for f in &self.approximated {
                let _ = writeln!(out, "  {}:{}: {}: {}", f.file, f.line, f.text, f.reason);
            }
        }
        out
    }
}

/// `1 route`, `2 routes`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
