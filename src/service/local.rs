//! [`Runs`] over an engine in this process: what the daemon's handlers call, and what a CLI
//! verb uses when no other process holds the store.

use super::suggest::{did_you_mean, not_found_hint};
use super::types::{
    Action, ControlBody, ControlRequest, FollowFrom, HistoryPage, PlanRequest, ResumeReply,
    ResumeRequest, RunList, RunStatus, SpecRequest, SubmitRequest, API_VERSION,
};
use super::{ErrorKind, Place, Runs, ServiceError, ServiceResult};
use async_trait::async_trait;
use failback_engine::planner::{self, Plan};
use failback_engine::{valid_run_id, Amendment, Engine, EngineError};
use failback_state::{RunFilter, RunRecord, RunState, StoreError};
use failback_workflows::failback::{run_input, spec_of, WORKFLOW};
use failback_workflows::spec;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Longest a history long poll may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How long in-flight steps get to reach a checkpoint when a foreground session ends.
pub const GRACE: Duration = Duration::from_secs(10);

/// Signals a run understands.
pub const KNOWN_SIGNALS: [&str; 1] = [failback_steps::steps::await_failback::SIGNAL];

#[derive(Clone)]
pub struct LocalRuns {
    engine: Engine,
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        let kind = match e {
            StoreError::RunNotFound(_) => ErrorKind::NotFound,
            StoreError::RunExists(_) => ErrorKind::Conflict,
            StoreError::Closed | StoreError::WriteFailed(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        let message = match &e {
            // Two creates of one id: the store's check under its create lock decides.
            StoreError::RunExists(id) => format!("run {id} exists already"),
            _ => e.to_string(),
        };
        Self::new(kind, message)
    }
}

impl From<EngineError> for ServiceError {
    fn from(e: EngineError) -> Self {
        let msg = e.to_string();
        match e {
            EngineError::InvalidRunId(_) | EngineError::UnknownStep { .. } => {
                Self::bad_request(msg)
            }
            EngineError::RunNotFound(_) => Self::not_found(msg),
            EngineError::InvalidState { .. }
            | EngineError::Quarantined(_)
            | EngineError::NotOwned { .. } => Self::conflict(msg),
            EngineError::ShuttingDown
            | EngineError::OwnerSilent { .. }
            | EngineError::OwnerFailed {
                unavailable: true, ..
            } => Self::new(ErrorKind::Unavailable, msg),
            EngineError::Store(e) => e.into(),
            _ => Self::internal(msg),
        }
    }
}

impl LocalRuns {
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The same runs, whose control actions record `by` in the history.
    pub fn acting_as(&self, by: &str) -> Self {
        Self::new(self.engine.acting_as(by))
    }

    fn check_id(id: &str) -> ServiceResult<()> {
        if valid_run_id(id) {
            Ok(())
        } else {
            Err(EngineError::InvalidRunId(id.to_owned()).into())
        }
    }

    /// The run, or "not found" with the nearest ids as a hint.
    fn load_run(&self, id: &str) -> ServiceResult<RunRecord> {
        Self::check_id(id)?;
        match self.engine.store().load_run(id)? {
            Some(r) => Ok(r),
            None => Err(self.run_not_found(id)),
        }
    }

    fn run_not_found(&self, id: &str) -> ServiceError {
        let ids: Vec<String> = self
            .engine
            .store()
            .run_summaries(&RunFilter::default())
            .map(|rs| rs.into_iter().map(|r| r.id).collect())
            .unwrap_or_default();
        ServiceError::not_found(format!(
            "run {id} not found{}",
            not_found_hint(id, &ids, "failback list")
        ))
    }

