//! The read-only status page at `/`: server-rendered HTML that refreshes itself. Runs, each
//! shown run's DAG as columns of steps by depth with live status, and recent events.

use super::api::ApiError;
use crate::render::{self, time::fmt_utc};
use failback_engine::Engine;
use failback_state::{EventRecord, RunFilter, RunRecord, StepRecord};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Runs whose DAG and events are drawn (most recently updated first).
const SHOWN_RUNS: usize = 20;
const SHOWN_EVENTS: usize = 50;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}\
.dag{display:flex;gap:1.5em;margin:.5em 0 1.5em}.col{display:flex;flex-direction:column;gap:.4em}\
.step{border:2px solid #9e9e9e;border-radius:4px;padding:.3em .5em;font-size:90%}\
.pending{background:#fff}.running{background:#bbdefb;border-color:#1565c0}\
.waiting{background:#e1bee7;border-color:#6a1b9a}.succeeded{background:#c8e6c9;border-color:#2e7d32}\
.failed{background:#ffcdd2;border-color:#c62828}.compensating{background:#ffe0b2;border-color:#ef6c00}\
.compensated{background:#d7ccc8;border-color:#5d4037}.skipped{background:#eee;border-color:#bdbdbd}\
small{color:#555}";

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Depth of each step: 0 for roots, else one more than its deepest dependency.
fn depths(steps: &[StepRecord], edges: &[(String, String)]) -> HashMap<String, usize> {
    let mut depth: HashMap<String, usize> = steps.iter().map(|s| (s.step_id.clone(), 0)).collect();
    // A DAG settles in at most `steps` rounds; the bound also stops a malformed cycle.
    for _ in 0..steps.len() {
        let mut changed = false;
        for (from, to) in edges {
            let d = depth.get(from).copied().unwrap_or(0) + 1;
            if let Some(t) = depth.get_mut(to) {
                if *t < d {
                    *t = d;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

fn dag_html(out: &mut String, steps: &[StepRecord], edges: &[(String, String)]) {
    let depth = depths(steps, edges);
    let cols = depth.values().copied().max().map_or(0, |m| m + 1);
    out.push_str("<div class=\"dag\">");
    for col in 0..cols {
        out.push_str("<div class=\"col\">");
        for s in steps.iter().filter(|s| depth.get(&s.step_id) == Some(&col)) {
            let _ = write!(
                out,
                "<div class=\"step {}\" data-step=\"{}\" data-status=\"{}\">{}<br><small>{}</small></div>",
                s.status.name(),
                escape(&s.step_id),
                s.status.name(),
                escape(&s.step_id),
                escape(&render::status_label(s))
            );
        }
        out.push_str("</div>");
    }
    out.push_str("</div>");
}

fn run_section(out: &mut String, engine: &Engine, run: &RunRecord) -> Vec<EventRecord> {
    let _ = write!(
        out,
        "<section class=\"run\" id=\"run-{id}\" data-run=\"{id}\"><h3>{id} <small>{state}</small></h3>",
        id = escape(&run.id),
        state = run.state.as_str()
    );
    let steps = engine.store().load_steps(&run.id).unwrap_or_default();
    let edges = engine
        .registry()
        .build(&run.workflow, run.definition_version, &run.id, &run.input)
        .map(|d| d.edges())
        .unwrap_or_default();
    dag_html(out, &steps, &edges);
    if let Some(err) = &run.error {
        let _ = write!(out, "<p>error: {}</p>", escape(err));
    }
    out.push_str("</section>");
    engine.store().history(&run.id).unwrap_or_default()
}

pub fn index(engine: &Engine) -> Result<String, ApiError> {
    let mut runs = engine.store().list_runs(&RunFilter::all())?;
    runs.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
    let now = engine.clock().now();
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>failback</title><style>{STYLE}</style></head><body><h1>failback</h1>\
         <p><small>{} run(s) at {}; refreshes every 5 s. The console (one page per run, \
         live updates, actions): <code>failback ui</code></small></p><h2>Runs</h2>",
        runs.len(),
        fmt_utc(now)
    );
    out.push_str("<table id=\"runs\"><tr><th>run</th><th>state</th><th>created</th><th>updated</th><th>spec</th></tr>");
    for r in &runs {
        let _ = write!(
            out,
            "<tr data-run=\"{id}\"><td><a href=\"#run-{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.state.as_str(),
            fmt_utc(r.created_at),
            fmt_utc(r.updated_at),
            escape(r.labels.get("spec").map_or("", String::as_str)),
            id = escape(&r.id),
        );
    }
    out.push_str("</table><h2>DAGs</h2>");
    let mut events = Vec::new();
    for r in runs.iter().take(SHOWN_RUNS) {
        events.extend(run_section(&mut out, engine, r));
    }
    events.sort_by(|a, b| b.at.cmp(&a.at).then(b.seq.cmp(&a.seq)));
    out.push_str("<h2>Recent events</h2><table id=\"events\">");
    for e in events.iter().take(SHOWN_EVENTS) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            fmt_utc(e.at),
            escape(&e.run_id),
            escape(&render::event_text(e))
        );
    }
    out.push_str("</table></body></html>\n");
    Ok(out)
}
