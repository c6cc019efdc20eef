//! `failback plan` output: text like `terraform plan`, JSON, Graphviz DOT and Mermaid.

use super::dag::{self, Node, Palette};
use super::style::{branch, clean, pad, paint, Tone};
use failback_engine::planner::{Plan, PlannedStep};
use failback_engine::PlanChange;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Short name of a change, as used in JSON and as the graph class.
pub fn change_name(c: &PlanChange) -> &'static str {
    match c {
        PlanChange::Create => "create",
        PlanChange::Exists => "exists",
        PlanChange::NoOp => "no_op",
        PlanChange::Blocked { .. } => "blocked",
        PlanChange::Done => "done",
        PlanChange::Drifted { .. } => "drifted",
        PlanChange::Unknown => "unknown",
    }
}

fn reason(c: &PlanChange) -> Option<&str> {
    match c {
        PlanChange::Blocked { reason } | PlanChange::Drifted { reason } => Some(reason),
        _ => None,
    }
}

/// `+ create`, `! blocked: quota short`, ...
fn change_label(c: &PlanChange) -> String {
    let base = match c {
        PlanChange::Create => "+ create",
        PlanChange::Exists => "= exists",
        PlanChange::NoOp => "· no-op",
        PlanChange::Blocked { .. } => "! blocked",
        PlanChange::Done => "✓ done",
        PlanChange::Drifted { .. } => "~ drifted",
        PlanChange::Unknown => "? unknown",
    };
    match reason(c) {
        Some(r) => format!("{base}: {}", clean(r)),
        None => base.to_owned(),
    }
}

fn change_tone(c: &PlanChange) -> Tone {
    match c {
        PlanChange::Create => Tone::Good,
        PlanChange::Exists | PlanChange::NoOp | PlanChange::Done => Tone::Muted,
        PlanChange::Blocked { .. } => Tone::Bad,
        PlanChange::Drifted { .. } | PlanChange::Unknown => Tone::Warn,
    }
}

/// How many steps have each change.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlanCounts {
    pub create: usize,
    pub exists: usize,
    pub no_op: usize,
    pub blocked: usize,
    pub done: usize,
    pub drifted: usize,
    pub unknown: usize,
}

impl PlanCounts {
    pub fn of(plan: &Plan) -> Self {
        let mut c = Self::default();
        for s in &plan.steps {
            let n = match s.plan.change {
                PlanChange::Create => &mut c.create,
                PlanChange::Exists => &mut c.exists,
                PlanChange::NoOp => &mut c.no_op,
                PlanChange::Blocked { .. } => &mut c.blocked,
                PlanChange::Done => &mut c.done,
                PlanChange::Drifted { .. } => &mut c.drifted,
                PlanChange::Unknown => &mut c.unknown,
            };
            *n += 1;
        }
        c
    }
}