    fn spec(req: &SpecRequest) -> ServiceResult<spec::Spec> {
        let parsed = match (&req.spec_toml, &req.spec_path) {
            (Some(text), origin) => spec::parse(text, origin.as_deref().unwrap_or("request")),
            (None, Some(path)) => {
                let path = Path::new(path);
                if !path.is_absolute() {
                    return Err(ServiceError::bad_request(
                        "spec_path must be absolute (or send spec_toml)",
                    ));
                }
                spec::load(path)
            }
            (None, None) => {
                return Err(ServiceError::bad_request(
                    "spec_toml or spec_path is required",
                ))
            }
        };
        parsed.map_err(|errs| ServiceError::bad_request(format!("the spec is not valid:\n{errs}")))
    }

    fn run_id(req: &SpecRequest) -> ServiceResult<String> {
        let id = req
            .run_id
            .clone()
            .unwrap_or_else(crate::context::new_run_id);
        Self::check_id(&id)?;
        Ok(id)
    }

    /// The edges of a run's DAG, as its definition version builds it.
    fn edges(&self, run: &RunRecord) -> ServiceResult<Vec<(String, String)>> {
        let def = self.engine.registry().build(
            &run.workflow,
            run.definition_version,
            &run.id,
            &run.input,
        )?;
        Ok(def.edges())
    }

    /// The edges for a view. Looking at a run must not need its credential's secrets: where
    /// they are not set, the DAG is built from the input with a credential that reads none;
    /// none at all (the view then groups steps by network) if even that fails.
    fn view_edges(&self, run: &RunRecord) -> Vec<(String, String)> {
        let built = self.edges(run).or_else(|_| {
            let input = failback_workflows::failback::input_for_views(&run.input)?;
            let reg = self.engine.registry();
            let def = reg.build(&run.workflow, run.definition_version, &run.id, &input)?;
            Ok::<_, EngineError>(def.edges())
        });
        built.unwrap_or_else(|e| {
            tracing::debug!(run_id = %run.id, error = %e, "no DAG for the view");
            Vec::new()
        })
    }

    /// The daemon does not trust a client's amendment: the same rules as the CLI's, on the
    /// stored run, and the changes recorded are the ones it computes.
    fn checked_amendment(
        &self,
        run: &RunRecord,
        input: &serde_json::Value,
    ) -> ServiceResult<Amendment> {
        use crate::commands::amend::{diff, refusal};
        let bad = |e: EngineError| ServiceError::bad_request(e.to_string());
        let old = spec_of(&run.input).map_err(bad)?;
        let new = spec_of(input).map_err(bad)?;
        let changes = diff(&old, &new);
        let refused: Vec<String> = changes
            .iter()
            .filter_map(|c| refusal(c, &old, &run.id).map(|why| format!("{}: {why}", c.path)))
            .collect();
        if changes.is_empty() || !refused.is_empty() {
            return Err(ServiceError::bad_request(format!(
                "run {} not amended, nothing changed: {}",
                run.id,
                if changes.is_empty() {
                    "no difference".to_owned()
                } else {
                    refused.join("; ")
                }
            )));
        }
        Ok(Amendment {
            input: run_input(&new),
            changes: changes.iter().map(ToString::to_string).collect(),
        })
    }

    /// A step id the run does not have: the error names the nearest.
    fn check_step(&self, run: &RunRecord, step: &str) -> ServiceResult<()> {
        let steps: Vec<String> = self
            .engine
            .store()
            .load_steps(&run.id)?
            .into_iter()
            .map(|s| s.step_id)
            .collect();
        if steps.iter().any(|s| s == step) {
            return Ok(());
        }
        let hint = match did_you_mean(step, &steps) {
            Some(s) => format!("; did you mean {s}?"),
            None => format!("; its steps: {}", steps.join(", ")),
        };
        Err(ServiceError::bad_request(format!(
            "run {}: unknown step {step:?}{hint}",
            run.id
        )))
    }

    async fn retry(&self, run: &RunRecord, body: &ControlBody) -> ServiceResult<RunRecord> {
        if let Some(from) = &body.from {
            self.check_step(run, from)?;
        }
        let amend = match &body.amend {
            Some(a) => Some(self.checked_amendment(run, &a.input)?),
            None => None,
        };
        Ok(self
            .engine
            .retry_amended(&run.id, body.from.as_deref(), amend)
            .await?)
    }

