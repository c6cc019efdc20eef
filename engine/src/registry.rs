//! Maps a run's stored `(workflow, definition_version)` back to a DAG, so a run started by
//! one release is rebuilt and resumed by the next.

use crate::definition::WorkflowDef;
use crate::EngineError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds the DAG of one workflow version for a run, from its id and input.
pub type WorkflowFactory =
    Arc<dyn Fn(&str, &Value) -> Result<WorkflowDef, EngineError> + Send + Sync>;

#[derive(Default, Clone)]
pub struct WorkflowRegistry {
    factories: BTreeMap<(String, u32), WorkflowFactory>,
}

impl WorkflowRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<F>(&mut self, name: &str, version: u32, factory: F) -> &mut Self
    where
        F: Fn(&str, &Value) -> Result<WorkflowDef, EngineError> + Send + Sync + 'static,
    {
        self.factories
            .insert((name.to_owned(), version), Arc::new(factory));
        self
    }

    pub fn build(
        &self,
        name: &str,
        version: u32,
        run_id: &str,
        input: &Value,
    ) -> Result<WorkflowDef, EngineError> {
        match self.factories.get(&(name.to_owned(), version)) {
            Some(f) => f(run_id, input),
            None => Err(EngineError::UnknownWorkflow {
                name: name.to_owned(),
                version,
                known: self
                    .factories
                    .keys()
                    .map(|(n, v)| format!("{n} v{v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The newest registered version of `name`.
    pub fn latest(&self, name: &str) -> Option<u32> {
        self.factories
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .max()
    }
}
