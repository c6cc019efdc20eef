//! SledStore behaviour: commits, reopen, close, group commit, format refusal, dumps.

mod common;

use failback_state::*;
use std::sync::{Arc, Barrier};

fn open(dir: &std::path::Path) -> SledStore {
    SledStore::open(dir, SledStoreOptions::default()).unwrap()
}

#[test]
fn commit_read_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let s = open(&dir);
        let mut b = Batch::new();
        b.put("a/1", vec![1]);
        b.put("a/2", vec![2]);
        b.put("b/1", vec![3]);
        s.submit(b).wait().unwrap();
        let mut b = Batch::new();
        b.delete("a/1");
        s.submit(b).wait().unwrap();
        assert_eq!(s.get(b"a/2").unwrap(), Some(vec![2]));
        assert_eq!(s.scan_prefix(b"a/").unwrap().len(), 1);
        assert_eq!(
            s.last_with_prefix(b"b/").unwrap(),
            Some((b"b/1".to_vec(), vec![3]))
        );
        assert_eq!(s.stats().commits, 2);
        assert!(dir.join("owner").exists());
    }
    // Dropped: lock released, owner file gone.
    assert!(!dir.join("owner").exists());
    let s = open(&dir);
    assert_eq!(s.get(b"a/1").unwrap(), None);
    assert_eq!(s.get(b"a/2").unwrap(), Some(vec![2]));
    // The format record is written above the backend (`StateStore::checked`), not by it.
    assert_eq!(s.get(keys::META).unwrap(), None);
}

#[tokio::test]
async fn async_commit_through_state_store() {
    let tmp = tempfile::tempdir().unwrap();
    let st = StateStore::open(tmp.path()).unwrap();
    let run = st
        .create_run(
            common::run("r1"),
            &[StepRecord::pending("r1", "validate", 1)],
        )
        .await
        .unwrap();
    assert_eq!(run.next_event_seq, 1);
    assert_eq!(st.load_run("r1").unwrap().unwrap(), run);
    assert_eq!(st.load_steps("r1").unwrap().len(), 1);
    assert_eq!(st.history("r1").unwrap()[0].kind, EventKind::RunCreated);
    assert!(matches!(
        st.create_run(common::run("r1"), &[]).await,
        Err(StoreError::RunExists(_))
    ));
    assert_eq!(
        st.commit_stats().unwrap().commits,
        2,
        "the format record, then the run"
    );
    st.close().unwrap();
    assert!(matches!(st.commit(st.txn()).await, Err(StoreError::Closed)));
    assert!(st.load_run("r1").unwrap().is_some());
}

#[test]
fn close_drains_then_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let s = open(tmp.path());
    let tickets: Vec<_> = (0..100u32)
        .map(|i| {
            let mut b = Batch::new();
            b.put(format!("k/{i:03}"), i.to_be_bytes().to_vec());
            s.submit(b)
        })
        .collect();
    s.close().unwrap();
    for t in tickets {
        t.wait().unwrap();
    }
    assert_eq!(s.scan_prefix(b"k/").unwrap().len(), 100);
    let mut b = Batch::new();
    b.put("late", vec![]);
    assert!(matches!(s.submit(b).wait(), Err(StoreError::Closed)));
    s.close().unwrap();
}

