//! Fault injection: a [`Store`] wrapper whose commits start failing on demand, as a full or
//! failing disk makes a real store's do (every commit after the first failure fails too, as
//! the sled committer's do once poisoned). Reads pass through.

use crate::failure::WriteFailure;
use crate::store::{Batch, CommitTicket, Entry, Store};
use crate::StoreError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

pub struct FailingStore {
    inner: Arc<dyn Store>,
    /// Commits still allowed before the failure; `u64::MAX` is "never fail".
    left: AtomicU64,
    /// The OS error the failing commits report.
    errno: AtomicI32,
}

impl FailingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            left: AtomicU64::new(u64::MAX),
            errno: AtomicI32::new(libc::ENOSPC),
        }
    }

    /// Let `commits` more commits through, then fail every one with `errno`.
    pub fn fail_after(&self, commits: u64, errno: i32) {
        self.errno.store(errno, SeqCst);
        self.left.store(commits, SeqCst);
    }

    /// Commits that succeeded so far are not counted; this says whether the failure started.
    pub fn failing(&self) -> bool {
        self.left.load(SeqCst) == 0
    }

    fn take_one(&self) -> bool {
        self.left
            .fetch_update(SeqCst, SeqCst, |n| match n {
                0 => None,
                u64::MAX => Some(u64::MAX),
                n => Some(n - 1),
            })
            .is_ok()
    }
}

impl Store for FailingStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        self.inner.scan_prefix(prefix)
    }
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
        self.inner.last_with_prefix(prefix)
    }
    fn submit(&self, batch: Batch) -> CommitTicket {
        if self.take_one() {
            return self.inner.submit(batch);
        }
        let e = std::io::Error::from_raw_os_error(self.errno.load(SeqCst));
        let path = PathBuf::from(self.inner.location());
        CommitTicket::ready(Err(StoreError::WriteFailed(WriteFailure::from_io(
            &path, &e,
        ))))
    }
    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        self.inner.export()
    }
    fn acquire(&self, run: &str) -> crate::StoreFuture<crate::Fence> {
        self.inner.acquire(run)
    }
    fn renew(&self, fence: &crate::Fence) -> crate::StoreFuture<()> {
        self.inner.renew(fence)
    }
    fn release(&self, fence: &crate::Fence) -> crate::StoreFuture<()> {
        self.inner.release(fence)
    }
    fn refresh(&self) -> crate::StoreFuture<()> {
        self.inner.refresh()
    }
    fn lease(&self) -> Option<std::time::Duration> {
        self.inner.lease()
    }
    fn refresh_key(&self, key: &[u8]) -> crate::StoreFuture<()> {
        self.inner.refresh_key(key)
    }
    fn heartbeat(&self) -> crate::StoreFuture<()> {
        self.inner.heartbeat()
    }
    fn membership(&self) -> Option<crate::Membership> {
        self.inner.membership()
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    fn close(&self) -> Result<(), StoreError> {
        self.inner.close()
    }
}
