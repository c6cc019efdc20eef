//! Recording what an execution decided: the outcome and its event in one durable commit,
//! together with the intents of the successors it unblocked.

use super::{Finished, RunDriver};
use crate::crash::{AFTER_OUTCOME, BEFORE_OUTCOME};
use crate::step::StepOutcome;
use crate::EngineError;
use failback_state::{EventKind, RunState, StepErrorRecord, StepStatus, Txn, WaitReason};
use serde_json::Value;
use std::sync::Arc;

impl RunDriver {
    pub(super) async fn on_finished(&mut self, fin: Finished) -> Result<(), EngineError> {
        let i = fin.idx;
        if i >= self.steps.len() {
            return Ok(());
        }
        let step_id = self.steps[i].step_id.clone();
        self.inner.crash.hit(&step_id, BEFORE_OUTCOME);
        let now = self.inner.clock.now();
        let mut txn = self.inner.store.txn();
        let attempt = fin.attempt;
        if fin.compensation {
            match fin.outcome {
                StepOutcome::Fail(f) => {
                    let msg = format!("compensation of {step_id} failed: {}", f.message);
                    self.fail(&mut txn, i, attempt, &f.code, &msg);
                }
                _ => {
                    self.steps[i].status = StepStatus::Compensated;
                    self.steps[i].updated_at = now;
                    txn.put_step(&self.steps[i]);
                    self.event(&mut txn, Some(i), EventKind::StepCompensated);
                }
            }
            self.persist(txn).await?;
            self.inner.crash.hit(&step_id, AFTER_OUTCOME);
            self.announce();
            return Ok(());
        }
        match fin.outcome {
            StepOutcome::Done(output) => {
                Arc::make_mut(&mut self.outputs).insert(step_id.clone(), output.clone());
                self.steps[i].status = StepStatus::Succeeded { output };
                self.steps[i].updated_at = now;
                txn.put_step(&self.steps[i]);
                self.event(&mut txn, Some(i), EventKind::StepSucceeded { attempt });
            }
            StepOutcome::Wait {
                until,
                state,
                deadline,
            } => {
                let deadline = deadline.or(fin.deadline);
                match deadline {
                    Some(d) if now >= d => {
                        let msg = format!("deadline passed while waiting (deadline {d} ms)");
                        self.fail(&mut txn, i, attempt, "DeadlineExceeded", &msg);
                    }
                    _ => {
                        self.steps[i].status = StepStatus::Waiting {
                            wake_at: until,
                            deadline,
                            poll_state: state,
                            reason: WaitReason::Timer,
                        };
                        self.steps[i].updated_at = now;
                        txn.put_step(&self.steps[i]);
                        // A poll that finds the wait unfinished changes no state: the step
                        // record (poll count, last poll, next wake) is its only trace.
                        if !fin.poll {
                            self.event(
                                &mut txn,
                                Some(i),
                                EventKind::StepWaiting {
                                    attempt,
                                    wake_at: until,
                                },
                            );
                        }
                    }
                }
            }
            StepOutcome::Retry { .. } | StepOutcome::Restart { .. } => {
                let (after, reason, keep) = match fin.outcome {
                    StepOutcome::Retry { after, reason } => (after, reason, true),
                    StepOutcome::Restart { after, reason } => (after, reason, false),
                    _ => unreachable!("matched above"),
                };
                let policy = self.def().steps()[i].retry.clone();
                self.steps[i].retries += 1;
                let n = self.steps[i].retries;
                if n > policy.max_retries {
                    let msg = format!("{reason} (gave up after {n} transient failures)");
                    self.fail(&mut txn, i, attempt, "RetriesExhausted", &msg);
                } else {
                    let wake_at = now + policy.delay(n, after).as_millis() as u64;
                    self.steps[i].status = StepStatus::Waiting {
                        wake_at,
                        deadline: fin.deadline,
                        poll_state: fin.poll_state.filter(|_| keep).unwrap_or(Value::Null),
                        reason: WaitReason::Retry {
                            reason: reason.clone(),
                        },
                    };
                    self.steps[i].updated_at = now;
                    txn.put_step(&self.steps[i]);
                    self.event(
                        &mut txn,
                        Some(i),
                        EventKind::StepRetryScheduled {
                            attempt,
                            wake_at,
                            reason,
                        },
                    );
                }
            }
            StepOutcome::Fail(f) => self.fail(&mut txn, i, attempt, &f.code, &f.message),
        }
        let mut launches = Vec::new();
        if matches!(self.run_ref().state, RunState::Running | RunState::Waiting)
            && !self.inner.shutdown.is_cancelled()
        {
            let ready = self.ready();
            if !ready.is_empty() {
                self.set_running_for(&ready);
                launches = self.intents(&mut txn, &ready, false);
            } else if self.tasks.is_empty() {
                self.settle(&mut txn);
            }
        }
        self.persist(txn).await?;
        // The crash point comes before anyone hears of the outcome: a waiter seeing the run
        // finish must not let the process exit ahead of it.
        self.inner.crash.hit(&step_id, AFTER_OUTCOME);
        self.announce();
        self.launch(launches);
        Ok(())
    }

    /// Record a permanent failure of step `i`; the run fails with it unless it is already
    /// failed or cancelled. While the run is being cancelled only a failed undo fails it: a
    /// forward execution that was in flight when the cancel came (and stopped, or failed) is
    /// recorded, and the teardown goes on.
    pub(super) fn fail(
        &mut self,
        txn: &mut Txn,
        i: usize,
        attempt: u32,
        code: &str,
        message: &str,
    ) {
        let undoing = matches!(self.steps[i].status, StepStatus::Compensating { .. });
        let now = self.inner.clock.now();
        self.steps[i].status = StepStatus::Failed {
            error: StepErrorRecord {
                code: code.to_owned(),
                message: message.to_owned(),
                permanent: true,
            },
        };
        self.steps[i].updated_at = now;
        txn.put_step(&self.steps[i]);
        self.event(
            txn,
            Some(i),
            EventKind::StepFailed {
                attempt,
                code: code.to_owned(),
                message: message.to_owned(),
            },
        );
        let state = self.run_ref().state;
        let fails_run = match state {
            RunState::Pending | RunState::Running | RunState::Waiting | RunState::Paused => true,
            RunState::Cancelling => undoing,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled => false,
        };
        if fails_run {
            let step_id = self.steps[i].step_id.clone();
            let run = self.run.as_mut().expect("run loaded");
            run.state = RunState::Failed;
            run.wake_at = None;
            run.error = Some(format!("step {step_id} failed: {code}: {message}"));
            self.event(
                txn,
                None,
                EventKind::RunFailed {
                    step_id,
                    message: format!("{code}: {message}"),
                },
            );
        }
    }
}
