//! `failback status`, `list` and `history`: text and JSON.

use super::dag::drawing_order;
use super::next::guidance;
use super::style::{clean, paint, table, Tone};
use super::time::{fmt_duration, fmt_relative, fmt_utc, fmt_utc_near};
use failback_state::{
    EventKind, EventRecord, RunRecord, RunState, RunSummary, StepRecord, StepStatus,
};
use failback_state::{StepErrorRecord, WaitReason};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn state_tone(s: RunState) -> Tone {
    match s {
        RunState::Succeeded => Tone::Good,
        RunState::Failed => Tone::Bad,
        RunState::Running | RunState::Pending => Tone::Active,
        RunState::Waiting => Tone::Plain,
        RunState::Paused | RunState::Cancelling => Tone::Warn,
        RunState::Cancelled => Tone::Muted,
    }
}

fn status_tone(s: &StepStatus) -> Tone {
    match s {
        StepStatus::Succeeded { .. } => Tone::Good,
        StepStatus::Failed { .. } => Tone::Bad,
        StepStatus::Running { .. } => Tone::Active,
        StepStatus::Waiting { .. } | StepStatus::Pending => Tone::Plain,
        StepStatus::Compensating { .. } | StepStatus::Compensated => Tone::Warn,
        StepStatus::Skipped => Tone::Muted,
    }
}

fn error_text(e: &StepErrorRecord) -> String {
    let kind = if e.permanent { "" } else { " (transient)" };
    format!("{}{kind}: {}", clean(&e.code), clean(&e.message))
}

/// What a step is doing, for the status table's last column.
fn step_note(s: &StepRecord, now: u64) -> String {
    match &s.status {
        StepStatus::Waiting {
            wake_at,
            deadline,
            reason,
            ..
        } => {
            let when = if *wake_at > now {
                format!("in {}", fmt_duration(wake_at - now))
            } else {
                format!("now (due {} ago)", fmt_duration(now - wake_at))
            };
            let mut note = match reason {
                WaitReason::Timer => format!("wakes {when} (at {})", fmt_utc(*wake_at)),
                WaitReason::Retry { reason } => format!(
                    "retries {when} (at {}) after: {}",
                    fmt_utc(*wake_at),
                    clean(reason)
                ),
            };
            if let Some(d) = deadline {
                note.push_str(&format!("; deadline {}", fmt_relative(*d, now)));
            }
            if let Some(t) = s.last_poll_at {
                note.push_str(&format!("; last poll {}", fmt_relative(t, now)));
            }
            note
        }
        StepStatus::Failed { error } => error_text(error),
        StepStatus::Running { .. } | StepStatus::Compensating { .. } => match s.started_at {
            Some(t) => format!("started {}", fmt_relative(t, now)),
            None => String::new(),
        },
        _ => String::new(),
    }
}

/// `attempt 2`, or `polling (17)` for a wait being polled: a poll is not an attempt.
pub fn step_counter(s: &StepRecord) -> String {
    let polling = s.polls > 0
        && matches!(
            s.status,
            StepStatus::Running { .. }
                | StepStatus::Waiting {
                    reason: WaitReason::Timer,
                    ..
                }
        );
    match (polling, s.attempt) {
        (true, 0 | 1) => format!("polling ({})", s.polls),
        (true, n) => format!("attempt {n}, polling ({})", s.polls),
        (false, n) => format!("attempt {n}"),
    }
}

