//! Damaged records on a real sled store: the run they belong to is quarantined (a
//! `quarantine/{run}` record naming the key, never driven), every other run goes on, and
//! nothing panics.

mod support;

use failback_engine::testkit::Journal;
use failback_engine::{Engine, EngineError, SystemClock};
use failback_state::{keys, Batch, QuarantineRecord, RunState, StateStore, StoreError};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// The engine on the store in `dir`. A previous engine's tasks may hold the store for a
/// moment after its shutdown returned (a driver deregisters before its task ends).
async fn open_engine(dir: &Path) -> Engine {
    let mut tries = 0;
    let store = loop {
        match StateStore::open(dir) {
            Err(StoreError::Locked { .. }) if tries < 500 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => break other.unwrap(),
        }
    };
    engine(store, Arc::new(SystemClock), Journal::memory())
}

/// Overwrite raw values, as a damaged disk or a bad restore would leave them.
async fn put_raw(eng: &Engine, entries: &[(Vec<u8>, Vec<u8>)]) {
    let mut b = Batch::new();
    for (k, v) in entries {
        b.put(k.clone(), v.clone());
    }
    eng.store().raw().submit(b).await.unwrap();
}

/// A run record of the current schema whose body is not MessagePack.
const GARBAGE_RUN: &[u8] = &[0x01, 0x00, 0x02, 0xc1, 0xc1, 0xc1];
const GARBAGE_STEP: &[u8] = b"\x01\x00\x01not a step record";

async fn quarantined(eng: &Engine, run: &str) -> QuarantineRecord {
    for _ in 0..500 {
        if let Some(q) = eng.store().load_quarantine(run).unwrap() {
            return q;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("run {run} was not quarantined");
}

#[tokio::test]
async fn damaged_run_and_step_records_quarantine_only_their_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let eng = open_engine(&dir).await;
        for id in ["q1", "q2", "q3"] {
            eng.create("noop-chain", 1, id, json!({"steps": 4}), no_labels())
                .await
                .unwrap();
        }
        put_raw(
            &eng,
            &[
                (keys::run("q1"), GARBAGE_RUN.to_vec()),
                (keys::step("q2", "s2"), GARBAGE_STEP.to_vec()),
            ],
        )
        .await;
        assert!(eng.shutdown(Duration::from_secs(5)).await);
    }

    let eng = open_engine(&dir).await;
    let report = eng.resume_all().unwrap();
    // q1's record is damaged: reported now, never started. q2's record reads; its driver
    // finds the damaged step.
    assert_eq!(report.started, 2, "{report:?}");
    assert!(report.unreadable.is_empty(), "{report:?}");
    let ids: Vec<&str> = report
        .quarantined
        .iter()
        .map(|q| q.run_id.as_str())
        .collect();
    assert_eq!(ids, ["q1"]);
    assert_eq!(report.quarantined[0].key, "run/q1");

    let run = eng.finished("q3").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);

    match eng.finished("q2").await {
        Err(EngineError::Quarantined(q)) => {
            assert_eq!(q.key, "step/q2/s2");
            assert!(q.error.contains("does not decode"), "{}", q.error);
            let msg = EngineError::Quarantined(q).to_string();
            assert!(msg.contains("run q2 is quarantined"), "{msg}");
            assert!(msg.contains("step/q2/s2"), "{msg}");
        }
        other => panic!("q2 must be quarantined, got {other:?}"),
    }
    let q1 = quarantined(&eng, "q1").await;
    assert_eq!(q1.key, "run/q1");
    assert!(q1.error.contains("run record"), "{}", q1.error);
    let q2 = quarantined(&eng, "q2").await;
    assert_eq!(q2.key, "step/q2/s2");

    // The damaged records are left as found; q2 stayed where it was.
    let raw = eng.store().raw();
    assert_eq!(raw.get(&keys::run("q1")).unwrap().unwrap(), GARBAGE_RUN);
    assert_eq!(
        raw.get(&keys::step("q2", "s2")).unwrap().unwrap(),
        GARBAGE_STEP
    );
    let q2_run = eng.store().load_run("q2").unwrap().unwrap();
    assert_eq!(q2_run.state, RunState::Pending);
    assert!(
        eng.store().history("q2").unwrap().len() == 1,
        "only RunCreated"
    );

    // Commands to a quarantined run are refused with the reason; it is never driven.
    match eng.cancel("q2", false).await {
        Err(EngineError::Quarantined(q)) => assert_eq!(q.key, "step/q2/s2"),
        other => panic!("cancel of a quarantined run: {other:?}"),
    }
    eng.wake("q2");
    assert!(eng.shutdown(Duration::from_secs(5)).await);
    drop(eng);

    // Another start: both reported from their records, nothing started, nothing rewritten.
    let eng = open_engine(&dir).await;
    let report = eng.resume_all().unwrap();
    assert_eq!((report.started, report.scheduled), (0, 0), "{report:?}");
    assert_eq!(report.quarantined, vec![q1, q2]);
    assert!(eng.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn lifted_quarantine_lets_a_repaired_run_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let eng = open_engine(&tmp.path().join("store")).await;
    eng.create("noop-chain", 1, "r", json!({"steps": 3}), no_labels())
        .await
        .unwrap();
    let good = eng.store().load_steps("r").unwrap().remove(1);
    put_raw(&eng, &[(keys::step("r", "s1"), GARBAGE_STEP.to_vec())]).await;
    eng.wake("r");
    assert!(matches!(
        eng.finished("r").await,
        Err(EngineError::Quarantined(_))
    ));

    // An operator restores the record, then lifts the quarantine.
    let mut txn = eng.store().txn();
    txn.put_step(&good);
    eng.store().commit(txn).await.unwrap();
    assert!(eng.store().lift_quarantine("r").await.unwrap());
    eng.wake("r");
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Succeeded);
    assert!(eng.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn newer_schema_run_is_reported_not_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let eng = open_engine(&tmp.path().join("store")).await;
    // Schema 99: refused before its body (an empty map) is looked at.
    put_raw(&eng, &[(keys::run("n"), vec![0x01, 0x00, 0x63, 0x80])]).await;
    let report = eng.resume_all().unwrap();
    assert!(report.quarantined.is_empty(), "{report:?}");
    assert_eq!(report.unreadable.len(), 1);
    assert!(
        report.unreadable[0].contains("schema version 99"),
        "{report:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(eng.store().list_quarantined().unwrap().is_empty());
    assert!(eng.shutdown(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn damaged_event_is_a_typed_history_error_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let eng = open_engine(&tmp.path().join("store")).await;
    eng.submit("noop-chain", "h", json!({"steps": 2}), no_labels())
        .await
        .unwrap();
    eng.finished("h").await.unwrap();
    let key = keys::event("h", 2);
    put_raw(&eng, &[(key.clone(), b"\x01\x00\x01\xc1".to_vec())]).await;

    let err = eng.store().history("h").unwrap_err();
    let key = String::from_utf8(key).unwrap();
    match &err {
        StoreError::Codec { key: k, .. } => assert_eq!(k, &key),
        other => panic!("expected a codec error, got {other:?}"),
    }
    assert!(err.to_string().contains(&key), "{err}");
    assert!(err.to_string().contains("event record"), "{err}");
    // The run itself is untouched and still reads.
    assert_eq!(
        eng.store().load_run("h").unwrap().unwrap().state,
        RunState::Succeeded
    );
    assert!(eng.shutdown(Duration::from_secs(5)).await);
}
