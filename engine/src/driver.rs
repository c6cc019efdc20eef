//! One run's driver: the only writer of that run's records while it lives. It follows the
//! checkpoint protocol of DESIGN.md section 3:
//!
//! 1. write `Running{attempt}` (the intent), durable;
//! 2. run the side effect;
//! 3. write the outcome with its event in one atomic durable commit;
//! 4. only then start successors (their intents may share that commit: an intent is not a
//!    side effect).

use crate::crash::{AFTER_INTENT, BEFORE_INTENT};
use crate::definition::RetryPolicy;
use crate::definition::WorkflowDef;
use crate::progress::{PollEvent, ProgressEvent};
use crate::shared::{Command, Inner};
use crate::step::{Step, StepContext, StepOutcome};
use crate::EngineError;
use failback_state::{
    EventKind, Millis, RunRecord, RunState, StepRecord, StepStatus, StoreError, Txn, WaitReason,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What a finished execution hands back to the driver.
struct Finished {
    idx: usize,
    attempt: u32,
    compensation: bool,
    /// A poll of a wait, not an attempt: a `Wait` outcome changes no state.
    poll: bool,
    /// The process no longer owned the run when the step was due: nothing was executed, and
    /// the driver stops without committing.
    lost: bool,
    outcome: StepOutcome,
    poll_state: Option<Value>,
    deadline: Option<Millis>,
}

/// A step about to be launched after its intent commit.
struct Launch {
    idx: usize,
    attempt: u32,
    /// The step's poll count (0 unless `poll`).
    polls: u32,
    poll_state: Option<Value>,
    deadline: Option<Millis>,
    resumed: bool,
    compensation: bool,
    poll: bool,
}

pub(crate) struct RunDriver {
    inner: Arc<Inner>,
    run_id: String,
    rx: mpsc::UnboundedReceiver<Command>,
    pending_cmds: Vec<Command>,
    run: RunRecord,
    def: Arc<WorkflowDef>,
    steps: Vec<StepRecord>,
    outputs: Arc<BTreeMap<String, Value>>,
    tasks: JoinSet<Finished>,
    task_idx: HashMap<tokio::task::Id, usize>,
    in_flight: HashMap<usize, CancellationToken>,
    /// Events of the transaction being built, broadcast once it is durable.
    events: Vec<ProgressEvent>,
    /// Set once the run was cancelled: in-flight steps see it.
    cancel: CancellationToken,
    /// Who the command being applied is on behalf of, if anyone: its events say so.
    actor: Option<String>,
    /// The forwarded request being applied, if any: its events carry its id.
    request: Option<String>,
}

/// A run's command channel before its run is loaded (and after its driver failed).
pub(crate) struct Mailbox {
    inner: Arc<Inner>,
    run_id: String,
    rx: mpsc::UnboundedReceiver<Command>,
    pending_cmds: Vec<Command>,
}

impl Mailbox {
    /// Answer every queued command with `make()`'s error and exit.
    fn exit_rejecting(&mut self, make: impl Fn() -> EngineError) {
        loop {
            for cmd in self.pending_cmds.drain(..) {
                cmd.reject(make());
            }
            if self
                .inner
                .try_deregister(&self.run_id, &mut self.rx, &mut self.pending_cmds)
            {
                return;
            }
        }
    }

    /// The driver stopped on `e`: leave the run as stored (the next wake or restart picks it
    /// up again) and answer what was asked of it.
    fn stop(mut self, e: EngineError) {
        if matches!(&e, EngineError::Store(s) if s.is_write_failure()) {
            // Said once by the engine's health, not once per run.
            tracing::debug!(error = %e, "run driver stopped: the store cannot be written");
        } else if matches!(
            &e,
            EngineError::NotOwned { .. } | EngineError::Store(StoreError::Fenced { .. })
        ) {
            // Taken over (a shared store): the new owner goes on from the last commit.
            self.inner.store.forget(&self.run_id);
            tracing::warn!(error = %e, "run driver stopped: another process owns the run now");
        } else {
            tracing::error!(error = %e, "run driver stopped");
        }
        let refuse = || EngineError::InvalidState {
            run: self.run_id.clone(),
            message: e.to_string(),
        };
        for cmd in self.pending_cmds.drain(..) {
            cmd.reject(refuse());
        }
        while let Ok(cmd) = self.rx.try_recv() {
            cmd.reject(refuse());
        }
        let mut rest = Vec::new();
        self.inner
            .try_deregister(&self.run_id, &mut self.rx, &mut rest);
        for cmd in rest {
            cmd.reject(EngineError::ShuttingDown);
        }
    }
}

/// Drive `run_id` until it has nothing to do (or the engine stops): load it, then drive it.
pub(crate) async fn run(inner: Arc<Inner>, run_id: String, rx: mpsc::UnboundedReceiver<Command>) {
    let span = tracing::info_span!("run", run_id = %run_id);
    let mut mb = Mailbox {
        inner,
        run_id,
        rx,
        pending_cmds: Vec::new(),
    };
    async move {
        let loaded = match mb.load_or_quarantine().await {
            Ok(l) => l,
            Err(e) => return mb.stop(e),
        };
        match loaded {
            load::Loaded::Ready(run) => {
                let mut driver = RunDriver::new(mb, *run);
                match driver.drive().await {
                    Ok(()) if driver.run.state.is_terminal() => driver.give_up_ownership().await,
                    Ok(()) => {}
                    Err(e) => driver.into_mailbox().stop(e),
                }
            }
            load::Loaded::Absent => {
                let id = mb.run_id.clone();
                mb.inner.store.forget(&id);
                mb.exit_rejecting(|| EngineError::RunNotFound(id.clone()));
            }
            load::Loaded::NotOurs => {
                let id = mb.run_id.clone();
                tracing::debug!("run owned by another process; not driven here");
                mb.exit_rejecting(|| EngineError::NotOwned { run: id.clone() });
            }
            load::Loaded::Quarantined(q) => {
                mb.exit_rejecting(|| EngineError::Quarantined(q.clone()));
            }
        }
    }
    .instrument(span)
    .await
}

impl RunDriver {
    fn new(mb: Mailbox, loaded: load::LoadedRun) -> Self {
        Self {
            inner: mb.inner,
            run_id: mb.run_id,
            rx: mb.rx,
            pending_cmds: mb.pending_cmds,
            run: loaded.run,
            def: loaded.def,
            steps: loaded.steps,
            outputs: Arc::new(loaded.outputs),
            tasks: JoinSet::new(),
            task_idx: HashMap::new(),
            in_flight: HashMap::new(),
            events: Vec::new(),
            cancel: CancellationToken::new(),
            actor: None,
            request: None,
        }
    }

    /// A finished run's fence is released: nothing drives it any more.
    async fn give_up_ownership(&self) {
        if let Err(e) = self.inner.store.disown(&self.run_id).await {
            tracing::warn!(error = %e, "releasing a finished run's ownership");
        }
    }

    /// Back to the mailbox (in-flight executions are dropped: they run again later).
    fn into_mailbox(self) -> Mailbox {
        Mailbox {
            inner: self.inner,
            run_id: self.run_id,
            rx: self.rx,
            pending_cmds: self.pending_cmds,
        }
    }

    fn run_ref(&self) -> &RunRecord {
        &self.run
    }

    async fn drive(&mut self) -> Result<(), EngineError> {
        loop {
            while let Ok(cmd) = self.rx.try_recv() {
                self.pending_cmds.push(cmd);
            }
            for cmd in std::mem::take(&mut self.pending_cmds) {
                self.apply_command(cmd).await?;
            }
            if !self.inner.shutdown.is_cancelled() {
                self.advance().await?;
            }
            if self.tasks.is_empty() {
                self.park();
                if self
                    .inner
                    .try_deregister(&self.run_id, &mut self.rx, &mut self.pending_cmds)
                {
                    return Ok(());
                }
                continue;
            }
            let wake = self.next_wake_in_flight();
            let sleep = match wake {
                Some(at) => self.inner.clock.sleep_until(at),
                None => Box::pin(std::future::pending()),
            };
            tokio::select! {
                Some(res) = self.tasks.join_next_with_id() => {
                    let fin = match res {
                        Ok((id, fin)) => { self.task_idx.remove(&id); fin }
                        Err(e) => {
                            let idx = self.task_idx.remove(&e.id()).unwrap_or(usize::MAX);
                            self.panicked(idx, e)
                        }
                    };
                    self.in_flight.remove(&fin.idx);
                    self.on_finished(fin).await?;
                }
                Some(cmd) = self.rx.recv() => self.pending_cmds.push(cmd),
                _ = sleep => {}
                _ = self.inner.shutdown.cancelled(), if !self.inner.shutdown.is_cancelled() => {}
            }
        }
    }

    fn def(&self) -> Arc<WorkflowDef> {
        self.def.clone()
    }

    fn event(&mut self, txn: &mut Txn, step: Option<usize>, kind: EventKind) {
        let now = self.inner.clock.now();
        let step_id = step.map(|i| self.steps[i].step_id.clone());
        let run = &mut self.run;
        run.updated_at = now;
        txn.event_requested(
            run,
            now,
            step_id.as_deref(),
            kind.clone(),
            self.actor.as_deref(),
            self.request.as_deref(),
        );
        self.events.push(ProgressEvent {
            run_id: run.id.clone(),
            at: now,
            step_id,
            kind,
            run_state: run.state,
        });
    }

    fn set_state(&mut self, state: RunState) {
        let run = &mut self.run;
        run.state = state;
    }

    async fn commit(&mut self, txn: Txn) -> Result<(), EngineError> {
        self.persist(txn).await?;
        self.announce();
        Ok(())
    }

    /// Make `txn` (with the run record) durable; its events wait for [`Self::announce`].
    async fn persist(&mut self, mut txn: Txn) -> Result<(), EngineError> {
        txn.put_run(self.run_ref());
        self.inner.store.commit(txn).await?;
        Ok(())
    }

    /// Broadcast the events of what was persisted.
    fn announce(&mut self) {
        let state = self.run_ref().state;
        for mut ev in self.events.drain(..) {
            ev.run_state = state;
            self.inner.emit(ev);
        }
        self.inner.notify_run(&self.run_id);
    }

    fn deps_succeeded(&self, def: &WorkflowDef, idx: usize) -> bool {
        def.steps()[idx].deps.iter().all(|d| {
            def.index_of(d)
                .is_some_and(|j| matches!(self.steps[j].status, StepStatus::Succeeded { .. }))
        })
    }

    /// Steps that may start now.
    fn ready(&self) -> Vec<usize> {
        let def = self.def();
        let now = self.inner.clock.now();
        let mut out = Vec::new();
        for s in def.topo() {
            let Some(i) = def.index_of(&s.id) else {
                continue;
            };
            if self.in_flight.contains_key(&i) {
                continue;
            }
            let ready = match &self.steps[i].status {
                StepStatus::Pending => self.deps_succeeded(&def, i),
                StepStatus::Running { .. } => true,
                StepStatus::Waiting { wake_at, .. } => *wake_at <= now,
                _ => false,
            };
            if ready {
                out.push(i);
            }
        }
        out
    }

    /// Earliest wake time of a waiting step while other steps are in flight.
    fn next_wake_in_flight(&self) -> Option<Millis> {
        if !matches!(self.run_ref().state, RunState::Running | RunState::Waiting) {
            return None;
        }
        self.steps
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.in_flight.contains_key(i))
            .filter_map(|(_, s)| match &s.status {
                StepStatus::Waiting { wake_at, .. } => Some(*wake_at),
                _ => None,
            })
            .min()
    }

    /// True when step `i` would start as a poll: woken by its own timer to look again at a
    /// wait, which is neither a new attempt nor a change of state.
    fn is_poll(&self, i: usize) -> bool {
        matches!(
            self.steps[i].status,
            StepStatus::Waiting {
                reason: WaitReason::Timer,
                ..
            }
        )
    }

    /// Mark the run running unless everything about to start is a poll of a waiting run:
    /// a run whose steps only look again at their waits stays waiting (no state change).
    fn set_running_for(&mut self, ready: &[usize]) {
        if self.run_ref().state != RunState::Waiting || !ready.iter().all(|&i| self.is_poll(i)) {
            self.set_running();
        }
    }

    /// Add intents for `idxs` to `txn`; the launches happen after the commit. A poll's
    /// intent is durable like any other but appends no event.
    fn intents(&mut self, txn: &mut Txn, idxs: &[usize], compensation: bool) -> Vec<Launch> {
        let now = self.inner.clock.now();
        let mut launches = Vec::new();
        for &i in idxs {
            self.inner.crash.hit(&self.steps[i].step_id, BEFORE_INTENT);
            let poll = !compensation && self.is_poll(i);
            let rec = &mut self.steps[i];
            if poll {
                rec.polls += 1;
                rec.last_poll_at = Some(now);
            } else {
                rec.attempt += 1;
                rec.polls = 0;
                rec.last_poll_at = None;
            }
            let attempt = rec.attempt;
            let (poll_state, deadline, resumed) =
                match std::mem::replace(&mut rec.status, StepStatus::Pending) {
                    StepStatus::Waiting {
                        poll_state,
                        deadline,
                        ..
                    } => (
                        (!poll_state.is_null()).then_some(poll_state),
                        deadline,
                        false,
                    ),
                    StepStatus::Running {
                        poll_state,
                        deadline,
                        ..
                    } => (poll_state, deadline, true),
                    StepStatus::Compensating { .. } => (None, None, true),
                    _ => (None, None, false),
                };
            // An undo starts from its own state: the forward execution's poll state (say,
            // the VM PUT's operation URL) would make a delete poll the create's outcome.
            let (poll_state, deadline) = if compensation {
                (None, None)
            } else {
                (poll_state, deadline)
            };
            rec.status = if compensation {
                StepStatus::Compensating { attempt }
            } else {
                StepStatus::Running {
                    attempt,
                    poll_state: poll_state.clone(),
                    deadline,
                }
            };
            rec.started_at.get_or_insert(now);
            rec.updated_at = now;
            txn.put_step(rec);
            let polls = rec.polls;
            if compensation {
                self.event(txn, Some(i), EventKind::StepCompensating { attempt });
            } else if !poll {
                self.event(txn, Some(i), EventKind::StepStarted { attempt });
            }
            launches.push(Launch {
                idx: i,
                attempt,
                polls,
                poll_state,
                deadline,
                resumed,
                compensation,
                poll,
            });
        }
        launches
    }

    fn launch(&mut self, launches: Vec<Launch>) {
        let def = self.def();
        let run = self.run_ref();
        let run_input = Arc::new(run.input.clone());
        let signals = Arc::new(run.signals.clone());
        let workflow = run.workflow.clone();
        for l in launches {
            let sdef = &def.steps()[l.idx];
            self.inner.crash.hit(&sdef.id, AFTER_INTENT);
            if l.poll {
                // No receivers is normal (no metrics).
                let _ = self.inner.polls.send(PollEvent {
                    run_id: self.run_id.clone(),
                    workflow: workflow.clone(),
                    step_id: sdef.id.clone(),
                    at: self.inner.clock.now(),
                });
            }
            let step = if l.compensation {
                match &sdef.compensation {
                    Some(c) => c.clone(),
                    None => continue,
                }
            } else {
                sdef.step.clone()
            };
            let token = self.cancel.child_token();
            let ctx = StepContext {
                run_id: self.run_id.clone(),
                step_id: sdef.id.clone(),
                attempt: l.attempt,
                poll: l.polls,
                input: sdef.input.clone(),
                run_input: run_input.clone(),
                outputs: self.outputs.clone(),
                poll_state: l.poll_state,
                deadline: l.deadline,
                resumed: l.resumed,
                signals: signals.clone(),
                clock: self.inner.clock.clone(),
                cancel: token.clone(),
                crash: self.inner.crash.clone(),
            };
            let span = tracing::info_span!("step", step_id = %sdef.id, attempt = l.attempt);
            let idx = l.idx;
            let job = StepJob {
                permits: self.inner.permits.clone(),
                store: self.inner.store.clone(),
                run_id: self.run_id.clone(),
                step,
                ctx,
                timeout: sdef.timeout,
                retry: sdef.retry.clone(),
                idx,
                attempt: l.attempt,
                compensation: l.compensation,
                poll: l.poll,
            };
            let handle = self.tasks.spawn(job.run().instrument(span));
            self.task_idx.insert(handle.id(), idx);
            self.in_flight.insert(idx, token);
        }
    }

    fn panicked(&self, idx: usize, e: tokio::task::JoinError) -> Finished {
        let compensation = self
            .steps
            .get(idx)
            .is_some_and(|s| matches!(s.status, StepStatus::Compensating { .. }));
        Finished {
            idx,
            attempt: self.steps.get(idx).map_or(0, |s| s.attempt),
            compensation,
            poll: false,
            lost: false,
            outcome: StepOutcome::Fail(crate::StepFailure::new(
                "StepPanicked",
                format!("the step panicked: {e}"),
            )),
            poll_state: None,
            deadline: None,
        }
    }
}

