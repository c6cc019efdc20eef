//! The executor's public face: submit, resume, operator commands, progress, shutdown.
//!
//! One driver task per *active* run owns that run's records (single writer). A run whose
//! steps all wait holds no task: its wake time sits in the timer set (a few dozen bytes), and
//! the timer task starts a driver again when it is due.

use crate::clock::Clock;
use crate::crash::CrashPoints;
use crate::driver;
use crate::health::{spawn_watched, Fatal, Health, HealthReport};
use crate::progress::{PollEvent, ProgressEvent};
use crate::quarantine;
use crate::registry::WorkflowRegistry;
use crate::share;
pub use crate::shared::Amendment;
use crate::shared::{lock, Command, Inner};
use crate::EngineError;
use failback_state::{
    QuarantineRecord, RequestedCommand, RunFilter, RunRecord, RunState, RunSummary, StateStore,
    StepRecord,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Step executions in flight across all runs. Each may hold an HTTP connection and a
    /// response body, and ARM throttles a principal long before hundreds are in flight.
    pub max_concurrent_steps: usize,
    /// Capacity of the progress broadcast channel.
    pub progress_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_steps: 64,
            progress_capacity: 4096,
        }
    }
}

impl Inner {
    /// Deliver `cmd` to the run's driver, starting one if the run has none.
    pub(crate) fn send(self: &Arc<Self>, run_id: &str, cmd: Command) {
        let mut active = lock(&self.active);
        if let Some(tx) = active.get(run_id) {
            if tx.send(cmd).is_ok() {
                return;
            }
            // The driver is gone without deregistering (it panicked): replace it.
            active.remove(run_id);
            return self.spawn_driver(&mut active, run_id, None);
        }
        self.spawn_driver(&mut active, run_id, Some(cmd));
    }

    fn spawn_driver(
        self: &Arc<Self>,
        active: &mut HashMap<String, mpsc::UnboundedSender<Command>>,
        run_id: &str,
        first: Option<Command>,
    ) {
        if self.shutdown.is_cancelled() {
            if let Some(cmd) = first {
                cmd.reject(EngineError::ShuttingDown);
            }
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(cmd) = first {
            let _ = tx.send(cmd);
        }
        active.insert(run_id.to_owned(), tx);
        let driver = driver::run(self.clone(), run_id.to_owned(), rx);
        let run_id = run_id.to_owned();
        spawn_watched(
            driver,
            self.health.clone(),
            self.shutdown.clone(),
            move |why| Fatal::DriverDied { run_id, why },
        );
    }

    async fn timer_loop(self: Arc<Self>) {
        loop {
            let next = lock(&self.timers).first().map(|(t, _)| *t);
            let sleep = match next {
                Some(at) => self.clock.sleep_until(at),
                None => Box::pin(std::future::pending()),
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = self.timer_changed.notified() => continue,
                _ = sleep => {}
            }
            let now = self.clock.now();
            let due: Vec<String> = {
                let mut timers = lock(&self.timers);
                let mut due = Vec::new();
                while let Some((t, _)) = timers.first() {
                    if *t > now {
                        break;
                    }
                    if let Some((_, id)) = timers.pop_first() {
                        due.push(id);
                    }
                }
                due
            };
            for id in due {
                self.send(&id, Command::Wake);
            }
        }
    }
}

/// The durable DAG executor. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
    timer_task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// Whom this handle's operator commands are on behalf of ([`Engine::acting_as`]).
    pub(crate) actor: Option<Arc<str>>,
    /// How long a forwarded command waits for the run's owner ([`Engine::forwarding_wait`]).
    pub(crate) forward_wait: Option<Duration>,
}

/// What `resume_all` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ResumeReport {
    /// Runs given a driver now (pending, running, cancelling).
    pub started: usize,
    /// Waiting runs put on the timer set without being woken.
    pub scheduled: usize,
    /// Runs whose record has a schema newer than this build reads (left untouched).
    pub unreadable: Vec<String>,
    /// Runs not driven because a record of theirs is damaged: quarantined by this call or
    /// earlier, in run id order. Runs whose step records are damaged are found by their
    /// driver, after this report.
    pub quarantined: Vec<QuarantineRecord>,
}

