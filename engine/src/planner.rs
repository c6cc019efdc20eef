//! Dry run: what each step of a new or existing run would do, without side effects.

use crate::definition::WorkflowDef;
use crate::registry::WorkflowRegistry;
use crate::step::{PlanChange, PlanContext, StepPlan};
use crate::EngineError;
use failback_state::{StateStore, StepStatus};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlannedStep {
    pub id: String,
    pub deps: Vec<String>,
    /// For an existing run: the step's stored status.
    pub status: Option<String>,
    pub plan: StepPlan,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Plan {
    pub workflow: String,
    pub version: u32,
    pub run_id: Option<String>,
    pub steps: Vec<PlannedStep>,
}

impl Plan {
    /// True when some step is blocked (the CLI exits 2).
    pub fn blocked(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.plan.change, PlanChange::Blocked { .. }))
    }
    /// True when applying would change nothing.
    pub fn no_changes(&self) -> bool {
        self.steps.iter().all(|s| {
            matches!(
                s.plan.change,
                PlanChange::Exists | PlanChange::NoOp | PlanChange::Done
            )
        })
    }
}

/// `run_id`: the run's id as the steps see it (a new run's too, so a step can tell what that
/// run owns); `existing`: whether the run exists (the plan reports its id then).
async fn plan_def(
    def: &WorkflowDef,
    run_id: &str,
    existing: bool,
    input: Arc<Value>,
    statuses: &BTreeMap<String, StepStatus>,
    offline: bool,
) -> Plan {
    let mut outputs = BTreeMap::new();
    for (id, st) in statuses {
        if let StepStatus::Succeeded { output } = st {
            outputs.insert(id.clone(), output.clone());
        }
    }
    let outputs = Arc::new(outputs);
    let mut steps = Vec::new();
    for s in def.topo() {
        let ctx = PlanContext {
            run_id: Some(run_id.to_owned()),
            step_id: s.id.clone(),
            input: s.input.clone(),
            run_input: input.clone(),
            outputs: outputs.clone(),
            offline,
        };
        let plan = s.step.plan(&ctx).await;
        steps.push(PlannedStep {
            id: s.id.clone(),
            deps: s.deps.clone(),
            status: statuses.get(&s.id).map(|st| st.name().to_owned()),
            plan,
        });
    }
    Plan {
        workflow: def.name.clone(),
        version: def.version,
        run_id: existing.then(|| run_id.to_owned()),
        steps,
    }
}

/// Plan a run that does not exist yet (it would get id `run_id`), with the newest version
/// of `workflow`.
pub async fn plan_new(
    registry: &WorkflowRegistry,
    workflow: &str,
    run_id: &str,
    input: Value,
    offline: bool,
) -> Result<Plan, EngineError> {
    let version = registry.latest(workflow).unwrap_or(0);
    let def = registry.build(workflow, version, run_id, &input)?;
    Ok(plan_def(
        &def,
        run_id,
        false,
        Arc::new(input),
        &BTreeMap::new(),
        offline,
    )
    .await)
}

/// Plan an existing run: done / waiting / to-do steps, and drift of done ones.
pub async fn plan_run(
    store: &StateStore,
    registry: &WorkflowRegistry,
    run_id: &str,
    offline: bool,
) -> Result<Plan, EngineError> {
    let run = store
        .load_run(run_id)?
        .ok_or_else(|| EngineError::RunNotFound(run_id.into()))?;
    let def = registry.build(&run.workflow, run.definition_version, &run.id, &run.input)?;
    let statuses: BTreeMap<String, StepStatus> = store
        .load_steps(run_id)?
        .into_iter()
        .map(|s| (s.step_id, s.status))
        .collect();
    Ok(plan_def(&def, &run.id, true, Arc::new(run.input), &statuses, offline).await)
}
