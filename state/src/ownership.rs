//! Which runs this process owns, through [`crate::StateStore`]: the fence of each (from
//! [`Store::acquire`]), attached to every commit of the run, and when it was last renewed.
//! A process may act for a run — issue a side effect — only while it holds the run's fence
//! and has renewed it within the safe part of the lease ([`Ownership::may_act`]): a daemon
//! that cannot renew stops issuing side effects before its lease can lapse, and storage
//! refuses its commits once another process took the run over.

use crate::store::{Fence, Store};
use crate::StoreError;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct Held {
    fence: Fence,
    /// When the last successful acquire or renew was *sent*: the lease runs from no earlier.
    renewed: Instant,
}

#[derive(Default)]
pub(crate) struct Ownership {
    held: Mutex<HashMap<String, Held>>,
}

/// What a renewal round found.
#[derive(Debug, Default)]
pub struct Renewed {
    /// Runs whose fence is gone (superseded, lapsed and taken over): stop driving them.
    pub lost: Vec<String>,
    /// Runs whose renewal failed for now (storage unreachable, throttled): retried next round.
    pub failed: Vec<(String, StoreError)>,
}

impl Ownership {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        // Single inserts, removes and field updates: a poisoned map is still consistent.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hold `run`'s fence: kept as it is while it is current (renewed within the safe part of
    /// the lease), acquired otherwise. Acquiring a fence this process holds would change it
    /// under the lease keeper, whose renewal of the older one would then say the run was lost.
    pub async fn own(&self, store: &dyn Store, run: &str) -> Result<(), StoreError> {
        if self.may_act(run, store.lease()) {
            return Ok(());
        }
        let sent = Instant::now();
        let fence = store.acquire(run).await?;
        self.lock().insert(
            run.to_owned(),
            Held {
                fence,
                renewed: sent,
            },
        );
        Ok(())
    }

    pub fn fence(&self, run: &str) -> Option<Fence> {
        self.lock().get(run).map(|h| h.fence.clone())
    }

    /// May this process issue a side effect for `run` now? It holds the fence and, on a
    /// backend whose fences lapse, renewed it less than two thirds of the lease ago.
    pub fn may_act(&self, run: &str, lease: Option<Duration>) -> bool {
        match (self.lock().get(run), lease) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(h), Some(lease)) => h.renewed.elapsed() < lease * 2 / 3,
        }
    }

    /// Give `run` up (its run ended, or the process stops driving it).
    pub async fn disown(&self, store: &dyn Store, run: &str) -> Result<(), StoreError> {
        let Some(held) = self.lock().remove(run) else {
            return Ok(());
        };
        store.release(&held.fence).await
    }

    /// Forget `run` without telling the store (its fence is already gone).
    pub fn forget(&self, run: &str) {
        self.lock().remove(run);
    }

    /// Renew every fence held.
    pub async fn renew_all(&self, store: &dyn Store) -> Renewed {
        let fences: Vec<Fence> = self.lock().values().map(|h| h.fence.clone()).collect();
        let mut out = Renewed::default();
        for fence in fences {
            let sent = Instant::now();
            match store.renew(&fence).await {
                Ok(()) => {
                    if let Some(h) = self.lock().get_mut(&fence.run) {
                        if h.fence == fence {
                            h.renewed = sent;
                        }
                    }
                }
                Err(StoreError::Fenced { .. }) => {
                    // Only this fence: a newer one of the run (acquired meanwhile) stands.
                    let mut held = self.lock();
                    if held.get(&fence.run).is_some_and(|h| h.fence == fence) {
                        held.remove(&fence.run);
                        drop(held);
                        out.lost.push(fence.run);
                    }
                }
                Err(e) => out.failed.push((fence.run, e)),
            }
        }
        out
    }

    pub fn owned(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}
