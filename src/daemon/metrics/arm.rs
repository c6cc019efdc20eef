//! ARM client counters by subscription: requests by operation and status class, throttles,
//! in-call retries, time waited for throttling.

use super::text::{header, labels, sample};
use failback_steps::arm::ArmStatsSnapshot;

/// name, help, value of one per-subscription counter.
type Family = (&'static str, &'static str, fn(&ArmStatsSnapshot) -> f64);

pub fn render(out: &mut String, stats: &[(String, ArmStatsSnapshot)]) {
    let name = "failback_arm_requests_total";
    header(
        out,
        name,
        "counter",
        "ARM requests (each in-call retry included) by subscription, operation (method and \
         resource type, or operationStatus for LRO polls) and code (2xx, 4xx, 429, 5xx; error: \
         no response).",
    );
    for (sub, s) in stats {
        for ((op, code), n) in &s.operations {
            let l = labels(&[("subscription", sub), ("operation", op), ("code", code)]);
            sample(out, name, &l, *n as f64);
        }
    }
    let families: [Family; 3] = [
        (
            "failback_arm_throttled_total",
            "ARM requests answered 429 (throttled), by subscription.",
            |s| s.requests.get("429").copied().unwrap_or(0) as f64,
        ),
        (
            "failback_arm_retries_total",
            "In-call retries of ARM requests, by subscription.",
            |s| s.retries as f64,
        ),
        (
            "failback_arm_throttle_wait_seconds_total",
            "Time ARM requests waited for throttling (Retry-After in-call and the client-side \
             rate limiter), by subscription.",
            |s| s.throttle_wait().as_secs_f64(),
        ),
    ];
    for (name, help, value) in families {
        header(out, name, "counter", help);
        for (sub, s) in stats {
            sample(out, name, &labels(&[("subscription", sub)]), value(s));
        }
    }
}
