//! Taking over runs on a store shared by several daemons. Every third of the lease, the
//! daemon re-reads what the others wrote and gives every unfinished run it does not drive a
//! driver. A driver's first act is to take the run's fence (its blob's lease): while another
//! live daemon holds it, storage refuses and the driver exits at once; once that daemon is
//! gone and its lease has run out, this daemon gets it and goes on from the run's last commit.
//! A run is so taken over within the lease plus one scan.

use failback_engine::Engine;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often to scan for a store whose fences last `lease`.
pub fn interval(lease: Duration) -> Duration {
    lease / 3
}

/// Scan until `stop`. A failed read is retried at the next scan; the lease keeper (in the
/// engine) stops the daemon when storage stays out of reach for a whole lease.
pub async fn scan(engine: Engine, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = engine.store().refresh().await {
            tracing::warn!(error = %e, "reading the shared store for runs to take over failed");
            continue;
        }
        match engine.resume_all() {
            Ok(report) => tracing::debug!(
                started = report.started,
                scheduled = report.scheduled,
                "scanned the shared store for runs to take over"
            ),
            Err(e) => tracing::warn!(error = %e, "scanning for runs to take over failed"),
        }
    }
}