    async fn signal(&self, id: &str, name: Option<&str>) -> ServiceResult<RunRecord> {
        let name = name.ok_or_else(|| ServiceError::bad_request("\"signal\" is required"))?;
        if !KNOWN_SIGNALS.contains(&name) {
            let hint = did_you_mean(name, &KNOWN_SIGNALS.map(str::to_owned))
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default();
            return Err(ServiceError::bad_request(format!(
                "unknown signal {name:?}{hint} (known: {})",
                KNOWN_SIGNALS.join(", ")
            )));
        }
        Ok(self.engine.signal(id, name).await?)
    }
}

/// The state named by a `--state`/`?state=` value, with the nearest name as a hint.
pub fn parse_state(s: &str) -> ServiceResult<RunState> {
    RunState::from_name(s).ok_or_else(|| {
        let names: Vec<String> = RunState::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let hint = did_you_mean(s, &names)
            .map(|n| format!("did you mean {n}? "))
            .unwrap_or_default();
        ServiceError::bad_request(format!(
            "unknown run state {s:?}: {hint}expected one of {}",
            names.join(", ")
        ))
    })
}

fn terminal(r: &RunRecord) -> bool {
    matches!(
        r.state,
        RunState::Succeeded | RunState::Failed | RunState::Cancelled
    )
}

#[async_trait]
impl Runs for LocalRuns {
    fn place(&self) -> Place {
        Place::InProcess
    }

    async fn plan_new(&self, req: &PlanRequest) -> ServiceResult<Plan> {
        let spec = Self::spec(req)?;
        let id = Self::run_id(req)?;
        let input = run_input(&spec);
        Ok(planner::plan_new(self.engine.registry(), WORKFLOW, &id, input, req.offline).await?)
    }

    async fn plan_run(&self, id: &str, offline: bool) -> ServiceResult<Plan> {
        self.load_run(id)?;
        let e = &self.engine;
        Ok(planner::plan_run(e.store(), e.registry(), id, offline).await?)
    }

    async fn submit(&self, req: &SubmitRequest) -> ServiceResult<RunRecord> {
        let spec = Self::spec(req)?;
        let id = Self::run_id(req)?;
        if self.engine.store().load_run(&id)?.is_some() {
            return Err(ServiceError::conflict(format!(
                "run {id} exists already; follow it with `failback status {id} --follow`"
            )));
        }
        let mut labels = BTreeMap::new();
        let origin = req.spec_path.clone().unwrap_or_else(|| "api".into());
        labels.insert("spec".to_owned(), origin);
        let input = run_input(&spec);
        Ok(self.engine.submit(WORKFLOW, &id, input, labels).await?)
    }

    async fn list(&self, state: Option<&str>) -> ServiceResult<RunList> {
        let states = state.map(parse_state).transpose()?.into_iter().collect();
        let store = self.engine.store();
        // A damaged run record is a warning here, not the end of the list.
        let mut runs = Vec::new();
        let mut warnings = Vec::new();
        for r in store.run_summaries_lenient(&RunFilter { states })? {
            match r {
                Ok(run) => runs.push(run),
                Err(e) => warnings.push(e.to_string()),
            }
        }
        warnings.extend(store.list_quarantined()?.iter().map(ToString::to_string));
        Ok(RunList {
            api_version: API_VERSION,
            runs,
            now: self.engine.clock().now(),
            warnings,
        })
    }

    async fn status(&self, id: &str) -> ServiceResult<RunStatus> {
        let run = self.load_run(id)?;
        let steps = self.engine.store().load_steps(id)?;
        let edges = self.view_edges(&run);
        Ok(RunStatus {
            api_version: API_VERSION,
            run,
            steps,
            edges,
            now: self.engine.clock().now(),
        })
    }

