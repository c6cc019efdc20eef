//! Recording what an execution decided: the outcome and its event in one durable commit,
//! together with the intents of the successors it unblocked.

use super::{Finished, RunDriver};
use crate::crash::{AFTER_OUTCOME, BEFORE_OUTCOME};
use crate::step::StepOutcome;
use crate::EngineError;
use failback_state::{EventKind, Millis, RunState, StepErrorRecord, StepStatus, Txn, WaitReason};
use serde_json::Value;
use std::sync::Arc;

impl RunDriver {
    pub(super) async fn on_finished(&mut self, fin: Finished) -> Result<(), EngineError> {
        if fin.lost {
            self.inner.store.forget(&self.run_id);
            return Err(EngineError::NotOwned {
                run: self.run_id.clone(),
            });
        }
        let i = fin.idx;
        if i >= self.steps.len() {
            return Ok(());
        }
        let step_id = self.steps[i].step_id.clone();
        self.inner.crash.hit(&step_id, BEFORE_OUTCOME);
        let mut txn = self.inner.store.txn();
        if fin.compensation {
            self.record_undo(&mut txn, fin);
            self.persist(txn).await?;
            self.inner.crash.hit(&step_id, AFTER_OUTCOME);
            self.announce();
            return Ok(());
        }
        self.record_outcome(&mut txn, fin);
        let launches = self.next_launches(&mut txn);
        self.persist(txn).await?;
        // The crash point comes before anyone hears of the outcome: a waiter seeing the run
        // finish must not let the process exit ahead of it.
        self.inner.crash.hit(&step_id, AFTER_OUTCOME);
        self.announce();
        self.launch(launches);
        Ok(())
    }

    /// The outcome of an undo (compensation) of step `fin.idx`.
    fn record_undo(&mut self, txn: &mut Txn, fin: Finished) {
        let i = fin.idx;
        match fin.outcome {
            StepOutcome::Fail(f) => {
                let step_id = &self.steps[i].step_id;
                let msg = format!("compensation of {step_id} failed: {}", f.message);
                self.fail(txn, i, fin.attempt, &f.code, &msg);
            }
            _ => {
                self.steps[i].status = StepStatus::Compensated;
                self.steps[i].updated_at = self.inner.clock.now();
                txn.put_step(&self.steps[i]);
                self.event(txn, Some(i), EventKind::StepCompensated);
            }
        }
    }

    /// The outcome of a forward execution of step `fin.idx`.
    fn record_outcome(&mut self, txn: &mut Txn, fin: Finished) {
        let (i, attempt) = (fin.idx, fin.attempt);
        match fin.outcome {
            StepOutcome::Done(output) => {
                let step_id = self.steps[i].step_id.clone();
                Arc::make_mut(&mut self.outputs).insert(step_id, output.clone());
                self.steps[i].status = StepStatus::Succeeded { output };
                self.steps[i].updated_at = self.inner.clock.now();
                txn.put_step(&self.steps[i]);
                self.event(txn, Some(i), EventKind::StepSucceeded { attempt });
            }
            StepOutcome::Wait {
                until,
                state,
                deadline,
            } => {
                let deadline = deadline.or(fin.deadline);
                let at = WaitAt {
                    idx: i,
                    attempt,
                    poll: fin.poll,
                };
                self.record_wait(txn, &at, until, state, deadline);
            }
            StepOutcome::Retry { after, reason } => {
                let retry = Retrying {
                    idx: i,
                    attempt,
                    after,
                    reason,
                    poll_state: fin.poll_state,
                    deadline: fin.deadline,
                };
                self.record_retry(txn, retry);
            }
            StepOutcome::Restart { after, reason } => {
                let retry = Retrying {
                    idx: i,
                    attempt,
                    after,
                    reason,
                    poll_state: None,
                    deadline: fin.deadline,
                };
                self.record_retry(txn, retry);
            }
            StepOutcome::Fail(f) => self.fail(txn, i, attempt, &f.code, &f.message),
        }
    }

    /// A `Wait` outcome: wait until `until`, or fail if the deadline has passed.
    fn record_wait(
        &mut self,
        txn: &mut Txn,
        at: &WaitAt,
        until: Millis,
        state: Value,
        deadline: Option<Millis>,
    ) {
        let (i, attempt) = (at.idx, at.attempt);
        let now = self.inner.clock.now();
        if let Some(d) = deadline.filter(|d| now >= *d) {
            let msg = format!("deadline passed while waiting (deadline {d} ms)");
            self.fail(txn, i, attempt, "DeadlineExceeded", &msg);
            return;
        }
        self.steps[i].status = StepStatus::Waiting {
            wake_at: until,
            deadline,
            poll_state: state,
            reason: WaitReason::Timer,
        };
        self.steps[i].updated_at = now;
        txn.put_step(&self.steps[i]);
        // A poll that finds the wait unfinished changes no state: the step record (poll
        // count, last poll, next wake) is its only trace.
        if !at.poll {
            let kind = EventKind::StepWaiting {
                attempt,
                wake_at: until,
            };
            self.event(txn, Some(i), kind);
        }
    }

    /// A transient failure (`Retry`, keeping the poll state) or a `Restart` (without it):
    /// wait the retry policy's delay, or fail once its retries are used up.
    fn record_retry(&mut self, txn: &mut Txn, r: Retrying) {
        let Retrying {
            idx: i,
            attempt,
            after,
            reason,
            poll_state,
            deadline,
        } = r;
        let policy = self.def().steps()[i].retry.clone();
        self.steps[i].retries += 1;
        let n = self.steps[i].retries;
        if n > policy.max_retries {
            let msg = format!("{reason} (gave up after {n} transient failures)");
            self.fail(txn, i, attempt, "RetriesExhausted", &msg);
            return;
        }
        let now = self.inner.clock.now();
        let wake_at = now + policy.delay(n, after).as_millis() as u64;
        self.steps[i].status = StepStatus::Waiting {
            wake_at,
            deadline,
            poll_state: poll_state.unwrap_or(Value::Null),
            reason: WaitReason::Retry {
                reason: reason.clone(),
            },
        };
        self.steps[i].updated_at = now;
        txn.put_step(&self.steps[i]);
        let kind = EventKind::StepRetryScheduled {
            attempt,
            wake_at,
            reason,
        };
        self.event(txn, Some(i), kind);
    }

    /// After an outcome: the intents of the steps now ready (written in the same commit), or
    /// the run settled when nothing is left to run.
    fn next_launches(&mut self, txn: &mut Txn) -> Vec<super::Launch> {
        let mut launches = Vec::new();
        if matches!(self.run_ref().state, RunState::Running | RunState::Waiting)
            && !self.inner.shutdown.is_cancelled()
        {
            let ready = self.ready();
            if !ready.is_empty() {
                self.set_running_for(&ready);
                launches = self.intents(txn, &ready, false);
            } else if self.tasks.is_empty() {
                self.settle(txn);
            }
        }
        launches
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
            let run = &mut self.run;
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

/// Which execution a `Wait` outcome belongs to.
struct WaitAt {
    idx: usize,
    attempt: u32,
    /// A poll of a wait (not an attempt): no event when it waits again.
    poll: bool,
}

/// A transient failure of one execution, to be retried after the policy's delay.
struct Retrying {
    idx: usize,
    attempt: u32,
    /// The delay the step asked for (a Retry-After), if any.
    after: Option<std::time::Duration>,
    reason: String,
    /// Kept for a `Retry` (the next attempt goes on polling), dropped for a `Restart`.
    poll_state: Option<Value>,
    deadline: Option<Millis>,
}
