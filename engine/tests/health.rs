//! Crash-only: a store that can no longer be written stops every driver at once, and the
//! engine says so (health, `fatal()`), instead of staying alive driving nothing.

mod support;

use failback_engine::testkit::Journal;
use failback_engine::{EngineError, Fatal, SystemClock};
use failback_state::{FailingStore, MemStore, StateStore};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// Generous for a loaded 2-core machine; the acceptance bound is 5 s.
const PROMPT: Duration = Duration::from_secs(5);

async fn poll_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PROMPT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_stops_every_driver_and_is_reported() {
    let failing = Arc::new(FailingStore::new(Arc::new(MemStore::new())));
    let store = StateStore::new(failing.clone());
    let journal = Journal::memory();
    let eng = engine(store.clone(), Arc::new(SystemClock), journal.clone());
    assert!(eng.health().healthy);
    for id in ["r1", "r2", "r3"] {
        eng.submit(
            "branching",
            id,
            branching_input(&["a", "b"], 20),
            no_labels(),
        )
        .await
        .unwrap();
    }
    // Let some commits through (intents, outcomes), then the disk is full.
    failing.fail_after(6, libc::ENOSPC);

    let fatal = tokio::time::timeout(PROMPT, eng.fatal())
        .await
        .expect("the engine noticed the failed commit");
    let Fatal::Store(failure) = &fatal else {
        panic!("expected a store failure, got {fatal:?}");
    };
    assert_eq!(failure.errno, Some("ENOSPC"));
    let msg = fatal.to_string();
    assert!(msg.contains(":memory:"), "names the store: {msg}");
    assert!(
        msg.contains("ENOSPC") && msg.contains("free space"),
        "{msg}"
    );
    assert!(msg.contains("failback resume"), "{msg}");

    let health = eng.health();
    assert!(!health.healthy);
    assert_eq!(health.cause, Some("store_write_failed"));
    assert_eq!(health.message.as_deref(), Some(msg.as_str()));

    // Every driver stops: none keeps running steps against a store that drops their outcomes.
    poll_until("every driver stopped", || eng.active_runs() == 0).await;
    // No side effect ran without its intent durable before it.
    for e in journal.effects() {
        let steps = store.load_steps(&e.run).unwrap();
        let rec = steps.iter().find(|s| s.step_id == e.step).unwrap();
        assert!(
            rec.attempt >= e.attempt,
            "{e:?} ran but the store has attempt {} only",
            rec.attempt
        );
    }
    check_invariants(&store, &journal.effects(), false).unwrap();

    // Nothing new is taken.
    let refused = eng
        .submit("branching", "r4", branching_input(&["a"], 1), no_labels())
        .await;
    assert!(refused.is_err(), "a new run after the failure: {refused:?}");
}

#[tokio::test]
async fn dot_and_dot_dot_are_not_run_ids() {
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(SystemClock),
        Journal::memory(),
    );
    for id in [".", ".."] {
        let r = eng
            .submit("branching", id, branching_input(&["a"], 1), no_labels())
            .await;
        assert!(
            matches!(r, Err(EngineError::InvalidRunId(_))),
            "{id}: {r:?}"
        );
    }
    assert!(failback_engine::valid_run_id("a.b"));
    assert!(failback_engine::valid_run_id("..."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_id_make_one_run() {
    let eng = engine(
        StateStore::in_memory(),
        Arc::new(SystemClock),
        Journal::memory(),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let eng = eng.clone();
        tasks.spawn(async move {
            eng.submit("branching", "same", branching_input(&["a"], 1), no_labels())
                .await
        });
    }
    let (mut created, mut exists) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(_) => created += 1,
            Err(EngineError::Store(failback_state::StoreError::RunExists(_))) => exists += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((created, exists), (1, 19));
    assert_eq!(
        eng.store().history("same").unwrap().first().map(|e| e.seq),
        Some(0)
    );
}
