//! Ownership of runs in a store that one process holds (sled, whose directory lock already
//! keeps other processes out; the in-memory store): a table of the current fence token per
//! run. A new `acquire` of a run supersedes the fences handed out for it before, and a
//! released run's fences are refused until it is acquired again. A shared backend keeps its
//! fences in the storage service instead (leases), so that storage refuses a stale writer.

use crate::store::Fence;
use crate::StoreError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Default)]
pub(crate) struct LocalFences {
    current: Mutex<HashMap<String, u64>>,
    next: AtomicU64,
}

/// The fence table, locked (briefly: never across a disk sync).
pub(crate) struct FenceTable<'a> {
    current: MutexGuard<'a, HashMap<String, u64>>,
    next: &'a AtomicU64,
    location: &'a str,
}

impl LocalFences {
    pub fn lock<'a>(&'a self, location: &'a str) -> FenceTable<'a> {
        FenceTable {
            // Single inserts and removes: a poisoned map is still consistent.
            current: self.current.lock().unwrap_or_else(PoisonError::into_inner),
            next: &self.next,
            location,
        }
    }
}

impl FenceTable<'_> {
    pub fn acquire(&mut self, run: &str) -> Fence {
        let token = self.next.fetch_add(1, SeqCst) + 1;
        self.current.insert(run.to_owned(), token);
        Fence {
            run: run.to_owned(),
            token,
        }
    }

    /// `Ok` when `fence` is its run's current one.
    pub fn check(&self, fence: &Fence) -> Result<(), StoreError> {
        let current = self.current.get(&fence.run).copied();
        if current == Some(fence.token) {
            return Ok(());
        }
        Err(StoreError::Fenced {
            location: self.location.to_owned(),
            run: fence.run.clone(),
            given: fence.token,
            current,
        })
    }

    pub fn release(&mut self, fence: &Fence) -> Result<(), StoreError> {
        self.check(fence)?;
        self.current.remove(&fence.run);
        Ok(())
    }
}
