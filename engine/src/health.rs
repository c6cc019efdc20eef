//! Whether the engine is driving. A dead driver or timer task, a store that can no longer be
//! written, or a scheduler that stopped running tasks makes it unhealthy; the daemon's
//! `/v1/health` and `failback_engine_healthy` say so, and a fatal cause makes the process
//! exit (crash-only: a restart recovers from what is durable).

use failback_state::WriteFailure;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the scheduler probe ticks, and how late it may be before the scheduler counts as
/// stalled (generous: a loaded 2-core machine delays tasks by far less).
const PROBE_EVERY: Duration = Duration::from_secs(1);
const STALLED_AFTER: Duration = Duration::from_secs(15);

/// Why the engine stopped driving. Every cause is fatal: the process must exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fatal {
    /// A commit failed; nothing more can be checkpointed.
    Store(WriteFailure),
    /// A run's driver task died (panicked) with the run unfinished.
    DriverDied { run_id: String, why: String },
    /// The timer task that wakes waiting runs died.
    TimerDied(String),
    /// No run lease could be renewed for a whole lease (a shared store out of reach): every
    /// owned run may be another daemon's by now.
    LeasesLapsed(String),
}

impl Fatal {
    /// A short machine-readable name (metrics label, health JSON).
    pub fn kind(&self) -> &'static str {
        match self {
            Fatal::Store(_) => "store_write_failed",
            Fatal::DriverDied { .. } => "driver_died",
            Fatal::TimerDied(_) => "timer_died",
            Fatal::LeasesLapsed(_) => "leases_lapsed",
        }
    }
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Store(w) => write!(f, "{w}"),
            Fatal::DriverDied { run_id, why } => write!(
                f,
                "the driver of run {run_id} died ({why}); restart to resume it"
            ),
            Fatal::TimerDied(why) => write!(
                f,
                "the timer task that wakes waiting runs died ({why}); restart to resume"
            ),
            Fatal::LeasesLapsed(why) => write!(
                f,
                "the state store cannot be reached to keep this daemon's runs ({why}); other \
                 daemons take them over; restart once the store is reachable"
            ),
        }
    }
}

/// A point-in-time answer for health checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub healthy: bool,
    /// Machine-readable cause when unhealthy (`store_write_failed`, `scheduler_stalled`, …).
    pub cause: Option<&'static str>,
    /// The whole message when unhealthy.
    pub message: Option<String>,
}

#[derive(Clone)]
pub(crate) struct Health {
    fatal: Arc<watch::Sender<Option<Fatal>>>,
    started: Instant,
    /// Milliseconds after `started` of the probe's last tick.
    last_tick_ms: Arc<AtomicU64>,
    stalled_after: Duration,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            fatal: Arc::new(watch::channel(None).0),
            started: Instant::now(),
            last_tick_ms: Arc::new(AtomicU64::new(0)),
            stalled_after: STALLED_AFTER,
        }
    }

    /// Record `cause` (the first one wins) and log it once.
    pub(crate) fn set_fatal(&self, cause: Fatal) {
        let first = self.fatal.send_if_modified(|slot| {
            let first = slot.is_none();
            if first {
                *slot = Some(cause.clone());
            }
            first
        });
        if first {
            // Info: the process reports it at its edge (apply's error line, the daemon's exit
            // message); this is the structured copy for JSON logs.
            tracing::info!(cause = cause.kind(), "engine stopped driving: {cause}");
        }
    }

    pub(crate) fn fatal(&self) -> Option<Fatal> {
        self.fatal.borrow().clone()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Option<Fatal>> {
        self.fatal.subscribe()
    }

    /// Start the probe task: it ticks on the runtime, so ticks stop when the scheduler does.
    pub(crate) fn start_probe(&self, stop: CancellationToken) {
        let (started, last) = (self.started, self.last_tick_ms.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(PROBE_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => last.store(started.elapsed().as_millis() as u64, Relaxed),
                }
            }
        });
    }

    /// How long since the probe last ran.
    fn probe_lag(&self) -> Duration {
        let now = self.started.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_tick_ms.load(Relaxed)))
    }

    pub(crate) fn report(&self) -> HealthReport {
        if let Some(f) = self.fatal() {
            return HealthReport {
                healthy: false,
                cause: Some(f.kind()),
                message: Some(f.to_string()),
            };
        }
        let lag = self.probe_lag();
        if lag > self.stalled_after {
            return HealthReport {
                healthy: false,
                cause: Some("scheduler_stalled"),
                message: Some(format!(
                    "the engine's scheduler has not run its probe task for {} s",
                    lag.as_secs()
                )),
            };
        }
        HealthReport {
            healthy: true,
            cause: None,
            message: None,
        }
    }
}

/// Spawn `task`, and record `cause` and cancel `stop` (every driver stops) if it panics or
/// is aborted. The returned handle ends when the task does.
pub(crate) fn spawn_watched<F, C>(
    task: F,
    health: Health,
    stop: CancellationToken,
    cause: C,
) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
    C: FnOnce(String) -> Fatal + Send + 'static,
{
    let inner = tokio::spawn(task);
    tokio::spawn(async move {
        if let Err(e) = inner.await {
            let why = if e.is_panic() {
                "it panicked".to_owned()
            } else {
                "it was cancelled".to_owned()
            };
            health.set_fatal(cause(why));
            stop.cancel();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_fatal_and_stops_the_engine() {
        let health = Health::new();
        let stop = CancellationToken::new();
        let watcher = spawn_watched(
            async { panic!("driver bug") },
            health.clone(),
            stop.clone(),
            |why| Fatal::DriverDied {
                run_id: "r1".into(),
                why,
            },
        );
        watcher.await.unwrap();
        assert!(stop.is_cancelled());
        let report = health.report();
        assert!(!report.healthy);
        assert_eq!(report.cause, Some("driver_died"));
        assert!(report
            .message
            .unwrap()
            .contains("run r1 died (it panicked)"));
        // A task that ends normally is not.
        let fine = Health::new();
        spawn_watched(async {}, fine.clone(), stop.clone(), Fatal::TimerDied)
            .await
            .unwrap();
        assert!(fine.fatal().is_none());
    }

    #[tokio::test]
    async fn a_probe_that_stops_ticking_is_a_stalled_scheduler() {
        let mut health = Health::new();
        health.stalled_after = Duration::from_millis(50);
        let stop = CancellationToken::new();
        health.start_probe(stop.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(health.report().healthy, "ticking: {:?}", health.report());
        // No more ticks: the runtime no longer runs the probe.
        stop.cancel();
        let deadline = Instant::now() + Duration::from_secs(10);
        while health.report().healthy {
            assert!(Instant::now() < deadline, "never reported stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(health.report().cause, Some("scheduler_stalled"));
        assert!(health.fatal().is_none(), "a stall is not fatal by itself");
    }
}
