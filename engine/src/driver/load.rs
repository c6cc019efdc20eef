//! Loading a run into its driver: the run record, its workflow, its steps. A run with a
//! damaged record is quarantined instead (see `crate::quarantine`).

use super::Mailbox;
use crate::definition::WorkflowDef;
use crate::quarantine;
use crate::EngineError;
use failback_state::{QuarantineRecord, RunRecord, StepRecord, StepStatus};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A run as its driver works on it: the record, its workflow, one record per step of the
/// definition (pending where none is stored yet) and the outputs of those that succeeded.
pub(super) struct LoadedRun {
    pub run: RunRecord,
    pub def: Arc<WorkflowDef>,
    pub steps: Vec<StepRecord>,
    pub outputs: BTreeMap<String, Value>,
}

/// What a driver found when it loaded its run.
pub(super) enum Loaded {
    Ready(Box<LoadedRun>),
    /// Unknown or finished.
    Absent,
    /// Another process owns it.
    NotOurs,
    Quarantined(QuarantineRecord),
}

impl Mailbox {
    /// Load the run unless it is quarantined; a damaged run or step record quarantines it.
    pub(super) async fn load_or_quarantine(&mut self) -> Result<Loaded, EngineError> {
        // Own it first: on a shared store, what is read after taking the fence is the last
        // owner's final state, and nobody else writes it any more.
        match self.inner.store.own(&self.run_id).await {
            Ok(()) => {}
            Err(failback_state::StoreError::Owned { .. }) => return Ok(Loaded::NotOurs),
            Err(e) => return Err(e.into()),
        }
        if let Some(q) = self.inner.store.load_quarantine(&self.run_id)? {
            return Ok(Loaded::Quarantined(q));
        }
        let e = match self.load() {
            Ok(Some(run)) => return Ok(Loaded::Ready(Box::new(run))),
            Ok(None) => return Ok(Loaded::Absent),
            Err(EngineError::Store(e)) => e,
            Err(e) => return Err(e),
        };
        let now = self.inner.clock.now();
        let Some(q) = quarantine::record_for(&self.run_id, &e, now) else {
            return Err(e.into());
        };
        tracing::error!(key = %q.key, error = %q.error,
            "run record damaged; run quarantined, not driven");
        self.inner.store.quarantine(&q).await?;
        self.inner.notify_run(&self.run_id);
        Ok(Loaded::Quarantined(q))
    }

    /// Load the run and its steps; `None` if there is nothing to drive.
    fn load(&self) -> Result<Option<LoadedRun>, EngineError> {
        let Some(run) = self.inner.store.load_run(&self.run_id)? else {
            return Ok(None);
        };
        let def = match self.inner.registry.build(
            &run.workflow,
            run.definition_version,
            &run.id,
            &run.input,
        ) {
            Ok(d) => Arc::new(d),
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the run's workflow");
                return Err(e);
            }
        };
        let mut by_id: HashMap<String, StepRecord> = self
            .inner
            .store
            .load_steps(&self.run_id)?
            .into_iter()
            .map(|s| (s.step_id.clone(), s))
            .collect();
        let now = self.inner.clock.now();
        let steps: Vec<StepRecord> = def
            .steps()
            .iter()
            .map(|s| {
                by_id
                    .remove(&s.id)
                    .unwrap_or_else(|| StepRecord::pending(&self.run_id, &s.id, now))
            })
            .collect();
        let mut outputs = BTreeMap::new();
        for s in &steps {
            if let StepStatus::Succeeded { output } = &s.status {
                outputs.insert(s.step_id.clone(), output.clone());
            }
        }
        Ok(Some(LoadedRun {
            run,
            def,
            steps,
            outputs,
        }))
    }
}
