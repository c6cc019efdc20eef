//! `/metrics` in the Prometheus text format (version 0.0.4): counters fed by the engine's
//! progress events, gauges read at scrape time, the store's group-commit statistics and the
//! ARM clients' request counters.

use super::limits::ListenerStats;
use failback_engine::{Engine, ProgressEvent};
use failback_state::{EventKind, Millis, RunFilter, RunState, StepStatus, WaitReason};
use failback_workflows::AzurePool;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast::error::RecvError;

/// Step duration buckets, seconds of the engine's clock (accelerated in rehearsals).
const BUCKETS: [f64; 10] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Default)]
struct Counters {
    events: BTreeMap<String, u64>,
    retries: u64,
    lagged: u64,
    /// Step executions in flight: (run, step) → start time.
    started: HashMap<(String, String), Millis>,
    /// Execution durations by outcome (succeeded, failed, waiting, retry).
    durations: BTreeMap<&'static str, Histogram>,
}

/// name, kind, help, value of one listener.
type ListenerFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ListenerStats) -> u64,
);

pub struct Metrics {
    counters: Mutex<Counters>,
    /// The API listeners' connection counters.
    listeners: Mutex<Vec<Arc<ListenerStats>>>,
    /// The Azure clients the engine's steps use, if known.
    pool: Option<Arc<AzurePool>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters are plain numbers: a poisoned lock still holds usable ones.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Steps of waiting runs whose wait is being polled (between polls or in one), and their
/// polls: a poll is not an attempt and appends no event, so these come from the step records.
fn render_polling(out: &mut String, engine: &Engine, waiting: &[String]) {
    let (mut steps, mut polls) = (0u64, 0u64);
    for id in waiting {
        match engine.store().load_steps(id) {
            Ok(records) => {
                for s in records.iter().filter(|s| {
                    s.polls > 0
                        && matches!(
                            s.status,
                            StepStatus::Running { .. }
                                | StepStatus::Waiting {
                                    reason: WaitReason::Timer,
                                    ..
                                }
                        )
                }) {
                    steps += 1;
                    polls += u64::from(s.polls);
                }
            }
            Err(e) => tracing::warn!(run = %id, error = %e, "metrics: loading steps"),
        }
    }
    gauge(
        out,
        "failback_steps_polling",
        "Steps of waiting runs polling their wait (polling (n) in status).",
        steps as f64,
    );
    gauge(
        out,
        "failback_step_polls",
        "Polls so far of those steps' current waits (not attempts).",
        polls as f64,
    );
}

fn event_name(kind: &EventKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.get("event").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

impl Metrics {
    /// Subscribe to the engine's progress now (before runs are resumed) and count from then on.
    pub fn start(engine: &Engine, pool: Option<Arc<AzurePool>>) -> Arc<Self> {
        let me = Arc::new(Self {
            counters: Mutex::new(Counters::default()),
            listeners: Mutex::new(Vec::new()),
            pool,
        });
        let mut rx = engine.subscribe();
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            loop {
                let ev = rx.recv().await;
                let Some(me) = weak.upgrade() else { return };
                match ev {
                    Ok(ev) => me.record(&ev),
                    Err(RecvError::Lagged(n)) => lock(&me.counters).lagged += n,
                    Err(RecvError::Closed) => return,
                }
            }
        });
        me
    }

    fn record(&self, ev: &ProgressEvent) {
        let mut c = lock(&self.counters);
        *c.events.entry(event_name(&ev.kind)).or_default() += 1;
        let Some(step) = &ev.step_id else { return };
        let key = (ev.run_id.clone(), step.clone());
        let outcome = match &ev.kind {
            EventKind::StepStarted { .. } | EventKind::StepCompensating { .. } => {
                c.started.insert(key, ev.at);
                return;
            }
            EventKind::StepSucceeded { .. } | EventKind::StepCompensated => "succeeded",
            EventKind::StepFailed { .. } => "failed",
            EventKind::StepWaiting { .. } => "waiting",
            EventKind::StepRetryScheduled { .. } => {
                c.retries += 1;
                "retry"
            }
            _ => return,
        };
        if let Some(t0) = c.started.remove(&key) {
            let secs = ev.at.saturating_sub(t0) as f64 / 1000.0;
            c.durations.entry(outcome).or_default().observe(secs);
        }
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
                let _ = writeln!(out, "{name}{{listener=\"{}\"}} {}", l.name, value(l));
            }
        }
    }

    pub fn render(&self, engine: &Engine) -> String {
        let mut out = String::new();
        let waiting = render_runs(&mut out, engine);
        render_polling(&mut out, engine, &waiting);
        render_health(&mut out, engine);
        self.render_listeners(&mut out);
        self.render_counters(&mut out);
        if let Some(pool) = &self.pool {
            render_arm(&mut out, &pool.stats());
        }
        if let Some(s) = engine.store().commit_stats() {
            render_checkpoints(&mut out, &s);
        }
        out
    }

    /// Events, retries and step durations counted from the progress stream.
    fn render_counters(&self, out: &mut String) {
        let c = lock(&self.counters);
        header(
            out,
            "failback_events_total",
            "counter",
            "Durable run and step events since the daemon started.",
        );
        for (kind, n) in &c.events {
            let _ = writeln!(out, "failback_events_total{{kind=\"{kind}\"}} {n}");
        }
        counter(
            out,
            "failback_step_retries_total",
            "Step retries scheduled.",
            c.retries,
        );
        counter(
            out,
            "failback_progress_events_lagged_total",
            "Progress events the metrics task missed (counts are then low).",
            c.lagged,
        );
        header(
            out,
            "failback_step_duration_seconds",
            "histogram",
            "Step execution time by outcome, on the engine clock.",
        );
        for (outcome, h) in &c.durations {
            let name = "failback_step_duration_seconds";
            for (b, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "{name}_bucket{{outcome=\"{outcome}\",le=\"{b}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{outcome=\"{outcome}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{outcome=\"{outcome}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{outcome=\"{outcome}\"}} {}", h.count);
        }
    }
}

