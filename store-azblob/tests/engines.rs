//! Two engines on one Azure Blob store (Azurite), as two daemons: a run is driven by the one
//! that holds its lease; when that one stops renewing, the other takes the run over after the
//! lease lapses and finishes it, with every effect once; the old owner's late commit is refused
//! by storage.

mod common;

use failback_engine::testkit::{self, Journal};
use failback_engine::{CrashPoints, Engine, EngineConfig, SystemClock};
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