impl Engine {
    /// Must be called inside a tokio runtime: it starts the timer task.
    pub fn new(
        store: StateStore,
        registry: WorkflowRegistry,
        clock: Arc<dyn Clock>,
        crash: CrashPoints,
        config: EngineConfig,
    ) -> Self {
        let (progress, _) = broadcast::channel(config.progress_capacity.max(16));
        let (polls, _) = broadcast::channel(config.progress_capacity.max(16));
        let inner = Arc::new(Inner::new(
            store,
            registry,
            clock,
            crash,
            progress,
            polls,
            config.max_concurrent_steps,
        ));
        let timer = spawn_watched(
            inner.clone().timer_loop(),
            inner.health.clone(),
            inner.shutdown.clone(),
            Fatal::TimerDied,
        );
        inner.health.start_probe(inner.shutdown.clone());
        if let Some(lease) = inner.store.raw().lease() {
            spawn_watched(
                crate::keeper::keep(inner.clone(), lease),
                inner.health.clone(),
                inner.shutdown.clone(),
                |why| Fatal::LeasesLapsed(format!("the lease keeper died: {why}")),
            );
        }
        tokio::spawn(watch_store(
            inner.store.watch_write_failure(),
            inner.health.clone(),
            inner.shutdown.clone(),
        ));
        Self {
            inner,
            timer_task: Arc::new(Mutex::new(Some(timer))),
            actor: None,
            forward_wait: None,
        }
    }

    /// The same engine, whose operator commands (pause, unpause, cancel, retry, signal)
    /// record `by` in the events they append.
    pub fn acting_as(&self, by: &str) -> Engine {
        Engine {
            actor: Some(by.into()),
            ..self.clone()
        }
    }

    pub fn store(&self) -> &StateStore {
        &self.inner.store
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }
    pub fn registry(&self) -> &WorkflowRegistry {
        &self.inner.registry
    }
    pub fn subscribe(&self) -> broadcast::Receiver<ProgressEvent> {
        self.inner.progress.subscribe()
    }
    /// Polls of waits as they start (each after its intent is durable).
    pub fn subscribe_polls(&self) -> broadcast::Receiver<PollEvent> {
        self.inner.polls.subscribe()
    }

    /// Create a run of the newest version of `workflow` and start it.
    pub async fn submit(
        &self,
        workflow: &str,
        run_id: &str,
        input: Value,
        labels: BTreeMap<String, String>,
    ) -> Result<RunRecord, EngineError> {
        let version =
            self.inner
                .registry
                .latest(workflow)
                .ok_or_else(|| EngineError::UnknownWorkflow {
                    name: workflow.into(),
                    version: 0,
                    known: String::new(),
                })?;
        let run = self
            .create(workflow, version, run_id, input, labels)
            .await?;
        if self.drives_new() {
            self.inner.send(&run.id, Command::Wake);
        } else {
            tracing::info!(run_id = %run.id,
                "run left to another daemon of the shared store (this one has its fair share)");
        }
        Ok(run)
    }

    /// Whether this process drives a run it just created: always, unless it shares the store
    /// with other live daemons and already has its fair share ([`crate::share`]). The run
    /// exists by now, so a failure to count is no error: this process drives it.
    fn drives_new(&self) -> bool {
        let store = &self.inner.store;
        let Some(membership) = store.membership().filter(|m| m.live > 1) else {
            return true;
        };
        let mine = self.mine();
        let unfinished = match store.run_summaries(&RunFilter::unfinished()) {
            Ok(unfinished) => unfinished,
            Err(e) => {
                tracing::warn!(error = %e, "counting runs for the fair share failed; driving the new run here");
                return true;
            }
        };
        let mine_now = unfinished.iter().filter(|r| mine.contains(&r.id)).count();
        share::drives_new(unfinished.len(), mine_now, membership.live)
    }

