//! What the engine and its run drivers share: the engine's state (`Inner`), the commands a
//! driver takes, and an amendment. The engine (`engine.rs`) starts drivers and the timer task;
//! a driver (`driver.rs`) uses this state; neither module imports the other's items back.

use crate::clock::Clock;
use crate::crash::CrashPoints;
use crate::health::Health;
use crate::progress::{PollEvent, ProgressEvent};
use crate::registry::WorkflowRegistry;
use crate::EngineError;
use failback_state::{Millis, RequestedCommand, RunRecord, StateStore};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, mpsc, oneshot, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

type Reply = oneshot::Sender<Result<RunRecord, EngineError>>;

/// Messages to a run's driver.
pub(crate) enum Command {
    /// Look at the run again (start, timer due).
    Wake,
    Pause(Reply),
    Resume(Reply),
    Cancel {
        compensate: bool,
        reply: Reply,
    },
    Retry {
        from: Option<String>,
        amend: Option<Amendment>,
        reply: Reply,
    },
    Signal {
        name: String,
        reply: Reply,
    },
    /// A command on behalf of someone, or forwarded from another process: its events record
    /// who and which request, and a request already applied is not applied again.
    As {
        by: Option<String>,
        request: Option<String>,
        cmd: Box<Command>,
    },
}

impl Command {
    /// The driver's command for `what`, answered on `reply`.
    pub(crate) fn requested(what: RequestedCommand, reply: Reply) -> Command {
        match what {
            RequestedCommand::Pause => Command::Pause(reply),
            RequestedCommand::Unpause => Command::Resume(reply),
            RequestedCommand::Cancel { compensate } => Command::Cancel { compensate, reply },
            RequestedCommand::Retry { from, amend } => Command::Retry {
                from,
                amend: amend.map(|(input, changes)| Amendment { input, changes }),
                reply,
            },
            RequestedCommand::Signal { name } => Command::Signal { name, reply },
        }
    }

    pub(crate) fn reject(self, e: EngineError) {
        self.answer(Err(e))
    }

    pub(crate) fn answer(self, result: Result<RunRecord, EngineError>) {
        let reply = match self {
            Command::Wake => return,
            Command::As { cmd, .. } => return cmd.answer(result),
            Command::Pause(r) | Command::Resume(r) => r,
            Command::Cancel { reply, .. }
            | Command::Retry { reply, .. }
            | Command::Signal { reply, .. } => reply,
        };
        let _ = reply.send(result);
    }
}

/// A new input for a failed run (`failback retry --spec`), with the changes in words.
#[derive(Debug, Clone)]
pub struct Amendment {
    pub input: Value,
    /// One line per changed field, for the history.
    pub changes: Vec<String>,
}

pub(crate) struct Inner {
    pub store: StateStore,
    pub registry: WorkflowRegistry,
    pub clock: Arc<dyn Clock>,
    pub crash: Arc<CrashPoints>,
    pub progress: broadcast::Sender<ProgressEvent>,
    /// Polls of waits, for metrics (a poll is not a progress event).
    pub polls: broadcast::Sender<PollEvent>,
    pub permits: Arc<Semaphore>,
    pub shutdown: CancellationToken,
    pub health: Health,
    /// The drivers of active runs: one command channel each (the engine starts them).
    pub active: Mutex<HashMap<String, mpsc::UnboundedSender<Command>>>,
    /// Wake times of runs without a driver.
    pub timers: Mutex<BTreeSet<(Millis, String)>>,
    pub timer_changed: Notify,
    /// Notified when the last active run's driver exits.
    pub idle: Notify,
    /// Free runs the fair-share scans left to other daemons (a shared store).
    pub skipped: crate::share::Skipped,
    /// Per-run change counters for waiters, so a waiter wakes only for its own run.
    watches: Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps are updated by single inserts/removes, so a poisoned lock still holds
    // consistent data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    pub(crate) fn new(
        store: StateStore,
        registry: WorkflowRegistry,
        clock: Arc<dyn Clock>,
        crash: CrashPoints,
        progress: broadcast::Sender<ProgressEvent>,
        polls: broadcast::Sender<PollEvent>,
        max_steps: usize,
    ) -> Self {
        Self {
            store,
            registry,
            clock,
            crash: Arc::new(crash),
            progress,
            polls,
            permits: Arc::new(Semaphore::new(max_steps.max(1))),
            shutdown: CancellationToken::new(),
            health: Health::new(),
            active: Mutex::new(HashMap::new()),
            timers: Mutex::new(BTreeSet::new()),
            timer_changed: Notify::new(),
            idle: Notify::new(),
            skipped: Default::default(),
            watches: Mutex::new(HashMap::new()),
        }
    }

    /// Called by a driver that has nothing left to do. Returns false (and the driver goes on)
    /// if a command arrived meanwhile: commands are only sent under the same lock.
    pub(crate) fn try_deregister(
        &self,
        run_id: &str,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        pending: &mut Vec<Command>,
    ) -> bool {
        let mut active = lock(&self.active);
        while let Ok(cmd) = rx.try_recv() {
            pending.push(cmd);
        }
        if !pending.is_empty() {
            return false;
        }
        active.remove(run_id);
        if active.is_empty() {
            self.idle.notify_waiters();
        }
        true
    }

    /// Wake `run_id` at `at` (its driver has exited).
    pub(crate) fn schedule(&self, run_id: &str, at: Millis) {
        let mut timers = lock(&self.timers);
        let first = timers.first().map(|(t, _)| *t);
        timers.insert((at, run_id.to_owned()));
        if first.is_none_or(|f| at < f) {
            self.timer_changed.notify_one();
        }
    }

    /// A run's records changed durably: wake its waiters.
    pub(crate) fn notify_run(&self, run_id: &str) {
        let mut w = lock(&self.watches);
        if let Some(tx) = w.get(run_id) {
            if tx.receiver_count() == 0 {
                w.remove(run_id);
            } else {
                tx.send_modify(|v| *v += 1);
            }
        }
    }

    pub(crate) fn watch_run(&self, run_id: &str) -> tokio::sync::watch::Receiver<u64> {
        lock(&self.watches)
            .entry(run_id.to_owned())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    pub(crate) fn unwatch_run(&self, run_id: &str) {
        let mut w = lock(&self.watches);
        if w.get(run_id).is_some_and(|tx| tx.receiver_count() == 0) {
            w.remove(run_id);
        }
    }

    pub(crate) fn emit(&self, ev: ProgressEvent) {
        // No receivers is normal (no CLI attached).
        let _ = self.progress.send(ev);
    }
}