    async fn history(&self, id: &str, after: u64, wait_ms: u64) -> ServiceResult<HistoryPage> {
        let wait = Duration::from_millis(wait_ms).min(MAX_WAIT);
        let mut run = self.load_run(id)?;
        if !wait.is_zero() && run.next_event_seq <= after && !terminal(&run) {
            let ready = |r: &RunRecord| r.next_event_seq > after || terminal(r);
            if let Ok(r) = tokio::time::timeout(wait, self.engine.wait_for(id, ready)).await {
                run = r?;
            }
        }
        let events: Vec<_> = self
            .engine
            .store()
            .history(id)?
            .into_iter()
            .filter(|e| e.seq >= after)
            .collect();
        let next = events.last().map_or(after, |e| e.seq + 1);
        Ok(HistoryPage {
            api_version: API_VERSION,
            run,
            events,
            next,
        })
    }

    async fn control(&self, id: &str, req: &ControlRequest) -> ServiceResult<RunRecord> {
        let run = self.load_run(id)?;
        let e = &self.engine;
        match req.action {
            Action::Cancel => Ok(e.cancel(id, req.body.teardown).await?),
            Action::Retry => self.retry(&run, &req.body).await,
            Action::Pause => Ok(e.pause(id).await?),
            Action::Resume => Ok(e.unpause(id).await?),
            Action::Signal => self.signal(id, req.body.signal.as_deref()).await,
        }
    }

    async fn resume(&self, req: &ResumeRequest) -> ServiceResult<ResumeReply> {
        for id in &req.runs {
            if self.load_run(id)?.state == RunState::Paused {
                self.engine.unpause(id).await?;
            }
        }
        let report = self.engine.resume_all()?;
        let mut warnings = report.unreadable.clone();
        warnings.extend(report.quarantined.iter().map(ToString::to_string));
        let quarantined = |id: &str| report.quarantined.iter().any(|q| q.run_id == id);
        let ids: Vec<String> = if req.runs.is_empty() {
            // Runs whose record does not read were reported above; follow the others.
            let store = self.engine.store();
            store
                .run_summaries_lenient(&RunFilter::unfinished())?
                .into_iter()
                .filter_map(Result::ok)
                .map(|r| r.id)
                .filter(|id| !quarantined(id))
                .collect()
        } else {
            req.runs.clone()
        };
        let mut runs = Vec::new();
        for id in ids {
            let after = self.load_run(&id)?.next_event_seq;
            runs.push(FollowFrom { run_id: id, after });
        }
        Ok(ResumeReply {
            api_version: API_VERSION,
            runs,
            scheduled: report.scheduled,
            warnings,
            quarantined: !report.quarantined.is_empty(),
        })
    }

    async fn fatal(&self) -> String {
        self.engine.fatal().await.to_string()
    }

    async fn interrupt(&self) -> Vec<String> {
        let mut lines = vec!["interrupted: letting in-flight steps reach a checkpoint…".into()];
        if !self.engine.shutdown(GRACE).await {
            lines.push("some steps were still running; they will run again on resume".into());
        }
        lines
    }

    async fn close(&self) {
        self.engine.shutdown(GRACE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_that_does_not_answer_is_unavailable_not_a_conflict() {
        let silent: ServiceError = EngineError::OwnerSilent {
            run: "r".into(),
            secs: 40,
        }
        .into();
        assert_eq!(silent.kind, ErrorKind::Unavailable);
        assert!(silent.message.contains("within 40 s"), "{}", silent.message);
        let failed = |unavailable| -> ServiceError {
            EngineError::OwnerFailed {
                run: "r".into(),
                message: "boom".into(),
                unavailable,
            }
            .into()
        };
        assert_eq!(failed(true).kind, ErrorKind::Unavailable);
        assert_eq!(failed(false).kind, ErrorKind::Internal);
    }
}