#[test]
fn second_open_in_process_is_locked() {
    let tmp = tempfile::tempdir().unwrap();
    let _s = open(tmp.path());
    let err = SledStore::open(tmp.path(), SledStoreOptions::default())
        .err()
        .expect("second open must fail");
    let msg = err.to_string();
    match err {
        StoreError::Locked { location, holder } => {
            assert_eq!(location, tmp.path().display().to_string());
            let holder = holder.expect("holder from the owner file");
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
}

/// A lock whose holder has already removed its `owner` file is being let go: the open waits
/// for it instead of failing (a `resume` right after another handle was dropped).
#[test]
fn an_open_waits_for_a_holder_that_is_letting_go() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open(tmp.path());
    std::fs::remove_file(tmp.path().join("owner")).unwrap();
    let (opening, opened) = std::sync::mpsc::channel();
    let dir = tmp.path().to_path_buf();
    let second = std::thread::spawn(move || {
        opening.send(()).unwrap();
        SledStore::open(&dir, SledStoreOptions::default())
    });
    opened.recv().unwrap();
    // The second open is refused (and waits) for as long as the first handle lives.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!second.is_finished(), "the open did not wait for the lock");
    drop(first);
    let s = second
        .join()
        .unwrap()
        .expect("opened once the first let go");
    assert_eq!(s.path(), tmp.path());
}

#[test]
fn group_commit_64_threads() {
    const THREADS: usize = 64;
    const PER_THREAD: usize = 20;
    let tmp = tempfile::tempdir().unwrap();
    let s = Arc::new(open(tmp.path()));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    let mut b = Batch::new();
                    b.put(format!("t{t:02}/{i:03}"), vec![t as u8; 64]);
                    b.put(format!("last/{t:02}"), (i as u32).to_be_bytes().to_vec());
                    s.submit(b).wait().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = s.stats();
    let total = (THREADS * PER_THREAD) as u64;
    assert_eq!(stats.commits, total);
    assert_eq!(stats.failed_commits, 0);
    assert!(
        stats.groups < stats.commits,
        "no grouping: {stats:?} (meta write is not counted)"
    );
    assert!(stats.max_group > 1, "{stats:?}");
    eprintln!("{stats:?}, mean group {:.1}", stats.mean_group_size());

    drop(Arc::try_unwrap(s).ok().expect("sole owner"));
    let s = open(tmp.path());
    for t in 0..THREADS {
        assert_eq!(
            s.scan_prefix(format!("t{t:02}/").as_bytes()).unwrap().len(),
            PER_THREAD
        );
        assert_eq!(
            s.get(format!("last/{t:02}").as_bytes()).unwrap(),
            Some((PER_THREAD as u32 - 1).to_be_bytes().to_vec())
        );
    }
}

#[test]
fn dump_round_trip_and_malformed() {
    let tmp = tempfile::tempdir().unwrap();
    let src = StateStore::open(&tmp.path().join("a")).unwrap();
    let mut run = common::run("r1");
    let mut txn = src.txn();
    txn.event(
        &mut run,
        5,
        Some("validate"),
        EventKind::StepStarted { attempt: 1 },
    )
    .put_step(&StepRecord::pending("r1", "validate", 5))
    .put_run(&run);
    src.commit_blocking(txn).unwrap();
    let dump = tmp.path().join("backup.dump");
    assert_eq!(src.export_to(&dump).unwrap(), 4); // meta, run, step, event

    let dst = StateStore::open(&tmp.path().join("b")).unwrap();
    assert_eq!(dst.import_from(&dump).unwrap(), 3); // meta is not copied
    assert_eq!(dst.load_run("r1").unwrap().unwrap(), run);
    assert_eq!(dst.history("r1").unwrap().len(), 1);
    assert_eq!(dst.raw().export().unwrap(), src.raw().export().unwrap());

    let bytes = std::fs::read(&dump).unwrap();
    let bad = tmp.path().join("bad.dump");
    std::fs::write(&bad, &bytes[..bytes.len() - 3]).unwrap();
    let err = dst.import_from(&bad).unwrap_err();
    assert!(matches!(err, StoreError::BadImport(_)), "{err:?}");
    assert!(err.to_string().contains("bad.dump"), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn large_values_go_through_blob_files() {
    let tmp = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    {
        let s = open(tmp.path());
        let mut b = Batch::new();
        b.put("big", big.clone());
        s.submit(b).wait().unwrap();
        // sled keeps values over ~128 KiB in blobs/, which the committer syncs itself.
        assert!(std::fs::read_dir(tmp.path().join("blobs")).unwrap().count() > 0);
    }
    assert_eq!(open(tmp.path()).get(b"big").unwrap(), Some(big));
}

/// A group goes into sled as single writes (see `state/src/apply.rs`); readers must still see
/// each group whole: two keys written together always read the same, by `get` and by scan.
#[test]
fn readers_see_whole_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(open(tmp.path()));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (s, done) = (s.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checks = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let pair = s.scan_prefix(b"pair/").unwrap();
                if let [(_, a), (_, b)] = pair.as_slice() {
                    assert_eq!(a, b, "a scan saw half a group");
                }
                checks += 1;
            }
            checks
        })
    };
    for i in 0..2000u32 {
        let mut b = Batch::new();
        b.put("pair/a", i.to_be_bytes().to_vec());
        b.put("pair/b", i.to_be_bytes().to_vec());
        s.submit(b).wait().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let checks = reader.join().unwrap();
    assert!(checks > 0);
}
