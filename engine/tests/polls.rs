//! Attempts are not polls: a step that looks again at an unfinished wait keeps its attempt,
//! counts the poll in its record, and appends no history event.

mod support;

use failback_engine::testkit::{Behaviour, Journal, JournalStep};
use failback_engine::{
    Engine, ManualClock, Step, StepContext, StepDef, StepOutcome, WorkflowDef, WorkflowRegistry,
};
use failback_state::{EventKind, RunState, StateStore, StepStatus};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use support::*;

const T0: u64 = 1_800_000_000_000;
const MIN: u64 = 60_000;
const DAY: u64 = 24 * 60 * MIN;

/// Waits `total` ms from its first execution, looking again every `every` ms; the
/// `fail_on_poll`-th poll (if any) fails transiently once.
struct LongWait {
    total: u64,
    every: u64,
    fail_on_poll: Option<u32>,
    polls: Arc<AtomicU32>,
}

#[async_trait::async_trait]
impl Step for LongWait {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        let since = ctx
            .poll_state
            .as_ref()
            .and_then(|s| s["since"].as_u64())
            .unwrap_or_else(|| ctx.now());
        if ctx.poll_state.is_some() {
            let n = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail_on_poll == Some(n) {
                return StepOutcome::Retry {
                    after: None,
                    reason: "throttled (test)".into(),
                };
            }
        }
        if ctx.now() >= since + self.total {
            return StepOutcome::Done(json!({ "waited_ms": ctx.now() - since }));
        }
        StepOutcome::Wait {
            until: ctx.now() + self.every,
            state: json!({ "since": since }),
            deadline: Some(since + self.total + DAY),
        }
    }
}

fn registry(fail_on_poll: Option<u32>) -> WorkflowRegistry {
    let journal = Journal::memory();
    // Built again at every load of the run: the count lives outside the definition.
    let polls = Arc::new(AtomicU32::new(0));
    let mut reg = WorkflowRegistry::new();
    reg.register("long", 1, move |_, _| {
        let effect = || -> Arc<dyn Step> {
            Arc::new(JournalStep {
                journal: journal.clone(),
                behaviour: Behaviour::Effect,
            })
        };
        WorkflowDef::new(
            "long",
            1,
            vec![
                StepDef::new("before", effect()),
                StepDef::new(
                    "await",
                    Arc::new(LongWait {
                        total: 21 * DAY,
                        every: 5 * MIN,
                        fail_on_poll,
                        polls: polls.clone(),
                    }),
                )
                .after(["before"]),
                StepDef::new("after", effect()).after(["await"]),
            ],
        )
    });
    reg
}

/// Move the clock to each wake time until the run ends; returns the number of wakes.
async fn drive_to_end(eng: &Engine, clock: &ManualClock, id: &str) -> (RunState, u32) {
    let mut last_wake = None;
    let mut wakes = 0;
    loop {
        let run = eng
            .wait_for(id, |r| {
                !matches!(r.state, RunState::Running | RunState::Pending)
                    && (r.state != RunState::Waiting || r.wake_at != last_wake)
            })
            .await
            .unwrap();
        match run.state {
            RunState::Waiting => {
                last_wake = run.wake_at;
                clock.set(run.wake_at.unwrap());
                wakes += 1;
            }
            s => return (s, wakes),
        }
    }
}

#[tokio::test]
async fn a_21_day_wait_at_5_minute_polls_adds_at_most_10_events() {
    let clock = ManualClock::new(T0);
    let eng = engine_with(
        StateStore::in_memory(),
        Arc::new(clock.clone()),
        registry(None),
    );
    eng.submit("long", "w", json!({}), no_labels())
        .await
        .unwrap();
    let (state, wakes) = drive_to_end(&eng, &clock, "w").await;
    assert_eq!(state, RunState::Succeeded);
    assert_eq!(wakes, (21 * DAY / (5 * MIN)) as u32, "one wake per poll");

    let history = eng.store().history("w").unwrap();
    let of_wait: Vec<&EventKind> = history
        .iter()
        .skip_while(|e| e.step_id.as_deref() != Some("await"))
        .take_while(|e| e.step_id.as_deref() != Some("after"))
        .map(|e| &e.kind)
        .collect();
    println!(
        "21-day wait at 5-minute polls: {} polls, {} events during the wait, {} in the run",
        wakes,
        of_wait.len(),
        history.len()
    );
    assert!(
        of_wait.len() <= 10,
        "the wait added {} events: {of_wait:?}",
        of_wait.len()
    );
    assert!(history.len() <= 20, "{} events in all", history.len());

    let steps = eng.store().load_steps("w").unwrap();
    let wait = steps.iter().find(|s| s.step_id == "await").unwrap();
    assert!(matches!(wait.status, StepStatus::Succeeded { .. }));
    assert_eq!(wait.attempt, 1, "polls are not attempts");
    assert_eq!(wait.polls, wakes, "every poll is counted in the record");
    assert_eq!(wait.last_poll_at, Some(T0 + 21 * DAY));
    assert!(history.iter().all(|e| !matches!(
        e.kind,
        EventKind::StepStarted { attempt } if attempt > 1
    )));
}

