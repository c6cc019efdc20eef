//! Amending a failed run's input (`failback retry --spec`): the DAG is rebuilt from the new
//! input and must have the same steps, so what succeeded keeps its outputs and only what has
//! not succeeded runs under the new input.

use super::RunDriver;
use crate::shared::Amendment;
use crate::EngineError;
use failback_state::{EventKind, Txn};
use std::sync::Arc;

impl RunDriver {
    /// Replace the run's input and DAG; adds the `run_amended` event to `txn`.
    pub(super) fn amend(&mut self, txn: &mut Txn, a: Amendment) -> Result<(), EngineError> {
        let run = self.run_ref();
        let invalid = |message: String| EngineError::InvalidState {
            run: run.id.clone(),
            message,
        };
        let def = self
            .inner
            .registry
            .build(&run.workflow, run.definition_version, &run.id, &a.input)
            .map_err(|e| invalid(format!("the amended input does not build the run: {e}")))?;
        let old = self.def();
        let shape = |d: &crate::WorkflowDef| -> Vec<(String, Vec<String>)> {
            d.steps()
                .iter()
                .map(|s| (s.id.clone(), s.deps.clone()))
                .collect()
        };
        if shape(&def) != shape(&old) {
            return Err(invalid(
                "the amended input changes the run's steps (a network added or removed); start a new run"
                    .to_owned(),
            ));
        }
        self.run.input = a.input;
        self.def = Arc::new(def);
        self.event(txn, None, EventKind::RunAmended { changes: a.changes });
        Ok(())
    }
}
