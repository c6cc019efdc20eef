//! The executor's behaviours on small test workflows: ordering, parallelism, retries,
//! durable waits, signals, pause, cancel with compensation, retry of failed runs.

mod support;

use failback_engine::testkit::{Behaviour, Journal, JournalStep};
use failback_engine::{
    Clock, Engine, ManualClock, RetryPolicy, Step, StepDef, WorkflowDef, WorkflowRegistry,
};
use failback_state::{EventKind, RunState, StateStore, StepStatus, WaitReason};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const T0: u64 = 1_800_000_000_000;

#[tokio::test]
async fn branching_run_completes_and_history_is_ordered() {
    let journal = Journal::memory();
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(failback_engine::SystemClock),
        journal.clone(),
    );
    eng.submit(
        "branching",
        "r1",
        branching_input(&["a", "b", "c"], 5),
        no_labels(),
    )
    .await
    .unwrap();
    let run = eng.finished("r1").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    check_invariants(eng.store(), &journal.effects(), true).unwrap();
    let history = eng.store().history("r1").unwrap();
    assert_eq!(
        history.first().map(|e| &e.kind),
        Some(&EventKind::RunCreated)
    );
    assert_eq!(
        history.last().map(|e| &e.kind),
        Some(&EventKind::RunSucceeded)
    );
    // register retried exactly once per branch (RetryOnce), boot waited once.
    let retries = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepRetryScheduled { .. }))
        .count();
    assert_eq!(retries, 3);
}

/// Two steps that can only finish together: passes only if the executor runs them at once.
struct Rendezvous(Arc<tokio::sync::Barrier>);

#[async_trait::async_trait]
impl Step for Rendezvous {
    async fn execute(&self, _ctx: &failback_engine::StepContext) -> failback_engine::StepOutcome {
        self.0.wait().await;
        failback_engine::StepOutcome::Done(json!(null))
    }
}

#[tokio::test]
async fn independent_branches_run_in_parallel() {
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut reg = WorkflowRegistry::new();
    reg.register("pair", 1, move |_, _| {
        let s: Arc<dyn Step> = Arc::new(Rendezvous(barrier.clone()));
        WorkflowDef::new(
            "pair",
            1,
            vec![StepDef::new("x", s.clone()), StepDef::new("y", s)],
        )
    });
    let eng = engine_with(
        StateStore::in_memory(),
        Arc::new(failback_engine::SystemClock),
        reg,
    );
    eng.submit("pair", "p", json!({}), no_labels())
        .await
        .unwrap();
    let run = tokio::time::timeout(Duration::from_secs(10), eng.finished("p"))
        .await
        .expect("branches did not run concurrently")
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
}

fn single(behaviour: Behaviour, retry: RetryPolicy, journal: Arc<Journal>) -> WorkflowRegistry {
    let mut reg = WorkflowRegistry::new();
    reg.register("one", 1, move |_, _| {
        let s: Arc<dyn Step> = Arc::new(JournalStep {
            journal: journal.clone(),
            behaviour: behaviour.clone(),
        });
        let first: Arc<dyn Step> = Arc::new(JournalStep {
            journal: journal.clone(),
            behaviour: Behaviour::Effect,
        });
        WorkflowDef::new(
            "one",
            1,
            vec![
                StepDef::new("first", first),
                StepDef::new("main", s)
                    .after(["first"])
                    .retry(retry.clone()),
            ],
        )
    });
    reg
}

#[tokio::test]
async fn retry_after_is_honoured_on_the_durable_timer() {
    let clock = ManualClock::new(T0);
    let journal = Journal::memory();
    let policy = RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(1),
        multiplier: 1.0,
        jitter: 0.5,
    };
    let reg = single(
        Behaviour::RetryOnce(Duration::from_secs(30)),
        policy,
        journal.clone(),
    );
    let eng = engine_with(StateStore::in_memory(), Arc::new(clock.clone()), reg);
    eng.submit("one", "r", json!({}), no_labels())
        .await
        .unwrap();
    let run = eng.settled("r").await.unwrap();
    assert_eq!(run.state, RunState::Waiting);
    // Retry-After 30 s wins over the 1 s backoff; jitter only lengthens it.
    let wake = run.wake_at.unwrap();
    assert!(
        (T0 + 30_000..=T0 + 45_000).contains(&wake),
        "wake_at {wake}"
    );
    let step = eng
        .store()
        .load_steps("r")
        .unwrap()
        .into_iter()
        .find(|s| s.step_id == "main")
        .unwrap();
    assert!(matches!(
        step.status,
        StepStatus::Waiting {
            reason: WaitReason::Retry { .. },
            ..
        }
    ));
    clock.set(wake);
    let run = eng.finished("r").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded);
}

