//! Gauges read from the store at scrape time: runs by state, and what an on-call engineer
//! alerts on — runs past a deadline, runs waiting on an operator (and for how long), time since
//! an active run's steps last progressed, steps polling a wait.

use super::text::{self, gauge, header, labels};
use failback_engine::Engine;
use failback_state::{Millis, RunFilter, RunState, RunSummary, StepRecord, StepStatus, WaitReason};
use std::collections::BTreeMap;

/// The error code of a step whose wait outlived its deadline.
const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";

/// What one scrape found over all runs.
#[derive(Default)]
struct RunGauges {
    by_state: BTreeMap<&'static str, u64>,
    past_deadline: u64,
    /// Runs waiting on the operator by reason (`failed`, `paused`).
    awaiting: BTreeMap<&'static str, u64>,
    /// Longest time, ms, that one of those has waited.
    oldest_awaiting_ms: Millis,
    /// Most time, ms, since an active run's last step progress.
    since_progress_ms: Millis,
    polling_steps: u64,
    polls: u64,
}

/// A step with a wait deadline already behind `now`.
fn past_deadline(s: &StepRecord, now: Millis) -> bool {
    match &s.status {
        StepStatus::Waiting { deadline, .. } | StepStatus::Running { deadline, .. } => {
            deadline.is_some_and(|d| d <= now)
        }
        StepStatus::Failed { error } => error.code == DEADLINE_EXCEEDED,
        _ => false,
    }
}

/// A step polling a wait (between polls or in one): `polling (n)` in status.
fn polling(s: &StepRecord) -> bool {
    s.polls > 0
        && matches!(
            s.status,
            StepStatus::Running { .. }
                | StepStatus::Waiting {
                    reason: WaitReason::Timer,
                    ..
                }
        )
}

impl RunGauges {
    fn add(&mut self, run: &RunSummary, steps: &[StepRecord], now: Millis) {
        *self.by_state.entry(run.state.as_str()).or_default() += 1;
        if steps.iter().any(|s| past_deadline(s, now)) {
            self.past_deadline += 1;
        }
        let waited = now.saturating_sub(run.updated_at);
        match run.state {
            RunState::Failed | RunState::Paused => {
                *self.awaiting.entry(run.state.as_str()).or_default() += 1;
                self.oldest_awaiting_ms = self.oldest_awaiting_ms.max(waited);
            }
            s if s.is_unfinished() => {
                let last = steps
                    .iter()
                    .map(|s| s.updated_at)
                    .chain([run.updated_at])
                    .max()
                    .unwrap_or(run.updated_at);
                let since = now.saturating_sub(last);
                self.since_progress_ms = self.since_progress_ms.max(since);
            }
            _ => {}
        }
        if run.state == RunState::Waiting {
            for s in steps.iter().filter(|s| polling(s)) {
                self.polling_steps += 1;
                self.polls += u64::from(s.polls);
            }
        }
    }
}

/// Scan the runs; steps are read only for runs not yet finished, failed or paused.
fn scan(engine: &Engine) -> RunGauges {
    let mut g = RunGauges {
        by_state: RunState::ALL.iter().map(|s| (s.as_str(), 0)).collect(),
        awaiting: [("failed", 0), ("paused", 0)].into_iter().collect(),
        ..RunGauges::default()
    };
    let now = engine.clock().now();
    let runs = match engine.store().run_summaries(&RunFilter::all()) {
        Ok(runs) => runs,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: listing runs");
            return g;
        }
    };
    for run in runs {
        let steps = if run.state.is_terminal() {
            Vec::new()
        } else {
            engine.store().load_steps(&run.id).unwrap_or_else(|e| {
                tracing::warn!(run = %run.id, error = %e, "metrics: loading steps");
                Vec::new()
            })
        };
        g.add(&run, &steps, now);
    }
    g
}

/// One gauge family with a single label.
fn labelled(out: &mut String, name: &str, help: &str, label: &str, v: &BTreeMap<&str, u64>) {
    header(out, name, "gauge", help);
    for (value, n) in v {
        text::sample(out, name, &labels(&[(label, value)]), *n as f64);
    }
}

