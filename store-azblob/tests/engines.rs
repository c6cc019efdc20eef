//! Two engines on one Azure Blob store (Azurite), as two daemons: a run is driven by the one
//! that holds its lease; when that one stops renewing, the other takes the run over after the
//! lease lapses and finishes it, with every effect once; the old owner's late commit is refused
//! by storage.

mod common;

use failback_engine::testkit::{self, Journal};
use failback_engine::{CrashPoints, Engine, EngineConfig, EngineError, SystemClock};
use failback_state::{RunState, StateStore, StoreError};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn engine(container: &str, journal: Arc<Journal>) -> Engine {
    let store = Arc::new(common::open(container));
    let state = StateStore::checked(store).expect("format record");
    Engine::new(
        state,
        testkit::registry(journal),
        Arc::new(SystemClock),
        CrashPoints::none(),
        EngineConfig::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_owner_is_taken_over_and_fenced_off() {
    let c = common::fresh_container();
    let (ja, jb) = (Journal::memory(), Journal::memory());
    let a = engine(&c, ja.clone());
    let input = json!({ "branches": ["a"], "wait_ms": 8000 });
    a.submit("branching", "r", input, BTreeMap::new())
        .await
        .expect("submit");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ja.effects().iter().any(|e| e.step == "a/boot") {
        assert!(Instant::now() < deadline, "a never reached a/boot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A second daemon cannot drive what the first one holds.
    let b = engine(&c, jb.clone());
    b.resume_all().expect("resume on b");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(b.store().owned_runs().is_empty(), "b took a held run");

    // The first daemon stops renewing (its engine ends; its store keeps its leases).
    a.shutdown(Duration::from_secs(5)).await;
    let stopped = Instant::now();
    let taken = loop {
        assert!(stopped.elapsed() < Duration::from_secs(60), "no takeover");
        if b.store().owned_runs().contains(&"r".to_owned()) {
            break stopped.elapsed();
        }
        b.store().refresh().await.expect("refresh b");
        b.resume_all().expect("resume on b");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let done = tokio::time::timeout(Duration::from_secs(60), b.finished("r"))
        .await
        .expect("b finishes the run in time")
        .expect("finished");
    assert_eq!(done.state, RunState::Succeeded, "{done:?}");
    eprintln!("takeover {taken:?} after the owner stopped (lease 15 s)");

    // The old owner's late commit: storage refuses it.
    let mut txn = a.store().txn();
    let mut run = a.store().load_run("r").expect("load").expect("present");
    txn.event(&mut run, 1, None, failback_state::EventKind::RunCreated)
        .put_run(&run);
    let refused = a.store().commit(txn).await;
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );

    // Every effect once, across both daemons.
    let mut seen = HashSet::new();
    for e in ja.effects().into_iter().chain(jb.effects()) {
        assert!(seen.insert(e.clone()), "effect twice: {e:?}");
    }
    assert!(jb.effects().iter().any(|e| e.step == "a/teardown"));
    b.shutdown(Duration::from_secs(5)).await;
}

/// Engine A drives a run and serves the inbox; engine B (another daemon) does not own it.
async fn a_drives_and_serves(c: &str) -> (Engine, Engine, tokio_util::sync::CancellationToken) {
    let a = engine(c, Journal::memory());
    let input = json!({ "branches": ["a"], "wait_ms": 600_000 });
    a.submit("branching", "r", input, BTreeMap::new())
        .await
        .expect("submit");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.store().owned_runs().contains(&"r".to_owned()) {
        assert!(Instant::now() < deadline, "a never owned r");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let b = engine(c, Journal::memory());
    b.store().refresh().await.expect("refresh b");
    (a, b, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_through_a_non_owner_are_applied_once_by_the_owner() {
    let c = common::fresh_container();
    let (a, b, stop) = a_drives_and_serves(&c).await;
    tokio::spawn(a.clone().serve_inbox(stop.clone()));
    let b = b.acting_as("carol");

    let asked = Instant::now();
    let signalled = b.signal("r", "go").await.expect("signal through b");
    let took = asked.elapsed();
    assert!(
        signalled.signals.contains(&"go".to_owned()),
        "{signalled:?}"
    );
    let paused = b.pause("r").await.expect("pause through b");
    assert_eq!(paused.state, RunState::Paused);
    // The owner reads its inbox every second, the asker its answer every half second.
    eprintln!(
        "forwarded commands answered in: signal {took:?}, pause {:?}",
        asked.elapsed() - took
    );
    // What b returned is what a applied (a paused run does not change by itself).
    let at_a = a.store().load_run("r").expect("load").expect("present");
    assert_eq!(paused, at_a);
    let cancelled = b.cancel("r", false).await.expect("cancel through b");
    assert_eq!(cancelled.state, RunState::Cancelled);
    assert!(b.store().owned_runs().is_empty(), "b took the run");

    // Each applied once, by a, on carol's behalf, marked with its request.
    let history = a.store().history("r").expect("history");
    for kind in ["signal", "run_paused", "run_cancel_requested"] {
        let events: Vec<_> = history
            .iter()
            .filter(|e| serde_json::to_value(&e.kind).unwrap()["event"] == kind)
            .collect();
        assert_eq!(events.len(), 1, "{kind}: {history:?}");
        assert_eq!(events[0].by.as_deref(), Some("carol"), "{kind}");
        assert!(events[0].request.is_some(), "{kind}");
    }
    // Nothing left in the inbox: requests answered, answers taken.
    b.store().refresh().await.expect("refresh b");
    assert!(b.store().inbox().expect("inbox").is_empty());
    assert!(b.store().inbox_replies().expect("replies").is_empty());
    stop.cancel();
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_nobody_answers_times_out_and_is_withdrawn() {
    let c = common::fresh_container();
    // a holds the run but serves no inbox.
    let (a, b, _stop) = a_drives_and_serves(&c).await;
    // Without forwarding (a daemon starting --paused), the owner's run is refused at once.
    let refused = b
        .without_forwarding()
        .pause("r")
        .await
        .expect_err("not b's");
    assert!(
        matches!(&refused, EngineError::NotOwned { run } if run == "r"),
        "{refused:?}"
    );
    b.store().refresh().await.expect("refresh b");
    assert!(
        b.store().inbox().expect("inbox").is_empty(),
        "nothing asked"
    );
    let b = b.forwarding_wait(Duration::from_secs(2));
    let err = b.pause("r").await.expect_err("nobody answers");
    assert!(
        matches!(&err, EngineError::OwnerSilent { run, secs: 2 } if run == "r"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("did not answer within 2 s"), "{text}");
    assert!(text.contains("may still have been applied"), "{text}");
    b.store().refresh().await.expect("refresh b");
    assert!(b.store().inbox().expect("inbox").is_empty(), "withdrawn");
    let run = a.store().load_run("r").expect("load").expect("present");
    assert_ne!(run.state, RunState::Paused);
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_pending_when_its_owner_dies_is_applied_once_its_lease_lapses() {
    let c = common::fresh_container();
    let (a, b, stop) = a_drives_and_serves(&c).await;
    // The owner dies: its engine ends, its leases are neither renewed nor released.
    a.shutdown(Duration::from_secs(5)).await;
    tokio::spawn(b.clone().serve_inbox(stop.clone()));
    let asked = Instant::now();
    // Waits the lease plus 10 s: meanwhile the lease lapses, and b's own inbox pass (a request
    // older than the lease is tried by any daemon) takes the run and applies the request.
    let paused = b.pause("r").await.expect("answered before the deadline");
    eprintln!(
        "a command pending at its owner's death answered in {:?}",
        asked.elapsed()
    );
    assert_eq!(paused.state, RunState::Paused);
    assert!(b.store().owned_runs().contains(&"r".to_owned()));
    let history = b.store().history("r").expect("history");
    let pauses: Vec<_> = history
        .iter()
        .filter(|e| matches!(e.kind, failback_state::EventKind::RunPaused))
        .collect();
    assert_eq!(pauses.len(), 1, "{history:?}");
    assert!(pauses[0].request.is_some());
    assert!(b.store().inbox().expect("inbox").is_empty());
    assert!(b.store().inbox_replies().expect("replies").is_empty());
    stop.cancel();
    b.shutdown(Duration::from_secs(5)).await;
}
