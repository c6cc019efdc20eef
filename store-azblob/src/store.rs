//! [`AzBlobStore`]: the [`Store`] on Azure Blob Storage. Reads come from a replica in memory;
//! commits, leases and refreshes run on the store's own small tokio runtime, so the store works
//! the same from async code and from plain threads.

use crate::commit;
use crate::lease;
use crate::membership;
use crate::partition;
use crate::refresh::{refresh, refresh_one};
use crate::shared::{AzBlobOptions, Pending, Shared};
use failback_azblob::ContainerClient;
use failback_state::mem_store::{last_with_prefix_of, scan_prefix_of};
use failback_state::{
    block_on, check_fence_scope, Batch, CommitStats, CommitTicket, Entry, Fence, Membership, Store,
    StoreError, StoreFuture,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::sync::oneshot;

pub struct AzBlobStore {
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl AzBlobStore {
    /// Open the store in `client`'s container (created if missing) and read every blob.
    pub fn open(client: ContainerClient, opts: AzBlobOptions) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared::new(client, opts));
        lease::duration(&shared)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("failback-azblob")
            .enable_all()
            .build()?;
        let store = Self {
            shared: shared.clone(),
            rt: Some(rt),
        };
        let loaded = store.spawn(async move {
            let created = shared.client.create_container().await;
            created.map_err(|e| StoreError::Open {
                location: shared.location.clone(),
                message: e.to_string(),
            })?;
            membership::join(&shared).await?;
            refresh(&shared).await
        });
        block_on(loaded)?;
        store.start_refresher();
        Ok(store)
    }

    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.rt.as_ref().map(tokio::runtime::Runtime::handle)
    }

    /// Run `fut` on the store's runtime; the returned future can be awaited anywhere.
    fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> StoreFuture<T> {
        let Some(handle) = self.handle() else {
            return failback_state::ready(Err(StoreError::Closed));
        };
        let (tx, rx) = oneshot::channel();
        handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        Box::pin(async move { rx.await.unwrap_or(Err(StoreError::Closed)) })
    }

    fn start_refresher(&self) {
        let (Some(every), Some(handle)) = (self.shared.opts.refresh, self.handle()) else {
            return;
        };
        let shared = Arc::downgrade(&self.shared);
        handle.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if shared.closed.load(SeqCst) {
                    return;
                }
                if let Err(e) = refresh(&shared).await {
                    tracing::warn!(error = %e, "state store: refreshing from blob storage failed");
                }
            }
        });
    }

    /// Read every blob that changed since it was last read (and is not leased here) now.
    pub fn refresh_now(&self) -> Result<(), StoreError> {
        block_on(Store::refresh(self))
    }

    /// HTTP requests sent so far (benchmarks, tests).
    pub fn requests_sent(&self) -> u64 {
        self.shared.client.requests_sent()
    }

    fn replica(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        self.shared
            .replica
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Wait for every commit task to finish.
    fn drain(&self) {
        let mut parts = self.shared.parts();
        while parts.values().any(|p| p.writing || !p.queue.is_empty()) {
            parts = self
                .shared
                .idle
                .wait_timeout(parts, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for AzBlobStore {
    fn drop(&mut self) {
        let _ = self.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Store for AzBlobStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.replica().get(key).cloned())
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        Ok(scan_prefix_of(&self.replica(), prefix))
    }
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
        Ok(last_with_prefix_of(&self.replica(), prefix))
    }
    fn submit(&self, batch: Batch) -> CommitTicket {
        if let Err(e) = check_fence_scope(&batch) {
            return CommitTicket::ready(Err(e));
        }
        let name = match partition::of_batch(&batch) {
            Ok(name) => name,
            Err((first, second)) => {
                return CommitTicket::ready(Err(StoreError::SpansPartitions { first, second }))
            }
        };
        let Some(handle) = self.handle().filter(|_| !self.shared.closed.load(SeqCst)) else {
            return CommitTicket::ready(Err(StoreError::Closed));
        };
        let (ack, rx) = oneshot::channel();
        commit::enqueue(&self.shared, handle, name, Pending { batch, ack });
        CommitTicket::pending(rx)
    }
    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .replica()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    /// One batch per blob: atomic per run (and for the store's own records), not as a whole.
    fn import(&self, entries: Vec<Entry>) -> Result<(), StoreError> {
        let mut batches: BTreeMap<String, Batch> = BTreeMap::new();
        for (k, v) in entries {
            batches.entry(partition::of_key(&k)).or_default().put(k, v);
        }
        let tickets: Vec<_> = batches.into_values().map(|b| self.submit(b)).collect();
        tickets.into_iter().try_for_each(CommitTicket::wait)
    }
    fn acquire(&self, run: &str) -> StoreFuture<Fence> {
        let (shared, run) = (self.shared.clone(), run.to_owned());
        self.spawn(async move { lease::acquire(&shared, run).await })
    }
    fn renew(&self, fence: &Fence) -> StoreFuture<()> {
        let (shared, fence) = (self.shared.clone(), fence.clone());
        self.spawn(async move { lease::renew(&shared, fence).await })
    }
    fn release(&self, fence: &Fence) -> StoreFuture<()> {
        let (shared, fence) = (self.shared.clone(), fence.clone());
        self.spawn(async move { lease::release(&shared, fence).await })
    }
    fn refresh(&self) -> StoreFuture<()> {
        let shared = self.shared.clone();
        self.spawn(async move { refresh(&shared).await })
    }
    fn refresh_key(&self, key: &[u8]) -> StoreFuture<()> {
        let (shared, name) = (self.shared.clone(), partition::of_key(key));
        self.spawn(async move { refresh_one(&shared, &name).await })
    }
    fn lease(&self) -> Option<Duration> {
        Some(self.shared.opts.lease)
    }
    fn heartbeat(&self) -> StoreFuture<()> {
        let shared = self.shared.clone();
        self.spawn(async move { membership::heartbeat(&shared).await })
    }
    fn membership(&self) -> Option<Membership> {
        Some(membership::current(&self.shared))
    }
    fn location(&self) -> String {
        self.shared.location.clone()
    }
    fn commit_stats(&self) -> Option<CommitStats> {
        Some(self.shared.stats())
    }
    /// Finish queued commits, refuse new ones, and give up the leases held (another daemon
    /// may take the runs at once). Idempotent.
    fn close(&self) -> Result<(), StoreError> {
        if self.shared.closed.swap(true, SeqCst) {
            return Ok(());
        }
        self.drain();
        let held: Vec<Fence> = self
            .shared
            .parts()
            .iter()
            .filter_map(|(name, p)| {
                let run = name.strip_prefix(partition::RUN_PREFIX)?;
                p.lease.as_ref().map(|(token, _)| Fence {
                    run: run.to_owned(),
                    token: *token,
                })
            })
            .collect();
        for fence in held {
            if let Err(e) = block_on(self.release(&fence)) {
                tracing::warn!(run = %fence.run, error = %e, "state store: releasing a run's lease at close");
            }
        }
        let shared = self.shared.clone();
        if let Err(e) = block_on(self.spawn(async move { membership::leave(&shared).await })) {
            tracing::warn!(error = %e, "state store: leaving the membership at close");
        }
        Ok(())
    }
}
