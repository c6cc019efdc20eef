//! ARM requests a whole failback costs, per network, against the emulator (fast timings,
//! HTTPS, real client), and proof from the emulator's journal that no poll of an operation
//! came sooner than the Retry-After it was given. `cargo bench -p failback --bench requests`.

use failback::commands::demo::{scenario, spec_text};
use failback_engine::{CrashPoints, Engine, EngineConfig, ScaledClock};
use failback_sim::{JournalEntry, Sim, SimConfig};
use failback_state::{RunState, StateStore};
use failback_workflows::failback::{self as dag, Cadence};
use failback_workflows::{spec, AzurePool};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Slow enough that clock skew between the emulator and the client is a few ms of sim time.
const SPEED: f64 = 100.0;

/// Milliseconds of an RFC 3339 UTC timestamp (`2026-11-24T13:07:53.123Z`).
fn millis(ts: &str) -> Option<i64> {
    let (date, time) = ts.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, s) = (t.next()??, t.next()??, t.next()??);
    let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

fn is_poll(e: &JournalEntry) -> bool {
    let p = e.path.to_ascii_lowercase();
    e.method == "GET"
        && (p.contains("/operations/")
            || p.contains("/operationresults/")
            || p.contains("/replicationoperationstatus/"))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sc = scenario();
        let retry_after = sc.timings.compute_retry_after_secs.min(sc.timings.network_retry_after_secs) as i64 * 1000;
        sc.timings.vm_create_secs = 60.0;
        let sim = Sim::start(SimConfig { scenario: sc, clock_speed: SPEED, tls: true, ..SimConfig::default() })
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        sim.write_ca(&ca).unwrap();
        let (_, _, secret) = sim.credentials().unwrap();
        std::env::set_var("FAILBACK_DEMO_CLIENT_SECRET", secret);
        std::env::set_var("FAILBACK_DEMO_PS_PASSWORD", "Bench-Passw0rd-Unique!");
        std::env::set_var("FAILBACK_DEMO_CS_PASSPHRASE", "sim-passphrase-not-a-secret");
        let the_spec = spec::parse(&spec_text(&sim).unwrap(), "bench.toml").unwrap();
        let nets = the_spec.networks.len();
        let clock = Arc::new(ScaledClock::new(sim.now_ms() as u64, SPEED));
        let pool = Arc::new(AzurePool::new(clock.clone(), Some(ca)));
        let registry = dag::registry(pool, Cadence::default());
        let eng = Engine::new(StateStore::in_memory(), registry, clock, CrashPoints::none(), EngineConfig::default());
        sim.clear_journal();
        let started = std::time::Instant::now();
        eng.submit(dag::WORKFLOW, "bench", dag::run_input(&the_spec), BTreeMap::new()).await.unwrap();
        let run = eng.finished("bench").await.unwrap();
        assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
        let wall = started.elapsed();
        let journal: Vec<JournalEntry> = sim
            .journal()
            .into_iter()
            .filter(|e| e.path.starts_with("/subscriptions/") || e.path.starts_with("/Subscriptions/"))
            .collect();
        let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
        for e in &journal {
            *by_op.entry(e.operation.clone()).or_default() += 1;
        }
        println!("full two-network failback: {} ARM requests, {:.1} per network ({:.1}s wall at x{SPEED})", journal.len(), journal.len() as f64 / nets as f64, wall.as_secs_f64());
        for (op, n) in &by_op {
            println!("  {n:>4}  {op}");
        }
        // Consecutive polls of one operation, in the emulator's own (simulated) time.
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        let (mut gaps, mut early, mut min_gap) = (0, 0, i64::MAX);
        for e in journal.iter().filter(|e| is_poll(e)) {
            let key = e.path.split('?').next().unwrap_or("").to_owned();
            let Some(t) = millis(&e.sim_time) else { continue };
            if let Some(prev) = last.insert(key, t) {
                let gap = t - prev;
                gaps += 1;
                min_gap = min_gap.min(gap);
                // 250 ms of simulated slack = 2.5 ms of real clock skew at x100.
                if gap + 250 < retry_after {
                    early += 1;
                }
            }
        }
        println!(
            "operation polls: {} repeat polls, shortest gap {:.1}s of simulated time, Retry-After {}s, polls earlier than Retry-After: {early}",
            gaps,
            if min_gap == i64::MAX { 0.0 } else { min_gap as f64 / 1000.0 },
            retry_after / 1000
        );
        eng.shutdown(std::time::Duration::from_secs(5)).await;
        sim.shutdown().await;
    });
}
