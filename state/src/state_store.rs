//! The typed API the engine uses: runs, steps and events over any [`Store`].

use crate::codec::{self, Versioned};
use crate::failure::WriteFailure;
use crate::ownership::{Ownership, Renewed};
use crate::records::*;
use crate::store::{Batch, Store};
use crate::{keys, StoreError};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;

/// Which runs `list_runs` returns.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs in one of these states (all when empty).
    pub states: Vec<RunState>,
}

impl RunFilter {
    pub fn all() -> Self {
        Self::default()
    }
    pub fn unfinished() -> Self {
        Self {
            states: vec![
                RunState::Pending,
                RunState::Running,
                RunState::Waiting,
                RunState::Cancelling,
            ],
        }
    }
    fn matches(&self, run: &RunRecord) -> bool {
        self.matches_state(run.state)
    }
    fn matches_state(&self, state: RunState) -> bool {
        self.states.is_empty() || self.states.contains(&state)
    }
}

/// Writes that commit together: one atomic, durable batch.
#[derive(Debug, Default)]
pub struct Txn {
    batch: Batch,
    error: Option<StoreError>,
}

impl Txn {
    pub(crate) fn put<T: Versioned>(&mut self, key: Vec<u8>, value: &T) {
        match codec::encode(value) {
            Ok(bytes) => self.batch.put(key, bytes),
            Err(source) => {
                self.error.get_or_insert(StoreError::Codec {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    source,
                });
            }
        }
    }
    pub fn put_run(&mut self, run: &RunRecord) -> &mut Self {
        self.put(keys::run(&run.id), run);
        self
    }
    pub fn put_step(&mut self, step: &StepRecord) -> &mut Self {
        self.put(keys::step(&step.run_id, &step.step_id), step);
        self
    }
    /// Append an event to `run`'s log, taking the run's next sequence number. The caller
    /// must also `put_run` the updated run in this transaction.
    pub fn event(
        &mut self,
        run: &mut RunRecord,
        at: Millis,
        step_id: Option<&str>,
        kind: EventKind,
    ) -> &mut Self {
        self.event_by(run, at, step_id, kind, None)
    }
    /// `event`, recording who caused it.
    pub fn event_by(
        &mut self,
        run: &mut RunRecord,
        at: Millis,
        step_id: Option<&str>,
        kind: EventKind,
        by: Option<&str>,
    ) -> &mut Self {
        self.event_requested(run, at, step_id, kind, by, None)
    }
    /// `event_by`, marked with the forwarded command that caused it ([`EventRecord::request`]).
    pub fn event_requested(
        &mut self,
        run: &mut RunRecord,
        at: Millis,
        step_id: Option<&str>,
        kind: EventKind,
        by: Option<&str>,
        request: Option<&str>,
    ) -> &mut Self {
        let ev = EventRecord {
            run_id: run.id.clone(),
            seq: run.next_event_seq,
            at,
            step_id: step_id.map(str::to_owned),
            kind,
            by: by.map(str::to_owned),
            request: request.map(str::to_owned),
        };
        run.next_event_seq += 1;
        self.put(keys::event(&run.id, ev.seq), &ev);
        self
    }
    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.batch.delete(key);
    }
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
    pub fn len(&self) -> usize {
        self.batch.len()
    }
    fn into_batch(self) -> Result<Batch, StoreError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.batch),
        }
    }
}

/// Typed access to the state store. Cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    store: Arc<dyn Store>,
    /// The first failed commit; set once, watched by the engine (crash-only).
    failed: Arc<watch::Sender<Option<WriteFailure>>>,
    /// The runs this process owns, and their fences.
    owned: Arc<Ownership>,
}