fn step_counts(steps: &[StepRecord]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in steps {
        *counts.entry(s.status.name()).or_default() += 1;
    }
    // Lifecycle order reads better than alphabetical.
    let order = [
        "succeeded",
        "running",
        "waiting",
        "failed",
        "pending",
        "compensating",
        "compensated",
        "skipped",
    ];
    order
        .iter()
        .filter_map(|k| counts.get(k).map(|n| format!("{n} {k}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One run in detail, with the steps in the order given (no edges to order them by); see
/// [`run_status_view`], which callers holding the run's definition should use.
pub fn run_status_text(run: &RunRecord, steps: &[StepRecord], now_ms: u64, color: bool) -> String {
    run_status_view(run, steps, &[], now_ms, color)
}

/// One run in detail: header facts; `Next` (what the operator should do now), `Awaiting`
/// (the protected items still to fail back) and `Manual` (actions left to the operator, such
/// as removing a process server from the configuration server); then one line per step in
/// dependency order. `edges` are (dependency, dependant) step ids, as from
/// `WorkflowDef::edges` or [`super::plan::plan_edges`]: steps are listed as `graph` draws
/// them (each network's steps together, teardown after `await-failback`); without edges,
/// in the given order.
pub fn run_status_view(
    run: &RunRecord,
    steps: &[StepRecord],
    edges: &[(String, String)],
    now_ms: u64,
    color: bool,
) -> String {
    let mut out = String::new();
    for (k, v) in run_facts(run, now_ms, color) {
        out.push_str(&format!("{k:<9} {v}\n"));
    }
    let g = guidance(run, steps, now_ms);
    out.push_str(&format!(
        "{:<9} {}\n",
        "Next",
        paint(&g.next, Tone::Strong, color)
    ));
    if let Some(a) = &g.awaiting {
        out.push_str(&format!("{:<9} {a}\n", "Awaiting"));
    }
    for (step, action) in &g.manual {
        out.push_str(&format!("{:<9} {step}: {action}\n", "Manual"));
    }
    let ordered = drawing_order(steps.iter().collect(), |s| s.step_id.as_str(), edges);
    out.push_str(&format!(
        "\nSteps ({}): {}\n",
        steps.len(),
        step_counts(steps)
    ));
    out.push_str(&step_lines(&ordered, now_ms, color));
    out
}

/// The header of `status RUN`: id, workflow, state, times, error, signals, labels.
fn run_facts(run: &RunRecord, now: u64, color: bool) -> Vec<(&'static str, String)> {
    let mut state = paint(run.state.as_str(), state_tone(run.state), color);
    if let (RunState::Waiting, Some(w)) = (run.state, run.wake_at) {
        state.push_str(&format!(
            ", next wake {} (at {})",
            fmt_relative(w, now),
            fmt_utc(w)
        ));
    }
    let at = |t: u64| format!("{} ({})", fmt_utc(t), fmt_relative(t, now));
    let mut facts: Vec<(&str, String)> = vec![
        ("Run", clean(&run.id)),
        (
            "Workflow",
            format!("{} v{}", clean(&run.workflow), run.definition_version),
        ),
        ("State", state),
        ("Created", at(run.created_at)),
        ("Updated", at(run.updated_at)),
    ];
    if let Some(e) = &run.error {
        facts.push(("Error", paint(&clean(e), Tone::Bad, color)));
    }
    let signals = if run.signals.is_empty() {
        "none".to_owned()
    } else {
        clean(&run.signals.join(", "))
    };
    facts.push(("Signals", signals));
    if !run.labels.is_empty() {
        let labels: Vec<String> = run
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", clean(k), clean(v)))
            .collect();
        facts.push(("Labels", labels.join(", ")));
    }
    facts
}

/// One aligned line per step: id, status, attempt or polls, note.
fn step_lines(steps: &[&StepRecord], now: u64, color: bool) -> String {
    let id_w = steps
        .iter()
        .map(|s| s.step_id.chars().count())
        .max()
        .unwrap_or(0);
    let counter_w = steps
        .iter()
        .map(|s| step_counter(s).chars().count())
        .max()
        .unwrap_or(0)
        .max(9);
    let mut out = String::new();
    for s in steps {
        let name = s.status.name();
        let line = format!(
            "  {:<id_w$}  {}  {:<counter_w$}  {}",
            clean(&s.step_id),
            paint(&format!("{name:<12}"), status_tone(&s.status), color),
            step_counter(s),
            step_note(s, now),
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `failback list`: one aligned row per run.
pub fn runs_table(runs: &[RunSummary], now_ms: u64) -> String {
    if runs.is_empty() {
        return "No runs.\n".to_owned();
    }
    let mut rows = vec![[
        "RUN",
        "STATE",
        "WORKFLOW",
        "CREATED",
        "UPDATED",
        "NEXT WAKE",
    ]
    .map(String::from)
    .to_vec()];
    for r in runs {
        let wake = match (r.state, r.wake_at) {
            (RunState::Waiting, Some(w)) => fmt_relative(w, now_ms),
            _ => "-".to_owned(),
        };
        rows.push(vec![
            clean(&r.id),
            r.state.as_str().to_owned(),
            format!("{} v{}", clean(&r.workflow), r.definition_version),
            fmt_utc(r.created_at),
            fmt_relative(r.updated_at, now_ms),
            wake,
        ]);
    }
    table(&rows)
}

/// One event in words: `step vnet-a/create-vm waiting until 12:04:05 (attempt 2)`, and who
/// caused it where known: `signal failback-complete received (by console: user alice)`.
pub fn event_text(e: &EventRecord) -> String {
    let text = kind_text(e);
    match &e.by {
        Some(by) => format!("{text} (by {})", clean(by)),
        None => text,
    }
}

fn kind_text(e: &EventRecord) -> String {
    let step = clean(e.step_id.as_deref().unwrap_or("?"));
    let at = |t: u64| fmt_utc_near(t, e.at);
    match &e.kind {
        EventKind::RunCreated => "run created".into(),
        EventKind::StepStarted { attempt } => format!("step {step} started (attempt {attempt})"),
        EventKind::StepSucceeded { attempt } => {
            format!("step {step} succeeded (attempt {attempt})")
        }
        EventKind::StepWaiting { attempt, wake_at } => {
            format!(
                "step {step} waiting until {} (attempt {attempt})",
                at(*wake_at)
            )
        }
        EventKind::StepRetryScheduled {
            attempt,
            wake_at,
            reason,
        } => format!(
            "step {step} will retry at {} after attempt {attempt}: {}",
            at(*wake_at),
            clean(reason)
        ),
        EventKind::StepFailed {
            attempt,
            code,
            message,
        } => format!(
            "step {step} failed (attempt {attempt}): {}: {}",
            clean(code),
            clean(message)
        ),
        EventKind::StepCompensating { attempt } => {
            format!("step {step} compensating (attempt {attempt})")
        }
        EventKind::StepCompensated => format!("step {step} compensated"),
        EventKind::StepSkipped => format!("step {step} skipped"),
        EventKind::StepReset => format!("step {step} reset to pending"),
        EventKind::RunWaiting { wake_at } => format!("run waiting until {}", at(*wake_at)),
        EventKind::RunSucceeded => "run succeeded".into(),
        EventKind::RunFailed { step_id, message } => {
            format!("run failed at step {}: {}", clean(step_id), clean(message))
        }
        EventKind::RunPaused => "run paused".into(),
        EventKind::RunResumed => "run resumed".into(),
        EventKind::RunCancelRequested { compensate: true } => {
            "run cancel requested, with teardown".into()
        }
        EventKind::RunCancelRequested { compensate: false } => {
            "run cancel requested, without teardown".into()
        }
        EventKind::RunCancelled => "run cancelled".into(),
        EventKind::RunRetried { from: Some(f) } => format!("run retried from step {}", clean(f)),
        EventKind::RunRetried { from: None } => "run retried".into(),
        EventKind::Signal { name } => format!("signal {} received", clean(name)),
        EventKind::RunAmended { changes } => {
            format!("run amended: {}", clean(&changes.join("; ")))
        }
    }
}

/// `failback history`: one line per event (time, sequence number, what happened).
pub fn history_text(events: &[EventRecord]) -> String {
    if events.is_empty() {
        return "No events.\n".to_owned();
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| vec![fmt_utc(e.at), format!("#{}", e.seq), event_text(e)])
        .collect();
    table(&rows)
}

/// Plain data records cannot fail to serialise; should one ever, the output says so.
fn json_error(e: serde_json::Error) -> Value {
    json!({ "error": e.to_string() })
}

/// The run and its steps as pretty JSON (stored records, keys sorted).
pub fn run_status_json(run: &RunRecord, steps: &[StepRecord]) -> String {
    format!(
        "{:#}\n",
        json!({
            "run": serde_json::to_value(run).unwrap_or_else(json_error),
            "steps": serde_json::to_value(steps).unwrap_or_else(json_error),
        })
    )
}

/// The runs as a pretty JSON array.
pub fn runs_json(runs: &[RunSummary]) -> String {
    format!(
        "{:#}\n",
        serde_json::to_value(runs).unwrap_or_else(json_error)
    )
}

/// The events as a pretty JSON array; each also carries its `description` in words.
pub fn history_json(events: &[EventRecord]) -> String {
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_else(json_error);
            if let Value::Object(m) = &mut v {
                m.insert("description".into(), Value::String(event_text(e)));
            }
            v
        })
        .collect();
    format!("{:#}\n", Value::Array(list))
}