/// The one-line summary: `Plan: 4 to create, 0 existing, 1 blocked.` or `No changes.`
pub fn plan_summary(plan: &Plan) -> String {
    let c = PlanCounts::of(plan);
    if plan.no_changes() {
        return format!(
            "No changes. {} done, {} existing, {} no-op.",
            c.done, c.exists, c.no_op
        );
    }
    let mut parts = vec![
        format!("{} to create", c.create),
        format!("{} existing", c.exists),
        format!("{} blocked", c.blocked),
    ];
    for (n, what) in [
        (c.drifted, "drifted"),
        (c.unknown, "unknown"),
        (c.done, "done"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!("Plan: {}.", parts.join(", "))
}

fn flush<'a>(seg: &mut Vec<(&'a str, Vec<&'a PlannedStep>)>, out: &mut Vec<&'a PlannedStep>) {
    for (_, steps) in seg.drain(..) {
        out.extend(steps);
    }
}

/// Steps regrouped so each branch's steps sit together between top-level steps, when that
/// keeps every dependency before its dependant; otherwise the given order.
fn display_order(plan: &Plan) -> Vec<&PlannedStep> {
    let mut out: Vec<&PlannedStep> = Vec::with_capacity(plan.steps.len());
    let mut segment: Vec<(&str, Vec<&PlannedStep>)> = Vec::new();
    for s in &plan.steps {
        match branch(&s.id) {
            Some(b) => match segment.iter_mut().find(|(name, _)| *name == b) {
                Some((_, steps)) => steps.push(s),
                None => segment.push((b, vec![s])),
            },
            None => {
                flush(&mut segment, &mut out);
                out.push(s);
            }
        }
    }
    flush(&mut segment, &mut out);

    let ids: BTreeSet<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    let mut seen = BTreeSet::new();
    let ordered = out.iter().all(|s| {
        let ok = s
            .deps
            .iter()
            .all(|d| seen.contains(d.as_str()) || !ids.contains(d.as_str()));
        seen.insert(s.id.as_str());
        ok
    });
    if ordered {
        out
    } else {
        plan.steps.iter().collect()
    }
}

/// Human plan. `color` adds ANSI styles; the text is the same either way.
pub fn plan_text(plan: &Plan, color: bool) -> String {
    let run = match &plan.run_id {
        Some(id) => format!("run {}", clean(id)),
        None => "new run".to_owned(),
    };
    let mut out = format!(
        "{} {} v{} ({run})\n",
        paint("Workflow", Tone::Strong, color),
        clean(&plan.workflow),
        plan.version
    );
    let steps = display_order(plan);
    let width = steps
        .iter()
        .map(|s| s.id.chars().count())
        .max()
        .unwrap_or(0);
    let mut current: Option<Option<&str>> = None;
    for s in steps {
        let b = branch(&s.id);
        if current != Some(b) {
            out.push('\n');
            if let Some(b) = b {
                out.push_str(&paint(b, Tone::Strong, color));
                out.push('\n');
            }
            current = Some(b);
        }
        let status = match &s.status {
            Some(st) => format!("  [{}]", clean(st)),
            None => String::new(),
        };
        out.push_str(&format!(
            "  {}  {}{status}\n",
            pad(&clean(&s.id), width),
            paint(
                &change_label(&s.plan.change),
                change_tone(&s.plan.change),
                color
            ),
        ));
        out.push_str(&format!("      {}\n", clean(&s.plan.action)));
        for call in &s.plan.calls {
            out.push_str(&format!("        {}\n", clean(call)));
        }
        for (k, v) in &s.plan.details {
            out.push_str(&format!("      {} = {}\n", clean(k), clean(v)));
        }
    }
    out.push('\n');
    let summary = plan_summary(plan);
    let tone = if plan.blocked() {
        Tone::Bad
    } else {
        Tone::Strong
    };
    out.push_str(&paint(&summary, tone, color));
    out.push('\n');
    if plan.blocked() {
        let n = PlanCounts::of(plan).blocked;
        let steps = if n == 1 { "step is" } else { "steps are" };
        out.push_str(&paint(
            &format!(
                "Nothing was created: {n} {steps} blocked. Resolve the reasons above and run plan again."
            ),
            Tone::Bad,
            color,
        ));
        out.push('\n');
    }
    out
}

/// The plan as pretty JSON with sorted keys, step order kept, and the summary counts.
pub fn plan_json(plan: &Plan) -> String {
    let c = PlanCounts::of(plan);
    let steps: Vec<Value> = plan
        .steps
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "branch": branch(&s.id),
                "deps": s.deps,
                "status": s.status,
                "change": change_name(&s.plan.change),
                "reason": reason(&s.plan.change),
                "action": s.plan.action,
                "calls": s.plan.calls,
                "details": s.plan.details,
            })
        })
        .collect();
    let v = json!({
        "workflow": plan.workflow,
        "version": plan.version,
        "run_id": plan.run_id,
        "blocked": plan.blocked(),
        "no_changes": plan.no_changes(),
        "summary": {
            "create": c.create,
            "exists": c.exists,
            "no_op": c.no_op,
            "blocked": c.blocked,
            "done": c.done,
            "drifted": c.drifted,
            "unknown": c.unknown,
            "total": plan.steps.len(),
        },
        "steps": steps,
    });
    format!("{v:#}\n")
}

const PALETTE: Palette = &[
    ("create", "#c8e6c9", "#2e7d32"),
    ("exists", "#e3f2fd", "#1565c0"),
    ("no_op", "#f5f5f5", "#9e9e9e"),
    ("blocked", "#ffcdd2", "#c62828"),
    ("done", "#e0e0e0", "#616161"),
    ("drifted", "#ffe0b2", "#ef6c00"),
    ("unknown", "#fff9c4", "#f9a825"),
];

/// Dependency edges of a plan as (dependency, dependant).
pub fn plan_edges(plan: &Plan) -> Vec<(String, String)> {
    plan.steps
        .iter()
        .flat_map(|s| s.deps.iter().map(|d| (d.clone(), s.id.clone())))
        .collect()
}

fn nodes(plan: &Plan) -> Vec<Node> {
    plan.steps
        .iter()
        .map(|s| Node {
            id: s.id.clone(),
            lines: vec![change_label(&s.plan.change)],
            class: change_name(&s.plan.change),
        })
        .collect()
}

/// Graphviz digraph of the plan, nodes coloured by change.
pub fn plan_dot(plan: &Plan) -> String {
    dag::dot(&plan.workflow, &nodes(plan), &plan_edges(plan), PALETTE)
}

/// Mermaid flowchart of the plan, one `classDef` per change present.
pub fn plan_mermaid(plan: &Plan) -> String {
    dag::mermaid(&nodes(plan), &plan_edges(plan), PALETTE)
}
