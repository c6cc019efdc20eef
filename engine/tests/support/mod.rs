//! Shared helpers for the engine's integration tests.
#![allow(dead_code)]

use failback_engine::testkit::{self, Effect, Journal};
use failback_engine::{Clock, CrashPoints, Engine, EngineConfig, WorkflowRegistry};
use failback_state::{RunFilter, RunState, StateStore, StepStatus};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub fn engine(store: StateStore, clock: Arc<dyn Clock>, journal: Arc<Journal>) -> Engine {
    engine_with(store, clock, testkit::registry(journal))
}

pub fn engine_with(store: StateStore, clock: Arc<dyn Clock>, registry: WorkflowRegistry) -> Engine {
    Engine::new(
        store,
        registry,
        clock,
        CrashPoints::none(),
        EngineConfig::default(),
    )
}

pub fn branching_input(branches: &[&str], wait_ms: u64) -> serde_json::Value {
    json!({ "branches": branches, "wait_ms": wait_ms })
}

pub fn no_labels() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// Checks the checkpoint protocol's promises against the store and the side-effect journal.
/// With `finished`, also that every run completed with every step applied.
pub fn check_invariants(
    store: &StateStore,
    effects: &[Effect],
    finished: bool,
) -> Result<(), String> {
    let registry = testkit::registry(Journal::memory());
    // Each (run, step, attempt, poll) applied at most once.
    let mut seen = HashSet::new();
    for e in effects {
        if !seen.insert(e.clone()) {
            return Err(format!("effect applied twice: {e:?}"));
        }
    }
    let runs = store
        .list_runs(&RunFilter::all())
        .map_err(|e| e.to_string())?;
    for run in &runs {
        let def = registry
            .build(&run.workflow, run.definition_version, &run.id, &run.input)
            .map_err(|e| e.to_string())?;
        let steps: HashMap<String, StepStatus> = store
            .load_steps(&run.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| (s.step_id.clone(), s.status))
            .collect();
        let attempts: HashMap<String, (u32, u32)> = store
            .load_steps(&run.id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| (s.step_id, (s.attempt, s.polls)))
            .collect();
        let succeeded = |id: &str| matches!(steps.get(id), Some(StepStatus::Succeeded { .. }));
        // No effect of a step before its predecessors' outcomes were durable.
        for e in effects.iter().filter(|e| e.run == run.id) {
            let Some(sd) = def.get(&e.step) else {
                continue; // compensation effects are recorded under the step id too
            };
            for d in &sd.deps {
                if !succeeded(d) {
                    return Err(format!(
                        "run {}: {} ran (attempt {}) but its predecessor {d} is not durably succeeded",
                        run.id, e.step, e.attempt
                    ));
                }
            }
        }
        // A started step's predecessors are durably done.
        for s in def.steps() {
            if !matches!(steps.get(&s.id), Some(StepStatus::Pending) | None) {
                for d in &s.deps {
                    if !succeeded(d) {
                        return Err(format!(
                            "run {}: {} started before {d} succeeded",
                            run.id, s.id
                        ));
                    }
                }
            }
            // A succeeded step's final attempt applied its effect exactly once.
            if succeeded(&s.id) {
                let (a, p) = attempts.get(&s.id).copied().unwrap_or((0, 0));
                let n = effects
                    .iter()
                    .filter(|e| e.run == run.id && e.step == s.id && e.attempt == a && e.poll == p)
                    .count();
                if n != 1 {
                    return Err(format!(
                        "run {}: {} succeeded with attempt {a} (poll {p}) but that execution's effect is in the journal {n} times",
                        run.id, s.id
                    ));
                }
            }
        }
        // The event log is gap-free.
        let history = store.history(&run.id).map_err(|e| e.to_string())?;
        for (i, ev) in history.iter().enumerate() {
            if ev.seq != i as u64 {
                return Err(format!("run {}: event {i} has seq {}", run.id, ev.seq));
            }
        }
        if history.len() as u64 != run.next_event_seq {
            return Err(format!(
                "run {}: {} events but next_event_seq {}",
                run.id,
                history.len(),
                run.next_event_seq
            ));
        }
        if finished {
            if run.state != RunState::Succeeded {
                return Err(format!("run {} is {:?}, not succeeded", run.id, run.state));
            }
            for s in def.steps() {
                if !succeeded(&s.id) {
                    return Err(format!(
                        "run {}: step {} skipped or unfinished",
                        run.id, s.id
                    ));
                }
            }
        }
    }
    Ok(())
}
