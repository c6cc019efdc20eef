//! What the operator should do next about a run, and what the run waits on, in words: the
//! `Next`, `Awaiting` and `Manual` lines of `failback status`. Read from the stored records
//! only: the run's state, a waiting step's poll state (`{"pending": [...]}` while
//! `await-failback` waits for protected items) and succeeded steps' outputs (a teardown's
//! `note`: the manual removal of the process server from the configuration server).

use super::style::clean;
use super::time::fmt_relative;
use failback_state::{RunRecord, RunState, StepRecord, StepStatus};
use failback_steps::steps::await_failback::SIGNAL;
use serde_json::Value;

/// The operator's view of a run beyond its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guidance {
    /// What to do now, in words, with the command to run.
    pub next: String,
    /// What the run waits on outside failback's control, if anything.
    pub awaiting: Option<String>,
    /// Manual actions the run's steps left for the operator: (step id, action).
    pub manual: Vec<(String, String)>,
}

/// The protected items a waiting step still waits for, with the step.
fn awaited(steps: &[StepRecord]) -> Option<(&StepRecord, Vec<String>)> {
    steps.iter().find_map(|s| {
        let state = match &s.status {
            StepStatus::Waiting { poll_state, .. } => poll_state,
            StepStatus::Running {
                poll_state: Some(p),
                ..
            } => p,
            _ => return None,
        };
        let items: Vec<String> = state
            .get("pending")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(clean)
            .collect();
        Some((s, items))
    })
}

fn awaiting_line(step: &StepRecord, items: &[String], now: u64) -> String {
    let what = match items.len() {
        0 => "the protected items".to_owned(),
        1 => format!("1 protected item to fail back: {}", items.join(", ")),
        n => format!("{n} protected items to fail back: {}", items.join(", ")),
    };
    let mut when = Vec::new();
    if let StepStatus::Waiting {
        wake_at, deadline, ..
    } = &step.status
    {
        when.push(if *wake_at > now {
            format!("next check {}", fmt_relative(*wake_at, now))
        } else {
            "next check due now".to_owned()
        });
        if let Some(d) = deadline {
            when.push(format!("deadline {}", fmt_relative(*d, now)));
        }
    }
    if when.is_empty() {
        what
    } else {
        format!("{what} ({})", when.join(", "))
    }
}

/// Succeeded steps' `note`s: actions failback cannot do for the operator.
fn manual(steps: &[StepRecord]) -> Vec<(String, String)> {
    steps
        .iter()
        .filter_map(|s| match &s.status {
            StepStatus::Succeeded { output } => {
                let note = output.get("note")?.as_str()?;
                Some((clean(&s.step_id), clean(note)))
            }
            _ => None,
        })
        .collect()
}

/// `Next` when the run is being driven: nothing, unless nothing drives it.
fn in_progress(id: &str, what: &str, drivers: &str) -> String {
    format!("nothing: {what}; if no {drivers} or daemon is driving it, run `failback resume {id}`")
}

pub(crate) fn guidance(run: &RunRecord, steps: &[StepRecord], now: u64) -> Guidance {
    let id = clean(&run.id);
    let manual = manual(steps);
    let waiting = awaited(steps).filter(|_| !run.state.is_terminal());
    let next = match run.state {
        RunState::Succeeded if manual.is_empty() => "nothing: the run succeeded".to_owned(),
        RunState::Succeeded => "do the manual steps below; then nothing: the run succeeded".into(),
        RunState::Failed if succeeded_any(steps) => format!(
            "fix the cause (Error above), then `failback retry {id}`; or delete what the run \
             created with `failback cancel {id} --teardown`"
        ),
        RunState::Failed => format!("fix the cause (Error above), then `failback retry {id}`"),
        RunState::Paused => format!("`failback resume {id}` unpauses the run and drives it"),
        RunState::Cancelled => cancelled_next(&id, steps),
        RunState::Cancelling => in_progress(
            &id,
            "the run is deleting what it created",
            "`failback cancel`, `resume`",
        ),
        _ if waiting.is_some() => format!(
            "wait for failback: the run polls Site Recovery and goes on by itself once every \
             item has failed back; if failback is complete, run `failback signal {id} {SIGNAL}`"
        ),
        _ => in_progress(&id, "the run is in progress", "`failback apply`, `resume`"),
    };
    Guidance {
        next,
        awaiting: waiting.map(|(s, items)| awaiting_line(s, &items, now)),
        manual,
    }
}

fn cancelled_next(id: &str, steps: &[StepRecord]) -> String {
    let undone = steps
        .iter()
        .any(|s| matches!(s.status, StepStatus::Compensated));
    if succeeded_any(steps) && !undone {
        format!(
            "nothing: the run was cancelled and what it created is kept; \
             `failback cancel {id} --teardown` deletes it"
        )
    } else {
        "nothing: the run was cancelled".to_owned()
    }
}

fn succeeded_any(steps: &[StepRecord]) -> bool {
    steps
        .iter()
        .any(|s| matches!(s.status, StepStatus::Succeeded { .. }))
}
