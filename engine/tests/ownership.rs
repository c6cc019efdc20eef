//! Ownership on a store whose fences lapse: the lease keeper renews the runs the engine owns; a
//! run whose fence is gone is not driven past its next launch (the fence is checked before every
//! side effect); renewals failing for a whole lease stop the engine (crash-only).

mod support;

use failback_engine::testkit::Journal;
use failback_engine::{Fatal, SystemClock};
use failback_state::{
    ready, Batch, CommitTicket, Entry, Fence, MemStore, RunState, StateStore, Store, StoreError,
    StoreFuture,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

const LEASE: Duration = Duration::from_millis(600);

/// An in-memory store with leases, whose renewals can be made to fail: for `lost` runs with
/// `Fenced` and their acquisition with `Owned` (taken over by another process), for every run
/// with a backend error once `unreachable` is set.
#[derive(Default)]
struct Leased {
    inner: MemStore,
    lost: Mutex<HashSet<String>>,
    unreachable: std::sync::atomic::AtomicBool,
}

impl Store for Leased {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        self.inner.scan_prefix(prefix)
    }
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
        self.inner.last_with_prefix(prefix)
    }
    fn submit(&self, batch: Batch) -> CommitTicket {
        self.inner.submit(batch)
    }
    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        self.inner.export()
    }
    /// A lost run is another process's: acquiring it is refused, as a held lease is.
    fn acquire(&self, run: &str) -> StoreFuture<Fence> {
        if self.lost.lock().unwrap().contains(run) {
            return ready(Err(StoreError::Owned {
                location: self.location(),
                run: run.to_owned(),
            }));
        }
        self.inner.acquire(run)
    }
    fn renew(&self, fence: &Fence) -> StoreFuture<()> {
        if self.unreachable.load(std::sync::atomic::Ordering::SeqCst) {
            return ready(Err(StoreError::Backend("storage unreachable".into())));
        }
        if self.lost.lock().unwrap().contains(&fence.run) {
            return ready(Err(StoreError::Fenced {
                location: self.location(),
                run: fence.run.clone(),
                given: fence.token,
                current: None,
            }));
        }
        self.inner.renew(fence)
    }
    fn release(&self, fence: &Fence) -> StoreFuture<()> {
        self.inner.release(fence)
    }
    fn lease(&self) -> Option<Duration> {
        Some(LEASE)
    }
    fn location(&self) -> String {
        "leased-memory".into()
    }
}

async fn poll_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_taken_over_is_not_driven_past_its_next_launch() {
    let leased = Arc::new(Leased::default());
    let store = StateStore::new(leased.clone());
    let journal = Journal::memory();
    let eng = engine(store.clone(), Arc::new(SystemClock), journal.clone());
    // Both runs wait 2 s in `a/boot`: the keeper renews them meanwhile, every 200 ms.
    for id in ["kept", "lost"] {
        eng.submit("branching", id, branching_input(&["a"], 2000), no_labels())
            .await
            .unwrap();
    }
    poll_until("both runs in a/boot", || {
        let e = journal.effects();
        ["kept", "lost"]
            .iter()
            .all(|r| e.iter().any(|x| x.run == *r && x.step == "a/boot"))
    })
    .await;
    leased.lost.lock().unwrap().insert("lost".into());
    poll_until("the keeper forgets the lost run", || {
        !store.owned_runs().contains(&"lost".to_owned())
    })
    .await;

    let kept = tokio::time::timeout(Duration::from_secs(20), eng.finished("kept"))
        .await
        .expect("kept finishes")
        .unwrap();
    assert_eq!(kept.state, RunState::Succeeded);
    // The lost run's next launch (the poll of a/boot) found no fence: nothing after it ran.
    let lost: Vec<_> = journal
        .effects()
        .into_iter()
        .filter(|e| e.run == "lost")
        .collect();
    assert!(
        lost.iter()
            .all(|e| e.step != "a/register" && e.step != "await"),
        "{lost:?}"
    );
    assert!(
        lost.iter().all(|e| !(e.step == "a/boot" && e.poll > 0)),
        "{lost:?}"
    );
    let run = store.load_run("lost").unwrap().unwrap();
    assert!(!run.state.is_terminal(), "{run:?}");
    assert!(
        eng.health().healthy,
        "a run lost is not a fault of this process"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_failing_for_a_whole_lease_stop_the_engine() {
    let leased = Arc::new(Leased::default());
    let store = StateStore::new(leased.clone());
    let journal = Journal::memory();
    let eng = engine(store, Arc::new(SystemClock), journal.clone());
    eng.submit("branching", "r", branching_input(&["a"], 5000), no_labels())
        .await
        .unwrap();
    poll_until("r in a/boot", || {
        journal.effects().iter().any(|e| e.step == "a/boot")
    })
    .await;
    leased
        .unreachable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let fatal = tokio::time::timeout(Duration::from_secs(10), eng.fatal())
        .await
        .expect("the engine stops");
    assert!(matches!(fatal, Fatal::LeasesLapsed(_)), "{fatal:?}");
    let msg = fatal.to_string();
    assert!(
        msg.contains("storage unreachable") && msg.contains("restart"),
        "{msg}"
    );
    assert!(!eng.health().healthy);
}
