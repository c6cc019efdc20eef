//! In-memory [`Store`] for tests of the layers above: same semantics, no durability.

use crate::fences::LocalFences;
use crate::store::{
    check_batch, ready, Batch, BatchOp, CommitTicket, Entry, Fence, Store, StoreFuture,
};
use crate::StoreError;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Who owns which run ([`Store::acquire`]).
    fences: LocalFences,
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

/// [`Store::scan_prefix`] over a map (backends that keep their keys in memory).
pub fn scan_prefix_of(map: &BTreeMap<Vec<u8>, Vec<u8>>, prefix: &[u8]) -> Vec<Entry> {
    map.range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// [`Store::last_with_prefix`] over a map.
pub fn last_with_prefix_of(map: &BTreeMap<Vec<u8>, Vec<u8>>, prefix: &[u8]) -> Option<Entry> {
    map.range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .last()
        .map(|(k, v)| (k.clone(), v.clone()))
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        Ok(scan_prefix_of(&self.lock(), prefix))
    }
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
        Ok(last_with_prefix_of(&self.lock(), prefix))
    }
    fn submit(&self, batch: Batch) -> CommitTicket {
        let mut map = self.lock();
        let fences = self.fences.lock(":memory:");
        if let Err(e) = check_batch(&batch, &|f| fences.check(f), &mut |k| {
            Ok(map.contains_key(k))
        }) {
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
    fn acquire(&self, run: &str) -> StoreFuture<Fence> {
        ready(Ok(self.fences.lock(":memory:").acquire(run)))
    }
    fn renew(&self, fence: &Fence) -> StoreFuture<()> {
        ready(self.fences.lock(":memory:").check(fence))
    }
    fn release(&self, fence: &Fence) -> StoreFuture<()> {
        ready(self.fences.lock(":memory:").release(fence))
    }
    fn location(&self) -> String {
        ":memory:".into()
    }
}
