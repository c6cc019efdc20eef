//! Graphviz DOT and Mermaid output for a step DAG, shared by the plan and live-status views.
//! Nodes are drawn in a topological order of the edges ([`topo_order`]), so a run's records
//! draw like the plan's steps; the steps of one branch (`vnet-a/...`) between two top-level
//! steps are drawn inside one cluster / subgraph (a branch's teardown after `await-failback`
//! gets a cluster of its own, below it).

use super::style::{branch, clean, truncate};
use std::collections::{BTreeMap, BTreeSet};

/// Longest label line drawn; longer ones (blocked reasons, error codes) are cut.
const LABEL_MAX: usize = 48;

pub(crate) struct Node {
    pub id: String,
    /// Label lines under the id.
    pub lines: Vec<String>,
    /// A class name from the palette.
    pub class: &'static str,
}

/// Per class: (name, fill colour, border colour).
pub(crate) type Palette = &'static [(&'static str, &'static str, &'static str)];

/// Class of endpoints named by an edge but absent from the node list.
const MISSING: (&str, &str, &str) = ("missing", "#ffffff", "#9e9e9e");

fn colours(palette: Palette, class: &str) -> (&'static str, &'static str) {
    palette
        .iter()
        .chain(std::iter::once(&MISSING))
        .find(|(name, _, _)| *name == class)
        .map(|(_, fill, stroke)| (*fill, *stroke))
        .unwrap_or((MISSING.1, MISSING.2))
}

/// The nodes plus a stand-in for every edge endpoint not among them, so the output never
/// names an undeclared node.
fn complete(nodes: &[Node], edges: &[(String, String)]) -> Vec<Node> {
    let mut known: BTreeSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut extra = Vec::new();
    for (a, b) in edges {
        for end in [a, b] {
            if known.insert(end.as_str()) {
                extra.push(Node {
                    id: end.clone(),
                    lines: vec!["(not in graph)".into()],
                    class: MISSING.0,
                });
            }
        }
    }
    let mut all: Vec<Node> = nodes
        .iter()
        .map(|n| Node {
            id: n.id.clone(),
            lines: n.lines.clone(),
            class: n.class,
        })
        .collect();
    all.extend(extra);
    all
}

/// The nodes in a topological order of `edges` (Kahn's algorithm). Among the nodes ready at
/// once, the one whose first edge comes first in `edges` goes first: edges listed in a
/// definition's order (`WorkflowDef::edges`, `plan_edges`) give that definition's order
/// whatever order the nodes came in — a plan's steps and a run's records (sorted by id in the
/// store) draw alike. Nodes on no edge keep their given order, after the rest; a cycle's
/// nodes, which never become ready, are appended in their given order.
fn topo_order<T>(items: Vec<T>, id: impl Fn(&T) -> &str, edges: &[(String, String)]) -> Vec<T> {
    let ids: Vec<String> = items.iter().map(|t| id(t).to_owned()).collect();
    let index: BTreeMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut rank = vec![usize::MAX; ids.len()];
    let mut indegree = vec![0usize; ids.len()];
    let mut dependants = vec![Vec::new(); ids.len()];
    let mut seen = BTreeSet::new();
    for (e, (a, b)) in edges.iter().enumerate() {
        let (Some(&i), Some(&j)) = (index.get(a.as_str()), index.get(b.as_str())) else {
            continue;
        };
        if i == j || !seen.insert((i, j)) {
            continue;
        }
        rank[i] = rank[i].min(e);
        rank[j] = rank[j].min(e);
        indegree[j] += 1;
        dependants[i].push(j);
    }
    let mut ready: BTreeSet<(usize, usize)> = (0..ids.len())
        .filter(|&i| indegree[i] == 0)
        .map(|i| (rank[i], i))
        .collect();
    let mut order = Vec::with_capacity(ids.len());
    while let Some((_, i)) = ready.pop_first() {
        order.push(i);
        for &j in &dependants[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.insert((rank[j], j));
            }
        }
    }
    let placed: BTreeSet<usize> = order.iter().copied().collect();
    order.extend((0..ids.len()).filter(|i| !placed.contains(i)));
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// Indices of `ids` in drawing order: a top-level id alone; between two top-level ids, each
/// branch's ids as one group placed where its first id appears (so `vnet-a/teardown`, after
/// `await-failback`, gets its own group, as in the text plan).
fn groups<'a>(ids: &[&'a str]) -> Vec<(Option<&'a str>, Vec<usize>)> {
    let mut out: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    let mut slot: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        match branch(id) {
            Some(b) => match slot.get(b) {
                Some(&g) => {
                    if let Some(group) = out.get_mut(g) {
                        group.1.push(i);
                    }
                }
                None => {
                    slot.insert(b, out.len());
                    out.push((Some(b), vec![i]));
                }
            },
            None => {
                slot.clear();
                out.push((None, vec![i]));
            }
        }
    }
    out
}

