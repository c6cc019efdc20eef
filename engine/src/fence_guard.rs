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

/// A step's guard that stays shut once it has said no: a step refused one write makes no
/// later one (its run may have been taken over and given back meanwhile), and the driver
/// learns that the step's outcome is not its own to record.
pub struct Sticky {
    check: Box<dyn Fn() -> bool + Send + Sync>,
    refused: std::sync::atomic::AtomicBool,
}

impl Sticky {
    pub fn new(check: impl Fn() -> bool + Send + Sync + 'static) -> Arc<Sticky> {
        Arc::new(Sticky {
            check: Box::new(check),
            refused: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The guard to run the step under.
    pub fn guard(self: &Arc<Self>) -> Guard {
        let me = self.clone();
        Arc::new(move || {
            use std::sync::atomic::Ordering::SeqCst;
            if me.refused.load(SeqCst) {
                return false;
            }
            let ok = (me.check)();
            if !ok {
                me.refused.store(true, SeqCst);
            }
            ok
        })
    }

    /// Whether the guard has said no.
    pub fn refused(&self) -> bool {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
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

    #[tokio::test]
    async fn a_sticky_guard_stays_shut_once_it_said_no() {
        let owned = Arc::new(AtomicBool::new(true));
        let o = owned.clone();
        let sticky = Sticky::new(move || o.load(Ordering::SeqCst));
        scope(sticky.guard(), async {
            assert!(may_act());
            owned.store(false, Ordering::SeqCst);
            assert!(!may_act());
            owned.store(true, Ordering::SeqCst);
            assert!(!may_act(), "renewed meanwhile, still shut for this step");
        })
        .await;
        assert!(sticky.refused());
    }
}