#[tokio::test]
async fn retries_exhausted_fails_the_run_and_retry_continues_it_keeping_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("fixed");
    let journal = Journal::memory();
    let reg = single(
        Behaviour::Fail {
            ok_flag: Some(flag.clone()),
        },
        RetryPolicy::none(),
        journal.clone(),
    );
    let eng = engine_with(
        StateStore::in_memory(),
        Arc::new(failback_engine::SystemClock),
        reg,
    );
    eng.submit("one", "r", json!({}), no_labels())
        .await
        .unwrap();
    let run = eng.finished("r").await.unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert!(
        run.error.as_deref().unwrap_or("").contains("TestFailure"),
        "{:?}",
        run.error
    );
    // Retry while still broken: fails again, `first` is not re-run.
    eng.retry("r", None).await.unwrap();
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Failed);
    std::fs::write(&flag, b"").unwrap();
    eng.retry("r", None).await.unwrap();
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Succeeded);
    let firsts = journal
        .effects()
        .iter()
        .filter(|e| e.step == "first")
        .count();
    assert_eq!(firsts, 1, "earlier outputs are kept, not recomputed");
    // retry of a succeeded run is refused with a clear error
    let err = eng.retry("r", None).await.unwrap_err().to_string();
    assert!(err.contains("only a failed run"), "{err}");
}

#[tokio::test]
async fn retry_from_a_step_reruns_it_and_its_descendants() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("fixed");
    let journal = Journal::memory();
    let reg = single(
        Behaviour::Fail {
            ok_flag: Some(flag.clone()),
        },
        RetryPolicy::none(),
        journal.clone(),
    );
    let eng = engine_with(
        StateStore::in_memory(),
        Arc::new(failback_engine::SystemClock),
        reg,
    );
    eng.submit("one", "r", json!({}), no_labels())
        .await
        .unwrap();
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Failed);
    std::fs::write(&flag, b"").unwrap();
    let err = eng.retry("r", Some("nope")).await.unwrap_err().to_string();
    assert!(err.contains("unknown step"), "{err}");
    eng.retry("r", Some("first")).await.unwrap();
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Succeeded);
    let firsts = journal
        .effects()
        .iter()
        .filter(|e| e.step == "first")
        .count();
    assert_eq!(firsts, 2);
}

#[tokio::test]
async fn ten_day_wait_resumes_after_restart_with_its_remaining_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let journal = Journal::memory();
    let ten_days = 10 * 24 * 3600 * 1000;
    {
        let eng = engine(
            StateStore::open(dir.path()).unwrap(),
            Arc::new(clock.clone()),
            journal.clone(),
        );
        eng.submit(
            "branching",
            "w",
            branching_input(&["a"], ten_days),
            no_labels(),
        )
        .await
        .unwrap();
        let run = eng.settled("w").await.unwrap();
        assert_eq!(run.state, RunState::Waiting);
        assert_eq!(run.wake_at, Some(T0 + ten_days));
        assert!(eng.shutdown(Duration::from_secs(5)).await);
    }
    // Five days later, a new process.
    clock.set(T0 + ten_days / 2);
    let eng = engine(
        StateStore::open(dir.path()).unwrap(),
        Arc::new(clock.clone()),
        journal.clone(),
    );
    let report = eng.resume_all().unwrap();
    assert_eq!(
        (report.started, report.scheduled),
        (0, 1),
        "a waiting run is scheduled, not woken"
    );
    assert_eq!(eng.active_runs(), 0, "a waiting run holds no task");
    let run = eng.store().load_run("w").unwrap().unwrap();
    assert_eq!(
        run.wake_at.unwrap() - clock.now(),
        ten_days / 2,
        "remaining time, not a fresh 10 days"
    );
    let mut events = eng.subscribe();
    clock.set(T0 + ten_days - 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err(),
        "woken before its time"
    );
    clock.set(T0 + ten_days);
    // boot finishes; `register` retries after its own 10-day Retry-After.
    let run = eng
        .wait_for("w", |r| {
            r.state == RunState::Waiting && r.wake_at > Some(T0 + ten_days)
        })
        .await
        .unwrap();
    assert!(run.wake_at >= Some(T0 + 2 * ten_days), "{:?}", run.wake_at);
}

