//! Moving a run forward: start ready steps, settle the run when nothing runs, and drive
//! compensation in reverse order after `cancel --teardown`.

use super::RunDriver;
use crate::EngineError;
use failback_state::{EventKind, RunState, StepStatus, Txn};

impl RunDriver {
    pub(super) async fn advance(&mut self) -> Result<(), EngineError> {
        match self.run_ref().state {
            RunState::Pending | RunState::Running | RunState::Waiting => {
                let mut txn = self.inner.store.txn();
                let ready = self.ready();
                if !ready.is_empty() {
                    self.set_running_for(&ready);
                    let launches = self.intents(&mut txn, &ready, false);
                    self.commit(txn).await?;
                    self.launch(launches);
                } else if self.tasks.is_empty() && self.settle(&mut txn) {
                    self.commit(txn).await?;
                }
            }
            RunState::Cancelling => self.advance_cancel().await?,
            RunState::Paused | RunState::Failed | RunState::Succeeded | RunState::Cancelled => {}
        }
        Ok(())
    }

    pub(super) fn set_running(&mut self) {
        let run = &mut self.run;
        run.state = RunState::Running;
        run.wake_at = None;
    }

    /// Nothing in flight and nothing ready: the run succeeded or waits. Adds the change to
    /// `txn`; false if there is none.
    pub(super) fn settle(&mut self, txn: &mut Txn) -> bool {
        if self
            .steps
            .iter()
            .all(|s| matches!(s.status, StepStatus::Succeeded { .. }))
        {
            self.set_state(RunState::Succeeded);
            self.run.wake_at = None;
            self.event(txn, None, EventKind::RunSucceeded);
            return true;
        }
        let wake = self
            .steps
            .iter()
            .filter_map(|s| match &s.status {
                StepStatus::Waiting { wake_at, .. } => Some(*wake_at),
                _ => None,
            })
            .min();
        match wake {
            Some(at) => {
                let run = self.run_ref();
                if run.state == RunState::Waiting {
                    // Still waiting (a poll found its wait unfinished): the next wake time
                    // moves with the record, but no state changed, so no event.
                    if run.wake_at == Some(at) {
                        return false;
                    }
                    self.run.wake_at = Some(at);
                    return true;
                }
                self.set_state(RunState::Waiting);
                self.run.wake_at = Some(at);
                self.event(txn, None, EventKind::RunWaiting { wake_at: at });
                true
            }
            None => {
                tracing::warn!("run has no ready, running or waiting step but is not finished");
                false
            }
        }
    }

    /// Before the driver exits: a waiting run goes on the timer set.
    pub(super) fn park(&self) {
        let run = self.run_ref();
        if let (RunState::Waiting, Some(at)) = (run.state, run.wake_at) {
            self.inner.schedule(&self.run_id, at);
        }
    }

    fn needs_compensation(&self, i: usize) -> bool {
        let def = self.def();
        def.steps()[i].compensation.is_some()
            && matches!(
                self.steps[i].status,
                StepStatus::Succeeded { .. }
                    | StepStatus::Waiting { .. }
                    | StepStatus::Running { .. }
                    | StepStatus::Failed { .. }
                    | StepStatus::Compensating { .. }
            )
    }

    async fn advance_cancel(&mut self) -> Result<(), EngineError> {
        self.cancel.cancel();
        // Normal executions still in flight finish first (they see the cancel token).
        if self.steps.iter().enumerate().any(|(i, s)| {
            self.in_flight.contains_key(&i) && !matches!(s.status, StepStatus::Compensating { .. })
        }) {
            return Ok(());
        }
        let def = self.def();
        let n = self.steps.len();
        let needs: Vec<bool> = (0..n).map(|i| self.needs_compensation(i)).collect();
        // A step is undone only after everything downstream of it is undone.
        let ready: Vec<usize> = (0..n)
            .filter(|&i| needs[i] && !self.in_flight.contains_key(&i))
            .filter(|&i| {
                def.descendants(&def.steps()[i].id)
                    .iter()
                    .filter_map(|d| def.index_of(d))
                    .all(|j| j == i || !needs[j])
            })
            .collect();
        let mut txn = self.inner.store.txn();
        if !ready.is_empty() {
            let launches = self.intents(&mut txn, &ready, true);
            self.commit(txn).await?;
            self.launch(launches);
            return Ok(());
        }
        if !self.tasks.is_empty() || needs.iter().any(|&b| b) {
            return Ok(());
        }
        self.skip_unfinished(&mut txn);
        self.set_state(RunState::Cancelled);
        self.event(&mut txn, None, EventKind::RunCancelled);
        self.commit(txn).await
    }

    /// On cancel: steps that never started are skipped, and so are started ones with nothing
    /// to undo. Started steps with a compensation keep their state, so a later
    /// `cancel --teardown` still knows what to undo.
    pub(super) fn skip_unfinished(&mut self, txn: &mut Txn) {
        let now = self.inner.clock.now();
        let def = self.def();
        for i in 0..self.steps.len() {
            if self.in_flight.contains_key(&i) {
                continue;
            }
            let skip = match self.steps[i].status {
                StepStatus::Pending => true,
                StepStatus::Waiting { .. } | StepStatus::Running { .. } => {
                    def.steps()[i].compensation.is_none()
                }
                _ => false,
            };
            if skip {
                self.steps[i].status = StepStatus::Skipped;
                self.steps[i].updated_at = now;
                txn.put_step(&self.steps[i]);
                self.event(txn, Some(i), EventKind::StepSkipped);
            }
        }
    }
}
