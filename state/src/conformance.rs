//! The storage seam's contract, one suite run against every backend (sled and in-memory in
//! `state/tests/conformance.rs`; Azure Blob Storage on Azurite in `store-azblob/tests`). A
//! backend implements [`Backend`] and invokes [`crate::conformance_suite!`]. Atomicity, key
//! order, durability across reopen, conditional create (also under concurrent committers),
//! fence refusal per run and a fence's scope, concurrent committers, export/import; and,
//! through the format layer above every backend (`StateStore::checked`): the format record, a
//! newer format or schema refused, records without a format record and undecodable records
//! reported as damage, older schemas upgraded on read.
//!
//! Test support (the `conformance` feature): it panics on failure, as tests do.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::codec::{self, STORE_FORMAT_VERSION};
use crate::{block_on, keys, Batch, MetaRecord, StateStore, Store, StoreError};
use std::sync::Arc;

pub trait Backend {
    fn open(&self) -> Arc<dyn Store>;
    /// The same store after the handle is closed and dropped; `None` for a store that does
    /// not outlive its handle.
    fn reopen(&self, old: Arc<dyn Store>) -> Option<Arc<dyn Store>>;
}

/// A batch putting `value` at `key`.
pub fn put(key: &str, value: &str) -> Batch {
    let mut b = Batch::new();
    b.put(key, value.as_bytes().to_vec());
    b
}

/// The value at `key`, as text.
pub fn get(s: &dyn Store, key: &str) -> Option<String> {
    s.get(key.as_bytes())
        .expect("get")
        .map(|v| String::from_utf8(v).expect("utf8"))
}

fn keys(s: &dyn Store, prefix: &str) -> Vec<String> {
    s.scan_prefix(prefix.as_bytes())
        .expect("scan")
        .into_iter()
        .map(|(k, _)| String::from_utf8(k).expect("utf8"))
        .collect()
}

pub fn batch_is_all_or_nothing(b: &dyn Backend) {
    let s = b.open();
    s.submit(put("a/1", "x")).wait().expect("first");
    let mut both = put("a/2", "y");
    both.put("a/3", b"z".to_vec());
    both.require_absent("a/1");
    let refused = s.submit(both).wait();
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed { .. })),
        "{refused:?}"
    );
    assert_eq!(
        keys(s.as_ref(), "a/"),
        ["a/1"],
        "a refused batch wrote nothing"
    );
    let mut ok = put("a/2", "y");
    ok.delete("a/1");
    s.submit(ok).wait().expect("put and delete");
    assert_eq!(keys(s.as_ref(), "a/"), ["a/2"]);
}

pub fn keys_come_in_order(b: &dyn Backend) {
    let s = b.open();
    for k in ["r/b", "r/a/2", "q/z", "r/a/10", "r/c"] {
        s.submit(put(k, k)).wait().expect("put");
    }
    assert_eq!(keys(s.as_ref(), "r/"), ["r/a/10", "r/a/2", "r/b", "r/c"]);
    let last = s.last_with_prefix(b"r/a/").expect("last").expect("some");
    assert_eq!(last.0, b"r/a/2");
    let mut seen = Vec::new();
    s.for_each_prefix(b"r/", &mut |k, _| seen.push(k.to_vec()))
        .expect("for_each");
    assert_eq!(seen.len(), 4);
}

pub fn commits_survive_a_reopen(b: &dyn Backend) {
    let s = b.open();
    s.submit(put("d/1", "one")).wait().expect("put");
    let mut del = put("d/2", "two");
    del.delete("d/1");
    s.submit(del).wait().expect("put + delete");
    let Some(s) = b.reopen(s) else { return };
    assert_eq!(get(s.as_ref(), "d/1"), None);
    assert_eq!(get(s.as_ref(), "d/2").as_deref(), Some("two"));
}

pub fn conditional_create_decides_once(b: &dyn Backend) {
    let s = b.open();
    let mut create = put("run/r1", "first");
    create.require_absent("run/r1");
    s.submit(create.clone()).wait().expect("first create");
    let again = s.submit(create).wait();
    assert!(
        matches!(&again, Err(StoreError::ConditionFailed { key }) if key == "run/r1"),
        "{again:?}"
    );
    assert_eq!(get(s.as_ref(), "run/r1").as_deref(), Some("first"));
}

/// Sixteen threads create the same key at once (their batches may share one group commit):
/// exactly one wins, and its value is the one stored.
pub fn concurrent_creates_have_one_winner(b: &dyn Backend) {
    let s = b.open();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut create = put("run/same", &format!("writer-{i}"));
                create.put(format!("step/same/{i}"), b"s".to_vec());
                create.require_absent("run/same");
                (i, s.submit(create).wait())
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, r) in &results {
        assert!(
            r.is_ok() || matches!(r, Err(StoreError::ConditionFailed { .. })),
            "{r:?}"
        );
    }
    let w = winners[0];
    assert_eq!(get(s.as_ref(), "run/same"), Some(format!("writer-{w}")));
    assert_eq!(keys(s.as_ref(), "step/same/"), [format!("step/same/{w}")]);
}

