//! Counters one ARM client keeps for metrics: requests by HTTP status (connection failures
//! apart), in-call retries, and time spent waiting because of throttling (Retry-After waits
//! in the client, and waits for a token from the client-side rate limiter). Requests are also
//! counted by operation and status class (see [`super::operation`]), with a bounded number of
//! operations: past [`MAX_OPERATIONS`] distinct names the rest count as `other`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The `status` label of requests that got no HTTP response.
pub const CONNECTION_ERROR: &str = "connection_error";

/// Most distinct operation names counted apart; the rest count under [`OTHER_OPERATION`].
pub const MAX_OPERATIONS: usize = 200;
/// The operation label past [`MAX_OPERATIONS`].
pub const OTHER_OPERATION: &str = "other";

/// (operation, code class) → requests.
pub type OperationCounts = BTreeMap<(String, String), u64>;

#[derive(Debug, Default)]
pub struct ArmStats {
    by_status: Mutex<BTreeMap<u16, u64>>,
    by_operation: Mutex<OperationCounts>,
    connection_errors: AtomicU64,
    retries: AtomicU64,
    retry_after_wait_ms: AtomicU64,
}

/// A point-in-time copy of [`ArmStats`] plus the rate limiter's waits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmStatsSnapshot {
    /// Requests by exact HTTP status code ("200", "429", …) or [`CONNECTION_ERROR`].
    pub requests: BTreeMap<String, u64>,
    /// Requests by (operation, code class): `("PUT virtualMachines", "2xx")`, code `error`
    /// when no response came.
    pub operations: OperationCounts,
    /// In-call retries (each re-send of a request).
    pub retries: u64,
    /// Time waited in-call because the server sent Retry-After.
    pub retry_after_wait: Duration,
    /// Time waited for a token from the client-side rate limiter.
    pub rate_limiter_wait: Duration,
}

impl ArmStatsSnapshot {
    /// Everything waited because of throttling, server- and client-side.
    pub fn throttle_wait(&self) -> Duration {
        self.retry_after_wait + self.rate_limiter_wait
    }

    /// Requests whose status starts with `class` ('2', '4', '5').
    pub fn requests_in_class(&self, class: char) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.len() == 3 && k.starts_with(class))
            .map(|(_, n)| n)
            .sum()
    }

    /// Add another client's counts (several clients may serve one subscription).
    pub fn merge(&mut self, other: &ArmStatsSnapshot) {
        for (k, n) in &other.requests {
            *self.requests.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.operations {
            *self.operations.entry(k.clone()).or_default() += n;
        }
        self.retries += other.retries;
        self.retry_after_wait += other.retry_after_wait;
        self.rate_limiter_wait += other.rate_limiter_wait;
    }
}

impl ArmStats {
    pub fn record_status(&self, status: u16) {
        let mut m = self.by_status.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(status).or_default() += 1;
    }

    /// One request of `operation` answered with `code` (a class from
    /// [`super::operation::code_class`], or [`super::operation::NO_RESPONSE`]).
    pub fn record_operation(&self, operation: &str, code: &str) {
        let mut m = self.by_operation.lock().unwrap_or_else(|e| e.into_inner());
        let known = m.keys().any(|(op, _)| op == operation);
        let distinct = || {
            m.keys()
                .map(|(op, _)| op)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        let op = if known || distinct() < MAX_OPERATIONS {
            operation
        } else {
            OTHER_OPERATION
        };
        *m.entry((op.to_owned(), code.to_owned())).or_default() += 1;
    }

    pub fn record_connection_error(&self) {
        self.connection_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_retry_after_wait(&self, wait: Duration) {
        self.retry_after_wait_ms
            .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
    }

    /// The counts so far; `rate_limiter_wait` is the limiter's [`waited`](super::RateLimiter::waited).
    pub fn snapshot(&self, rate_limiter_wait: Duration) -> ArmStatsSnapshot {
        let mut requests: BTreeMap<String, u64> = self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        let conn = self.connection_errors.load(Ordering::Relaxed);
        if conn > 0 {
            requests.insert(CONNECTION_ERROR.into(), conn);
        }
        let operations = self
            .by_operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ArmStatsSnapshot {
            requests,
            operations,
            retries: self.retries.load(Ordering::Relaxed),
            retry_after_wait: Duration::from_millis(
                self.retry_after_wait_ms.load(Ordering::Relaxed),
            ),
            rate_limiter_wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_statuses_waits_and_merges() {
        let s = ArmStats::default();
        s.record_status(200);
        s.record_status(200);
        s.record_status(429);
        s.record_operation("PUT virtualMachines", "2xx");
        s.record_operation("PUT virtualMachines", "2xx");
        s.record_operation("GET operationStatus", "429");
        s.record_connection_error();
        s.record_retry();
        s.record_retry_after_wait(Duration::from_secs(2));
        let mut snap = s.snapshot(Duration::from_millis(500));
        assert_eq!(snap.requests["200"], 2);
        assert_eq!(snap.requests["429"], 1);
        assert_eq!(snap.requests[CONNECTION_ERROR], 1);
        assert_eq!(snap.requests_in_class('2'), 2);
        assert_eq!(snap.requests_in_class('4'), 1);
        assert_eq!(snap.throttle_wait(), Duration::from_millis(2500));
        let other = snap.clone();
        snap.merge(&other);
        assert_eq!(snap.requests["200"], 4);
        assert_eq!(snap.retries, 2);
        let key = |op: &str, code: &str| (op.to_owned(), code.to_owned());
        assert_eq!(snap.operations[&key("PUT virtualMachines", "2xx")], 4);
        assert_eq!(snap.operations[&key("GET operationStatus", "429")], 2);
    }

    #[test]
    fn operations_past_the_bound_count_as_other() {
        let s = ArmStats::default();
        for i in 0..MAX_OPERATIONS + 5 {
            s.record_operation(&format!("GET t{i}"), "2xx");
        }
        s.record_operation("GET t0", "4xx");
        let snap = s.snapshot(Duration::ZERO);
        let ops: std::collections::BTreeSet<_> = snap.operations.keys().map(|(o, _)| o).collect();
        assert_eq!(ops.len(), MAX_OPERATIONS + 1);
        assert_eq!(
            snap.operations[&(OTHER_OPERATION.to_owned(), "2xx".to_owned())],
            5
        );
        assert_eq!(snap.operations[&("GET t0".to_owned(), "4xx".to_owned())], 1);
    }
}
