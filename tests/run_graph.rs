//! `failback graph RUN` of a real run draws like `failback plan --run RUN`: the same groups
//! (one cluster per network, each teardown in its own cluster below `await-failback`), the same
//! nodes in the same order and the same edges, in DOT and in Mermaid — though the store keeps
//! the run's step records sorted by id.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use support::*;

/// Groups in drawing order (cluster label or `None` for a top-level node, with node ids) and
/// the edge set.
type Layout = (
    Vec<(Option<String>, Vec<String>)>,
    BTreeSet<(String, String)>,
);

fn quoted(s: &str) -> String {
    s.trim()
        .trim_start_matches('"')
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn dot_layout(dot: &str) -> Layout {
    let (mut groups, mut edges) = (Vec::new(), BTreeSet::new());
    let mut cluster: Option<(Option<String>, Vec<String>)> = None;
    for t in dot.lines().map(str::trim) {
        if t.starts_with("subgraph ") {
            cluster = Some((None, Vec::new()));
        } else if let Some(label) = t.strip_prefix("label=") {
            if let Some(c) = cluster.as_mut() {
                c.0 = Some(quoted(label));
            }
        } else if t == "}" {
            groups.extend(cluster.take());
        } else if let Some((a, b)) = t.split_once(" -> ") {
            edges.insert((quoted(a), quoted(b)));
        } else if t.contains(" [label=") {
            match cluster.as_mut() {
                Some(c) => c.1.push(quoted(t)),
                None => groups.push((None, vec![quoted(t)])),
            }
        }
    }
    (groups, edges)
}

/// Mermaid's layout with its node ids (`n0`, …) kept, and each id's step.
fn mermaid_layout(m: &str) -> (Layout, BTreeMap<String, String>) {
    let mut names = BTreeMap::new();
    let (mut groups, mut edges) = (Vec::new(), BTreeSet::new());
    let mut sub: Option<(Option<String>, Vec<String>)> = None;
    for line in m.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("subgraph ") {
            let label = rest
                .split_once("[\"")
                .map(|(_, l)| l.trim_end_matches("\"]"));
            sub = Some((label.map(String::from), Vec::new()));
        } else if line == "end" {
            groups.extend(sub.take());
        } else if let Some((a, b)) = line.split_once(" --> ") {
            edges.insert((a.to_owned(), b.to_owned()));
        } else if let Some((id, rest)) = line.split_once("[\"") {
            let step = rest.split("<br/>").next().unwrap_or_default().to_owned();
            names.insert(id.to_owned(), step);
            match sub.as_mut() {
                Some(s) => s.1.push(id.to_owned()),
                None => groups.push((None, vec![id.to_owned()])),
            }
        }
    }
    ((groups, edges), names)
}

fn stdout(r: &Rehearsal, args: &[&str]) -> String {
    let out = r.failback(args).output().expect("run failback");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_graph_has_the_plan_layout_in_dot_and_mermaid() {
    let r = Rehearsal::start();
    stdout(&r, &["apply", "--yes", "--run-id", "g1"]);

    let run = dot_layout(&stdout(&r, &["graph", "g1", "--format", "dot"]));
    let plan = dot_layout(&stdout(&r, &["plan", "--run", "g1", "--format", "dot"]));
    assert_eq!(run, plan);
    let order: Vec<&String> = run.0.iter().flat_map(|(_, ids)| ids).collect();
    let pos = |id: &String| order.iter().position(|o| *o == id);
    for (a, b) in &run.1 {
        assert!(pos(a) < pos(b), "edge {a} -> {b} runs upward: {order:?}");
    }
    let after_wait: Vec<&(Option<String>, Vec<String>)> = run
        .0
        .iter()
        .skip_while(|(_, ids)| ids != &["await-failback".to_owned()])
        .skip(1)
        .collect();
    assert_eq!(after_wait.len(), 2, "{run:?}");
    for (cluster, ids) in after_wait {
        let net = cluster.as_deref().unwrap_or_default();
        assert_eq!(ids, &[format!("{net}/teardown")], "{run:?}");
    }

    let (run_m, run_names) = mermaid_layout(&stdout(&r, &["graph", "g1", "--format", "mermaid"]));
    let (plan_m, plan_names) =
        mermaid_layout(&stdout(&r, &["plan", "--run", "g1", "--format", "mermaid"]));
    assert_eq!(run_m, plan_m, "same node ids, subgraphs and edges");
    assert_eq!(run_names, plan_names);
    assert_eq!(run_names.len(), order.len());
}