pub fn a_stale_fence_is_refused(b: &dyn Backend) {
    let s = b.open();
    let old = block_on(s.acquire("f")).expect("acquire");
    let mut write = put("run/f", "old owner");
    write.fenced(old.clone());
    s.submit(write.clone()).wait().expect("current fence");
    block_on(s.renew(&old)).expect("renew the current fence");
    let new = block_on(s.acquire("f")).expect("acquire again");
    assert_ne!(new, old);
    let mut stale = put("step/f/1", "old owner again");
    stale.fenced(old.clone());
    let refused = s.submit(stale).wait();
    assert!(
        matches!(&refused, Err(StoreError::Fenced { run, given, .. }) if run == "f" && *given == old.token),
        "{refused:?}"
    );
    assert!(matches!(
        block_on(s.renew(&old)),
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(
        get(s.as_ref(), "step/f/1"),
        None,
        "a fenced-off batch wrote nothing"
    );
    let mut fresh = put("step/f/1", "new owner");
    fresh.fenced(new.clone());
    s.submit(fresh).wait().expect("the new owner writes");
    assert_eq!(get(s.as_ref(), "step/f/1").as_deref(), Some("new owner"));
    // Another run's fences are its own.
    let other = block_on(s.acquire("g")).expect("acquire g");
    let mut g = put("run/g", "g's owner");
    g.fenced(other);
    s.submit(g).wait().expect("g's owner writes");
    let mut f_again = put("run/f", "f's owner");
    f_again.fenced(new.clone());
    s.submit(f_again).wait().expect("f's owner still writes");
    // Released: refused until acquired again.
    block_on(s.release(&new)).expect("release");
    let mut after = put("run/f", "released");
    after.fenced(new);
    assert!(matches!(
        s.submit(after).wait(),
        Err(StoreError::Fenced { .. })
    ));
}

/// A fenced batch writes only its run's keys: anything else refuses the whole batch.
pub fn a_fence_covers_only_its_run(b: &dyn Backend) {
    let s = b.open();
    let fence = block_on(s.acquire("f")).expect("acquire");
    for other in ["run/g", "ev/g/0000000000000001", "meta", "run/f/x"] {
        let mut batch = put("run/f", "mine");
        batch.put(other, b"not mine".to_vec());
        batch.fenced(fence.clone());
        let refused = s.submit(batch).wait();
        assert!(
            matches!(&refused, Err(StoreError::OutsideFence { key, run }) if key == other && run == "f"),
            "{other}: {refused:?}"
        );
        assert_eq!(get(s.as_ref(), "run/f"), None, "{other}: nothing written");
    }
}

pub fn concurrent_committers_all_land(b: &dyn Backend) {
    let s = b.open();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let k = format!("c/{t:02}/{i:03}");
                    s.submit(put(&k, &k)).wait().expect("commit");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join");
    }
    assert_eq!(keys(s.as_ref(), "c/").len(), 400);
    let Some(s) = b.reopen(s) else { return };
    assert_eq!(keys(s.as_ref(), "c/").len(), 400, "after reopen");
}

pub fn export_then_import_round_trips(b: &dyn Backend) {
    let s = b.open();
    for k in ["e/1", "e/2", "x/1"] {
        s.submit(put(k, k)).wait().expect("put");
    }
    let dump = s.export().expect("export");
    let t = crate::MemStore::new();
    t.import(dump.clone()).expect("import");
    assert_eq!(t.export().expect("export again"), dump);
    // And the backend's own import.
    let entries = vec![
        (b"i/1".to_vec(), b"one".to_vec()),
        (b"i/2".to_vec(), b"two".to_vec()),
    ];
    s.import(entries).expect("import into the backend");
    assert_eq!(keys(s.as_ref(), "i/"), ["i/1", "i/2"]);
}

/// A new store gets this build's format record, once, however often it is checked.
pub fn a_new_store_gets_its_format_record(b: &dyn Backend) {
    let s = b.open();
    StateStore::checked(s.clone()).expect("new store");
    StateStore::checked(s.clone()).expect("checked again");
    let meta: MetaRecord =
        codec::decode(&s.get(keys::META).expect("get").expect("meta")).expect("decode");
    assert_eq!(meta.format_version, STORE_FORMAT_VERSION);
    assert_eq!(
        s.export().expect("export").len(),
        1,
        "only the format record"
    );
}

fn stamp(s: &dyn Store, key: &[u8], value: Vec<u8>) {
    let mut batch = Batch::new();
    batch.put(key.to_vec(), value);
    s.submit(batch).wait().expect("raw write");
}

/// A store written by a newer release is refused, naming where it is and what to do, whether
/// its format version or its format record's schema is newer.
pub fn a_newer_format_is_refused(b: &dyn Backend) {
    let newer = MetaRecord {
        format_version: STORE_FORMAT_VERSION + 1,
        created_by: "failback-state from the future".into(),
    };
    let body = rmp_serde::to_vec_named(&serde_json::json!({
        "format_version": 7, "created_by": "x", "something_new": [1, 2]
    }))
    .expect("msgpack");
    let mut schema_99 = vec![codec::CODEC_MSGPACK, 0, 99];
    schema_99.extend(body);
    let cases = [
        (
            codec::encode(&newer).expect("encode"),
            STORE_FORMAT_VERSION + 1,
        ),
        (schema_99, 7),
    ];
    for (value, want) in cases {
        let s = b.open();
        stamp(&*s, keys::META, value);
        let e = StateStore::checked(s.clone()).err().expect("refused");
        let msg = e.to_string();
        assert!(
            matches!(e, StoreError::NewerFormat { found, .. } if found == want),
            "{e:?}"
        );
        assert!(msg.contains(&s.location()), "{msg}");
        assert!(msg.contains("newer failback release"), "{msg}");
    }
}

/// Records without a format record, or a format record that does not decode, are damage.
pub fn a_store_without_its_format_record_is_damaged(b: &dyn Backend) {
    let cases: [(&[u8], Vec<u8>); 2] = [
        (b"run/r1", vec![codec::CODEC_MSGPACK, 0, 1, 0x80]),
        (keys::META, vec![0x7f, 0, 1, 2]),
    ];
    for (key, value) in cases {
        let s = b.open();
        stamp(&*s, key, value);
        let e = StateStore::checked(s).err().expect("refused");
        let msg = e.to_string();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
        assert!(
            msg.contains("is damaged") && msg.contains("meta record"),
            "{msg}"
        );
    }
}

/// A record that does not decode is a typed error naming its key (the engine quarantines its
/// run); one of an older schema is upgraded on read.
pub fn records_are_checked_and_upgraded_on_read(b: &dyn Backend) {
    let s = b.open();
    let st = StateStore::checked(s.clone()).expect("new store");
    stamp(&*s, b"run/garbled", vec![codec::CODEC_MSGPACK, 0, 2, 0xc1]);
    let e = st.load_run("garbled").expect_err("damaged record");
    assert_eq!(e.damaged_key(), Some("run/garbled"), "{e:?}");
    let v1 = include_bytes!("../fixtures/golden/run_v1.bin").to_vec();
    stamp(&*s, b"run/old", v1);
    let run = st
        .load_run("old")
        .expect("schema 1 decodes")
        .expect("present");
    assert!(run.labels.is_empty() && run.signals.is_empty(), "{run:?}");
}

/// Every contract test for one backend: `conformance_suite!(module_name, backend_expr);`.
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn batch_is_all_or_nothing() {
                $crate::conformance::batch_is_all_or_nothing(&$backend);
            }
            #[test]
            fn keys_come_in_order() {
                $crate::conformance::keys_come_in_order(&$backend);
            }
            #[test]
            fn commits_survive_a_reopen() {
                $crate::conformance::commits_survive_a_reopen(&$backend);
            }
            #[test]
            fn conditional_create_decides_once() {
                $crate::conformance::conditional_create_decides_once(&$backend);
            }
            #[test]
            fn concurrent_creates_have_one_winner() {
                $crate::conformance::concurrent_creates_have_one_winner(&$backend);
            }
            #[test]
            fn a_stale_fence_is_refused() {
                $crate::conformance::a_stale_fence_is_refused(&$backend);
            }
            #[test]
            fn a_fence_covers_only_its_run() {
                $crate::conformance::a_fence_covers_only_its_run(&$backend);
            }
            #[test]
            fn concurrent_committers_all_land() {
                $crate::conformance::concurrent_committers_all_land(&$backend);
            }
            #[test]
            fn export_then_import_round_trips() {
                $crate::conformance::export_then_import_round_trips(&$backend);
            }
            #[test]
            fn a_new_store_gets_its_format_record() {
                $crate::conformance::a_new_store_gets_its_format_record(&$backend);
            }
            #[test]
            fn a_newer_format_is_refused() {
                $crate::conformance::a_newer_format_is_refused(&$backend);
            }
            #[test]
            fn a_store_without_its_format_record_is_damaged() {
                $crate::conformance::a_store_without_its_format_record_is_damaged(&$backend);
            }
            #[test]
            fn records_are_checked_and_upgraded_on_read() {
                $crate::conformance::records_are_checked_and_upgraded_on_read(&$backend);
            }
        }
    };
}
