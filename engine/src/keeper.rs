//! Keeping the runs this process owns on a store whose fences lapse (Azure Blob Storage):
//! every third of the lease, each owned run's fence is renewed. A run whose fence is gone was
//! taken over: it is forgotten, and its driver stops at its next launch or commit (a launch
//! checks the fence first, a commit is refused by storage). When renewals keep failing for a
//! whole lease (storage unreachable), every run has lapsed and this process can drive nothing:
//! it says so and stops (crash-only), so that a service manager restarts it.

use crate::health::Fatal;
use crate::shared::Inner;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) async fn keep(inner: Arc<Inner>, lease: Duration) {
    let every = lease / 3;
    // Since when renewals have failed without a success between. Counted from the first
    // failure, not the last success: a process that was frozen (its pooled connections closed
    // meanwhile) retries before it gives up. Its side effects do not wait for this: they stop
    // once a run's renewal is older than two thirds of the lease (`may_act`).
    let mut failing_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        // Membership first: it then lapses no later than any fence renewed after it, so
        // another daemon never counts this one live while its runs are free to take.
        if let Err(e) = inner.store.heartbeat().await {
            tracing::warn!(error = %e, "renewing this daemon's membership of the shared store failed; retrying");
        }
        let renewed = inner.store.renew_owned().await;
        for run in &renewed.lost {
            tracing::warn!(run_id = %run, "another process owns the run now; stopped driving it");
        }
        let Some((run, e)) = renewed.failed.first() else {
            failing_since = None;
            continue;
        };
        let since = *failing_since.get_or_insert_with(Instant::now);
        tracing::warn!(run_id = %run, error = %e, failed = renewed.failed.len(),
            "renewing run leases failed; retrying");
        if since.elapsed() >= lease {
            inner.health.set_fatal(Fatal::LeasesLapsed(format!(
                "renewing run leases failed for {}s ({e})",
                since.elapsed().as_secs()
            )));
            inner.shutdown.cancel();
            return;
        }
    }
}