/// One execution, bounded by the step's timeout (a timeout is a transient failure).
async fn execute_once(step: &dyn Step, ctx: &StepContext, timeout: Duration) -> StepOutcome {
    match tokio::time::timeout(timeout, step.execute(ctx)).await {
        Ok(o) => o,
        Err(_) => StepOutcome::Retry {
            after: None,
            reason: format!("execution timed out after {timeout:?}"),
        },
    }
}

/// A compensation runs to its end inside one task: its waits and retries are short (deletes)
/// and, being idempotent, it simply starts over after a crash.
async fn compensate(
    step: &dyn Step,
    ctx: &mut StepContext,
    timeout: Duration,
    retry: &RetryPolicy,
) -> StepOutcome {
    let mut retries = 0;
    loop {
        match execute_once(step, ctx, timeout).await {
            StepOutcome::Wait {
                until,
                state,
                deadline,
            } => {
                ctx.deadline = deadline.or(ctx.deadline);
                if ctx.deadline.is_some_and(|d| until > d) {
                    return StepOutcome::Fail(crate::StepFailure::new(
                        "DeadlineExceeded",
                        "the undo did not finish before its deadline",
                    ));
                }
                ctx.clock.sleep_until(until).await;
                ctx.poll_state = Some(state);
            }
            StepOutcome::Retry { after, reason } | StepOutcome::Restart { after, reason } => {
                retries += 1;
                if retries > retry.max_retries {
                    return StepOutcome::Fail(crate::StepFailure::new("RetriesExhausted", reason));
                }
                ctx.clock.sleep(retry.delay(retries, after)).await;
            }
            other => return other,
        }
        ctx.attempt += 1;
    }
}

