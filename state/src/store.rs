//! The narrow storage seam. Everything above talks to `dyn Store`, so a second backend (an
//! Azure Storage one, DESIGN.md section 6) replaces only this.

use crate::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A key and its value, as scans and exports return them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One write in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Writes applied atomically: all of them or none, durable when the commit returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub ops: Vec<BatchOp>,
    /// Keys that must not exist when the batch is applied (a conditional create): if one
    /// does, nothing of the batch is written and the commit fails with
    /// [`StoreError::ConditionFailed`]. Checked atomically with the writes.
    pub absent: Vec<Vec<u8>>,
    /// The writer's ownership of one run: a batch carrying a fence that is no longer its
    /// run's current one is refused with [`StoreError::Fenced`], nothing written; a fenced
    /// batch may only touch that run's keys ([`crate::keys::run_of`]).
    pub fence: Option<Fence>,
}

/// Proof of ownership of one run's records, from [`Store::acquire`]: the run's commits carry
/// it, and the backend refuses one whose fence is no longer current (the fencing-token
/// pattern: Temporal's shard `range_id`, Netherite's blob lease id). A later `acquire` of the
/// run supersedes it; on a shared backend it also lapses when it is not renewed within
/// [`Store::lease`], after which another process may acquire the run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The run whose records it covers.
    pub run: String,
    /// Which acquisition of the run this is (the backend's own numbering).
    pub token: u64,
}

/// An ownership operation of a backend ([`Store::acquire`], [`Store::renew`],
/// [`Store::release`]): a network round trip on a shared backend.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// A [`StoreFuture`] that is already decided.
pub fn ready<T: Send + 'static>(result: Result<T, StoreError>) -> StoreFuture<T> {
    Box::pin(std::future::ready(result))
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Key and value bytes the batch writes (keys only for deletes): what commit statistics
    /// count as `bytes`.
    pub fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                BatchOp::Put(k, v) => k.len() + v.len(),
                BatchOp::Delete(k) => k.len(),
            })
            .sum()
    }
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.ops.push(BatchOp::Put(key.into(), value));
    }
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push(BatchOp::Delete(key.into()));
    }
    /// Require `key` to be absent when the batch is applied.
    pub fn require_absent(&mut self, key: impl Into<Vec<u8>>) {
        self.absent.push(key.into());
    }
    /// Carry `fence`: the batch is refused if it is no longer its run's current one.
    pub fn fenced(&mut self, fence: Fence) {
        self.fence = Some(fence);
    }
    /// Every key the batch writes or requires absent.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        let written = self.ops.iter().map(|op| match op {
            BatchOp::Put(k, _) | BatchOp::Delete(k) => k.as_slice(),
        });
        written.chain(self.absent.iter().map(Vec::as_slice))
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// The acknowledgement of a submitted batch. Await it from async code, or [`CommitTicket::wait`]
/// from a plain thread; either returns once the batch is durable (fsync level) or failed.
pub struct CommitTicket {
    inner: TicketInner,
}

/// A commit's outcome, computed by a future (a networked backend's request).
type CommitFuture = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

enum TicketInner {
    Ready(Option<Result<(), StoreError>>),
    Pending(tokio::sync::oneshot::Receiver<Result<(), StoreError>>),
    /// `None` once it has resolved.
    Future(Option<CommitFuture>),
}

impl CommitTicket {
    /// A ticket that is already decided (synchronous backends).
    pub fn ready(result: Result<(), StoreError>) -> Self {
        Self {
            inner: TicketInner::Ready(Some(result)),
        }
    }
    /// A ticket decided later by whoever holds the sender.
    pub fn pending(rx: tokio::sync::oneshot::Receiver<Result<(), StoreError>>) -> Self {
        Self {
            inner: TicketInner::Pending(rx),
        }
    }
    /// A ticket decided by `fut`, polled by whoever awaits the ticket (no task of its own).
    pub fn from_future(fut: impl Future<Output = Result<(), StoreError>> + Send + 'static) -> Self {
        Self {
            inner: TicketInner::Future(Some(Box::pin(fut))),
        }
    }
    /// Block the current thread until the commit is decided. Callable anywhere, a runtime's
    /// worker included (opening a store checks its format record this way); from async code
    /// prefer awaiting the ticket.
    pub fn wait(self) -> Result<(), StoreError> {
        block_on(self)
    }
}

impl Future for CommitTicket {
    type Output = Result<(), StoreError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            TicketInner::Ready(r) => Poll::Ready(r.take().unwrap_or(Err(StoreError::Closed))),
            TicketInner::Pending(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(r)) => Poll::Ready(r),
                Poll::Ready(Err(_)) => Poll::Ready(Err(StoreError::Closed)),
                Poll::Pending => Poll::Pending,
            },
            TicketInner::Future(slot) => match slot.as_mut().map(|f| f.as_mut().poll(cx)) {
                Some(Poll::Ready(r)) => {
                    *slot = None;
                    Poll::Ready(r)
                }
                Some(Poll::Pending) => Poll::Pending,
                None => Poll::Ready(Err(StoreError::Closed)),
            },
        }
    }
}

/// Wakes the thread that parked in [`block_on`].
struct Unparker(std::thread::Thread);

