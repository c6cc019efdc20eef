//! Putting a durable group into sled. A `sled::Batch` would make sled write and
//! `sync_file_range` its I/O buffer at every group (it rolls the buffer before and after a
//! batch), a second device write per commit that measurably halves the serial commit rate.
//! Atomicity on a crash comes from the write-ahead log instead (recovery re-applies every group
//! after the checkpoint), so the group goes in as single writes, and [`GroupLock`] keeps
//! readers from seeing half of one.

use crate::keys;
use crate::store::BatchOp;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Readers hold it shared; the committer holds it exclusively while it applies a group.
#[derive(Default)]
pub(crate) struct GroupLock(RwLock<()>);

impl GroupLock {
    pub fn read(&self) -> RwLockReadGuard<'_, ()> {
        // Guards no data: a panic elsewhere leaves nothing inconsistent behind it.
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn write(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Apply `ops` in order, then `commit_seq = seq` (last, so an imported `commit_seq` key
/// cannot set it).
pub(crate) fn apply<'a>(
    db: &sled::Db,
    ops: impl IntoIterator<Item = &'a BatchOp>,
    seq: u64,
) -> sled::Result<()> {
    for op in ops {
        match op {
            BatchOp::Put(k, v) => db.insert(k.as_slice(), v.as_slice()).map(drop)?,
            BatchOp::Delete(k) => db.remove(k.as_slice()).map(drop)?,
        }
    }
    db.insert(keys::COMMIT_SEQ, &seq.to_be_bytes()[..])
        .map(drop)
}
