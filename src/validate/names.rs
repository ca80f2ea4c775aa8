//! Names: the lab's, its prefix, the nodes', the interfaces' and the names derived
//! from them in the fabric.

use std::collections::HashMap;

use miette::SourceSpan;

use super::members::Node;
use super::networks::NetInfo;
use super::{Code, Cx};
use crate::naming;
use crate::topology::{Spanned, Topology};

/// Why `s` is not a word of `[A-Za-z0-9_.-]`, if it is not.
pub(super) fn bad_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
}

pub(super) fn check_lab_name(cx: &mut Cx, topo: &Topology) {
    let name = &topo.name;
    let span = cx.span(name);
    let name_ok = match naming::lab_name_problem(&name.value) {
        Some(problem) => {
            let report = cx
                .report(Code::BadLabName, problem.message(&name.value))
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
            Code::BadPrefix,
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
                Code::BadNamespaceName,
                format!("the fabric namespace name `{fabric}` {problem}"),
            )
            .with_label(span, "the fabric namespace is named after the lab");
        }
    }
}

pub(super) fn check_node_names(cx: &mut Cx, topo: &Topology, prefix: &str, fabric_ns: &str) {
    let mut seen: HashMap<&str, (SourceSpan, &str)> = HashMap::new();
    let routers = topo.routers.keys().map(|k| (k, "router"));
    let hosts = topo.hosts.keys().map(|k| (k, "host"));
    for (key, what) in routers.chain(hosts) {
        let span = cx.span(key);
        let ns = naming::node_ns(prefix, &key.value);
        if key.value.is_empty() {
            cx.report(Code::BadNodeName, format!("a {what} has an empty name"))
                .with_label(span, "empty name");
        } else if let Some(why) = naming::node_name_problem(&key.value) {
            cx.report(
                Code::BadNodeName,
                format!("the {what} name `{}` {why}", key.value),
            )
            .with_label(span, format!("name {why}"))
            .with_help(naming::NODE_NAME_HELP);
        } else if let Some(problem) = naming::ns_name_problem(&ns) {
            cx.report(
                Code::BadNodeName,
                format!(
                    "the namespace name `{ns}` of {what} `{}` {problem}",
                    key.value
                ),
            )
            .with_label(span, format!("namespace name {problem}"));
        } else if ns == fabric_ns {
            cx.report(
                Code::NodeIsFabric,
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
                Code::DuplicateNode,
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
pub(super) fn check_ifname(cx: &mut Cx, name: &str, span: SourceSpan, declared: bool) -> bool {
    if let Some(problem) = naming::ifname_problem(name) {
        let message = if name.is_empty() {
            "an interface name is empty".to_string()
        } else {
            format!("the interface name `{name}` {problem}")
        };
        let p = cx
            .report(Code::BadInterfaceName, message)
            .with_label(span, format!("interface name {problem}"));
        if problem.contains("longer") {
            p.with_help("Linux interface names are at most 15 bytes");
        }
        false
    } else if declared && name == "lo" {
        cx.report(
            Code::ReservedInterfaceName,
            "`lo` cannot be declared as an interface",
        )
        .with_label(span, "every namespace already has its loopback `lo`")
        .with_help("routes and rules may use `lo` without declaring it");
        false
    } else {
        true
    }
}

/// A veth end's fabric port, for the collision check: its node, interface, where the
/// interface is named, and how to say what it is.
pub(super) struct Port<'a> {
    pub node: &'a str,
    pub ifname: &'a str,
    pub span: SourceSpan,
    pub what: String,
}

pub(super) fn check_fabric_names<'a>(
    cx: &mut Cx,
    nets: &[NetInfo],
    ports: impl Iterator<Item = Port<'a>>,
) {
    // Each fabric name with where it comes from and, for a fabric port, its node.
    let bridges = nets.iter().map(|n| {
        (
            naming::bridge_name(&n.name),
            n.span,
            format!("the bridge of network `{}`", n.name),
            None,
        )
    });
    let ports = ports.map(|p| {
        (
            naming::fabric_port_name(p.node, p.ifname),
            p.span,
            format!("the fabric end of {}", p.what),
            Some(p.node),
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
                Code::FabricNameCollision,
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

/// Reports an interface reference (route `dev`, a stacked link's lower link) that is
/// not one of the node's interfaces or `lo`.
pub(super) fn check_if_ref(cx: &mut Cx, s: &Spanned<String>, node: &Node) -> bool {
    let span = cx.span(s);
    if !check_ifname(cx, &s.value, span, false) {
        return false;
    }
    if node.has(&s.value) {
        return true;
    }
    let name = node.name();
    let list = node.list_names();
    cx.report(
        Code::UnknownInterface,
        format!("`{name}` has no interface `{}`", s.value),
    )
    .with_label(span, "no such interface")
    .with_help(format!("the interfaces of `{name}`: {list}"));
    false
}