mod advance;
mod amend;
mod commands;
mod load;
mod outcome;

/// One step execution, as the driver hands it to its task set.
struct StepJob {
    permits: Arc<tokio::sync::Semaphore>,
    store: failback_state::StateStore,
    run_id: String,
    step: Arc<dyn crate::Step>,
    ctx: StepContext,
    timeout: std::time::Duration,
    retry: crate::RetryPolicy,
    idx: usize,
    attempt: u32,
    compensation: bool,
    poll: bool,
}

impl StepJob {
    async fn run(mut self) -> Finished {
        let _permit = self.permits.acquire_owned().await;
        // The fence is checked before every side effect, not only at commit: here, and by
        // the step's side effects themselves (`fence_guard`).
        let lost = !self.store.may_act(&self.run_id);
        let (s, r) = (self.store.clone(), self.run_id.clone());
        let fence = crate::fence_guard::Sticky::new(move || s.may_act(&r));
        let outcome = if lost {
            StepOutcome::Fail(crate::StepFailure::new("NotOwned", "not owned"))
        } else {
            let (step, timeout, retry) = (self.step.as_ref(), self.timeout, &self.retry);
            let ctx = &mut self.ctx;
            crate::fence_guard::scope(fence.guard(), async {
                if self.compensation {
                    compensate(step, ctx, timeout, retry).await
                } else {
                    execute_once(step, ctx, timeout).await
                }
            })
            .await
        };
        // Lost while the step ran (or refused a write): its outcome is not this process's to
        // record; the new owner runs the step again (as resumed).
        let lost = lost || fence.refused() || !self.store.may_act(&self.run_id);
        Finished {
            idx: self.idx,
            attempt: self.attempt,
            compensation: self.compensation,
            poll: self.poll,
            lost,
            outcome,
            poll_state: self.ctx.poll_state,
            deadline: self.ctx.deadline,
        }
    }
}
