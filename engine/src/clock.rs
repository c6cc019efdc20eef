//! Injectable time. Durable timers store absolute [`Millis`]; only the clock decides when
//! "now" reaches them, so tests can move ten days in a millisecond.

use failback_state::Millis;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
    /// Resolves once `now() >= at`.
    fn sleep_until(&self, at: Millis) -> BoxFuture<'static, ()>;
    /// Sleep for a span of this clock's time.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        self.sleep_until(self.now().saturating_add(d.as_millis() as u64))
    }
}

fn wall_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        wall_millis()
    }
    fn sleep_until(&self, at: Millis) -> BoxFuture<'static, ()> {
        let d = at.saturating_sub(wall_millis());
        Box::pin(tokio::time::sleep(Duration::from_millis(d)))
    }
}

/// Time that runs `speed` times faster than the wall clock from a fixed origin; used with
/// the emulator's accelerated clock in rehearsals and the demo.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    /// Monotonic and sub-millisecond: at x1000 one real millisecond is a simulated second,
    /// so wall-clock milliseconds would make Retry-After waits up to a second short.
    origin_real: std::time::Instant,
    origin_sim: Millis,
    speed: f64,
}

impl ScaledClock {
    /// `sim_origin`: the simulated time at this instant; `speed` > 0.
    pub fn new(sim_origin: Millis, speed: f64) -> Self {
        Self {
            origin_real: std::time::Instant::now(),
            origin_sim: sim_origin,
            speed: if speed > 0.0 { speed } else { 1.0 },
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Millis {
        let real_ms = self.origin_real.elapsed().as_secs_f64() * 1000.0;
        self.origin_sim + (real_ms * self.speed) as u64
    }
    fn sleep_until(&self, at: Millis) -> BoxFuture<'static, ()> {
        // One more simulated millisecond: `now()` truncates, so the wake is never early.
        let sim_ms = at.saturating_sub(self.now()) as f64 + 1.0;
        let real = Duration::from_secs_f64(sim_ms / self.speed / 1000.0);
        Box::pin(tokio::time::sleep(real))
    }
}

/// A clock that only moves when told to. Cloning shares the time.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now: AtomicU64,
    tick: tokio::sync::watch::Sender<Millis>,
}

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        let (tick, _) = tokio::sync::watch::channel(start);
        Self {
            inner: Arc::new(ManualInner {
                now: AtomicU64::new(start),
                tick,
            }),
        }
    }
    pub fn set(&self, at: Millis) {
        self.inner.now.store(at, Ordering::SeqCst);
        self.inner.tick.send_replace(at);
    }
    pub fn advance(&self, d: Duration) {
        self.set(self.now() + d.as_millis() as u64);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.inner.now.load(Ordering::SeqCst)
    }
    fn sleep_until(&self, at: Millis) -> BoxFuture<'static, ()> {
        let mut rx = self.inner.tick.subscribe();
        Box::pin(async move {
            // wait_for checks the current value first, so a tick before we subscribed
            // is not missed.
            let _ = rx.wait_for(|now| *now >= at).await;
        })
    }
}
