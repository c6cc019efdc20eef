//! Counters fed by the engine's progress and poll streams: events, step executions by
//! workflow, step kind and outcome, retries, polls. Labels are bounded: `step` is the step's
//! kind (`create-vm`, the last `/`-part of `vnet-a/create-vm`), never a network's name.

use super::text::{self, header, labels, Histogram};
use failback_engine::{PollEvent, ProgressEvent};
use failback_state::{EventKind, Millis, StateStore};
use std::collections::{BTreeMap, HashMap};

/// (workflow, step kind).
type StepKey = (String, String);

#[derive(Default)]
pub struct StepCounters {
    events: BTreeMap<String, u64>,
    retries: BTreeMap<StepKey, u64>,
    polls: BTreeMap<StepKey, u64>,
    pub lagged: u64,
    /// Step executions in flight: (run, step) → start time.
    started: HashMap<(String, String), Millis>,
    /// Execution durations by (workflow, step kind, outcome).
    durations: BTreeMap<(String, String, &'static str), Histogram>,
    /// Run → workflow, for runs seen and not yet finished.
    workflows: HashMap<String, String>,
}

/// The kind of a step id: `create-vm` of `vnet-a/create-vm`.
pub fn step_kind(step_id: &str) -> &str {
    step_id.rsplit('/').next().unwrap_or(step_id)
}

fn event_name(kind: &EventKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

impl StepCounters {
    fn workflow(&mut self, store: &StateStore, run_id: &str) -> String {
        if let Some(w) = self.workflows.get(run_id) {
            return w.clone();
        }
        let w = match store.load_run(run_id) {
            Ok(Some(run)) => run.workflow,
            Ok(None) => "unknown".to_owned(),
            Err(e) => {
                tracing::warn!(run = %run_id, error = %e, "metrics: loading the run");
                "unknown".to_owned()
            }
        };
        self.workflows.insert(run_id.to_owned(), w.clone());
        w
    }

    pub fn record(&mut self, store: &StateStore, ev: &ProgressEvent) {
        *self.events.entry(event_name(&ev.kind)).or_default() += 1;
        if let Some(step) = &ev.step_id {
            self.record_step(store, ev, step);
        }
        if ev.run_state.is_terminal() {
            self.workflows.remove(&ev.run_id);
        }
    }

    fn record_step(&mut self, store: &StateStore, ev: &ProgressEvent, step: &str) {
        let key = (ev.run_id.clone(), step.to_owned());
        let outcome = match &ev.kind {
            EventKind::StepStarted { .. } | EventKind::StepCompensating { .. } => {
                self.started.insert(key, ev.at);
                return;
            }
            EventKind::StepSucceeded { .. } | EventKind::StepCompensated => "succeeded",
            EventKind::StepFailed { .. } => "failed",
            EventKind::StepWaiting { .. } => "waiting",
            EventKind::StepRetryScheduled { .. } => "retry",
            _ => return,
        };
        let workflow = self.workflow(store, &ev.run_id);
        let kind = step_kind(step).to_owned();
        if outcome == "retry" {
            *self
                .retries
                .entry((workflow.clone(), kind.clone()))
                .or_default() += 1;
        }
        // A wait is not the end of the attempt: its final outcome counts from the same start.
        let t0 = if outcome == "waiting" {
            self.started.get(&key).copied()
        } else {
            self.started.remove(&key)
        };
        if let Some(t0) = t0 {
            let secs = ev.at.saturating_sub(t0) as f64 / 1000.0;
            let h = self.durations.entry((workflow, kind, outcome)).or_default();
            h.observe(secs);
        }
    }

    pub fn record_poll(&mut self, ev: &PollEvent) {
        let key = (ev.workflow.clone(), step_kind(&ev.step_id).to_owned());
        *self.polls.entry(key).or_default() += 1;
    }

    pub fn render(&self, out: &mut String) {
        let name = "failback_events_total";
        header(
            out,
            name,
            "counter",
            "Durable run and step events since the daemon started, by kind.",
        );
        for (kind, n) in &self.events {
            text::sample(out, name, &labels(&[("kind", kind)]), *n as f64);
        }
        by_step(
            out,
            "failback_step_retries_total",
            "Step retries scheduled, by workflow and step kind.",
            &self.retries,
        );
        by_step(
            out,
            "failback_step_polls_total",
            "Polls of waits started (not attempts, not outcomes), by workflow and step kind.",
            &self.polls,
        );
        text::counter(
            out,
            "failback_progress_events_lagged_total",
            "Progress and poll events the metrics task missed (counts are then low).",
            self.lagged,
        );
        let name = "failback_step_duration_seconds";
        header(
            out,
            name,
            "histogram",
            "Step attempts (and compensations) from their start to their outcome on the engine \
             clock, waits and polls included, by workflow, step kind and outcome: succeeded, \
             failed, retry, or waiting (start to the beginning of a wait; the attempt's final \
             outcome counts too).",
        );
        for ((workflow, step, outcome), h) in &self.durations {
            let l = labels(&[("workflow", workflow), ("step", step), ("outcome", outcome)]);
            h.render(out, name, &l);
        }
    }
}

fn by_step(out: &mut String, name: &str, help: &str, counts: &BTreeMap<StepKey, u64>) {
    header(out, name, "counter", help);
    for ((workflow, step), n) in counts {
        let l = labels(&[("workflow", workflow), ("step", step)]);
        text::sample(out, name, &l, *n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_kinds_drop_the_network() {
        assert_eq!(step_kind("vnet-a/create-vm"), "create-vm");
        assert_eq!(step_kind("await-failback"), "await-failback");
    }
}
