//! Who writes a sled store's groups. A thread that submits a batch while nobody is writing
//! commits it at once itself, together with whatever else is queued by then (one group, one
//! `fdatasync`): a serial commit so costs no thread hand-off, and the submitter finds its ticket
//! decided when `submit` returns. Batches submitted while a group is being written wait in the
//! queue for the committer thread, which commits groups until the queue is empty (group
//! commit). A submitter never commits more than one group, so an async runtime's worker is
//! blocked for one `fdatasync` at most, never drafted into writing for everyone under load.

use crate::committer::{Committer, Request};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;

#[derive(Default)]
struct Queue {
    requests: VecDeque<Request>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when the committer thread has something to do.
    work: Condvar,
    committer: Mutex<Committer>,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Pushes and pops only: a poisoned queue is still consistent.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next group: queued requests up to the committer's limits.
    fn take_group(&self, c: &Committer) -> Vec<Request> {
        let mut q = self.queue();
        let mut group = Vec::new();
        let mut bytes = 0;
        while group.len() < c.max_group_batches && bytes < c.max_group_bytes {
            let Some(r) = q.requests.pop_front() else {
                break;
            };
            bytes += r.bytes;
            group.push(r);
        }
        group
    }

    /// The committer, waiting for it (a panic in an earlier writer left it between groups,
    /// or poisoned so that every later commit fails: the state to go on from either way).
    fn committer(&self) -> MutexGuard<'_, Committer> {
        self.committer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The committer thread: commit until the queue is empty, then sleep until more comes.
    fn run(&self) {
        loop {
            {
                let mut q = self.queue();
                while q.requests.is_empty() && !q.closed {
                    q = self.work.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
                if q.requests.is_empty() && q.closed {
                    return;
                }
            }
            let mut c = self.committer();
            loop {
                let group = self.take_group(&c);
                if group.is_empty() {
                    break;
                }
                c.commit_group(group);
            }
        }
    }
}

impl Writer {
    pub fn start(committer: Committer) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            committer: Mutex::new(committer),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("failback-state-committer".into())
            .spawn(move || s.run())?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queue `req` and commit it on this thread if nobody is writing; `Err(req)` once the
    /// store is closed.
    pub fn submit(&self, req: Request) -> Result<(), Box<Request>> {
        let s = &self.shared;
        {
            let mut q = s.queue();
            if q.closed {
                return Err(Box::new(req));
            }
            q.requests.push_back(req);
        }
        let mut c = match s.committer.try_lock() {
            Ok(c) => c,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                // The writer will look at the queue again; make sure it is the thread.
                s.work.notify_one();
                return Ok(());
            }
        };
        let group = s.take_group(&c);
        if !group.is_empty() {
            c.commit_group(group);
        }
        drop(c);
        if !s.queue().requests.is_empty() {
            s.work.notify_one();
        }
        Ok(())
    }

    /// Refuse new batches, commit the queued ones, and checkpoint (clean close). Idempotent.
    pub fn close(&self) {
        self.shared.queue().closed = true;
        self.shared.work.notify_all();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            if t.join().is_err() {
                tracing::error!("state store: the committer thread panicked");
            }
        }
        let mut c = self.shared.committer();
        loop {
            let group = self.shared.take_group(&c);
            if group.is_empty() {
                break;
            }
            c.commit_group(group);
        }
        c.finish();
    }
}
