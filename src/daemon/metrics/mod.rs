//! `/metrics` in the Prometheus text format (version 0.0.4): counters fed by the engine's
//! progress and poll streams ([`steps`]), gauges read from the store at scrape time
//! ([`runs`]), the engine's health, the API listeners, the ARM clients ([`arm`]), the store's
//! group commits ([`checkpoints`]), the build and the process ([`process`]).

mod arm;
mod checkpoints;
mod process;
mod runs;
mod steps;
mod text;

use super::limits::ListenerStats;
use failback_engine::Engine;
use failback_workflows::AzurePool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use steps::StepCounters;
use text::{gauge, header, labels, sample};
use tokio::sync::broadcast::error::RecvError;

/// name, kind, help, value of one listener.
type ListenerFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ListenerStats) -> u64,
);

pub struct Metrics {
    counters: Mutex<StepCounters>,
    /// The API listeners' connection counters.
    listeners: Mutex<Vec<Arc<ListenerStats>>>,
    /// The Azure clients the engine's steps use, if known.
    pool: Option<Arc<AzurePool>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters are plain numbers: a poisoned lock still holds usable ones.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the metrics task received.
enum Received {
    Progress(Result<failback_engine::ProgressEvent, RecvError>),
    Poll(Result<failback_engine::PollEvent, RecvError>),
}

impl Metrics {
    /// Subscribe to the engine's progress and polls now (before runs are resumed) and count
    /// from then on.
    pub fn start(engine: &Engine, pool: Option<Arc<AzurePool>>) -> Arc<Self> {
        let me = Arc::new(Self {
            counters: Mutex::new(StepCounters::default()),
            listeners: Mutex::new(Vec::new()),
            pool,
        });
        let mut progress = engine.subscribe();
        let mut polls = engine.subscribe_polls();
        let store = engine.store().clone();
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            loop {
                let got = tokio::select! {
                    ev = progress.recv() => Received::Progress(ev),
                    ev = polls.recv() => Received::Poll(ev),
                };
                let Some(me) = weak.upgrade() else { return };
                let mut c = lock(&me.counters);
                match got {
                    Received::Progress(Ok(ev)) => c.record(&store, &ev),
                    Received::Poll(Ok(ev)) => c.record_poll(&ev),
                    Received::Progress(Err(RecvError::Lagged(n)))
                    | Received::Poll(Err(RecvError::Lagged(n))) => c.lagged += n,
                    Received::Progress(Err(RecvError::Closed))
                    | Received::Poll(Err(RecvError::Closed)) => return,
                }
            }
        });
        me
    }

    pub fn add_listener(&self, stats: Arc<ListenerStats>) {
        lock(&self.listeners).push(stats);
    }

    fn render_listeners(&self, out: &mut String) {
        let listeners = lock(&self.listeners);
        let families: [ListenerFamily; 4] = [
            ("failback_api_connections", "gauge", "API connections open, by listener.", |l| l.open() as u64),
            ("failback_api_connection_limit", "gauge", "Most API connections a listener holds at once (the rest wait in the kernel's backlog).", |l| l.limit as u64),
            ("failback_api_connections_accepted_total", "counter", "API connections accepted, by listener.", |l| l.accepted.load(Relaxed)),
            ("failback_api_accept_errors_total", "counter", "Failed accepts (EMFILE, ...), by listener; each is followed by a backoff.", |l| l.accept_errors.load(Relaxed)),
        ];
        for (name, kind, help, value) in families {
            header(out, name, kind, help);
            for l in listeners.iter() {
                sample(out, name, &labels(&[("listener", l.name)]), value(l) as f64);
            }
        }
    }

    pub fn render(&self, engine: &Engine) -> String {
        let mut out = String::new();
        process::render_build_info(&mut out);
        runs::render(&mut out, engine);
        render_health(&mut out, engine);
        self.render_listeners(&mut out);
        lock(&self.counters).render(&mut out);
        if let Some(pool) = &self.pool {
            arm::render(&mut out, &pool.stats());
        }
        if let Some(s) = engine.store().commit_stats() {
            checkpoints::render(&mut out, &s);
        }
        process::render_process(&mut out);
        out
    }
}

/// The engine's health, as /v1/health tells it.
fn render_health(out: &mut String, engine: &Engine) {
    let health = engine.health();
    gauge(
        out,
        "failback_engine_healthy",
        "1 while the engine drives runs; 0 after a failed store write, a dead driver or timer task, or a stalled scheduler (see /v1/health).",
        if health.healthy { 1.0 } else { 0.0 },
    );
    header(
        out,
        "failback_engine_unhealthy",
        "gauge",
        "1 with the cause while failback_engine_healthy is 0.",
    );
    if let Some(cause) = health.cause {
        sample(
            out,
            "failback_engine_unhealthy",
            &labels(&[("cause", cause)]),
            1.0,
        );
    }
}
