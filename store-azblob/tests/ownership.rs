//! Two stores on one container, as two daemons on one storage account: a run's lease is its
//! fence, and storage refuses the writer that lost it.

mod common;

use failback_azblob::LeaseDuration;
use failback_state::{block_on, Store, StoreError};
use std::time::{Duration, Instant};

use failback_state::conformance::{get, put};

#[test]
fn a_held_run_cannot_be_acquired_by_another_process() {
    let c = common::fresh_container();
    let (a, b) = (common::open(&c), common::open(&c));
    let fence = block_on(a.acquire("r")).expect("a acquires");
    let refused = block_on(b.acquire("r"));
    assert!(
        matches!(&refused, Err(StoreError::Owned { run, .. }) if run == "r"),
        "{refused:?}"
    );
    block_on(a.release(&fence)).expect("a releases");
    block_on(b.acquire("r")).expect("b acquires a released run at once");
}

/// The old owner does not know it lost the run: its write goes out with its lease id, and
/// storage refuses it. The new owner starts from everything the old one committed.
#[test]
fn a_takeover_fences_the_old_owner_at_storage() {
    let c = common::fresh_container();
    let (a, b) = (common::open(&c), common::open(&c));
    let old = block_on(a.acquire("r")).expect("a acquires");
    let mut first = put("run/r", "a's state");
    first.fenced(old.clone());
    a.submit(first).wait().expect("a commits");

    // The lease lapses (broken here, as expiry would): b takes the run.
    let raw = common::client(&c);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(raw.break_lease("runs/r", Some(Duration::ZERO)))
        .expect("break");
    let new = block_on(b.acquire("r")).expect("b takes over");
    assert_eq!(
        get(&b, "run/r").as_deref(),
        Some("a's state"),
        "b reads a's commits"
    );

    let mut late = put("run/r", "a, too late");
    late.fenced(old.clone());
    let refused = a.submit(late).wait();
    assert!(
        matches!(refused, Err(StoreError::Fenced { .. })),
        "{refused:?}"
    );
    assert!(matches!(
        block_on(a.renew(&old)),
        Err(StoreError::Fenced { .. })
    ));

    let mut next = put("run/r", "b's state");
    next.fenced(new);
    b.submit(next).wait().expect("b commits");
    let c2 = common::open(&c);
    assert_eq!(get(&c2, "run/r").as_deref(), Some("b's state"));
}

/// Renewed leases hold; a lease nobody renews lapses after its duration and the run can be
/// taken over (Azure's shortest lease, 15 s, so this test takes about 17 s).
#[test]
fn renewed_runs_stay_and_lapsed_runs_are_taken_over() {
    let c = common::fresh_container();
    let (a, b) = (common::open(&c), common::open(&c));
    let kept = block_on(a.acquire("kept")).expect("acquire kept");
    let _lapsing = block_on(a.acquire("lapsing")).expect("acquire lapsing");
    let started = Instant::now();
    let lease = Duration::from_secs(15);
    while started.elapsed() < lease + Duration::from_secs(2) {
        block_on(a.renew(&kept)).expect("renew kept");
        std::thread::sleep(Duration::from_secs(4));
    }
    let refused = block_on(b.acquire("kept"));
    assert!(
        matches!(refused, Err(StoreError::Owned { .. })),
        "{refused:?}"
    );
    block_on(b.acquire("lapsing")).expect("a lapsed run is taken over");
    assert_eq!(a.lease(), Some(lease));
    assert!(LeaseDuration::seconds(lease.as_secs() as u32).is_ok());
}

/// Without leases, writers of one blob in two processes all land (If-Match, re-read, retry),
/// and each sees the other's writes after a refresh.
#[test]
fn unleased_writers_in_two_processes_all_land() {
    let c = common::fresh_container();
    let (a, b) = (common::open(&c), common::open(&c));
    std::thread::scope(|s| {
        for (name, store) in [("a", &a), ("b", &b)] {
            s.spawn(move || {
                for i in 0..25 {
                    store
                        .submit(put(&format!("x/{name}/{i:02}"), name))
                        .wait()
                        .expect("commit");
                }
            });
        }
    });
    a.refresh_now().expect("refresh a");
    b.refresh_now().expect("refresh b");
    for s in [&a, &b] {
        assert_eq!(s.scan_prefix(b"x/").expect("scan").len(), 50);
    }
}

/// A blob that does not decode is a damaged store, named, at open.
#[test]
fn a_damaged_blob_is_refused() {
    let c = common::fresh_container();
    let a = common::open(&c);
    a.submit(put("run/r", "fine")).wait().expect("commit");
    drop(a);
    let raw = common::client(&c);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut blob = rt
        .block_on(raw.get_blob("runs/r"))
        .expect("get")
        .expect("present");
    let mid = blob.data.len() / 2;
    blob.data[mid] ^= 0x40;
    rt.block_on(raw.put_blob("runs/r", blob.data, &failback_azblob::Condition::none()))
        .expect("damage it");
    let refused = failback_store_azblob::AzBlobStore::open(raw, common::options());
    let e = refused.err().expect("refused");
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("runs/r"), "{e}");
}
