//! Expansion: the shorthands of a lab file (ranges, defaults and groups, links, subnet
//! pools, automatic addresses) turned into the explicit form `validate` understands, between
//! parsing and validation. Every value made here keeps the place of the text that made
//! it, so a problem in an expanded node points at the range, default, group or link
//! that produced it. [`resolved_yaml`] prints the result, a lab file of its own.
//!
//! The order: defaults and groups are filled into each entry as written, ranges are
//! expanded (`{i}` in a range's values is its index; in another node's, the number its
//! name ends with; `{name}`, in files and commands only, the node's name), networks with a pool get their subnets from it (`pools`), links add
//! their networks (their subnets carved too) and interfaces, and last every interface
//! on a network with subnets that has no address gets one (`ipam`).

mod ipam;
mod links;
mod merge;
mod pools;
mod resolved;

use std::collections::HashMap;

use indexmap::IndexMap;
use miette::SourceSpan;

use self::merge::{Fill, Substitute};
pub use self::resolved::resolved_yaml;
use super::{Defaults, NamedMap, SourceFile, Spanned, Topology, span_of, workload};
use crate::problem::{Code, Invalid, Problem};

/// The most nodes one range may make.
pub const MAX_RANGE: u64 = 100_000;

/// Expands `topo` (parsed from `src`) into its explicit form.
pub fn expand(src: &SourceFile, mut topo: Topology) -> Result<Topology, Invalid> {
    let mut ex = Ex {
        src,
        problems: Vec::new(),
    };
    let defaults = topo.defaults.take().map(|d| d.value).unwrap_or_default();
    let groups = std::mem::take(&mut topo.groups);
    let routers = std::mem::take(&mut topo.routers);
    topo.routers = expand_nodes(&mut ex, routers, &defaults, &groups, |d| d.routers.as_ref());
    let hosts = std::mem::take(&mut topo.hosts);
    topo.hosts = expand_nodes(&mut ex, hosts, &defaults, &groups, |d| d.hosts.as_ref());
    let mut carver = pools::Carver::new(&mut ex, &mut topo);
    pools::carve_networks(&mut ex, &mut topo, &mut carver);
    links::expand_links(&mut ex, &mut topo, &mut carver);
    ipam::assign(&mut ex, &mut topo);
    if ex.problems.is_empty() {
        Ok(topo)
    } else {
        ex.problems.sort_by_key(Problem::position);
        Err(Invalid::new(src, ex.problems))
    }
}

/// A router or a host: what defaults, groups and ranges need of it.
trait NodeSpec: Fill + Substitute + Clone {
    fn group(&mut self) -> &mut Option<Spanned<super::GroupNames>>;
    /// Replaces `{i}` and the node's `{name}` in its files and commands.
    fn template(&mut self, index: &str, name: &str);
}

impl NodeSpec for super::Router {
    fn group(&mut self) -> &mut Option<Spanned<super::GroupNames>> {
        &mut self.group
    }

    fn template(&mut self, index: &str, name: &str) {
        workload::substitute(&mut self.files, &mut self.run, index, name);
    }
}

impl NodeSpec for super::Host {
    fn group(&mut self) -> &mut Option<Spanned<super::GroupNames>> {
        &mut self.group
    }

    fn template(&mut self, index: &str, name: &str) {
        workload::substitute(&mut self.files, &mut self.run, index, name);
    }
}

/// Each entry filled from its groups and the defaults, then each range made into its
/// nodes, in file order.
fn expand_nodes<N: NodeSpec>(
    ex: &mut Ex,
    nodes: NamedMap<N>,
    defaults: &Defaults,
    groups: &NamedMap<Defaults>,
    pick: impl Fn(&Defaults) -> Option<&N>,
) -> NamedMap<N> {
    let mut out = IndexMap::with_capacity(nodes.len());
    // Each name made so far: where, and the range that made it (none: written).
    let mut names: HashMap<String, (SourceSpan, Option<String>)> = HashMap::new();
    for (key, mut node) in nodes {
        let named = node.group().take().or_else(|| {
            let mut d = pick(defaults)?.clone();
            d.group().take()
        });
        if let Some(named) = &named {
            for name in named.value.names() {
                match groups.iter().find(|(k, _)| k.value == name) {
                    Some((_, group)) => {
                        if let Some(from) = pick(group) {
                            node.fill(from);
                        }
                    }
                    None => {
                        let span = ex.span(named);
                        let known = groups
                            .keys()
                            .map(|k| format!("`{}`", k.value))
                            .collect::<Vec<_>>();
                        ex.report(
                            Code::UnknownGroup,
                            format!("no group `{name}` for `{}`", key.value),
                        )
                        .with_label(span, "not under `groups`")
                        .with_help(if known.is_empty() {
                            "declare it under the top-level `groups`".to_string()
                        } else {
                            format!("the groups are {}", known.join(", "))
                        });
                    }
                }
            }
        }
        if let Some(from) = pick(defaults) {
            node.fill(from);
        }
        *node.group() = None;
        match range(&key.value) {
            Ok(None) => {
                // Outside a range, `{i}` is the number the name ends with.
                let digits = key.value.len()
                    - key
                        .value
                        .trim_end_matches(|c: char| c.is_ascii_digit())
                        .len();
                let index = &key.value[key.value.len() - digits..];
                node.substitute(index);
                node.template(index, &key.value);
                let span = ex.span(&key);
                if ex.made_once(&mut names, &key.value, span, None) {
                    out.insert(key, node);
                }
            }
            Ok(Some(r)) => {
                for i in r.first..=r.last {
                    let index = format!("{i:0width$}", width = r.width);
                    let mut made = node.clone();
                    made.substitute(&index);
                    let name = Spanned::new(
                        format!("{}{index}{}", r.before, r.after),
                        key.referenced,
                        key.defined,
                    );
                    made.template(&index, &name.value);
                    let span = ex.span(&key);
                    if ex.made_once(&mut names, &name.value, span, Some(&key.value)) {
                        out.insert(name, made);
                    }
                }
            }
            Err(why) => {
                let span = ex.span(&key);
                ex.report(Code::BadRange, format!("the range `{}` {why}", key.value))
                    .with_label(span, why.clone())
                    .with_help(
                        "a range is `name[first-last]`, e.g. `web[1-200]`, with first <= last",
                    );
            }
        }
    }
    out
}

