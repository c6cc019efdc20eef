//! A run's DAG as inline SVG: one node (`<g class="node STATE">`) per step in columns by depth,
//! one `<path class="edge">` per dependency. The page's script recolours nodes from live
//! events by their `data-step`.

use crate::commands::control::depths;
use crate::daemon::page::escape;
use failback_state::StepRecord;
use std::collections::BTreeMap;
use std::fmt::Write as _;

const NODE_W: usize = 190;
const NODE_H: usize = 40;
const COL_GAP: usize = 50;
const ROW_GAP: usize = 14;
const PAD: usize = 8;
/// Longest step id drawn in a node before it is cut (the full id is in its `<title>`).
const LABEL_MAX: usize = 26;

/// (step id, state name) of every node: the steps, then any edge endpoint with no record.
fn nodes<'a>(steps: &'a [StepRecord], edges: &'a [(String, String)]) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s.step_id.as_str(), s.status.name()))
        .collect();
    for (a, b) in edges {
        for end in [a, b] {
            if !out.iter().any(|(id, _)| id == end) {
                out.push((end.as_str(), "pending"));
            }
        }
    }
    out
}

fn label(id: &str) -> String {
    if id.chars().count() <= LABEL_MAX {
        return id.to_owned();
    }
    let tail: String = id
        .chars()
        .skip(id.chars().count() - (LABEL_MAX - 1))
        .collect();
    format!("…{tail}")
}

/// Each node's top-left corner: columns by depth, rows in the order the nodes come.
fn layout(nodes: &[(&str, &str)], edges: &[(String, String)]) -> BTreeMap<String, (usize, usize)> {
    let depth = depths(edges);
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut at = BTreeMap::new();
    for (id, _) in nodes {
        let col = depth.get(id).copied().unwrap_or(0);
        let row = rows.entry(col).or_insert(0);
        let x = PAD + col * (NODE_W + COL_GAP);
        let y = PAD + *row * (NODE_H + ROW_GAP);
        *row += 1;
        at.insert((*id).to_owned(), (x, y));
    }
    at
}

/// The DAG's SVG.
pub fn dag_svg(steps: &[StepRecord], edges: &[(String, String)]) -> String {
    let nodes = nodes(steps, edges);
    let at = layout(&nodes, edges);
    let width = at
        .values()
        .map(|(x, _)| x + NODE_W + PAD)
        .max()
        .unwrap_or(PAD);
    let height = at
        .values()
        .map(|(_, y)| y + NODE_H + PAD)
        .max()
        .unwrap_or(PAD);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg id=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" \
         aria-label=\"the run's steps and their dependencies\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
    );
    for (from, to) in edges {
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (at.get(from), at.get(to)) else {
            continue;
        };
        let (sx, sy, ex, ey) = (x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2);
        let mid = (sx + ex) / 2;
        let _ = write!(
            out,
            "<path class=\"edge\" data-from=\"{}\" data-to=\"{}\" \
             d=\"M{sx} {sy} C{mid} {sy} {mid} {ey} {ex} {ey}\"/>",
            escape(from),
            escape(to)
        );
    }
    for (id, state) in &nodes {
        let Some(&(x, y)) = at.get(*id) else { continue };
        let text = escape(&label(id));
        let id = escape(id);
        let _ = write!(
            out,
            "<a href=\"#step-{id}\"><g class=\"node {state}\" data-step=\"{id}\" data-status=\"{state}\">\
             <title>{id}: {state}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"5\"/>\
             <text x=\"{}\" y=\"{}\">{}</text><text class=\"state\" x=\"{}\" y=\"{}\">{state}</text></g></a>",
            x + 8,
            y + 17,
            text,
            x + 8,
            y + 33,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edge_per_dependency_and_one_node_per_step() {
        let e = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        let edges = vec![e("a", "b"), e("a", "c"), e("b", "d"), e("c", "d")];
        let steps: Vec<StepRecord> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| StepRecord::pending("r", id, 0))
            .collect();
        let svg = dag_svg(&steps, &edges);
        assert_eq!(svg.matches("class=\"edge\"").count(), 4);
        assert_eq!(svg.matches("<g class=\"node pending\"").count(), 4);
        assert!(svg.contains("data-from=\"b\" data-to=\"d\""));
    }
}
