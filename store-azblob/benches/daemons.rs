//! Commits/s and runs/s of the engine on Azure Blob Storage (Azurite, a real process on this
//! machine) with 1 and 3 "daemons" (engines, each with its own store on one container, as
//! separate processes would have), beside sled, in one run.
//!
//! `cargo bench -p failback-store-azblob --bench daemons` (needs Azurite: `bash .ci/run`
//! installs it; `FB_BENCH_SCALE=0.2` for a quick look). Each case drives runs of a 7-step
//! no-op chain to the end, 64 in flight across the daemons.

#[path = "../tests/common/mod.rs"]
mod common;

use failback_engine::testkit::{self, Journal};
use failback_engine::{CrashPoints, Engine, EngineConfig, SystemClock};
use failback_state::{RunState, SledStore, SledStoreOptions, StateStore};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn scale(n: usize) -> usize {
    let f: f64 = std::env::var("FB_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * f) as usize).max(8)
}

fn engine(store: StateStore) -> Engine {
    Engine::new(
        store,
        testkit::registry(Journal::memory()),
        Arc::new(SystemClock),
        CrashPoints::none(),
        EngineConfig::default(),
    )
}

/// Drive `runs` runs across `engines` (run i on engine i mod n), 64 in flight; (elapsed,
/// commits acknowledged by all their stores).
async fn drive(engines: &[Engine], runs: usize, tag: &str) -> (Duration, u64) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (engines, next, tag) = (engines.to_vec(), next.clone(), tag.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= runs {
                    break;
                }
                let eng = &engines[i % engines.len()];
                let id = format!("{tag}{i}");
                let input = json!({ "steps": 7 });
                eng.submit("noop-chain", &id, input, BTreeMap::new())
                    .await
                    .expect("submit");
                let run = eng.finished(&id).await.expect("finished");
                assert_eq!(run.state, RunState::Succeeded, "{id}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("driver task");
    }
    let elapsed = start.elapsed();
    let commits = engines
        .iter()
        .filter_map(|e| e.store().commit_stats())
        .map(|s| s.commits)
        .sum();
    (elapsed, commits)
}

fn report(label: &str, runs: usize, (elapsed, commits): (Duration, u64)) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{label:<28} {runs:>6} runs in {secs:>6.1} s: {:>7.1} runs/s, {:>8.0} commits/s",
        runs as f64 / secs,
        commits as f64 / secs
    );
}

fn azblob_engines(n: usize) -> Vec<Engine> {
    let container = common::fresh_container();
    (0..n)
        .map(|_| {
            let store = Arc::new(common::open(&container));
            engine(StateStore::checked(store).expect("format record"))
        })
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Engines spawn their tasks on it.
    let _in_runtime = rt.enter();
    let dir = tempfile::tempdir().expect("tempdir");
    let (sled_runs, blob_runs) = (scale(3000), scale(300));
    println!("7-step no-op runs, 64 in flight, 2 cores, Azurite 3.35.0 on 127.0.0.1:");
    let sled = SledStore::open(dir.path(), SledStoreOptions::default()).expect("sled");
    let sled = vec![engine(StateStore::checked(Arc::new(sled)).expect("format"))];
    report(
        "sled, 1 daemon",
        sled_runs,
        rt.block_on(drive(&sled, sled_runs, "s")),
    );
    for n in [1, 3] {
        let engines = azblob_engines(n);
        let label = format!("azblob, {n} daemon(s)");
        report(
            &label,
            blob_runs,
            rt.block_on(drive(&engines, blob_runs, "b")),
        );
        for e in &engines {
            rt.block_on(e.shutdown(Duration::from_secs(5)));
        }
    }
}
