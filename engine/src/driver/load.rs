//! Loading a run into its driver: the run record, its workflow, its steps. A run with a
//! damaged record is quarantined instead (see `crate::quarantine`).

use super::RunDriver;
use crate::quarantine;
use crate::EngineError;
use failback_state::{QuarantineRecord, StepRecord, StepStatus};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What a driver found when it loaded its run.
pub(super) enum Loaded {
    Ready,
    /// Unknown or finished.
    Absent,
    Quarantined(QuarantineRecord),
}

impl RunDriver {
    /// Load the run unless it is quarantined; a damaged run or step record quarantines it.
    pub(super) async fn load_or_quarantine(&mut self) -> Result<Loaded, EngineError> {
        if let Some(q) = self.inner.store.load_quarantine(&self.run_id)? {
            return Ok(Loaded::Quarantined(q));
        }
        let e = match self.load() {
            Ok(true) => return Ok(Loaded::Ready),
            Ok(false) => return Ok(Loaded::Absent),
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

    /// Load the run and its steps. False if there is nothing to drive.
    fn load(&mut self) -> Result<bool, EngineError> {
        let Some(run) = self.inner.store.load_run(&self.run_id)? else {
            return Ok(false);
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
        self.steps = def
            .steps()
            .iter()
            .map(|s| {
                by_id
                    .remove(&s.id)
                    .unwrap_or_else(|| StepRecord::pending(&self.run_id, &s.id, now))
            })
            .collect();
        let mut outputs = BTreeMap::new();
        for s in &self.steps {
            if let StepStatus::Succeeded { output } = &s.status {
                outputs.insert(s.step_id.clone(), output.clone());
            }
        }
        self.outputs = Arc::new(outputs);
        self.run = Some(run);
        self.def = Some(def);
        Ok(true)
    }
}