    /// Runs this process drives now or holds the fence of.
    fn mine(&self) -> HashSet<String> {
        let mut mine: HashSet<String> = lock(&self.inner.active).keys().cloned().collect();
        mine.extend(self.inner.store.owned_runs());
        mine
    }

    /// Create a run without starting it (it starts on `resume_all` or the next `wake`).
    pub async fn create(
        &self,
        workflow: &str,
        version: u32,
        run_id: &str,
        input: Value,
        labels: BTreeMap<String, String>,
    ) -> Result<RunRecord, EngineError> {
        if !valid_run_id(run_id) {
            return Err(EngineError::InvalidRunId(run_id.into()));
        }
        let def = self
            .inner
            .registry
            .build(workflow, version, run_id, &input)?;
        let now = self.inner.clock.now();
        let steps: Vec<StepRecord> = def
            .steps()
            .iter()
            .map(|s| StepRecord::pending(run_id, &s.id, now))
            .collect();
        let run = RunRecord {
            id: run_id.into(),
            workflow: workflow.into(),
            definition_version: version,
            input,
            state: RunState::Pending,
            created_at: now,
            updated_at: now,
            next_event_seq: 0,
            error: None,
            labels,
            signals: Vec::new(),
            wake_at: None,
        };
        Ok(self.inner.store.create_run(run, &steps).await?)
    }

    /// Give every unfinished run a driver, and put waiting runs on the timer set without
    /// waking them early. Quarantined runs are skipped; a run whose record is damaged is
    /// quarantined (the record is written in the background, it is in the report at once).
    pub fn resume_all(&self) -> Result<ResumeReport, EngineError> {
        let store = &self.inner.store;
        let mut report = ResumeReport {
            quarantined: store.list_quarantined()?,
            ..Default::default()
        };
        let held: HashSet<String> = report
            .quarantined
            .iter()
            .map(|q| q.run_id.clone())
            .collect();
        let mut fresh = Vec::new();
        let now = self.inner.clock.now();
        let mut runnable = Vec::new();
        for r in store.run_summaries_lenient(&RunFilter::unfinished())? {
            match r {
                Ok(run) if held.contains(&run.id) => {}
                Ok(run) => runnable.push(run),
                Err(e) => {
                    let key = e.damaged_key().unwrap_or_default();
                    match quarantine::record_for(quarantine::run_of_key(key), &e, now) {
                        Some(q) if held.contains(&q.run_id) => {}
                        Some(q) => {
                            tracing::error!(run_id = %q.run_id, key = %q.key, error = %q.error,
                                "run record damaged; run quarantined, not driven");
                            fresh.push(q);
                        }
                        None => {
                            tracing::error!(error = %e, "run record unreadable; left untouched");
                            report.unreadable.push(e.to_string());
                        }
                    }
                }
            }
        }
        self.resume_share(runnable, &mut report);
        if !fresh.is_empty() {
            report.quarantined.extend(fresh.iter().cloned());
            report.quarantined.sort_by(|a, b| a.run_id.cmp(&b.run_id));
            let store = store.clone();
            // resume_all is synchronous (and a blocking commit may not run on the runtime).
            tokio::spawn(async move {
                let mut txn = store.txn();
                for q in &fresh {
                    txn.put_quarantine(q);
                }
                if let Err(e) = store.commit(txn).await {
                    tracing::error!(error = %e, "could not write quarantine records");
                }
            });
        }
        Ok(report)
    }

    /// Give the runs this process should drive a driver, or put them on the timer set if
    /// they wait. Alone on its store, that is every run; on a shared store, the runs it
    /// drives already and free runs up to its fair share ([`crate::share`]), a taken run's
    /// driver first taking its fence (a run that waits is then parked again).
    fn resume_share(&self, runs: Vec<RunSummary>, report: &mut ResumeReport) {
        let start = |run: &RunSummary, report: &mut ResumeReport| match (run.state, run.wake_at) {
            (RunState::Waiting, Some(at)) => {
                self.inner.schedule(&run.id, at);
                report.scheduled += 1;
            }
            _ => {
                self.inner.send(&run.id, Command::Wake);
                report.started += 1;
            }
        };
        let Some(membership) = self.inner.store.membership() else {
            return runs.iter().for_each(|run| start(run, report));
        };
        let mut runs = runs;
        runs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        let split = self.inner.skipped.split(&ids, &self.mine(), &membership);
        let mine: HashSet<&String> = split.mine.iter().collect();
        for run in runs.iter().filter(|r| mine.contains(&r.id)) {
            start(run, report);
        }
        for id in &split.take {
            tracing::info!(run_id = %id, "taking a free run of the shared store (fair share)");
            self.inner.send(id, Command::Wake);
            report.started += 1;
        }
    }

