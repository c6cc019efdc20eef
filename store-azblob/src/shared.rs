//! What the store's handle, its commit tasks and its lease calls share: the container
//! client, the replica every read is served from, and the state of each blob.

use crate::partition::{self, Contents};
use failback_azblob::{ContainerClient, ETag, LeaseId};
use failback_state::{Batch, CommitStats, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;

/// A client error as the store reports it.
pub(crate) fn backend(e: failback_azblob::BlobError) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A batch waiting for its blob's next write.
pub(crate) struct Pending {
    pub batch: Batch,
    pub ack: oneshot::Sender<Result<(), StoreError>>,
}

/// One blob as this process knows it.
#[derive(Default)]
pub(crate) struct Part {
    /// Its contents as of `etag`.
    pub data: Contents,
    /// `None`: it does not exist (as far as this process knows).
    pub etag: Option<ETag>,
    /// The lease this process holds on it, and the fence token that names it.
    pub lease: Option<(u64, LeaseId)>,
    /// Batches waiting for the next write.
    pub queue: Vec<Pending>,
    /// A commit task is writing it.
    pub writing: bool,
}

/// Tunables of the store.
#[derive(Debug, Clone)]
pub struct AzBlobOptions {
    /// How long a run's lease lasts without renewal (Azure: 15 to 60 s).
    pub lease: Duration,
    /// How often blobs this process does not hold are read again (`None`: never; reads of
    /// runs other daemons drive may then be stale).
    pub refresh: Option<Duration>,
    /// How long a commit keeps retrying throttled or unanswered writes before it fails
    /// (and with it every later commit: the process stops, crash-only).
    pub commit_deadline: Duration,
    /// Join the container's membership under this name (a daemon among others: see
    /// [`crate::membership`]); `None` for a process that drives no runs (a CLI reading).
    pub member: Option<String>,
}

impl Default for AzBlobOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            refresh: Some(Duration::from_secs(5)),
            commit_deadline: Duration::from_secs(60),
            member: None,
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub commits: AtomicU64,
    pub failed_commits: AtomicU64,
    pub groups: AtomicU64,
    pub ops: AtomicU64,
    pub bytes: AtomicU64,
    pub max_group: AtomicU64,
    pub total_write_us: AtomicU64,
}

pub(crate) struct Shared {
    pub client: ContainerClient,
    /// `azblob+<container URL>`, for messages (never a SAS).
    pub location: String,
    pub opts: AzBlobOptions,
    /// Every key of every blob this process has read or written.
    pub replica: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
    pub parts: Mutex<HashMap<String, Part>>,
    /// Signalled when a commit task finishes (close waits on it).
    pub idle: Condvar,
    pub next_token: AtomicU64,
    pub closed: AtomicBool,
    pub counters: Counters,
    pub members: Mutex<crate::membership::Members>,
}

impl Shared {
    pub fn new(client: ContainerClient, opts: AzBlobOptions) -> Self {
        Self {
            location: format!("azblob+{}", client.endpoint().container_url()),
            client,
            opts,
            replica: RwLock::new(BTreeMap::new()),
            parts: Mutex::new(HashMap::new()),
            idle: Condvar::new(),
            next_token: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            members: Mutex::default(),
        }
    }

    pub fn parts(&self) -> MutexGuard<'_, HashMap<String, Part>> {
        // Updated field by field under the lock; a panic between two leaves a state the next
        // commit or refresh corrects (an ETag mismatch re-reads the blob).
        self.parts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replace blob `name`'s keys in the replica with `data` (readers see all or none).
    pub fn publish(&self, old: &Contents, data: &Contents) {
        let mut replica = self.replica.write().unwrap_or_else(PoisonError::into_inner);
        for key in old.keys() {
            if !data.contains_key(key) {
                replica.remove(key);
            }
        }
        for (k, v) in data {
            replica.insert(k.clone(), v.clone());
        }
    }

    /// Record blob `name` as read from storage (unless a write of it is under way, or it
    /// changed in this process since `seen`, which is then the newer view).
    pub fn adopt(&self, name: &str, seen: Option<&ETag>, data: Contents, etag: Option<ETag>) {
        let mut parts = self.parts();
        let part = parts.entry(name.to_owned()).or_default();
        if part.writing || part.etag.as_ref() != seen {
            return;
        }
        self.publish(&part.data, &data);
        part.data = data;
        part.etag = etag;
    }

    /// Blob `name` as storage has it now: its keys and ETag (empty and `None` if it is gone).
    pub async fn read(&self, name: &str) -> Result<(Contents, Option<ETag>), StoreError> {
        match self.client.get_blob(name).await.map_err(backend)? {
            Some(b) => Ok((self.decode(name, &b.data)?, Some(b.etag))),
            None => Ok((Contents::new(), None)),
        }
    }

    /// A blob's bytes, decoded; damage is a typed error naming the blob.
    pub fn decode(&self, name: &str, bytes: &[u8]) -> Result<Contents, StoreError> {
        partition::decode(bytes).map_err(|message| StoreError::Corrupt {
            location: format!("{}/{name}", self.location),
            message,
        })
    }

    pub fn stats(&self) -> CommitStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.counters;
        CommitStats {
            commits: c.commits.load(Relaxed),
            failed_commits: c.failed_commits.load(Relaxed),
            groups: c.groups.load(Relaxed),
            ops: c.ops.load(Relaxed),
            bytes: c.bytes.load(Relaxed),
            max_group: c.max_group.load(Relaxed),
            total_write_us: c.total_write_us.load(Relaxed),
            ..CommitStats::default()
        }
    }
}