#[tokio::test]
async fn a_signal_wakes_a_waiting_step_early() {
    let clock = ManualClock::new(T0);
    let journal = Journal::memory();
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(clock.clone()),
        journal.clone(),
    );
    eng.submit(
        "branching",
        "s",
        branching_input(&["a"], 3_600_000),
        no_labels(),
    )
    .await
    .unwrap();
    assert_eq!(eng.settled("s").await.unwrap().state, RunState::Waiting);
    let run = eng.signal("s", "failback-complete").await.unwrap();
    assert_eq!(run.signals, vec!["failback-complete".to_string()]);
    // boot re-checks at once, without the clock moving, and succeeds.
    eng.wait_for("s", |_| {
        eng.store()
            .load_steps("s")
            .unwrap()
            .iter()
            .any(|s| s.step_id == "a/boot" && matches!(s.status, StepStatus::Succeeded { .. }))
    })
    .await
    .unwrap();
    assert_eq!(clock.now(), T0);
}

#[tokio::test]
async fn pause_holds_a_run_and_resume_continues_it() {
    let clock = ManualClock::new(T0);
    let journal = Journal::memory();
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(clock.clone()),
        journal.clone(),
    );
    eng.submit("branching", "p", branching_input(&["a"], 1000), no_labels())
        .await
        .unwrap();
    assert_eq!(eng.settled("p").await.unwrap().state, RunState::Waiting);
    assert_eq!(eng.pause("p").await.unwrap().state, RunState::Paused);
    let before = journal.effects().len();
    clock.set(T0 + 10_000);
    eng.wake("p");
    assert_eq!(eng.settled("p").await.unwrap().state, RunState::Paused);
    assert_eq!(
        journal.effects().len(),
        before,
        "a paused run starts nothing"
    );
    eng.unpause("p").await.unwrap();
    drive_to_end(&eng, &clock, "p").await;
}

/// Move the clock to each wake time until the run ends.
async fn drive_to_end(eng: &Engine, clock: &ManualClock, id: &str) -> RunState {
    let mut last_wake = None;
    loop {
        let run = eng
            .wait_for(id, |r| {
                r.state != RunState::Running
                    && (r.state != RunState::Waiting || r.wake_at != last_wake)
            })
            .await
            .unwrap();
        match run.state {
            RunState::Waiting => {
                last_wake = run.wake_at;
                clock.set(run.wake_at.unwrap());
            }
            RunState::Paused | RunState::Pending => {}
            s => return s,
        }
    }
}

