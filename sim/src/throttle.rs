//! ARM-style token buckets per principal and operation type (reads / writes / deletes), refilled
//! in sim time, plus Compute's HighCostGet bucket for instanceView.

use crate::clock::SimTime;
use crate::scenario::ThrottleConfig;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Reads,
    Writes,
    Deletes,
    ComputeHighCostGet,
}

impl Kind {
    pub fn for_method(m: &str) -> Kind {
        match m {
            "GET" | "HEAD" => Kind::Reads,
            "DELETE" => Kind::Deletes,
            _ => Kind::Writes,
        }
    }
    pub fn header(self) -> &'static str {
        match self {
            Kind::Reads => "x-ms-ratelimit-remaining-subscription-reads",
            Kind::Writes => "x-ms-ratelimit-remaining-subscription-writes",
            Kind::Deletes => "x-ms-ratelimit-remaining-subscription-deletes",
            Kind::ComputeHighCostGet => "x-ms-ratelimit-remaining-resource",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: SimTime,
}

#[derive(Debug, Default)]
pub struct Throttle {
    buckets: HashMap<(String, Kind), Bucket>,
}

pub enum Verdict {
    Allowed { remaining: u64 },
    Throttled { retry_after_secs: u64 },
}

fn params(cfg: &ThrottleConfig, k: Kind) -> (f64, f64) {
    match k {
        Kind::Reads => (cfg.reads_capacity, cfg.reads_per_sec),
        Kind::Writes => (cfg.writes_capacity, cfg.writes_per_sec),
        Kind::Deletes => (cfg.deletes_capacity, cfg.deletes_per_sec),
        Kind::ComputeHighCostGet => (
            cfg.compute_high_cost_get_per_3min,
            cfg.compute_high_cost_get_per_3min / 180.0,
        ),
    }
}

impl Throttle {
    pub fn take(
        &mut self,
        cfg: &ThrottleConfig,
        principal: &str,
        kind: Kind,
        now: SimTime,
    ) -> Verdict {
        let (cap, rate) = params(cfg, kind);
        let b = self
            .buckets
            .entry((principal.to_string(), kind))
            .or_insert(Bucket {
                tokens: cap,
                last: now,
            });
        let dt = ((now - b.last).max(0) as f64) / 1000.0;
        b.tokens = (b.tokens + dt * rate).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Verdict::Allowed {
                remaining: b.tokens.floor() as u64,
            }
        } else {
            let need = 1.0 - b.tokens;
            let secs = if rate > 0.0 {
                (need / rate).ceil() as u64
            } else {
                60
            };
            Verdict::Throttled {
                retry_after_secs: secs.max(1),
            }
        }
    }

    pub fn reset(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn counts_down_then_throttles_then_refills() {
        let cfg = ThrottleConfig {
            reads_capacity: 3.0,
            reads_per_sec: 1.0,
            ..Default::default()
        };
        let mut t = Throttle::default();
        let mut rem = vec![];
        for _ in 0..3 {
            if let Verdict::Allowed { remaining } = t.take(&cfg, "p", Kind::Reads, 0) {
                rem.push(remaining);
            }
        }
        assert_eq!(rem, vec![2, 1, 0]);
        assert!(matches!(
            t.take(&cfg, "p", Kind::Reads, 0),
            Verdict::Throttled {
                retry_after_secs: 1
            }
        ));
        assert!(matches!(
            t.take(&cfg, "p", Kind::Reads, 1000),
            Verdict::Allowed { .. }
        ));
    }
}
