//! Engine figures on a real sled store (run with `cargo bench -p failback-engine`):
//! (a) one 7-step no-op run at a time: run and durable-transition latency;
//! (b) 64 runs in flight: runs/s and steps/s;
//! (c) the raw `write + fdatasync` rate of the same disk, and (a)'s ratio to it;
//! (d) resume of 10,000 unfinished runs to their first step;
//! (e) memory of an idle waiting run.
//! Sizes can be cut with FB_BENCH_SCALE=0.1 for a quick look.

use failback_engine::testkit::{self, Journal};
use failback_engine::{
    CrashPoints, Engine, EngineConfig, StepDef, StepOutcome, SystemClock, WorkflowDef,
    WorkflowRegistry,
};
use failback_state::{
    Batch, CommitTicket, Fence, RunState, SledStore, SledStoreOptions, StateStore, Store,
    StoreError, StoreFuture,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts live heap bytes, so the cost of holding a waiting run is measured exactly rather
/// than through RSS (which does not shrink when memory is freed and reused).
struct Counting;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_heap() -> isize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Forwards to the real store and records each commit's submit-to-durable latency.
struct Timed {
    inner: Arc<dyn Store>,
    lat: Arc<Mutex<Vec<Duration>>>,
}

impl Store for Timed {
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(k)
    }
    fn scan_prefix(&self, p: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.inner.scan_prefix(p)
    }
    fn last_with_prefix(&self, p: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.inner.last_with_prefix(p)
    }
    fn submit(&self, b: Batch) -> CommitTicket {
        let start = Instant::now();
        let ticket = self.inner.submit(b);
        let lat = self.lat.clone();
        // Timed where the driver awaits it: no task (and no task switch) of its own.
        CommitTicket::from_future(async move {
            let r = ticket.await;
            lat.lock().unwrap().push(start.elapsed());
            r
        })
    }
    fn export(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.inner.export()
    }
    fn acquire(&self, run: &str) -> StoreFuture<Fence> {
        self.inner.acquire(run)
    }
    fn renew(&self, fence: &Fence) -> StoreFuture<()> {
        self.inner.renew(fence)
    }
    fn release(&self, fence: &Fence) -> StoreFuture<()> {
        self.inner.release(fence)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

fn scale(n: usize) -> usize {
    let s: f64 = std::env::var("FB_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * s) as usize).max(1)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn registry() -> WorkflowRegistry {
    let mut r = testkit::registry(Journal::memory());
    // A run whose single step waits a year: the shape of await-failback.
    r.register("idle", 1, |_, _| {
        struct Park;
        #[async_trait::async_trait]
        impl failback_engine::Step for Park {
            async fn execute(&self, ctx: &failback_engine::StepContext) -> StepOutcome {
                StepOutcome::Wait {
                    until: ctx.now() + 365 * 24 * 3600 * 1000,
                    state: json!({}),
                    deadline: None,
                }
            }
        }
        WorkflowDef::new("idle", 1, vec![StepDef::new("park", Arc::new(Park))])
    });
    r
}

fn engine(store: StateStore) -> Engine {
    Engine::new(
        store,
        registry(),
        Arc::new(SystemClock),
        CrashPoints::none(),
        EngineConfig::default(),
    )
}

fn raw_fdatasync_rate(dir: &Path, n: usize) -> f64 {
    let path = dir.join("raw.bin");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let rec = [7u8; 128];
    let start = Instant::now();
    for _ in 0..n {
        f.write_all(&rec).unwrap();
        f.sync_data().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    std::fs::create_dir_all("target").ok();
    let dir = tempfile::tempdir_in("target").unwrap();
    let labels = BTreeMap::new();
    let chain = json!({ "steps": 7 });

    // (c) first, on a quiet store directory.
    let raw = raw_fdatasync_rate(dir.path(), scale(2000));

    // (a) one run at a time.
    let lat = Arc::new(Mutex::new(Vec::new()));
    let runs_a = scale(300);
    let mut run_lat = Vec::with_capacity(runs_a);
    let (transitions, a_elapsed) = rt.block_on(async {
        let sled = SledStore::open(&dir.path().join("a"), SledStoreOptions::default()).unwrap();
        let store = StateStore::new(Arc::new(Timed {
            inner: Arc::new(sled),
            lat: lat.clone(),
        }));
        let eng = engine(store);
        let start = Instant::now();
        for i in 0..runs_a {
            let t = Instant::now();
            let id = format!("a{i}");
            eng.submit("noop-chain", &id, chain.clone(), labels.clone())
                .await
                .unwrap();
            let run = eng.finished(&id).await.unwrap();
            assert_eq!(run.state, RunState::Succeeded);
            run_lat.push(t.elapsed());
        }
        let elapsed = start.elapsed();
        eng.shutdown(Duration::from_secs(5)).await;
        (lat.lock().unwrap().len(), elapsed)
    });
    let mut commit_lat = lat.lock().unwrap().clone();
    let tps = transitions as f64 / a_elapsed.as_secs_f64();
    println!("(a) one run at a time, 7 no-op steps, {runs_a} runs:");
    println!(
        "    run latency p50 {} p99 {}; {} durable commits/run",
        ms(pct(&mut run_lat, 0.5)),
        ms(pct(&mut run_lat, 0.99)),
        transitions / runs_a
    );
    println!(
        "    durable transition p50 {} p99 {}; {:.0} transitions/s",
        ms(pct(&mut commit_lat, 0.5)),
        ms(pct(&mut commit_lat, 0.99)),
        tps
    );
    println!(
        "(c) raw write+fdatasync: {raw:.0}/s; (a) transitions/s = {:.0}% of it",
        100.0 * tps / raw
    );

    // (b) 64 runs in flight.
    let runs_b = scale(6400);
    let (b_elapsed, stats) = rt.block_on(async {
        let sled =
            Arc::new(SledStore::open(&dir.path().join("b"), SledStoreOptions::default()).unwrap());
        let eng = engine(StateStore::new(sled.clone()));
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (eng, next, chain, labels) =
                (eng.clone(), next.clone(), chain.clone(), labels.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= runs_b {
                        break;
                    }
                    let id = format!("b{i}");
                    eng.submit("noop-chain", &id, chain.clone(), labels.clone())
                        .await
                        .unwrap();
                    eng.finished(&id).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let e = start.elapsed();
        eng.shutdown(Duration::from_secs(5)).await;
        (e, sled.stats())
    });
    let rps = runs_b as f64 / b_elapsed.as_secs_f64();
    println!(
        "(b) 64 runs in flight, {runs_b} runs: {rps:.0} runs/s, {:.0} steps/s; {stats:?}",
        rps * 7.0
    );

    // (d) + (e): 10,000 unfinished runs.
    let n = scale(10_000);
    let ddir = dir.path().join("d");
    rt.block_on(async {
        let eng = engine(StateStore::open(&ddir).unwrap());
        for i in 0..n {
            eng.create(
                "noop-chain",
                1,
                &format!("d{i}"),
                chain.clone(),
                labels.clone(),
            )
            .await
            .unwrap();
        }
        eng.shutdown(Duration::from_secs(5)).await;
    });
    let first_steps = rt.block_on(async {
        let eng = engine(StateStore::open(&ddir).unwrap());
        let mut rx = eng.subscribe();
        let start = Instant::now();
        let report = eng.resume_all().unwrap();
        assert_eq!(report.started, n);
        let mut seen = std::collections::HashSet::new();
        while seen.len() < n {
            match rx.recv().await {
                Ok(ev) if matches!(ev.kind, failback_state::EventKind::StepStarted { .. }) => {
                    seen.insert(ev.run_id);
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let e = start.elapsed();
        eng.shutdown(Duration::from_secs(30)).await;
        e
    });
    println!(
        "(d) resume of {n} unfinished runs to their first step: {}",
        ms(first_steps)
    );

    let edir = dir.path().join("e");
    rt.block_on(async {
        let eng = engine(StateStore::open(&edir).unwrap());
        for i in 0..n {
            eng.submit("idle", &format!("e{i}"), json!({}), labels.clone())
                .await
                .unwrap();
        }
        for i in 0..n {
            eng.settled(&format!("e{i}")).await.unwrap();
        }
        eng.shutdown(Duration::from_secs(5)).await;
    });
    let (per_run, heap_per_run, restart) = rt.block_on(async {
        let eng = engine(StateStore::open(&edir).unwrap());
        let before = rss_kib();
        let heap_before = live_heap();
        let start = Instant::now();
        let report = eng.resume_all().unwrap();
        let restart = start.elapsed();
        assert_eq!(report.scheduled, n);
        assert_eq!(eng.active_runs(), 0);
        let heap = (live_heap() - heap_before) as f64 / n as f64;
        let after = rss_kib();
        eng.shutdown(Duration::from_secs(5)).await;
        (
            (after.saturating_sub(before)) as f64 * 1024.0 / n as f64,
            heap,
            restart,
        )
    });
    println!(
        "(e) {n} idle waiting runs held after a restart: {heap_per_run:.0} bytes of live heap each \
         ({per_run:.0} bytes of RSS growth each); all scheduled in {}",
        ms(restart)
    );
}
