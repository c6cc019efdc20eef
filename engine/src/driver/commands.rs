//! Operator commands, applied by the run's own driver so the run keeps a single writer.

use super::{Command, RunDriver};
use crate::EngineError;
use failback_state::{EventKind, RunRecord, RunState, StepStatus, WaitReason};

impl RunDriver {
    pub(super) async fn apply_command(&mut self, cmd: Command) -> Result<(), EngineError> {
        let (reply, result) = match cmd {
            Command::Wake => return Ok(()),
            Command::As { by, request, cmd } => {
                if let Some(id) = &request {
                    // Forwarded, and found again after its owner changed: the first owner's
                    // events carry its id. Not applied twice (a retry twice would redo steps).
                    let answer = match self.inner.store.applied(&self.run_id, id) {
                        Ok(false) => None,
                        Ok(true) => Some(Ok(self.run_ref().clone())),
                        Err(e) => Some(Err(e.into())),
                    };
                    if let Some(answer) = answer {
                        cmd.answer(answer);
                        return Ok(());
                    }
                }
                (self.actor, self.request) = (by, request);
                let applied = Box::pin(self.apply_command(*cmd)).await;
                (self.actor, self.request) = (None, None);
                return applied;
            }
            Command::Pause(reply) => (reply, self.pause().await),
            Command::Resume(reply) => (reply, self.unpause().await),
            Command::Cancel { compensate, reply } => (reply, self.cancel_run(compensate).await),
            Command::Retry { from, amend, reply } => {
                (reply, self.retry(from.as_deref(), amend).await)
            }
            Command::Signal { name, reply } => (reply, self.signal(&name).await),
        };
        // A store error is the driver's problem too: report it to the caller and stop.
        let fatal = matches!(result, Err(EngineError::Store(_)));
        let err_text = result.as_ref().err().map(|e| e.to_string());
        let _ = reply.send(result);
        match (fatal, err_text) {
            (true, Some(text)) => Err(EngineError::InvalidState {
                run: self.run_id.clone(),
                message: text,
            }),
            _ => Ok(()),
        }
    }

    fn invalid(&self, message: String) -> EngineError {
        EngineError::InvalidState {
            run: self.run_id.clone(),
            message,
        }
    }

    async fn pause(&mut self) -> Result<RunRecord, EngineError> {
        match self.run_ref().state {
            RunState::Pending | RunState::Running | RunState::Waiting => {
                let mut txn = self.inner.store.txn();
                self.set_state(RunState::Paused);
                self.run.wake_at = None;
                self.event(&mut txn, None, EventKind::RunPaused);
                self.commit(txn).await?;
            }
            RunState::Paused => {}
            s => {
                return Err(self.invalid(format!(
                    "run is {}; only an unfinished run can be paused",
                    s.as_str()
                )))
            }
        }
        Ok(self.run_ref().clone())
    }

    async fn unpause(&mut self) -> Result<RunRecord, EngineError> {
        match self.run_ref().state {
            RunState::Paused => {
                let mut txn = self.inner.store.txn();
                self.set_running();
                self.event(&mut txn, None, EventKind::RunResumed);
                self.commit(txn).await?;
            }
            RunState::Running | RunState::Waiting | RunState::Pending => {}
            s => {
                return Err(self.invalid(format!(
                    "run is {}; only a paused run can be resumed",
                    s.as_str()
                )))
            }
        }
        Ok(self.run_ref().clone())
    }

    async fn cancel_run(&mut self, compensate: bool) -> Result<RunRecord, EngineError> {
        match self.run_ref().state {
            RunState::Succeeded => {
                return Err(self.invalid("run is already succeeded".to_owned()));
            }
            // A plain cancel can be followed by a teardown of what the run made.
            RunState::Cancelled if !compensate => {
                return Err(self.invalid("run is already cancelled".to_owned()));
            }
            RunState::Cancelling => return Ok(self.run_ref().clone()),
            _ => {}
        }
        self.cancel.cancel();
        let mut txn = self.inner.store.txn();
        self.event(&mut txn, None, EventKind::RunCancelRequested { compensate });
        {
            let run = &mut self.run;
            run.wake_at = None;
        }
        if compensate {
            self.set_state(RunState::Cancelling);
        } else {
            self.skip_unfinished(&mut txn);
            self.set_state(RunState::Cancelled);
            self.event(&mut txn, None, EventKind::RunCancelled);
        }
        self.commit(txn).await?;
        Ok(self.run_ref().clone())
    }

