//! In-memory [`Store`] for tests of the layers above: same semantics, no durability.

use crate::store::{check_batch, Batch, BatchOp, CommitTicket, Entry, Fence, Store};
use crate::StoreError;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// The current fence; [`Store::acquire`] moves it on.
    fence: std::sync::atomic::AtomicU64,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A panic while holding this lock cannot leave the map half-written (writes are
        // single inserts), so a poisoned lock is still consistent.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .lock()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
        Ok(self
            .lock()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .last()
            .map(|(k, v)| (k.clone(), v.clone())))
    }
    fn submit(&self, batch: Batch) -> CommitTicket {
        let mut map = self.lock();
        let current = Fence(self.fence.load(std::sync::atomic::Ordering::SeqCst));
        if let Err(e) = check_batch(
            &batch,
            current,
            ":memory:",
            &mut |k| Ok(map.contains_key(k)),
        ) {
            return CommitTicket::ready(Err(e));
        }
        for op in batch.ops {
            match op {
                BatchOp::Put(k, v) => {
                    map.insert(k, v);
                }
                BatchOp::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        CommitTicket::ready(Ok(()))
    }
    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn acquire(&self) -> Result<Fence, StoreError> {
        // Under the map's lock, so no batch is between its check and its writes.
        let _map = self.lock();
        let next = self.fence.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Ok(Fence(next))
    }
    fn location(&self) -> String {
        ":memory:".into()
    }
}
