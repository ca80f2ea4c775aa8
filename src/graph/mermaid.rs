//! The graph as a Mermaid flowchart (GitHub and many wikis draw it from a fenced
//! ```` ```mermaid ```` block): routers as rectangles, hosts rounded, networks as
//! hexagons, each interface on a network a labelled link (routers above the networks,
//! hosts below). What the kernel lacks is red and dashed, what has drifted orange
//! (`classDef` for nodes, `linkStyle` for links).

use std::collections::HashMap;
use std::fmt::Write;

use super::dot::{DRIFTED, MISSING, title};
use super::{Graph, Role, State, edge_lines, network_lines, node_lines};

/// The graph as a Mermaid `flowchart`.
pub fn render(g: &Graph) -> String {
    let mut out = String::new();
    let w = &mut out;
    // A YAML double-quoted string is a JSON string.
    let _ = writeln!(w, "---\ntitle: {}\n---", serde_json::Value::from(title(g)));
    let _ = writeln!(w, "flowchart TB");
    // The state of each node and network, by id.
    let mut classes: Vec<(State, String)> = Vec::new();
    let nodes = write_nodes(w, g, &mut classes);
    let networks = write_networks(w, g, &mut classes);
    let link_styles = write_edges(w, g, &nodes, &networks);
    write_roles(w, g, &nodes);
    write_states(w, &classes, &link_styles);
    out
}

/// The routers (rectangles) and hosts (rounded), and each one's id by name. Ids are
/// positions: names may hold any character but whitespace and `/`.
fn write_nodes<'g>(
    w: &mut String,
    g: &'g Graph,
    classes: &mut Vec<(State, String)>,
) -> HashMap<&'g str, String> {
    let mut nodes = HashMap::new();
    let (mut routers, mut hosts) = (0, 0);
    for n in &g.nodes {
        let label = text(&node_lines(n).join("\n"));
        let (id, shape) = match n.role {
            Role::Router => {
                routers += 1;
                (format!("r{}", routers - 1), format!("[\"{label}\"]"))
            }
            Role::Host => {
                hosts += 1;
                (format!("h{}", hosts - 1), format!("(\"{label}\")"))
            }
        };
        let _ = writeln!(w, "    {id}{shape}");
        classes.push((n.state, id.clone()));
        nodes.insert(n.name.as_str(), id);
    }
    nodes
}

/// The networks (hexagons), and each one's id by name.
fn write_networks<'g>(
    w: &mut String,
    g: &'g Graph,
    classes: &mut Vec<(State, String)>,
) -> HashMap<&'g str, String> {
    let mut networks = HashMap::new();
    for (i, n) in g.networks.iter().enumerate() {
        let id = format!("n{i}");
        let _ = writeln!(
            w,
            "    {id}{{{{\"{}\"}}}}",
            text(&network_lines(n).join("\n"))
        );
        classes.push((n.state, id.clone()));
        networks.insert(n.name.as_str(), id);
    }
    networks
}

/// Each interface on a network, a labelled link; returns each link's state with its
/// number (`linkStyle` counts links in the order they are written).
fn write_edges(
    w: &mut String,
    g: &Graph,
    nodes: &HashMap<&str, String>,
    networks: &HashMap<&str, String>,
) -> Vec<(State, usize)> {
    let mut link_styles: Vec<(State, usize)> = Vec::new();
    for e in &g.edges {
        let (Some(from), Some(to)) = (nodes.get(e.node.as_str()), networks.get(e.network.as_str()))
        else {
            continue;
        };
        let arrow = if e.state == State::Missing {
            "-.-"
        } else {
            "---"
        };
        // As in DOT: routers above their networks, hosts below.
        // (Router ids start with `r`.)
        let (from, to) = if from.starts_with('r') {
            (from, to)
        } else {
            (to, from)
        };
        let _ = writeln!(
            w,
            "    {from} {arrow}|\"{}\"| {to}",
            text(&edge_lines(e).join("\n"))
        );
        link_styles.push((e.state, link_styles.len()));
    }
    link_styles
}

/// The classes of the routers (a thicker stroke) and of the networks (grey).
fn write_roles(w: &mut String, g: &Graph, nodes: &HashMap<&str, String>) {
    let _ = writeln!(w, "    classDef router stroke-width:2px");
    let router_ids: Vec<&str> = g
        .nodes
        .iter()
        .filter(|n| n.role == Role::Router)
        .filter_map(|n| nodes.get(n.name.as_str()).map(String::as_str))
        .collect();
    if !router_ids.is_empty() {
        let _ = writeln!(w, "    class {} router", router_ids.join(","));
    }
    let _ = writeln!(w, "    classDef network fill:#eeeeee");
    if !g.networks.is_empty() {
        let ids: Vec<String> = (0..g.networks.len()).map(|i| format!("n{i}")).collect();
        let _ = writeln!(w, "    class {} network", ids.join(","));
    }
}

/// What the kernel lacks in red and dashed, what has drifted in orange: nodes and
/// networks by class, links by `linkStyle`.
fn write_states(w: &mut String, classes: &[(State, String)], link_styles: &[(State, usize)]) {
    for (state, name, colour, dashes) in [
        (State::Missing, "missing", MISSING, ",stroke-dasharray:5 5"),
        (State::Drifted, "drifted", DRIFTED, ""),
    ] {
        let ids: Vec<&str> = classes
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, id)| id.as_str())
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(
                w,
                "    classDef {name} stroke:{colour},stroke-width:3px,color:{colour}{dashes}"
            );
            let _ = writeln!(w, "    class {} {name}", ids.join(","));
        }
        let links: Vec<String> = link_styles
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, i)| i.to_string())
            .collect();
        if !links.is_empty() {
            let _ = writeln!(
                w,
                "    linkStyle {} stroke:{colour},stroke-width:3px,color:{colour}{dashes}",
                links.join(",")
            );
        }
    }
}

/// Text inside a quoted Mermaid label: entity codes for what Mermaid would read
/// (`"`, `#`, `<`, `>`, `&`), and lines joined by `<br/>`.
fn text(s: &str) -> String {
    let mut t = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => t.push_str("#35;"),
            '"' => t.push_str("#quot;"),
            '<' => t.push_str("#lt;"),
            '>' => t.push_str("#gt;"),
            '&' => t.push_str("#amp;"),
            '\n' => t.push_str("<br/>"),
            c => t.push(c),
        }
    }
    t
}