impl std::task::Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Poll `fut` on this thread, parking between polls (for synchronous callers of a
/// [`StoreFuture`] or a [`CommitTicket`]). Unlike tokio's `blocking_recv` it does not refuse to
/// run on a runtime's thread, which it blocks meanwhile: a backend answers within one commit.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = std::task::Waker::from(std::sync::Arc::new(Unparker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// The processes sharing a store and which runs they hold, as a backend last read it; what a
/// process needs to take no more than its fair share of the runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// Processes whose membership is live (this one included once it has joined).
    pub live: usize,
    /// Runs whose fence some process held at the last reading (this one's included).
    pub held: std::collections::BTreeSet<String>,
}

/// A sorted key-value store with atomic, durable batches.
pub trait Store: Send + Sync + 'static {
    /// The value at `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError>;
    /// Call `f` with every entry whose key starts with `prefix`, in key order, without
    /// collecting them (listing 10,000 runs must not hold 10,000 values at once).
    fn for_each_prefix(
        &self,
        prefix: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StoreError> {
        for (k, v) in self.scan_prefix(prefix)? {
            f(&k, &v);
        }
        Ok(())
    }
    /// The entry with the greatest key that starts with `prefix`.
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<Entry>, StoreError>;
    /// Queue `batch`; the ticket resolves once it is applied atomically and durable.
    /// Batches submitted concurrently may share one flush (group commit).
    fn submit(&self, batch: Batch) -> CommitTicket;
    /// Every entry, in key order (backup, migration, golden fixtures); a backend's own
    /// bookkeeping (sled's `commit_seq`) is not data and is left out.
    fn export(&self) -> Result<Vec<Entry>, StoreError>;
    /// Write `entries` as one durable batch (into an empty or existing store).
    fn import(&self, entries: Vec<Entry>) -> Result<(), StoreError> {
        let mut batch = Batch::new();
        for (k, v) in entries {
            batch.put(k, v);
        }
        self.submit(batch).wait()
    }
    /// Become the owner of `run`'s records: a new fence, after which batches for the run
    /// carrying an older one are refused. On a shared backend this fails with
    /// [`StoreError::Owned`] while another process's fence for the run is current.
    fn acquire(&self, run: &str) -> StoreFuture<Fence>;
    /// Keep `fence` current for another [`Store::lease`]; fails with [`StoreError::Fenced`]
    /// once it is not (superseded, released, or lapsed and taken over).
    fn renew(&self, fence: &Fence) -> StoreFuture<()>;
    /// Give the run up: `fence` and older ones are refused from now on, and another process
    /// may acquire the run at once.
    fn release(&self, fence: &Fence) -> StoreFuture<()>;
    /// Read what other processes committed since this one last looked (a shared backend
    /// serving reads from a replica); nothing to do for a store one process holds.
    fn refresh(&self) -> StoreFuture<()> {
        ready(Ok(()))
    }
    /// [`Store::refresh`], for the records stored with `key` only (a backend that stores
    /// keys in parts reads just the part of `key`: cheaper, for what is polled often).
    fn refresh_key(&self, key: &[u8]) -> StoreFuture<()> {
        let _ = key;
        self.refresh()
    }
    /// How long a fence stays current without [`Store::renew`]; `None` when it never lapses
    /// (a store one process holds: its lock already keeps other processes out).
    fn lease(&self) -> Option<std::time::Duration> {
        None
    }
    /// Tell the other processes sharing the store that this one is alive (a backend with
    /// membership renews this process's own lease; nothing to do otherwise). Called by the
    /// lease keeper each round, before the runs' fences are renewed, so that a process's
    /// membership lapses no later than any of its runs' fences.
    fn heartbeat(&self) -> StoreFuture<()> {
        ready(Ok(()))
    }
    /// Who shares the store, as of the last [`Store::refresh`]: `None` for a store one
    /// process holds (it drives every run), `Some` for a backend with membership.
    fn membership(&self) -> Option<Membership> {
        None
    }
    /// Where the store lives, for messages (`":memory:"` for in-memory stores).
    fn location(&self) -> String;
    /// Group-commit counters, for backends that have them (metrics).
    fn commit_stats(&self) -> Option<crate::CommitStats> {
        None
    }
    /// Finish queued commits and refuse new ones (clean shutdown). Reads keep working.
    fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A fenced batch touches only its fence's run ([`crate::keys::run_of`]).
pub fn check_fence_scope(batch: &Batch) -> Result<(), StoreError> {
    let Some(fence) = &batch.fence else {
        return Ok(());
    };
    match batch
        .keys()
        .find(|k| crate::keys::run_of(k) != Some(fence.run.as_str()))
    {
        Some(key) => Err(StoreError::OutsideFence {
            key: String::from_utf8_lossy(key).into_owned(),
            run: fence.run.clone(),
        }),
        None => Ok(()),
    }
}

/// What a backend checks before it applies `batch`, atomically with the writes: a fenced
/// batch touches only its fence's run and `fenced` accepts the fence (it is the run's
/// current one), and each of the `absent` keys is absent (`exists` answers for the store as
/// it is, including what was applied before in the same group).
pub fn check_batch(
    batch: &Batch,
    fenced: &dyn Fn(&Fence) -> Result<(), StoreError>,
    exists: &mut dyn FnMut(&[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    check_fence_scope(batch)?;
    if let Some(fence) = &batch.fence {
        fenced(fence)?;
    }
    for key in &batch.absent {
        if exists(key)? {
            return Err(StoreError::ConditionFailed {
                key: String::from_utf8_lossy(key).into_owned(),
            });
        }
    }
    Ok(())
}
