//! At most one request per (method, URL) in flight from one client.
//!
//! A request already on the wire cannot be held back by a Retry-After that another request
//! receives meanwhile. Two concurrent reads of one resource (the `register` branches of every
//! network read the same Site Recovery fabric) would otherwise let the second reach ARM after
//! the first was answered 429 — inside the Retry-After that ARM had just asked for. With one
//! request per resource in flight, the next one is sent only after the previous answer is in,
//! so the rate limiter's pause (set as that answer arrives) holds it.
//!
//! Requests wait in turn; they are not merged, so each caller's read starts after its call did
//! (a read never returns what the resource was before the caller's own earlier write).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Slot = Arc<AsyncMutex<()>>;

/// The (method, URL) keys with a request in flight.
#[derive(Default)]
pub struct InFlight {
    slots: Mutex<HashMap<String, Slot>>,
}

/// Held while a request is in flight; dropping it lets the next request for the same key go.
pub struct InFlightGuard<'a> {
    owner: &'a InFlight,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl InFlight {
    /// Wait until no other request for `key` is in flight, then hold it.
    pub async fn enter(&self, key: String) -> InFlightGuard<'_> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key.clone()).or_default().clone()
        };
        let guard = slot.lock_owned().await;
        InFlightGuard {
            owner: self,
            key,
            guard: Some(guard),
        }
    }

    /// Keys with a request in flight or waiting (for tests and metrics).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut slots = self.owner.slots.lock().unwrap_or_else(|e| e.into_inner());
        self.guard.take();
        // Nobody else holds or waits for the slot: forget the key, so the map holds only what
        // is in flight (a daemon with thousands of runs touches many URLs).
        if slots
            .get(&self.key)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_request_for_the_same_key_waits_for_the_first() {
        let inflight = Arc::new(InFlight::default());
        let first = inflight.enter("GET /a".into()).await;
        let other_key = inflight.enter("GET /b".into()).await;
        let (i, (tx, rx)) = (inflight.clone(), tokio::sync::oneshot::channel::<()>());
        let second = tokio::spawn(async move {
            let _g = i.enter("GET /a".into()).await;
            let _ = tx.send(());
        });
        tokio::task::yield_now().await;
        assert!(
            !second.is_finished(),
            "went out while the first was in flight"
        );
        drop(other_key);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("the second goes once the first is back")
            .expect("sender");
        second.await.expect("task");
        assert!(
            inflight.is_empty(),
            "keys are forgotten once nothing is in flight"
        );
    }
}
