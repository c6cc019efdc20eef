//! What opening a sled store does before the committer starts, in this order (nothing is
//! written until every check has passed):
//!
//! 1. read the write-ahead log ([`crate::wal::read`]): its checkpoint and the groups after it;
//! 2. check sled's own commit sequence against them: below the checkpoint, sled lost commits
//!    that were synced into it; above the log's last group, the log lost groups;
//! 3. check the sidecar ([`crate::seq`]) against the log's last group: a sidecar ahead of it
//!    names acknowledged commits that neither sled nor the log holds;
//! 4. re-apply every group after the checkpoint to sled, in order;
//! 5. flush and sync sled, then start a new log file whose header names the last group;
//! 6. the first time: mark the store as using the log (`wal_in_use` in sled), so that log
//!    files missing later are damage, not a store from before the log.

use crate::durable::DurableFiles;
use crate::keys;
use crate::seq::{self, SeqMirror};
use crate::sled_call::guarded;
use crate::wal::{self, Found, Wal};
use crate::StoreError;
use std::path::Path;

/// A checked store, ready for its committer.
pub(crate) struct Recovered {
    /// The last group's sequence.
    pub seq: u64,
    pub mirror: SeqMirror,
    pub files: DurableFiles,
    pub wal: Wal,
}

pub(crate) fn recover(db: &sled::Db, dir: &Path) -> Result<Recovered, StoreError> {
    let damaged = |message: String| StoreError::Corrupt {
        location: dir.display().to_string(),
        message,
    };
    let found = wal::read(dir).map_err(damaged)?;
    let value = guarded(dir, || db.get(keys::COMMIT_SEQ))?;
    let sled_seq = seq::stored_seq(value.as_deref()).map_err(damaged)?;
    let in_use = guarded(dir, || db.contains_key(keys::WAL_IN_USE))?;
    if in_use && found.checkpoint.is_none() {
        return Err(damaged(
            "its write-ahead log files (wal-a, wal-b) are missing".to_owned(),
        ));
    }
    let last = check_sequences(&found, sled_seq).map_err(damaged)?;
    let mirror = SeqMirror::open(dir, last)?;
    for (seq, ops) in &found.groups {
        guarded(dir, || crate::apply::apply(db, ops, *seq))?;
    }
    if !found.groups.is_empty() {
        tracing::info!(store = %dir.display(), groups = found.groups.len(), "state store: re-applied the write-ahead log");
    }
    guarded(dir, || db.flush())?;
    let open_err = |what: &str, e: std::io::Error| StoreError::Open {
        location: dir.display().to_string(),
        message: format!("{what}: {e}"),
    };
    let files = DurableFiles::open(dir).map_err(|e| open_err("cannot sync the store files", e))?;
    let mut wal =
        Wal::open(dir, &found).map_err(|e| open_err("cannot open the write-ahead log", e))?;
    if found.checkpoint.is_none() || !found.groups.is_empty() {
        wal.checkpoint(last)
            .map_err(|e| open_err("cannot start the write-ahead log", e))?;
    }
    let mut files = files;
    if !in_use {
        // Only once a log file exists: from now on, missing log files are damage.
        guarded(dir, || {
            db.insert(keys::WAL_IN_USE, &[1u8][..]).and(db.flush())
        })?;
        files
            .sync()
            .map_err(|e| open_err("cannot sync the store files", e))?;
    }
    Ok(Recovered {
        seq: last,
        mirror,
        files,
        wal,
    })
}

/// The last group's sequence, or why sled and the log disagree.
fn check_sequences(found: &Found, sled_seq: u64) -> Result<u64, String> {
    if let Some(checkpoint) = found.checkpoint.filter(|c| sled_seq < *c) {
        return Err(format!(
            "it lost acknowledged commits: its sled log ends at commit {sled_seq} but commit \
             {checkpoint} was checkpointed into it (sled recovers a damaged log only up to the \
             damage)"
        ));
    }
    let last = found.last_seq().unwrap_or(sled_seq);
    if sled_seq > last {
        return Err(format!(
            "its write-ahead log lost commits: it ends at commit {last} but sled holds commit \
             {sled_seq}"
        ));
    }
    Ok(last)
}
