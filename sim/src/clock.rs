//! Simulated clock: `sim_now = anchor_sim + real_elapsed * speed (+ manual advances)`.
//! Everything the sim does (LRO durations, boot, heartbeats, token expiry, Retry-After) is in sim time.

use parking_lot::Mutex;
use std::time::Instant;

/// Milliseconds since the Unix epoch, in simulated time.
pub type SimTime = i64;

#[derive(Debug)]
pub struct Clock {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    anchor_real: Instant,
    anchor_sim: SimTime,
    speed: f64,
}

impl Clock {
    pub fn new(start: SimTime, speed: f64) -> Self {
        Clock {
            inner: Mutex::new(Inner {
                anchor_real: Instant::now(),
                anchor_sim: start,
                speed: sanitize_speed(speed),
            }),
        }
    }

    pub fn now(&self) -> SimTime {
        let g = self.inner.lock();
        let real = g.anchor_real.elapsed().as_secs_f64() * 1000.0;
        g.anchor_sim + (real * g.speed) as i64
    }

    pub fn speed(&self) -> f64 {
        self.inner.lock().speed
    }

    /// Re-anchor so a speed change does not make time jump.
    pub fn set_speed(&self, speed: f64) {
        let now = self.now();
        let mut g = self.inner.lock();
        g.anchor_real = Instant::now();
        g.anchor_sim = now;
        g.speed = sanitize_speed(speed);
    }

    pub fn advance_ms(&self, ms: i64) {
        self.inner.lock().anchor_sim += ms.max(0);
    }

    /// Jump to an absolute sim time (used when reloading persisted state).
    pub fn set_now(&self, t: SimTime) {
        let mut g = self.inner.lock();
        g.anchor_real = Instant::now();
        g.anchor_sim = t;
    }

    /// Real duration that corresponds to `sim_ms` of simulated time at the current speed.
    pub fn real_duration(&self, sim_ms: i64) -> std::time::Duration {
        let speed = self.speed();
        std::time::Duration::from_secs_f64((sim_ms.max(0) as f64 / 1000.0) / speed)
    }
}

fn sanitize_speed(s: f64) -> f64 {
    if s.is_finite() && s > 0.0 {
        s
    } else {
        1.0
    }
}

pub fn real_now_ms() -> SimTime {
    chrono::Utc::now().timestamp_millis()
}

pub fn rfc3339(t: SimTime) -> String {
    match chrono::DateTime::from_timestamp_millis(t) {
        Some(d) => d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        None => "1970-01-01T00:00:00Z".to_string(),
    }
}

pub fn http_date(t: SimTime) -> String {
    match chrono::DateTime::from_timestamp_millis(t) {
        Some(d) => d.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        None => "Thu, 01 Jan 1970 00:00:00 GMT".to_string(),
    }
}

pub fn secs(s: f64) -> i64 {
    (s * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn advance_and_speed() {
        let c = Clock::new(1_000_000, 1.0);
        c.advance_ms(5_000);
        assert!(c.now() >= 1_005_000);
        c.set_speed(0.0); // invalid -> 1.0
        assert_eq!(c.speed(), 1.0);
        assert!(rfc3339(0).starts_with("1970-01-01T00:00:00"));
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