fn node_groups(nodes: &[Node]) -> Vec<(Option<&str>, Vec<usize>)> {
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    groups(&ids)
}

/// `items` in the order a graph draws them: a topological order of `edges` ([`topo_order`])
/// regrouped by branch ([`groups`]). The status view lists steps in this order too.
pub(crate) fn drawing_order<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    edges: &[(String, String)],
) -> Vec<T> {
    let sorted = topo_order(items, &id, edges);
    let ids: Vec<&str> = sorted.iter().map(&id).collect();
    let order: Vec<usize> = groups(&ids)
        .into_iter()
        .flat_map(|(_, members)| members)
        .collect();
    let mut slots: Vec<Option<T>> = sorted.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}

/// The nodes, with stand-ins for missing edge endpoints, in drawing order, so Mermaid's
/// `n0, n1, ...` count down the page.
fn drawn(nodes: &[Node], edges: &[(String, String)]) -> Vec<Node> {
    drawing_order(complete(nodes, edges), |n| n.id.as_str(), edges)
}

/// Text for inside a DOT quoted string.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn dot_str(s: &str) -> String {
    format!("\"{}\"", dot_escape(s))
}

fn label_lines(n: &Node) -> Vec<String> {
    std::iter::once(n.id.clone())
        .chain(n.lines.iter().map(|l| truncate(&clean(l), LABEL_MAX)))
        .collect()
}

pub(crate) fn dot(name: &str, nodes: &[Node], edges: &[(String, String)], pal: Palette) -> String {
    let nodes = drawn(nodes, edges);
    let mut out = format!("digraph {} {{\n", dot_str(name));
    out.push_str("  rankdir=TB;\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n");
    out.push_str("  edge [color=\"#616161\"];\n");
    for (gi, (group, members)) in node_groups(&nodes).into_iter().enumerate() {
        let indent = if group.is_some() { "    " } else { "  " };
        if let Some(b) = group {
            let cluster = format!("cluster_{gi}_{b}");
            out.push_str(&format!("  subgraph {} {{\n", dot_str(&cluster)));
            out.push_str(&format!("    label={};\n", dot_str(b)));
            out.push_str("    style=dashed;\n    color=\"#9e9e9e\";\n");
        }
        for n in members.iter().filter_map(|&i| nodes.get(i)) {
            let label: Vec<String> = label_lines(n).iter().map(|l| dot_escape(l)).collect();
            let (fill, stroke) = colours(pal, n.class);
            out.push_str(&format!(
                "{indent}{} [label=\"{}\", fillcolor=\"{fill}\", color=\"{stroke}\"];\n",
                dot_str(&n.id),
                label.join("\\n"),
            ));
        }
        if group.is_some() {
            out.push_str("  }\n");
        }
    }
    for (a, b) in edges {
        out.push_str(&format!("  {} -> {};\n", dot_str(a), dot_str(b)));
    }
    out.push_str("}\n");
    out
}

/// Mermaid label text: entity codes for the characters its parser or HTML would take.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            _ => out.push(c),
        }
    }
    out
}

pub(crate) fn mermaid(nodes: &[Node], edges: &[(String, String)], pal: Palette) -> String {
    let nodes = drawn(nodes, edges);
    // Step ids hold `/` and `-`, which Mermaid ids cannot: nodes become n0, n1, ...
    let ids: BTreeMap<&str, String> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), format!("n{i}")))
        .collect();
    let mut out = String::from("flowchart TD\n");
    for (gi, (group, members)) in node_groups(&nodes).into_iter().enumerate() {
        let indent = if group.is_some() { "    " } else { "  " };
        if let Some(b) = group {
            out.push_str(&format!("  subgraph g{gi}[\"{}\"]\n", mermaid_text(b)));
        }
        for (i, n) in members.iter().filter_map(|&i| nodes.get(i).map(|n| (i, n))) {
            let label: Vec<String> = label_lines(n).iter().map(|l| mermaid_text(l)).collect();
            out.push_str(&format!(
                "{indent}n{i}[\"{}\"]:::{}\n",
                label.join("<br/>"),
                n.class
            ));
        }
        if group.is_some() {
            out.push_str("  end\n");
        }
    }
    for (a, b) in edges {
        if let (Some(a), Some(b)) = (ids.get(a.as_str()), ids.get(b.as_str())) {
            out.push_str(&format!("  {a} --> {b}\n"));
        }
    }
    let used: BTreeSet<&str> = nodes.iter().map(|n| n.class).collect();
    for (name, fill, stroke) in pal.iter().chain(std::iter::once(&MISSING)) {
        if used.contains(name) {
            out.push_str(&format!(
                "  classDef {name} fill:{fill},stroke:{stroke},color:#000\n"
            ));
        }
    }
    out
}