    /// Whether the engine is driving (see [`crate::health`]).
    pub fn health(&self) -> HealthReport {
        self.inner.health.report()
    }

    /// Resolves with the first fatal cause (a failed commit, a dead driver or timer task):
    /// every driver has been told to stop then, and the process should exit non-zero.
    pub async fn fatal(&self) -> Fatal {
        let mut rx = self.inner.health.watch();
        loop {
            if let Some(f) = rx.borrow_and_update().clone() {
                return f;
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The fatal cause, if one happened.
    pub fn fatal_now(&self) -> Option<Fatal> {
        self.inner.health.fatal()
    }

    /// Runs that currently hold a driver task.
    pub fn active_runs(&self) -> usize {
        lock(&self.inner.active).len()
    }
    /// Runs parked on the timer set.
    pub fn scheduled_runs(&self) -> usize {
        lock(&self.inner.timers).len()
    }

    async fn command(
        &self,
        run_id: &str,
        what: RequestedCommand,
    ) -> Result<RunRecord, EngineError> {
        let result = self.command_as(run_id, what.clone(), None).await;
        // Driven by another process (a shared store): ask it through the inbox.
        match result {
            Err(EngineError::NotOwned { .. }) if self.inner.store.raw().lease().is_some() => {
                crate::forward::forward(self, run_id, what).await
            }
            other => other,
        }
    }

    /// `what` for `run_id`, applied by this process's driver of the run; `request` names a
    /// forwarded command ([`crate::inbox`]): its events carry the id, and it is applied once.
    pub(crate) async fn command_as(
        &self,
        run_id: &str,
        what: RequestedCommand,
        request: Option<&str>,
    ) -> Result<RunRecord, EngineError> {
        if self.inner.store.load_run(run_id)?.is_none() {
            return Err(EngineError::RunNotFound(run_id.into()));
        }
        let (tx, rx) = oneshot::channel();
        let cmd = Command::requested(what, tx);
        let cmd = match (&self.actor, request) {
            (None, None) => cmd,
            (by, request) => Command::As {
                by: by.as_deref().map(str::to_owned),
                request: request.map(str::to_owned),
                cmd: Box::new(cmd),
            },
        };
        self.inner.send(run_id, cmd);
        rx.await.unwrap_or(Err(EngineError::ShuttingDown))
    }

    /// Nudge a run: start its driver if it has none (no-op for finished runs).
    pub fn wake(&self, run_id: &str) {
        self.inner.send(run_id, Command::Wake);
    }
    pub async fn pause(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        self.command(run_id, RequestedCommand::Pause).await
    }
    pub async fn unpause(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        self.command(run_id, RequestedCommand::Unpause).await
    }
    /// Stop a run. With `compensate`, undo its steps in reverse order first.
    pub async fn cancel(&self, run_id: &str, compensate: bool) -> Result<RunRecord, EngineError> {
        self.command(run_id, RequestedCommand::Cancel { compensate })
            .await
    }
    /// Continue a failed run: its failed steps (or `from` and everything after it) run again;
    /// earlier outputs are kept.
    pub async fn retry(&self, run_id: &str, from: Option<&str>) -> Result<RunRecord, EngineError> {
        self.retry_amended(run_id, from, None).await
    }
    /// `retry`, with the run's input replaced first by `amend` (an amendment of what has not
    /// succeeded yet). Refused unless the run is failed and the new input builds a DAG with
    /// the same steps; the amendment is a `run_amended` event.
    pub async fn retry_amended(
        &self,
        run_id: &str,
        from: Option<&str>,
        amend: Option<Amendment>,
    ) -> Result<RunRecord, EngineError> {
        let from = from.map(str::to_owned);
        let amend = amend.map(|a| (a.input, a.changes));
        self.command(run_id, RequestedCommand::Retry { from, amend })
            .await
    }
    /// Deliver an operator signal (waiting steps re-check at once).
    pub async fn signal(&self, run_id: &str, name: &str) -> Result<RunRecord, EngineError> {
        let name = name.to_owned();
        self.command(run_id, RequestedCommand::Signal { name })
            .await
    }

    /// Wait until the run is no longer pending/running/cancelling, and return it.
    pub async fn settled(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        self.wait_for(run_id, |r| {
            !matches!(
                r.state,
                RunState::Pending | RunState::Running | RunState::Cancelling
            )
        })
        .await
    }

    /// Wait until the run reaches a terminal state (succeeded, failed, cancelled).
    pub async fn finished(&self, run_id: &str) -> Result<RunRecord, EngineError> {
        self.wait_for(run_id, |r| {
            matches!(
                r.state,
                RunState::Succeeded | RunState::Failed | RunState::Cancelled
            )
        })
        .await
    }

    /// Wait until the stored run satisfies `done`; re-checks after every durable change of
    /// that run (and only that run).
    pub async fn wait_for(
        &self,
        run_id: &str,
        done: impl Fn(&RunRecord) -> bool,
    ) -> Result<RunRecord, EngineError> {
        let mut rx = self.inner.watch_run(run_id);
        let shared = self.inner.store.raw().lease().is_some();
        let result = loop {
            // Subscribed before reading: a change after this read marks the receiver.
            let run = match self.inner.store.load_run(run_id) {
                Ok(Some(run)) => run,
                Ok(None) => break Err(EngineError::RunNotFound(run_id.into())),
                Err(e) => match self.inner.store.load_quarantine(run_id) {
                    Ok(Some(q)) => break Err(EngineError::Quarantined(q)),
                    _ => break Err(e.into()),
                },
            };
            if done(&run) {
                break Ok(run);
            }
            // A quarantined run never gets there.
            match self.inner.store.load_quarantine(run_id) {
                Ok(Some(q)) => break Err(EngineError::Quarantined(q)),
                Ok(None) => {}
                Err(e) => break Err(e.into()),
            }
            // A run another daemon of a shared store drives changes here only as the store's
            // replica is refreshed, which tells no watcher: look again every second.
            let changed = if shared {
                tokio::time::timeout(Duration::from_secs(1), rx.changed())
                    .await
                    .unwrap_or(Ok(()))
            } else {
                rx.changed().await
            };
            if changed.is_err() {
                break Err(EngineError::ShuttingDown);
            }
        };
        drop(rx);
        self.inner.unwatch_run(run_id);
        result
    }

    /// Stop taking work; let in-flight steps reach a checkpoint for up to `grace`.
    /// Returns true when every driver stopped in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.inner.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        let timer = lock(&self.timer_task).take();
        if let Some(t) = timer {
            let _ = tokio::time::timeout_at(deadline, t).await;
        }
        loop {
            let idle = self.inner.idle.notified();
            if lock(&self.inner.active).is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return lock(&self.inner.active).is_empty();
            }
        }
    }
}

/// The first failed commit stops every driver at once, not at their next commit.
async fn watch_store(
    mut rx: tokio::sync::watch::Receiver<Option<failback_state::WriteFailure>>,
    health: Health,
    stop: CancellationToken,
) {
    loop {
        if let Some(f) = rx.borrow_and_update().clone() {
            health.set_fatal(Fatal::Store(f));
            stop.cancel();
            return;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            _ = stop.cancelled() => return,
        }
    }
}

/// Run ids: 1–64 of letters, digits, `.`, `_`, `-` (they are part of store keys and names),
/// but not `.` or `..` (they would name directories in paths and URLs).
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