#[tokio::test]
async fn cancel_with_teardown_compensates_in_reverse_order() {
    let clock = ManualClock::new(T0);
    let journal = Journal::memory();
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(clock.clone()),
        journal.clone(),
    );
    eng.submit(
        "branching",
        "c",
        branching_input(&["a", "b"], 1000),
        no_labels(),
    )
    .await
    .unwrap();
    assert_eq!(eng.settled("c").await.unwrap().state, RunState::Waiting);
    let before = journal.effects().len();
    eng.cancel("c", true).await.unwrap();
    let run = eng.finished("c").await.unwrap();
    let undone: Vec<String> = journal.effects()[before..]
        .iter()
        .map(|e| e.step.clone())
        .collect();
    assert_eq!(undone.len(), 3, "{undone:?}");
    assert_eq!(
        undone[2], "validate",
        "validate is undone after both creates: {undone:?}"
    );
    assert_eq!(run.state, RunState::Cancelled);
    let steps = eng.store().load_steps("c").unwrap();
    let status = |id: &str| {
        steps
            .iter()
            .find(|s| s.step_id == id)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(status("a/create"), StepStatus::Compensated);
    assert_eq!(status("b/create"), StepStatus::Compensated);
    assert_eq!(status("a/teardown"), StepStatus::Skipped);
    assert_eq!(status("validate"), StepStatus::Compensated);
    assert!(matches!(
        status("a/boot"),
        StepStatus::Skipped | StepStatus::Succeeded { .. }
    ));
    let history = eng.store().history("c").unwrap();
    assert!(history.iter().any(|e| e.kind == EventKind::RunCancelled));
    let err = eng.cancel("c", false).await.unwrap_err().to_string();
    assert!(err.contains("already cancelled"), "{err}");
    // A second teardown finds nothing left to undo and ends cancelled again.
    let effects = journal.effects().len();
    eng.cancel("c", true).await.unwrap();
    assert_eq!(eng.finished("c").await.unwrap().state, RunState::Cancelled);
    assert_eq!(journal.effects().len(), effects, "nothing undone twice");
}

#[tokio::test]
async fn a_plain_cancel_can_be_followed_by_a_teardown() {
    let clock = ManualClock::new(T0);
    let journal = Journal::memory();
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(clock.clone()),
        journal.clone(),
    );
    eng.submit("branching", "p", branching_input(&["a"], 1000), no_labels())
        .await
        .unwrap();
    assert_eq!(eng.settled("p").await.unwrap().state, RunState::Waiting);
    assert_eq!(
        eng.cancel("p", false).await.unwrap().state,
        RunState::Cancelled
    );
    let before = journal.effects().len();
    eng.cancel("p", true).await.unwrap();
    assert_eq!(eng.finished("p").await.unwrap().state, RunState::Cancelled);
    let undone: Vec<String> = journal.effects()[before..]
        .iter()
        .map(|e| e.step.clone())
        .collect();
    assert_eq!(
        undone,
        vec!["a/create".to_string(), "validate".to_string()],
        "what the plain cancel left is undone later"
    );
}

#[tokio::test]
async fn cancel_without_teardown_skips_what_is_left() {
    let clock = ManualClock::new(T0);
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(clock.clone()),
        Journal::memory(),
    );
    eng.submit("branching", "c", branching_input(&["a"], 1000), no_labels())
        .await
        .unwrap();
    eng.settled("c").await.unwrap();
    assert_eq!(
        eng.cancel("c", false).await.unwrap().state,
        RunState::Cancelled
    );
    let steps = eng.store().load_steps("c").unwrap();
    assert!(steps.iter().any(|s| s.status == StepStatus::Skipped));
    assert!(!steps.iter().any(|s| s.status == StepStatus::Compensated));
}

#[test]
fn definitions_reject_cycles_naming_the_whole_cycle_and_unknown_dependencies() {
    let s: Arc<dyn Step> = Arc::new(failback_engine::testkit::NoopStep);
    let err = WorkflowDef::new(
        "w",
        1,
        vec![
            StepDef::new("a", s.clone()),
            StepDef::new("b", s.clone()).after(["a", "d"]),
            StepDef::new("c", s.clone()).after(["b"]),
            StepDef::new("d", s.clone()).after(["c"]),
        ],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("cycle"), "{err}");
    for id in ["b", "c", "d"] {
        assert!(err.contains(id), "{err} should name {id}");
    }
    assert!(
        !err.contains("a ->") && !err.contains("-> a"),
        "{err}: a is not in the cycle"
    );
    let err = WorkflowDef::new("w", 1, vec![StepDef::new("a", s.clone()).after(["zz"])])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("unknown step \"zz\""), "{err}");
    let err = WorkflowDef::new(
        "w",
        1,
        vec![StepDef::new("a", s.clone()), StepDef::new("a", s.clone())],
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("twice"), "{err}");
    assert!(WorkflowDef::new("w", 1, vec![StepDef::new("bad id", s)]).is_err());
}

