//! A [`crate::SledStore`]'s group commit: a group of batches is appended to the write-ahead log
//! as one record, fdatasynced, applied to sled (no flush), then acknowledged together. sled
//! itself is flushed and synced at checkpoints ([`crate::wal`]). Which thread runs it:
//! [`crate::writer`].

use crate::apply::{self, GroupLock};
use crate::commit_stats::{CommitStats, COMMIT_LATENCY_BUCKETS_US};
use crate::durable::DurableFiles;
use crate::failure::WriteFailure;
use crate::fences::{FenceTable, LocalFences};
use crate::seq::SeqMirror;
use crate::space::SpaceCheck;
use crate::store::{check_batch, Batch, BatchOp};
use crate::wal::{record, Wal};
use crate::{panics, StoreError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// One submitted batch waiting for the committer.
pub(crate) struct Request {
    pub batch: Batch,
    pub ops: usize,
    pub bytes: usize,
    pub submitted: Instant,
    pub ack: oneshot::Sender<Result<(), StoreError>>,
}

impl Request {
    pub fn new(batch: Batch, ack: oneshot::Sender<Result<(), StoreError>>) -> Self {
        let bytes = batch.bytes();
        Self {
            ops: batch.ops.len(),
            batch,
            bytes,
            submitted: Instant::now(),
            ack,
        }
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    commits: AtomicU64,
    failed_commits: AtomicU64,
    groups: AtomicU64,
    checkpoints: AtomicU64,
    ops: AtomicU64,
    bytes: AtomicU64,
    max_group: AtomicU64,
    last_commit_latency_us: AtomicU64,
    total_commit_latency_us: AtomicU64,
    total_write_us: AtomicU64,
    /// Per bucket (not cumulative): acknowledged batches in it.
    latency_buckets: [AtomicU64; COMMIT_LATENCY_BUCKETS_US.len()],
}

impl Stats {
    pub fn snapshot(&self) -> CommitStats {
        CommitStats {
            commits: self.commits.load(Relaxed),
            failed_commits: self.failed_commits.load(Relaxed),
            groups: self.groups.load(Relaxed),
            checkpoints: self.checkpoints.load(Relaxed),
            ops: self.ops.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            max_group: self.max_group.load(Relaxed),
            last_commit_latency_us: self.last_commit_latency_us.load(Relaxed),
            total_commit_latency_us: self.total_commit_latency_us.load(Relaxed),
            total_write_us: self.total_write_us.load(Relaxed),
            commit_latency_buckets: self.cumulative_buckets(),
        }
    }

    fn cumulative_buckets(&self) -> [u64; COMMIT_LATENCY_BUCKETS_US.len()] {
        let mut out = [0; COMMIT_LATENCY_BUCKETS_US.len()];
        let mut total = 0;
        for (o, b) in out.iter_mut().zip(&self.latency_buckets) {
            total += b.load(Relaxed);
            *o = total;
        }
        out
    }

    fn observe_latency(&self, us: u64) {
        if let Some(i) = COMMIT_LATENCY_BUCKETS_US.iter().position(|b| us <= *b) {
            self.latency_buckets[i].fetch_add(1, Relaxed);
        }
    }
}

fn sled_failure(path: &Path, e: sled::Error) -> WriteFailure {
    match e {
        sled::Error::Io(io) => WriteFailure::from_io(path, &io),
        other => WriteFailure::backend(path, other.to_string()),
    }
}

pub(crate) struct Committer {
    pub db: sled::Db,
    /// Taken exclusively while a group goes into sled (see [`crate::apply`]).
    pub group_lock: Arc<GroupLock>,
    /// The store directory, for messages.
    pub path: PathBuf,
    pub files: DurableFiles,
    pub sync: bool,
    pub max_group_batches: usize,
    pub max_group_bytes: usize,
    pub stats: Arc<Stats>,
    /// After a failed write or sync the on-disk state is unknown (a failed fsync may have
    /// dropped dirty pages), so every later commit fails with the same error: the process
    /// exits and a restart recovers from what is durable.
    pub poisoned: Option<WriteFailure>,
    /// Sequence of the last group written successfully (see [`crate::seq`]).
    pub seq: u64,
    pub mirror: SeqMirror,
    pub wal: Wal,
    /// Fails commits before the file system is too full for a checkpoint.
    pub space: SpaceCheck,
    /// Reused buffer for a group's log record.
    pub payload: Vec<u8>,
    /// Who owns which run ([`crate::Store::acquire`]); `location` names the store in
    /// refusals.
    pub fences: Arc<LocalFences>,
    pub location: String,
    /// The store was closed: its final checkpoint is done.
    pub finished: bool,
}

impl Committer {
    /// Clean close: sled holds everything (the next open re-applies nothing), then the
    /// sidecar names the last group. After a failed write nothing more is written. Once.
    pub fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) || self.poisoned.is_some() {
            return;
        }
        match self.checkpoint() {
            Ok(()) => self.mirror.finish(self.seq),
            Err(e) => tracing::error!(error = %e, "state store: final checkpoint at close failed"),
        }
    }

    /// Refuse the requests whose fence is stale or whose `absent` keys exist — as the store
    /// will be when the group's earlier requests are applied — and answer them at once.
    fn refuse_failed_checks(&self, group: Vec<Request>, fences: &FenceTable) -> Vec<Request> {
        // Keys the group's accepted requests write: Some(true) put, Some(false) deleted.
        let mut written: HashMap<Vec<u8>, bool> = HashMap::new();
        let mut kept = Vec::with_capacity(group.len());
        for req in group {
            let db = &self.db;
            let mut exists = |k: &[u8]| match written.get(k) {
                Some(present) => Ok(*present),
                None => db
                    .contains_key(k)
                    .map_err(|e| StoreError::Backend(e.to_string())),
            };
            if let Err(e) = check_batch(&req.batch, &|f| fences.check(f), &mut exists) {
                self.stats.failed_commits.fetch_add(1, Relaxed);
                let _ = req.ack.send(Err(e));
                continue;
            }
            for op in &req.batch.ops {
                match op {
                    BatchOp::Put(k, _) => written.insert(k.clone(), true),
                    BatchOp::Delete(k) => written.insert(k.clone(), false),
                };
            }
            kept.push(req);
        }
        kept
    }

    pub fn commit_group(&mut self, group: Vec<Request>) {
        let mut group = if self.poisoned.is_some() {
            group
        } else {
            // Not held across the write: an `acquire` (which async code calls) must not wait
            // for a disk sync. A batch checked just before an `acquire` may so land just
            // after it; in one process a run's drivers never overlap, and other processes
            // are kept out by the directory lock.
            let fences = self.fences.clone();
            let table = fences.lock(&self.location);
            self.refuse_failed_checks(group, &table)
        };
        if group.is_empty() {
            return;
        }
        let started = Instant::now();
        let result = match &self.poisoned {
            Some(failure) => Err(failure.clone()),
            None => self.write(&mut group),
        };
        if let Err(e) = &result {
            if self.poisoned.is_none() {
                // Every ticket carries the error; the engine reports it once (crash-only).
                tracing::debug!(error = %e, batches = group.len(), "state store group commit failed");
                self.poisoned = Some(e.clone());
            }
        }
        let s = &self.stats;
        s.groups.fetch_add(1, Relaxed);
        s.total_write_us
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        s.max_group.fetch_max(group.len() as u64, Relaxed);
        for req in group {
            let latency = req.submitted.elapsed().as_micros() as u64;
            match &result {
                Ok(()) => {
                    s.commits.fetch_add(1, Relaxed);
                    s.ops.fetch_add(req.ops as u64, Relaxed);
                    s.bytes.fetch_add(req.bytes as u64, Relaxed);
                    s.last_commit_latency_us.store(latency, Relaxed);
                    s.total_commit_latency_us.fetch_add(latency, Relaxed);
                    s.observe_latency(latency);
                }
                Err(_) => {
                    s.failed_commits.fetch_add(1, Relaxed);
                }
            }
            // The submitter may have stopped waiting; nothing to do then.
            let _ = req
                .ack
                .send(result.clone().map_err(StoreError::WriteFailed));
        }
        // After the acknowledgements, off their latency. Without sync the group is not
        // durable yet: only the close updates the sidecar then.
        if result.is_ok() && self.sync {
            self.mirror.advance(self.seq);
        }
    }

    fn write(&mut self, group: &mut [Request]) -> Result<(), WriteFailure> {
        let seq = self.seq + 1;
        let io = |path: &Path, e: std::io::Error| WriteFailure::from_io(path, &e);
        self.space.check().map_err(|e| io(&self.path, e))?;
        self.payload.clear();
        record::encode_ops(
            group.iter().flat_map(|r| r.batch.ops.iter()),
            &mut self.payload,
        );
        self.wal
            .append(seq, &self.payload)
            .map_err(|e| io(&self.path, e))?;
        if self.sync {
            self.wal.sync().map_err(|e| io(&self.path, e))?;
        }
        // Durable in the log: now into sled, where reads see it, whole. Later batches
        // overwrite earlier ones key by key, as if applied one after another.
        let (db, lock) = (&self.db, &self.group_lock);
        let ops = group.iter().flat_map(|r| r.batch.ops.iter());
        panics::quiet(|| {
            let _whole = lock.write();
            apply::apply(db, ops, seq)
        })
        .map_err(|panic| WriteFailure::backend(&self.path, format!("sled panicked: {panic}")))?
        .map_err(|e| sled_failure(&self.path, e))?;
        self.seq = seq;
        if self.wal.full() {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Make sled durable up to the last group, then switch the log to its other file.
    fn checkpoint(&mut self) -> Result<(), WriteFailure> {
        let db = &self.db;
        panics::quiet(|| db.flush().map(drop))
            .map_err(|panic| WriteFailure::backend(&self.path, format!("sled panicked: {panic}")))?
            .map_err(|e| sled_failure(&self.path, e))?;
        self.files
            .sync()
            .map_err(|e| WriteFailure::from_io(&self.path, &e))?;
        self.wal
            .checkpoint(self.seq)
            .map_err(|e| WriteFailure::from_io(&self.path, &e))?;
        self.stats.checkpoints.fetch_add(1, Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_cumulative_and_leave_out_the_slowest() {
        let s = Stats::default();
        for us in [50, 100, 101, 3_000, 2_000_000] {
            s.observe_latency(us);
        }
        let b = s.snapshot().commit_latency_buckets;
        assert_eq!(b[0], 2, "<= 100 us");
        assert_eq!(b[1], 3, "<= 250 us");
        assert_eq!(b[4], 3, "<= 2.5 ms");
        assert_eq!(b[5], 4, "<= 5 ms");
        assert_eq!(
            b[COMMIT_LATENCY_BUCKETS_US.len() - 1],
            4,
            "2 s is past every bound"
        );
    }
}