#[tokio::test]
async fn a_transient_failure_of_a_poll_starts_a_new_attempt_and_its_own_polls() {
    let clock = ManualClock::new(T0);
    let eng = engine_with(
        StateStore::in_memory(),
        Arc::new(clock.clone()),
        registry(Some(3)),
    );
    eng.submit("long", "r", json!({}), no_labels())
        .await
        .unwrap();
    // Polls 1 and 2 find the wait unfinished; poll 3 fails transiently; the retry is
    // attempt 2, which then polls on.
    let mut last = None;
    let mut seen_retry = false;
    for _ in 0..6 {
        let run = eng
            .wait_for("r", |r| {
                r.state == RunState::Waiting && r.wake_at.is_some() && r.wake_at != last
            })
            .await
            .unwrap();
        last = run.wake_at;
        let steps = eng.store().load_steps("r").unwrap();
        let wait = steps.iter().find(|s| s.step_id == "await").unwrap().clone();
        if wait.attempt == 2 {
            seen_retry = true;
        }
        clock.set(run.wake_at.unwrap());
    }
    assert!(seen_retry, "the failed poll was retried as attempt 2");
    let run = eng
        .wait_for("r", |r| r.state == RunState::Waiting && r.wake_at != last)
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Waiting);
    let steps = eng.store().load_steps("r").unwrap();
    let wait = steps.iter().find(|s| s.step_id == "await").unwrap();
    assert_eq!(wait.attempt, 2);
    assert_eq!(wait.retries, 1);
    assert!(
        (1..=3).contains(&wait.polls),
        "attempt 2 counts its own polls from zero: {}",
        wait.polls
    );
    let history = eng.store().history("r").unwrap();
    let retries = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepRetryScheduled { .. }))
        .count();
    let started: Vec<u32> = history
        .iter()
        .filter(|e| e.step_id.as_deref() == Some("await"))
        .filter_map(|e| match e.kind {
            EventKind::StepStarted { attempt } => Some(attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries, 1);
    assert_eq!(started, vec![1, 2], "one start per attempt, none per poll");
}

/// Blocks on its second poll (a process that dies mid-poll); otherwise waits an hour per look.
struct StuckPoll {
    looks: Arc<AtomicU32>,
}

#[async_trait::async_trait]
impl Step for StuckPoll {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        let n = self.looks.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 3 {
            std::future::pending::<()>().await;
        }
        if ctx.resumed {
            return StepOutcome::Done(json!({ "resumed_at_attempt": ctx.attempt }));
        }
        StepOutcome::Wait {
            until: ctx.now() + 60 * MIN,
            state: json!({ "look": n }),
            deadline: None,
        }
    }
}

#[tokio::test]
async fn an_execution_found_running_after_a_restart_is_a_new_attempt_not_a_poll() {
    let looks = Arc::new(AtomicU32::new(0));
    let l = looks.clone();
    let mut reg = WorkflowRegistry::new();
    reg.register("stuck", 1, move |_, _| {
        WorkflowDef::new(
            "stuck",
            1,
            vec![StepDef::new(
                "wait",
                Arc::new(StuckPoll { looks: l.clone() }),
            )],
        )
    });
    let store = StateStore::in_memory();
    let clock = ManualClock::new(T0);
    let first = engine_with(store.clone(), Arc::new(clock.clone()), reg.clone());
    first
        .submit("stuck", "s", json!({}), no_labels())
        .await
        .unwrap();
    // Poll 1 finds the wait unfinished; poll 2 hangs: the process "dies" with it in flight.
    for at in [T0 + 60 * MIN, T0 + 120 * MIN] {
        first
            .wait_for("s", |r| r.wake_at == Some(at))
            .await
            .unwrap();
        clock.set(at);
    }
    first
        .wait_for("s", |_| looks.load(Ordering::SeqCst) == 3)
        .await
        .unwrap();
    let step = store.load_steps("s").unwrap().remove(0);
    assert!(
        matches!(step.status, StepStatus::Running { .. }),
        "{step:?}"
    );
    assert_eq!((step.attempt, step.polls), (1, 2), "two polls of attempt 1");
    drop(first);

    // A new process over the same store finds the poll's intent: that is a restart.
    let second = engine_with(store.clone(), Arc::new(clock.clone()), reg);
    second.resume_all().unwrap();
    let run = second.finished("s").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    let step = store.load_steps("s").unwrap().remove(0);
    assert_eq!((step.attempt, step.polls), (2, 0), "{step:?}");
    let starts: Vec<u32> = store
        .history("s")
        .unwrap()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StepStarted { attempt } => Some(attempt),
            _ => None,
        })
        .collect();
    assert_eq!(starts, vec![1, 2]);
}
