//! sled 0.34.7 backend. One committer thread ([`crate::committer`]) owns every write and
//! group-commits through a write-ahead log ([`crate::wal`]); reads go straight to sled, which
//! receives a group only once it is durable in the log.

use crate::access;
use crate::apply::GroupLock;
use crate::commit_stats::CommitStats;
use crate::committer::{Committer, Request, Stats};
use crate::fences::LocalFences;
use crate::lock;
use crate::recovery::{self, Recovered};
use crate::sled_call::{guarded, sled_error};
use crate::sled_conf;
use crate::sled_snapshot;
use crate::space::SpaceCheck;
use crate::store::{ready, Batch, CommitTicket, Entry, Fence, Store, StoreFuture};
use crate::writer::Writer;
use crate::{keys, panics, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SledStoreOptions {
    /// fdatasync after every group flush. `false` leaves only sled's `sync_file_range`
    /// (survives kill -9, not power loss): for benchmarks, never for real runs.
    pub sync: bool,
    /// Most batches one group commit takes.
    pub max_group_batches: usize,
    /// A group stops taking batches once it holds this many key + value bytes.
    pub max_group_bytes: usize,
    /// sled's page cache. Its own default (1 GiB) lets a daemon that writes for weeks grow
    /// towards it. With the write-ahead log sled is flushed only at checkpoints (every 4 MiB
    /// of log), and the pages changed since stay in this cache: 4 MiB made sled page out and
    /// read back within that window (the resume of 10,000 runs took 766 ms against 672–687 ms
    /// at 32–64 MiB in the engine bench), so 32 MiB holds it several times over.
    pub cache_bytes: u64,
}

impl Default for SledStoreOptions {
    fn default() -> Self {
        Self {
            sync: true,
            max_group_batches: 4096,
            max_group_bytes: 8 << 20,
            cache_bytes: 32 << 20,
        }
    }
}

pub struct SledStore {
    db: sled::Db,
    /// Readers see whole groups (see [`crate::apply`]).
    group_lock: Arc<GroupLock>,
    path: PathBuf,
    writer: Writer,
    stats: Arc<Stats>,
    /// Who owns which run, shared with the committer that checks it.
    fences: Arc<LocalFences>,
    /// `path`, for messages.
    location: String,
}

/// How long an open waits for a holder that is releasing the store (see
/// [`open_when_released`]).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Open sled; while the lock is held but no `owner` file names a holder, wait (up to
/// [`RELEASE_WAIT`]) and try again. A holder writes the file right after it takes the lock
/// and removes it just before it lets go, and a killed holder leaves the file but not the
/// lock, so a lock without an owner is one being taken or let go: after a handle is
/// dropped, sled's I/O threads keep the file (and its `flock`) a moment longer, and a
/// process opening the store then — a `resume` right after a `status` — would fail.
/// Before each try, unfinished snapshots a killed process left are cleared
/// ([`sled_snapshot`]).
fn open_when_released(
    dir: &Path,
    config: &sled::Config,
) -> Result<sled::Result<sled::Db>, StoreError> {
    let deadline = Instant::now() + RELEASE_WAIT;
    let mut cleared_after_corruption = false;
    loop {
        sled_snapshot::clear_unfinished(dir)?;
        let opened = panics::quiet(|| config.open()).map_err(|panic| StoreError::Corrupt {
            location: dir.display().to_string(),
            message: format!("sled panicked recovering it: {panic}"),
        })?;
        match opened {
            Err(e)
                if lock::is_lock_error(&e)
                    && lock::read_owner(dir).is_none()
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            // A releasing holder kept us from clearing before sled read a torn snapshot.
            Err(sled::Error::Corruption { at: None, .. })
                if !cleared_after_corruption && sled_snapshot::clear_unfinished(dir)? > 0 =>
            {
                cleared_after_corruption = true;
            }
            other => return Ok(other),
        }
    }
}

impl SledStore {
    /// Open (or create) the store in `dir`. Fails with [`StoreError::Locked`] when another
    /// process (or another handle in this one) has it open, and with [`StoreError::Corrupt`]
    /// when its files are damaged or it lost acknowledged commits (see [`crate::recovery`]).
    /// The format record is checked above the backend ([`crate::StateStore::checked`]).
    pub fn open(dir: &Path, opts: SledStoreOptions) -> Result<Self, StoreError> {
        let path = dir.to_path_buf();
        let open_err = |message: String| StoreError::Open {
            location: path.display().to_string(),
            message,
        };
        access::check(dir)?;
        sled_conf::check(dir).map_err(|message| StoreError::Corrupt {
            location: path.display().to_string(),
            message,
        })?;
        // The committer syncs after each group; sled's periodic flusher would only add fsyncs.
        let config = sled::Config::new()
            .path(dir)
            .flush_every_ms(None)
            .cache_capacity(opts.cache_bytes);
        let db = match open_when_released(dir, &config)? {
            Ok(db) => db,
            Err(e) if lock::is_lock_error(&e) => {
                return Err(StoreError::Locked {
                    location: dir.display().to_string(),
                    holder: lock::read_owner(dir).map(|o| o.describe()),
                })
            }
            // Only the files can make sled refuse our (fixed, valid) settings or trip over a bug.
            Err(e @ (sled::Error::Unsupported(_) | sled::Error::ReportableBug(_))) => {
                return Err(StoreError::Corrupt {
                    location: path.display().to_string(),
                    message: format!("sled cannot open it: {e}"),
                })
            }
            Err(e @ sled::Error::Corruption { .. }) => return Err(sled_error(dir, e)),
            Err(sled::Error::Io(io)) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(crate::failure::permission_denied(dir, dir, &io))
            }
            Err(e) => return Err(open_err(e.to_string())),
        };
        lock::write_owner(dir);
        // Before anything is written: a store that lost commits must stay as it was found.
        let recovered = match recovery::recover(&db, dir) {
            Ok(p) => p,
            Err(e) => {
                lock::remove_owner(dir);
                return Err(e);
            }
        };

        Self::start(db, path, opts, recovered)
    }

    /// Start writing an opened, checked store.
    fn start(
        db: sled::Db,
        path: PathBuf,
        opts: SledStoreOptions,
        recovered: Recovered,
    ) -> Result<Self, StoreError> {
        let stats = Arc::new(Stats::default());
        let fences = Arc::new(LocalFences::default());
        let group_lock = Arc::new(GroupLock::default());
        let committer = Committer {
            db: db.clone(),
            group_lock: group_lock.clone(),
            path: path.clone(),
            files: recovered.files,
            sync: opts.sync,
            max_group_batches: opts.max_group_batches.max(1),
            max_group_bytes: opts.max_group_bytes.max(1),
            stats: stats.clone(),
            poisoned: None,
            seq: recovered.seq,
            mirror: recovered.mirror,
            wal: recovered.wal,
            space: SpaceCheck::open(&path)?,
            payload: Vec::with_capacity(64 << 10),
            fences: fences.clone(),
            location: path.display().to_string(),
            finished: false,
        };
        let writer = Writer::start(committer).inspect_err(|_| lock::remove_owner(&path))?;
        Ok(Self {
            db,
            location: path.display().to_string(),
            path,
            writer,
            stats,
            fences,
            group_lock,
        })
    }

    /// Commit counters since open, for metrics.
    pub fn stats(&self) -> CommitStats {
        self.stats.snapshot()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop taking commits, commit every queued one and checkpoint. Later submits fail with
    /// [`StoreError::Closed`]; reads keep working until drop. Idempotent.
    pub fn close(&self) -> Result<(), StoreError> {
        self.writer.close();
        Ok(())
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, path = %self.path.display(), "closing the state store");
        }
        lock::remove_owner(&self.path);
    }
}

