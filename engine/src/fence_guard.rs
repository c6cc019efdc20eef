//! The fence, checked before every side effect. A step runs inside a scope that knows whether
//! this process still owns the step's run ([`failback_state::StateStore::may_act`]: its
//! lease renewed within the safe part of the lease time). Code that makes a side effect —
//! the ARM client, before every request that is not a read — asks [`may_act`] right before
//! sending, so a process that was frozen (SIGSTOP, a long GC-like pause, a partitioned host)
//! past its lease sends nothing when it wakes, even from the middle of a step.

use std::future::Future;
use std::sync::Arc;

/// Whether the current run may still act.
pub type Guard = Arc<dyn Fn() -> bool + Send + Sync>;

tokio::task_local! {
    static GUARD: Guard;
}

/// Whether the code running now may make a side effect: false once the run it works for is
/// no longer safely this process's. Outside a step (no scope) there is no run to lose: true.
pub fn may_act() -> bool {
    GUARD.try_with(|g| g()).unwrap_or(true)
}

/// Run `fut` (a step's execution) under `guard`.
pub async fn scope<F: Future>(guard: Guard, fut: F) -> F::Output {
    GUARD.scope(guard, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn the_scope_answers_inside_and_nothing_stops_outside() {
        let owned = Arc::new(AtomicBool::new(true));
        let o = owned.clone();
        let guard: Guard = Arc::new(move || o.load(Ordering::SeqCst));
        assert!(may_act());
        scope(guard, async {
            assert!(may_act());
            owned.store(false, Ordering::SeqCst);
            tokio::task::yield_now().await;
            assert!(!may_act());
        })
        .await;
        assert!(may_act());
    }
}