pub fn render(out: &mut String, engine: &Engine) {
    let g = scan(engine);
    labelled(out, "failback_runs", "Runs by state.", "state", &g.by_state);
    labelled(
        out,
        "failback_runs_awaiting_operator",
        "Runs that move only when an operator acts, by reason: failed (retry or cancel) and \
         paused (resume).",
        "reason",
        &g.awaiting,
    );
    let gauges = [
        (
            "failback_runs_past_deadline",
            "Runs with a wait past its deadline: a waiting step whose deadline has passed (it \
             fails at its next poll), or a step failed with DeadlineExceeded, not yet retried.",
            g.past_deadline as f64,
        ),
        (
            "failback_runs_awaiting_operator_max_age_seconds",
            "Engine-clock seconds the longest-waiting of the runs awaiting an operator has \
             waited (since its last change); 0 when none.",
            g.oldest_awaiting_ms as f64 / 1000.0,
        ),
        (
            "failback_step_seconds_since_progress",
            "Max over unfinished runs (pending, running, waiting, cancelling) of engine-clock \
             seconds since a step of the run last changed or polled; 0 when none. A waiting run \
             polls every poll interval, so this stays below that interval while runs are driven.",
            g.since_progress_ms as f64 / 1000.0,
        ),
        (
            "failback_steps_polling",
            "Steps of waiting runs polling their wait (polling (n) in status).",
            g.polling_steps as f64,
        ),
        (
            "failback_step_wait_polls",
            "Polls so far of those steps' current waits (not attempts).",
            g.polls as f64,
        ),
        (
            "failback_active_runs",
            "Runs holding a driver task.",
            engine.active_runs() as f64,
        ),
        (
            "failback_scheduled_runs",
            "Runs parked on a timer.",
            engine.scheduled_runs() as f64,
        ),
    ];
    for (name, help, v) in gauges {
        gauge(out, name, help, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use failback_state::StepErrorRecord;
    use serde_json::Value;

    fn run(id: &str, state: RunState, updated_at: Millis) -> RunSummary {
        RunSummary {
            id: id.into(),
            workflow: "failback".into(),
            definition_version: 1,
            state,
            created_at: 0,
            updated_at,
            error: None,
            labels: Default::default(),
            wake_at: None,
        }
    }

    fn step(status: StepStatus, updated_at: Millis) -> StepRecord {
        let mut s = StepRecord::pending("r", "await-failback", updated_at);
        s.status = status;
        s
    }

    fn waiting(deadline: Option<Millis>, at: Millis) -> StepRecord {
        step(
            StepStatus::Waiting {
                wake_at: at + 300_000,
                deadline,
                poll_state: Value::Null,
                reason: WaitReason::Timer,
            },
            at,
        )
    }

    #[test]
    fn a_wait_past_its_deadline_counts_until_retried() {
        let mut g = RunGauges::default();
        g.add(
            &run("a", RunState::Waiting, 0),
            &[waiting(Some(5_000), 1_000)],
            4_000,
        );
        assert_eq!(g.past_deadline, 0, "within the deadline");
        g.add(
            &run("b", RunState::Waiting, 0),
            &[waiting(Some(5_000), 1_000)],
            6_000,
        );
        assert_eq!(g.past_deadline, 1, "past it, before the next poll fails it");
        let failed = step(
            StepStatus::Failed {
                error: StepErrorRecord {
                    code: DEADLINE_EXCEEDED.into(),
                    message: "m".into(),
                    permanent: true,
                },
            },
            6_000,
        );
        g.add(&run("c", RunState::Failed, 6_000), &[failed], 9_000);
        assert_eq!(g.past_deadline, 2, "failed by it");
        g.add(
            &run("d", RunState::Waiting, 0),
            &[waiting(None, 1_000)],
            9_000,
        );
        assert_eq!(g.past_deadline, 2, "no deadline");
    }

    #[test]
    fn operator_waits_and_progress_ages() {
        let mut g = RunGauges::default();
        g.add(&run("f", RunState::Failed, 1_000), &[], 61_000);
        g.add(
            &run("p", RunState::Paused, 31_000),
            &[waiting(None, 2_000)],
            61_000,
        );
        assert_eq!(g.awaiting["failed"], 1);
        assert_eq!(g.awaiting["paused"], 1);
        assert_eq!(g.oldest_awaiting_ms, 60_000);
        assert_eq!(
            g.since_progress_ms, 0,
            "failed and paused runs are not unfinished"
        );
        // The latest of the run's and its steps' changes is its last progress.
        let steps = [waiting(None, 50_000), waiting(None, 40_000)];
        g.add(&run("w", RunState::Waiting, 10_000), &steps, 61_000);
        assert_eq!(g.since_progress_ms, 11_000);
        g.add(&run("s", RunState::Succeeded, 0), &[], 61_000);
        assert_eq!(g.since_progress_ms, 11_000, "finished runs do not count");
    }
}