#[tokio::test]
async fn unknown_runs_and_bad_ids_are_typed_errors() {
    let eng: Engine = engine(
        StateStore::in_memory(),
        Arc::new(failback_engine::SystemClock),
        Journal::memory(),
    );
    assert!(matches!(
        eng.pause("nope").await,
        Err(failback_engine::EngineError::RunNotFound(_))
    ));
    assert!(matches!(
        eng.submit("branching", "bad/id", json!({}), no_labels())
            .await,
        Err(failback_engine::EngineError::InvalidRunId(_))
    ));
    eng.submit("branching", "dup", branching_input(&["a"], 1), no_labels())
        .await
        .unwrap();
    assert!(eng
        .submit("branching", "dup", json!({}), no_labels())
        .await
        .is_err());
}

#[tokio::test]
async fn retry_restarts_steps_the_failure_froze_mid_wait() {
    // `slow` waits an hour; `bad` fails at once and fails the run while `slow` still waits.
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("fixed");
    let journal = Journal::memory();
    let (j, f) = (journal.clone(), flag.clone());
    let mut reg = WorkflowRegistry::new();
    reg.register("pair", 1, move |_, _| {
        let step = |b: Behaviour| -> Arc<dyn Step> {
            Arc::new(JournalStep {
                journal: j.clone(),
                behaviour: b,
            })
        };
        WorkflowDef::new(
            "pair",
            1,
            vec![
                StepDef::new("slow", step(Behaviour::WaitOnce(Duration::from_secs(3600)))),
                StepDef::new(
                    "bad",
                    step(Behaviour::Fail {
                        ok_flag: Some(f.clone()),
                    }),
                )
                .retry(RetryPolicy::none()),
            ],
        )
    });
    let clock = ManualClock::new(T0);
    let eng = engine_with(StateStore::in_memory(), Arc::new(clock.clone()), reg);
    eng.submit("pair", "r", json!({}), no_labels())
        .await
        .unwrap();
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Failed);
    std::fs::write(&flag, b"").unwrap();
    eng.retry("r", None).await.unwrap();
    let steps = eng.store().load_steps("r").unwrap();
    let slow = steps.iter().find(|s| s.step_id == "slow").unwrap();
    assert!(
        !matches!(slow.status, StepStatus::Waiting { .. }) || slow.attempt >= 2,
        "the frozen wait started afresh: {:?}",
        slow.status
    );
}

/// Waits forever with a poll state of its own; its undo records the state it was given.
struct Held;
struct Undo(Arc<std::sync::Mutex<Vec<Option<serde_json::Value>>>>);

#[async_trait::async_trait]
impl Step for Held {
    async fn execute(&self, ctx: &failback_engine::StepContext) -> failback_engine::StepOutcome {
        failback_engine::StepOutcome::Wait {
            until: ctx.now() + 3_600_000,
            state: json!({"lro": "the create's operation"}),
            deadline: None,
        }
    }
}

#[async_trait::async_trait]
impl Step for Undo {
    async fn execute(&self, ctx: &failback_engine::StepContext) -> failback_engine::StepOutcome {
        self.0.lock().unwrap().push(ctx.poll_state.clone());
        failback_engine::StepOutcome::Done(json!(null))
    }
}

/// Found by the reliability suite: a VM create failed by a storm while another branch's
/// create was mid-LRO; `cancel --teardown` then polled that create's operation as if it were
/// the delete and failed with the create's error.
#[tokio::test]
async fn an_undo_does_not_inherit_the_forward_poll_state() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reg = WorkflowRegistry::new();
    let s = seen.clone();
    reg.register("held", 1, move |_, _| {
        WorkflowDef::new(
            "held",
            1,
            vec![StepDef::new("create", Arc::new(Held)).compensate_with(Arc::new(Undo(s.clone())))],
        )
    });
    let clock = ManualClock::new(T0);
    let eng = engine_with(StateStore::in_memory(), Arc::new(clock.clone()), reg);
    eng.submit("held", "h", json!({}), no_labels())
        .await
        .unwrap();
    assert_eq!(eng.settled("h").await.unwrap().state, RunState::Waiting);
    eng.cancel("h", true).await.unwrap();
    assert_eq!(eng.finished("h").await.unwrap().state, RunState::Cancelled);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![None],
        "the undo started from its own state"
    );
}