    async fn retry(
        &mut self,
        from: Option<&str>,
        amend: Option<crate::shared::Amendment>,
    ) -> Result<RunRecord, EngineError> {
        self.check_retry(from)?;
        // An amended input rebuilds the DAG (refused, changing nothing, if its steps differ);
        // the amendment and the retry are one commit.
        let mut txn = self.inner.store.txn();
        if let Some(a) = amend {
            self.amend(&mut txn, a)?;
        }
        let targets = self.retry_targets(from);
        let now = self.inner.clock.now();
        for i in targets {
            if matches!(self.steps[i].status, StepStatus::Pending)
                || self.in_flight.contains_key(&i)
            {
                continue;
            }
            self.steps[i].status = StepStatus::Pending;
            self.steps[i].retries = 0;
            self.steps[i].updated_at = now;
            txn.put_step(&self.steps[i]);
            if let Some(out) =
                std::sync::Arc::make_mut(&mut self.outputs).remove(&self.steps[i].step_id)
            {
                drop(out);
            }
            self.event(&mut txn, Some(i), EventKind::StepReset);
        }
        self.set_running();
        self.run.error = None;
        self.event(
            &mut txn,
            None,
            EventKind::RunRetried {
                from: from.map(str::to_owned),
            },
        );
        self.commit(txn).await?;
        Ok(self.run_ref().clone())
    }

    /// A retry is for a failed run that was not failing while being torn down, from a step
    /// the DAG has.
    fn check_retry(&self, from: Option<&str>) -> Result<(), EngineError> {
        if self.run_ref().state != RunState::Failed {
            return Err(self.invalid(format!(
                "run is {}; only a failed run can be retried",
                self.run_ref().state.as_str()
            )));
        }
        // Failed while being torn down: going forward would create again what the
        // cancellation was removing.
        if self.steps.iter().any(|s| {
            matches!(
                s.status,
                StepStatus::Compensated | StepStatus::Compensating { .. }
            )
        }) {
            return Err(self.invalid(
                "run failed while being cancelled; run `cancel --teardown` again to finish the teardown".to_owned(),
            ));
        }
        if let Some(from) = from {
            if self.def().get(from).is_none() {
                return Err(EngineError::UnknownStep {
                    run: self.run_id.clone(),
                    step: from.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The steps a retry resets: `from` and its descendants, and every unfinished step that
    /// is not in flight.
    fn retry_targets(&self, from: Option<&str>) -> Vec<usize> {
        let def = self.def();
        let mut targets: Vec<usize> = Vec::new();
        if let Some(from) = from {
            targets.extend(def.descendants(from).iter().filter_map(|d| def.index_of(d)));
        }
        for (i, s) in self.steps.iter().enumerate() {
            // Failed steps, and unfinished ones the failure froze mid-wait: a retry starts them
            // afresh (every step is idempotent), so none resumes a wait on what failed before.
            let unfinished = matches!(
                s.status,
                StepStatus::Failed { .. } | StepStatus::Waiting { .. } | StepStatus::Running { .. }
            );
            if unfinished && !self.in_flight.contains_key(&i) && !targets.contains(&i) {
                targets.push(i);
            }
        }
        targets
    }

    async fn signal(&mut self, name: &str) -> Result<RunRecord, EngineError> {
        if self.run_ref().state.is_terminal() {
            return Err(self.invalid(format!("run is already {}", self.run_ref().state.as_str())));
        }
        let now = self.inner.clock.now();
        let mut txn = self.inner.store.txn();
        {
            let run = &mut self.run;
            if !run.signals.iter().any(|s| s == name) {
                run.signals.push(name.to_owned());
            }
        }
        self.event(
            &mut txn,
            None,
            EventKind::Signal {
                name: name.to_owned(),
            },
        );
        // Steps waiting on a timer look again now rather than at their next poll.
        for i in 0..self.steps.len() {
            if let StepStatus::Waiting {
                wake_at,
                reason: WaitReason::Timer,
                ..
            } = &mut self.steps[i].status
            {
                *wake_at = now;
                txn.put_step(&self.steps[i]);
            }
        }
        if self.run_ref().state == RunState::Waiting {
            self.set_running();
        }
        self.commit(txn).await?;
        Ok(self.run_ref().clone())
    }
}
