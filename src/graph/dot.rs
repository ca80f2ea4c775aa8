//! The graph in Graphviz's DOT language: routers as boxes, hosts as ellipses, networks
//! as grey hexagons, each interface on a network an edge labelled with its name and
//! addresses; routers above the networks, hosts below. What the kernel lacks is red and dashed, what has drifted orange.

use std::fmt::Write;

use super::{Graph, Role, State, edge_lines, network_lines, node_lines};

/// Red, for what is missing.
pub const MISSING: &str = "#d62728";
/// Orange, for what has drifted.
pub const DRIFTED: &str = "#ff7f0e";

/// The graph as a DOT document (an undirected `graph`).
pub fn render(g: &Graph) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "graph {} {{", quote(&g.lab));
    let _ = writeln!(
        w,
        "  graph [label={}, labelloc=t, fontname=\"Helvetica\", nodesep=0.4];",
        quote(&title(g))
    );
    let _ = writeln!(w, "  node [fontname=\"Helvetica\", fontsize=11];");
    let _ = writeln!(w, "  edge [fontname=\"Helvetica\", fontsize=9];");
    for n in &g.nodes {
        let (shape, styles): (&str, &[&str]) = match n.role {
            Role::Router => ("box", &["rounded", "bold"]),
            Role::Host => ("ellipse", &[]),
        };
        let _ = writeln!(
            w,
            "  {} [label={}, shape={shape}{}];",
            quote(&node_id(&n.name)),
            quote(&node_lines(n).join("\n")),
            state_attrs(n.state, styles)
        );
    }
    for n in &g.networks {
        let _ = writeln!(
            w,
            "  {} [label={}, shape=hexagon, fillcolor=\"#eeeeee\"{}];",
            quote(&network_id(&n.name)),
            quote(&network_lines(n).join("\n")),
            state_attrs(n.state, &["filled"])
        );
    }
    let routers: std::collections::HashSet<&str> = g
        .nodes
        .iter()
        .filter(|n| n.role == Role::Router)
        .map(|n| n.name.as_str())
        .collect();
    for e in &g.edges {
        // Dot ranks an edge's tail above its head: routers above their networks, hosts
        // below theirs.
        let (node, net) = (quote(&node_id(&e.node)), quote(&network_id(&e.network)));
        let (tail, head) = if routers.contains(e.node.as_str()) {
            (node, net)
        } else {
            (net, node)
        };
        let _ = writeln!(
            w,
            "  {tail} -- {head} [label={}{}];",
            quote(&edge_lines(e).join("\n")),
            state_attrs(e.state, &[])
        );
    }
    out.push_str("}\n");
    out
}

/// The graph's title: the lab, and what the kernel lacks when it was compared.
pub(crate) fn title(g: &Graph) -> String {
    if !g.checked {
        return format!("lab {}", g.lab);
    }
    match g.counts() {
        (0, 0) => format!("lab {}: in sync", g.lab),
        (missing, drifted) => format!("lab {}: {missing} missing, {drifted} drifted", g.lab),
    }
}

/// The object's own `styles`, and the colour and dashes of its state.
fn state_attrs(state: State, styles: &[&str]) -> String {
    let mut styles = styles.to_vec();
    let mut s = String::new();
    let colour = match state {
        State::Missing => Some(MISSING),
        State::Drifted => Some(DRIFTED),
        State::Unchecked | State::InSync => None,
    };
    if let Some(colour) = colour {
        s += &format!(", color=\"{colour}\", fontcolor=\"{colour}\", penwidth=2");
    }
    if state == State::Missing {
        styles.push("dashed");
    }
    if !styles.is_empty() {
        s += &format!(", style={}", quote(&styles.join(",")));
    }
    s
}

/// Node and network ids never collide (a network may be named like a node).
fn node_id(name: &str) -> String {
    format!("node:{name}")
}

fn network_id(name: &str) -> String {
    format!("net:{name}")
}

/// A DOT quoted string: `"` and `\` escaped, newlines as `\n` (centred lines).
pub(crate) fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}