impl StateStore {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            failed: Arc::new(watch::channel(None).0),
            owned: Arc::new(Ownership::default()),
        }
    }

    /// The first commit that failed, if one did: nothing is written any more.
    pub fn write_failure(&self) -> Option<WriteFailure> {
        self.failed.borrow().clone()
    }

    /// Changes once, when the first commit fails.
    pub fn watch_write_failure(&self) -> watch::Receiver<Option<WriteFailure>> {
        self.failed.subscribe()
    }

    /// Remember the first write failure (and turn a bare I/O or backend error into one).
    fn noted(&self, result: Result<(), StoreError>) -> Result<(), StoreError> {
        let e = match result {
            Err(e) if e.is_write_failure() => e,
            other => return other,
        };
        let failure = match &e {
            StoreError::WriteFailed(f) => f.clone(),
            StoreError::Io(io) => WriteFailure::from_io(Path::new(&self.store.location()), io),
            other => WriteFailure::backend(Path::new(&self.store.location()), other.to_string()),
        };
        self.failed.send_if_modified(|slot| {
            let first = slot.is_none();
            if first {
                *slot = Some(failure.clone());
            }
            first
        });
        Err(StoreError::WriteFailed(failure))
    }

    /// Check (or, for a new store, write) the format record of a backend's store: see
    /// [`crate::format`]. Every constructor but [`StateStore::new`] does this.
    pub fn checked(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        crate::format::check_or_init(&*store)?;
        Ok(Self::new(store))
    }

    /// Open (or create) the sled store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, crate::SledStoreOptions::default())
    }

    /// Open the store a URL names: `sled:///absolute/dir` (the CLI's default, from
    /// `--state-dir`) or `memory:` (tests; gone with the process). Other schemes are refused
    /// naming the ones known.
    pub fn open_url(url: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| StoreError::BadUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let (scheme, rest) = url.split_once(':').ok_or_else(|| bad("no scheme"))?;
        match scheme {
            "sled" => {
                let path = rest
                    .strip_prefix("//")
                    .filter(|p| p.starts_with('/'))
                    .ok_or_else(|| bad("expected sled:///absolute/path"))?;
                Self::open(Path::new(path))
            }
            "memory" if rest.is_empty() => Self::checked(Arc::new(crate::MemStore::new())),
            _ => Err(bad("known schemes: sled:///path, memory:")),
        }
    }

    /// [`StateStore::open`] with explicit options.
    pub fn open_with(dir: &Path, opts: crate::SledStoreOptions) -> Result<Self, StoreError> {
        Self::checked(Arc::new(crate::SledStore::open(dir, opts)?))
    }

    /// Group-commit counters of the backend, when it keeps them.
    pub fn commit_stats(&self) -> Option<crate::CommitStats> {
        self.store.commit_stats()
    }

    /// Finish queued commits and refuse new ones; see [`Store::close`].
    pub fn close(&self) -> Result<(), StoreError> {
        self.store.close()
    }

    pub fn in_memory() -> Self {
        Self::new(Arc::new(crate::MemStore::new()))
    }

    pub fn raw(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn decode<T: Versioned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
        codec::decode(bytes).map_err(|source| StoreError::Codec {
            key: String::from_utf8_lossy(key).into_owned(),
            source,
        })
    }

    pub fn load_run(&self, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        let key = keys::run(run_id);
        self.store
            .get(&key)?
            .map(|v| Self::decode(&key, &v))
            .transpose()
    }

    /// Runs matching `filter`, in id order. A run whose record does not decode is an error
    /// here; [`StateStore::list_runs_lenient`] reports it instead of failing the list.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        let mut out = Vec::new();
        for r in self.list_runs_lenient(filter)? {
            out.push(r?);
        }
        Ok(out)
    }

    /// Like `list_runs`, but a record that does not decode is one `Err` in the list.
    pub fn list_runs_lenient(
        &self,
        filter: &RunFilter,
    ) -> Result<Vec<Result<RunRecord, StoreError>>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.store.scan_prefix(keys::RUN_PREFIX.as_bytes())? {
            match Self::decode::<RunRecord>(&k, &v) {
                Ok(run) if filter.matches(&run) => out.push(Ok(run)),
                Ok(_) => {}
                Err(e) => out.push(Err(e)),
            }
        }
        Ok(out)
    }

    /// Summaries of the runs matching `filter`, in id order, streamed from the store and
    /// decoded without their inputs; a record that does not decode is one `Err`.
    pub fn run_summaries_lenient(
        &self,
        filter: &RunFilter,
    ) -> Result<Vec<Result<RunSummary, StoreError>>, StoreError> {
        let mut out = Vec::new();
        self.store
            .for_each_prefix(keys::RUN_PREFIX.as_bytes(), &mut |k, v| {
                match codec::decode_run_summary(v) {
                    Ok(run) if filter.matches_state(run.state) => out.push(Ok(run)),
                    Ok(_) => {}
                    Err(source) => out.push(Err(StoreError::Codec {
                        key: String::from_utf8_lossy(k).into_owned(),
                        source,
                    })),
                }
            })?;
        Ok(out)
    }

    /// Like [`StateStore::run_summaries_lenient`], failing on the first unreadable record.
    pub fn run_summaries(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        self.run_summaries_lenient(filter)?.into_iter().collect()
    }

    pub fn load_steps(&self, run_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        self.store
            .scan_prefix(&keys::steps_of(run_id))?
            .iter()
            .map(|(k, v)| Self::decode(k, v))
            .collect()
    }

    pub fn history(&self, run_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        self.store
            .scan_prefix(&keys::events_of(run_id))?
            .iter()
            .map(|(k, v)| Self::decode(k, v))
            .collect()
    }

    pub fn txn(&self) -> Txn {
        Txn::default()
    }

    /// Commit `txn` atomically; returns once it is durable. A transaction of a run this
    /// process owns carries the run's fence: the backend refuses it once the run was taken
    /// over ([`StoreError::Fenced`]), and the caller must stop driving the run.
    pub async fn commit(&self, txn: Txn) -> Result<(), StoreError> {
        let result = self.store.submit(self.fenced(txn.into_batch()?)).await;
        self.noted(result)
    }

    /// Blocking form of [`StateStore::commit`] for plain threads.
    pub fn commit_blocking(&self, txn: Txn) -> Result<(), StoreError> {
        let result = self.store.submit(self.fenced(txn.into_batch()?)).wait();
        self.noted(result)
    }

    /// `batch` with its run's fence, when this process owns the run.
    fn fenced(&self, mut batch: Batch) -> Batch {
        let run = batch
            .keys()
            .next()
            .and_then(keys::run_of)
            .map(str::to_owned);
        if let Some(fence) = run.and_then(|r| self.owned.fence(&r)) {
            batch.fenced(fence);
        }
        batch
    }

    /// Own `run`: acquire its fence ([`Store::acquire`]); from now on its commits carry it.
    /// [`StoreError::Owned`] when another process holds it.
    pub async fn own(&self, run: &str) -> Result<(), StoreError> {
        self.owned.own(&*self.store, run).await
    }

    /// Give `run` up, so another process may take it at once.
    pub async fn disown(&self, run: &str) -> Result<(), StoreError> {
        self.owned.disown(&*self.store, run).await
    }

    /// Forget `run`'s fence without telling the store (it is already gone).
    pub fn forget(&self, run: &str) {
        self.owned.forget(run)
    }

    /// May this process issue a side effect for `run` now: it owns the run and renewed its
    /// fence within two thirds of the backend's lease (always, on a store without leases).
    pub fn may_act(&self, run: &str) -> bool {
        self.owned.may_act(run, self.store.lease())
    }

    /// Renew the fence of every run owned (on a backend whose fences lapse).
    pub async fn renew_owned(&self) -> Renewed {
        self.owned.renew_all(&*self.store).await
    }

    /// Read what other processes committed since this one last looked ([`Store::refresh`]).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        self.store.refresh().await
    }

    /// Read again what other processes left in the inbox and its replies (forwarded
    /// commands): on a shared store, only the part that holds them.
    pub async fn refresh_inbox(&self) -> Result<(), StoreError> {
        self.store
            .refresh_key(crate::keys::INBOX_PREFIX.as_bytes())
            .await
    }

    /// Tell the processes sharing the store this one is alive ([`Store::heartbeat`]).
    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        self.store.heartbeat().await
    }

    /// Who shares the store ([`Store::membership`]); `None` when this process is alone.
    pub fn membership(&self) -> Option<crate::store::Membership> {
        self.store.membership()
    }

    /// The runs this process owns.
    pub fn owned_runs(&self) -> Vec<String> {
        self.owned.owned()
    }

    /// Create a run with its steps and the `RunCreated` event in one commit.
    pub async fn create_run(
        &self,
        mut run: RunRecord,
        steps: &[StepRecord],
    ) -> Result<RunRecord, StoreError> {
        let mut txn = self.txn();
        for s in steps {
            txn.put_step(s);
        }
        let at = run.created_at;
        txn.event(&mut run, at, None, EventKind::RunCreated);
        txn.put_run(&run);
        // The backend decides, atomically with the writes: a run id is created once.
        let mut batch = txn.into_batch()?;
        batch.require_absent(keys::run(&run.id));
        let result = self.store.submit(batch).await;
        match self.noted(result) {
            Err(StoreError::ConditionFailed { .. }) => Err(StoreError::RunExists(run.id)),
            other => other.map(|()| run),
        }
    }
}
