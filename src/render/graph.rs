//! `failback graph`: the run's DAG with each step's live status.

use super::dag::{self, Node, Palette};
use super::time::fmt_utc;
use failback_state::{StepRecord, StepStatus, WaitReason};

const PALETTE: Palette = &[
    ("pending", "#ffffff", "#9e9e9e"),
    ("running", "#bbdefb", "#1565c0"),
    ("waiting", "#e1bee7", "#6a1b9a"),
    ("succeeded", "#c8e6c9", "#2e7d32"),
    ("failed", "#ffcdd2", "#c62828"),
    ("compensating", "#ffe0b2", "#ef6c00"),
    ("compensated", "#d7ccc8", "#5d4037"),
    ("skipped", "#eeeeee", "#bdbdbd"),
];

/// The status line under a node's id: `waiting until 2026-11-24T12:04:05Z`, `failed: Code`.
pub fn status_label(s: &StepRecord) -> String {
    match &s.status {
        StepStatus::Running { .. } if s.polls > 0 => format!("polling ({})", s.polls),
        StepStatus::Running { attempt, .. } => format!("running (attempt {attempt})"),
        StepStatus::Waiting {
            wake_at, reason, ..
        } => {
            let what = match reason {
                WaitReason::Timer => "waiting until",
                WaitReason::Retry { .. } => "retry at",
            };
            format!("{what} {}", fmt_utc(*wake_at))
        }
        StepStatus::Failed { error } => format!("failed: {}", error.code),
        StepStatus::Compensating { attempt } => format!("compensating (attempt {attempt})"),
        other => other.name().to_owned(),
    }
}

fn nodes(steps: &[StepRecord]) -> Vec<Node> {
    steps
        .iter()
        .map(|s| Node {
            id: s.step_id.clone(),
            lines: vec![status_label(s)],
            class: s.status.name(),
        })
        .collect()
}

/// Graphviz digraph of the run; `edges` are (dependency, dependant) step ids, for example
/// from [`super::plan::plan_edges`].
pub fn graph_dot(steps: &[StepRecord], edges: &[(String, String)]) -> String {
    let name = steps.first().map_or("run", |s| s.run_id.as_str());
    dag::dot(name, &nodes(steps), edges, PALETTE)
}

/// Mermaid flowchart of the run, one `classDef` per status present.
pub fn graph_mermaid(steps: &[StepRecord], edges: &[(String, String)]) -> String {
    dag::mermaid(&nodes(steps), edges, PALETTE)
}