/// A range in a node's name: `before[first-last]after`.
#[derive(Debug, PartialEq, Eq)]
struct Range {
    before: String,
    after: String,
    first: u64,
    last: u64,
    /// Digits to pad the index to (`[001-200]`: 3).
    width: usize,
}

/// The range a node key writes, if it writes one.
fn range(key: &str) -> Result<Option<Range>, String> {
    let Some(open) = key.rfind('[') else {
        return Ok(None);
    };
    let Some(close) = key[open..].find(']').map(|c| open + c) else {
        return Ok(None);
    };
    let inner = &key[open + 1..close];
    let Some((a, b)) = inner.split_once('-') else {
        return Err("has no `-` between its bounds".into());
    };
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (Some(first), Some(last)) = (number(a), number(b)) else {
        return Err("has bounds that are not numbers".into());
    };
    if first > last {
        return Err(format!("counts down ({first} > {last})"));
    }
    if last - first >= MAX_RANGE {
        return Err(format!("makes more than {MAX_RANGE} nodes"));
    }
    let width = if a.len() > 1 && a.starts_with('0') {
        a.len()
    } else {
        0
    };
    Ok(Some(Range {
        before: key[..open].to_string(),
        after: key[close + 1..].to_string(),
        first,
        last,
        width,
    }))
}

/// The problem collector of the expansion.
pub(super) struct Ex<'s> {
    src: &'s SourceFile,
    problems: Vec<Problem>,
}

impl Ex<'_> {
    pub(super) fn span<T>(&self, s: &Spanned<T>) -> SourceSpan {
        span_of(s, &self.src.text)
    }

    /// Records the node `name` made at `span` (by the range `range`, or written), or
    /// reports that a range makes a node another range or a written node makes too;
    /// `true` when the name is new.
    fn made_once(
        &mut self,
        names: &mut HashMap<String, (SourceSpan, Option<String>)>,
        name: &str,
        span: SourceSpan,
        range: Option<&str>,
    ) -> bool {
        let Some((first, first_range)) = names.get(name).cloned() else {
            names.insert(name.to_string(), (span, range.map(str::to_string)));
            return true;
        };
        if first_range.is_none() && range.is_none() {
            // Written twice: a duplicate key, or validation's duplicate node.
            return true;
        }
        let line = |s: SourceSpan| self.src.text[..s.offset()].matches('\n').count() + 1;
        let by = |r: &Option<String>, at: SourceSpan| match r {
            Some(r) => format!("made by the range `{r}` at line {}", line(at)),
            None => format!("written by hand at line {}", line(at)),
        };
        let range = range.map(str::to_string);
        let message = format!(
            "the node `{name}` is {} and {}",
            by(&first_range, first),
            by(&range, span)
        );
        let label = |r: &Option<String>| match r {
            Some(r) => format!("`{r}` makes `{name}`"),
            None => format!("`{name}` is written here"),
        };
        let (first_label, label) = (label(&first_range), label(&range));
        self.report(Code::DuplicateNode, message)
            .with_label(first, first_label)
            .with_label(span, label)
            .with_help("every router and host needs its own name: change the range's bounds or rename the node");
        false
    }

    pub(super) fn report(&mut self, code: Code, message: impl Into<String>) -> &mut Problem {
        self.problems
            .push(Problem::new(code, message, self.src.shared_source()));
        self.problems.last_mut().expect("just pushed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_from_node_names() {
        assert_eq!(range("web1"), Ok(None));
        let r = range("web[1-200]").unwrap().unwrap();
        assert_eq!(
            (r.before.as_str(), r.first, r.last, r.width),
            ("web", 1, 200, 0)
        );
        let r = range("h[001-010]-x").unwrap().unwrap();
        assert_eq!((r.after.as_str(), r.width), ("-x", 3));
        assert!(range("web[5-1]").is_err());
        assert!(range("web[a-b]").is_err());
        assert!(range("web[1]").is_err());
    }
}
