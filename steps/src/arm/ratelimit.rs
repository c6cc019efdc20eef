//! One client-side token bucket per subscription and operation kind, shared by every run,
//! so many runs together stay under ARM's limits instead of each learning them by 429.
//! The server's `x-ms-ratelimit-remaining-*` headers pull our budget down when it is lower.

use failback_engine::Clock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Read,
    Write,
    Delete,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    refill_per_s: f64,
    tokens: f64,
    at_ms: u64,
    /// No request of this kind before then: the server answered one with Retry-After.
    paused_until_ms: u64,
}

impl Bucket {
    fn new(capacity: f64, refill_per_s: f64, now: u64) -> Self {
        Self {
            capacity,
            refill_per_s,
            tokens: capacity,
            at_ms: now,
            paused_until_ms: 0,
        }
    }
    fn refill(&mut self, now: u64) {
        let dt = now.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + dt * self.refill_per_s).min(self.capacity);
        self.at_ms = now;
    }
}

/// Counts a request as held while it lives (also when its future is dropped mid-wait).
struct Held<'a>(&'a AtomicUsize);

impl<'a> Held<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Token buckets for one subscription (ARM's documented defaults: reads 250 +25/s, writes and
/// deletes 200 +10/s).
pub struct RateLimiter {
    clock: Arc<dyn Clock>,
    buckets: Mutex<[Bucket; 3]>,
    waited_ms: AtomicU64,
    /// Requests waiting in [`acquire`](Self::acquire) right now.
    held: AtomicUsize,
}

impl RateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Self {
            buckets: Mutex::new([
                Bucket::new(250.0, 25.0, now),
                Bucket::new(200.0, 10.0, now),
                Bucket::new(200.0, 10.0, now),
            ]),
            clock,
            waited_ms: Default::default(),
            held: Default::default(),
        }
    }

    fn idx(kind: OpKind) -> usize {
        match kind {
            OpKind::Read => 0,
            OpKind::Write => 1,
            OpKind::Delete => 2,
        }
    }

    /// Take one token, waiting (on the injected clock) until one is there and no Retry-After
    /// holds `kind`.
    pub async fn acquire(&self, kind: OpKind) {
        let mut held: Option<Held<'_>> = None;
        loop {
            let wait = {
                let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
                let bucket = &mut b[Self::idx(kind)];
                let now = self.clock.now();
                bucket.refill(now);
                if now < bucket.paused_until_ms {
                    Duration::from_millis(bucket.paused_until_ms - now)
                } else if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    return;
                } else {
                    let need = (1.0 - bucket.tokens) / bucket.refill_per_s;
                    Duration::from_secs_f64(need.max(0.001))
                }
            };
            held.get_or_insert_with(|| Held::new(&self.held));
            self.waited_ms
                .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
            self.clock.sleep(wait).await;
        }
    }

    /// The server answered a request of `kind` with Retry-After: ARM throttles per
    /// subscription and kind, so every request of that kind waits it out, not only the retry.
    pub fn pause(&self, kind: OpKind, wait: Duration) {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = &mut b[Self::idx(kind)];
        let until = self.clock.now() + wait.as_millis() as u64;
        bucket.paused_until_ms = bucket.paused_until_ms.max(until);
    }

    /// The server says this many requests of `kind` remain.
    pub fn observe_remaining(&self, kind: OpKind, remaining: u64) {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = &mut b[Self::idx(kind)];
        bucket.tokens = bucket.tokens.min(remaining as f64);
    }

    /// Requests held right now (waiting for a token or for a Retry-After to pass).
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Total time requests spent waiting for a token (for metrics).
    pub fn waited(&self) -> Duration {
        Duration::from_millis(self.waited_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use failback_engine::ManualClock;

    #[tokio::test]
    async fn a_retry_after_holds_every_request_of_its_kind() {
        let clock = ManualClock::new(1_000_000);
        let limiter = Arc::new(RateLimiter::new(Arc::new(clock.clone())));
        limiter.pause(OpKind::Read, Duration::from_secs(2));
        let (l, w) = (limiter.clone(), limiter.clone());
        let read = tokio::spawn(async move { l.acquire(OpKind::Read).await });
        // Writes are another bucket: not held.
        w.acquire(OpKind::Write).await;
        clock.advance(Duration::from_millis(1_999));
        tokio::task::yield_now().await;
        assert!(!read.is_finished(), "a read went out before Retry-After");
        clock.advance(Duration::from_millis(1));
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the read goes once Retry-After has passed")
            .expect("task");
    }
}