impl Store for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let _whole = self.group_lock.read();
        Ok(guarded(&self.path, || self.db.get(key))?.map(|v| v.to_vec()))
    }
    /// One consistent view: no group goes in while the scan runs.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        let _whole = self.group_lock.read();
        guarded(&self.path, || {
            self.db
                .scan_prefix(prefix)
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect()
        })
    }
    fn for_each_prefix(
        &self,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        let mut iter = self.db.scan_prefix(prefix);
        // Guard each step only: a panic in `f` is the caller's, not the store's; and `f`
        // does not hold up commits (each entry is whole, the listing is not one view).
        let mut next = || {
            let _whole = self.group_lock.read();
            guarded(&self.path, || iter.next().transpose())
        };
        while let Some((k, v)) = next()? {
            f(&k, &v);
        }
        Ok(())
    }
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>, StoreError> {
        let _whole = self.group_lock.read();
        guarded(&self.path, || {
            self.db
                .scan_prefix(prefix)
                .next_back()
                .transpose()
                .map(|o| o.map(|(k, v)| (k.to_vec(), v.to_vec())))
        })
    }
    /// Commits at once on this thread when no other is writing (see [`crate::writer`]).
    fn submit(&self, batch: Batch) -> CommitTicket {
        let (ack, rx) = tokio::sync::oneshot::channel();
        if self.writer.submit(Request::new(batch, ack)).is_err() {
            return CommitTicket::ready(Err(StoreError::Closed));
        }
        CommitTicket::pending(rx)
    }
    /// Every entry but `commit_seq`: that is this store's bookkeeping, not data to move.
    fn export(&self) -> Result<Vec<Entry>, StoreError> {
        let _whole = self.group_lock.read();
        guarded(&self.path, || {
            self.db
                .iter()
                .filter(|r| !matches!(r, Ok((k, _)) if keys::is_bookkeeping(k)))
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect()
        })
    }
    /// The process's exclusive lock on the directory keeps other processes out; within the
    /// process, a new owner of a run supersedes the fences handed out for it before. The
    /// committer checks a group's fences under the table's lock, but does not hold it across
    /// the write (an `acquire` must not wait for a disk sync).
    fn acquire(&self, run: &str) -> StoreFuture<Fence> {
        ready(Ok(self.fences.lock(&self.location).acquire(run)))
    }
    fn renew(&self, fence: &Fence) -> StoreFuture<()> {
        ready(self.fences.lock(&self.location).check(fence))
    }
    fn release(&self, fence: &Fence) -> StoreFuture<()> {
        ready(self.fences.lock(&self.location).release(fence))
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }
    fn commit_stats(&self) -> Option<CommitStats> {
        Some(self.stats())
    }
    fn close(&self) -> Result<(), StoreError> {
        SledStore::close(self)
    }
}