/// Runs by state and the engine's driver and timer counts; returns the waiting runs' ids.
fn render_runs(out: &mut String, engine: &Engine) -> Vec<String> {
    let mut by_state: BTreeMap<&'static str, u64> =
        RunState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut waiting = Vec::new();
    match engine.store().run_summaries(&RunFilter::all()) {
        Ok(runs) => {
            for r in runs {
                *by_state.entry(r.state.as_str()).or_default() += 1;
                if r.state == RunState::Waiting {
                    waiting.push(r.id);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: listing runs"),
    }
    header(out, "failback_runs", "gauge", "Runs by state.");
    for (state, n) in &by_state {
        let _ = writeln!(out, "failback_runs{{state=\"{state}\"}} {n}");
    }
    gauge(
        out,
        "failback_active_runs",
        "Runs holding a driver task.",
        engine.active_runs() as f64,
    );
    gauge(
        out,
        "failback_scheduled_runs",
        "Runs parked on a timer.",
        engine.scheduled_runs() as f64,
    );
    waiting
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
        let _ = writeln!(out, "failback_engine_unhealthy{{cause=\"{cause}\"}} 1");
    }
}

/// The store's group-commit statistics.
fn render_checkpoints(out: &mut String, s: &failback_state::CommitStats) {
    counter(
        out,
        "failback_checkpoint_commits_total",
        "Checkpoint batches acknowledged durable.",
        s.commits,
    );
    counter(
        out,
        "failback_checkpoint_commit_failures_total",
        "Checkpoint batches that failed.",
        s.failed_commits,
    );
    counter(
        out,
        "failback_checkpoint_groups_total",
        "Group commits (one fdatasync each).",
        s.groups,
    );
    counter(
        out,
        "failback_checkpoint_ops_total",
        "Puts and deletes in acknowledged batches.",
        s.ops,
    );
    header(
        out,
        "failback_checkpoint_commit_latency_seconds",
        "summary",
        "Submit-to-durable time of checkpoint batches.",
    );
    let _ = writeln!(
        out,
        "failback_checkpoint_commit_latency_seconds_sum {}",
        s.total_commit_latency_us as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "failback_checkpoint_commit_latency_seconds_count {}",
        s.commits
    );
    gauge(
        out,
        "failback_checkpoint_last_commit_latency_seconds",
        "Submit-to-durable time of the last batch.",
        s.last_commit_latency_us as f64 / 1e6,
    );
    gauge(
        out,
        "failback_checkpoint_batch_size_mean",
        "Mean batches per group commit.",
        s.mean_group_size(),
    );
    gauge(
        out,
        "failback_checkpoint_batch_size_max",
        "Largest group commit so far, in batches.",
        s.max_group as f64,
    );
}

/// ARM client counters by subscription.
fn render_arm(out: &mut String, stats: &[(String, failback_steps::arm::ArmStatsSnapshot)]) {
    let name = "failback_arm_requests_total";
    header(
        out,
        name,
        "counter",
        "ARM requests by HTTP status (connection_error: no response), each in-call retry included.",
    );
    let stats: Vec<_> = stats.iter().map(|(sub, s)| (escape(sub), s)).collect();
    for (sub, s) in &stats {
        for (status, n) in &s.requests {
            let _ = writeln!(
                out,
                "{name}{{subscription=\"{sub}\",status=\"{status}\"}} {n}"
            );
        }
    }
    let name = "failback_arm_throttle_wait_seconds_total";
    header(
        out,
        name,
        "counter",
        "Time ARM requests waited for throttling: Retry-After in-call and the client-side rate limiter.",
    );
    for (sub, s) in &stats {
        let secs = s.throttle_wait().as_secs_f64();
        let _ = writeln!(out, "{name}{{subscription=\"{sub}\"}} {secs}");
    }
    let name = "failback_arm_retries_total";
    header(out, name, "counter", "In-call retries of ARM requests.");
    for (sub, s) in &stats {
        let _ = writeln!(out, "{name}{{subscription=\"{sub}\"}} {}", s.retries);
    }
}

/// A label value in the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {v}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {v}");
}
