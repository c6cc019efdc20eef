//! The `Step` trait: what one node of a workflow does, and what it would do (dry run).

use crate::clock::Clock;
use crate::crash::CrashPoints;
use failback_state::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A permanent failure: retrying will not help. `code` is stable (for example the ARM error
/// code `SkuNotAvailable`), `message` is for the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailure {
    pub code: String,
    pub message: String,
}

impl StepFailure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for StepFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What an execution of a step decided.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Finished; successors may start once this is durable.
    Done(Value),
    /// Call me again at `until` with `state` as `poll_state` (durable timer: no task is held).
    /// `deadline`, once set, survives restarts and fails the step when passed.
    Wait {
        until: Millis,
        state: Value,
        deadline: Option<Millis>,
    },
    /// A transient failure. `after` is the delay the other side asked for (Retry-After);
    /// without it the retry policy's backoff applies.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Like `Retry`, but the next attempt starts afresh: the poll state is dropped (for
    /// example an operation that failed transiently and must be sent again).
    Restart {
        after: Option<Duration>,
        reason: String,
    },
    /// A permanent failure.
    Fail(StepFailure),
}

/// Everything a step execution may read. Built by the executor per attempt.
pub struct StepContext {
    pub run_id: String,
    pub step_id: String,
    /// 1 for the first execution; grows with every re-execution after a failure, a crash
    /// or a reset. A poll of a wait keeps the attempt of the execution that started it.
    pub attempt: u32,
    /// 0 for an attempt's first execution; n for the n-th poll of its wait (an execution
    /// woken by the step's own `Wait` timer).
    pub poll: u32,
    /// This step's own input from the workflow definition.
    pub input: Value,
    /// The run's input (for failback: the spec snapshot).
    pub run_input: Arc<Value>,
    /// Outputs of every step of the run that has succeeded, by step id.
    pub outputs: Arc<BTreeMap<String, Value>>,
    /// The `state` of the previous `Wait` or interrupted attempt, if any.
    pub poll_state: Option<Value>,
    /// The deadline carried by the previous `Wait`, if any.
    pub deadline: Option<Millis>,
    /// True when the previous attempt was interrupted (found `Running` after a restart):
    /// its side effect may or may not have happened.
    pub resumed: bool,
    /// Operator signals the run has received.
    pub signals: Arc<Vec<String>>,
    pub clock: Arc<dyn Clock>,
    /// Fires when the run is cancelled or the engine shuts down.
    pub cancel: CancellationToken,
    pub(crate) crash: Arc<CrashPoints>,
}

impl StepContext {
    pub fn now(&self) -> Millis {
        self.clock.now()
    }
    /// A named crash point inside the step (for example between an ARM PUT and the
    /// checkpoint that records it), reached as `<step id>:<name>`.
    pub fn crash_point(&self, name: &str) {
        self.crash.hit(&self.step_id, name);
    }
    /// Output of a succeeded step.
    pub fn output(&self, step_id: &str) -> Option<&Value> {
        self.outputs.get(step_id)
    }
    pub fn has_signal(&self, name: &str) -> bool {
        self.signals.iter().any(|s| s == name)
    }
    /// A context for unit tests of steps (feature `testkit`).
    #[cfg(any(test, feature = "testkit"))]
    pub fn for_test(step_id: &str, input: Value, clock: Arc<dyn Clock>) -> Self {
        Self {
            run_id: "test-run".into(),
            step_id: step_id.into(),
            attempt: 1,
            poll: 0,
            input,
            run_input: Arc::new(Value::Null),
            outputs: Arc::new(BTreeMap::new()),
            poll_state: None,
            deadline: None,
            resumed: false,
            signals: Arc::new(Vec::new()),
            clock,
            cancel: CancellationToken::new(),
            crash: Arc::new(CrashPoints::none()),
        }
    }
}

/// What `plan` found for a step, like `terraform plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum PlanChange {
    /// Would create or change something.
    Create,
    /// What it would create exists already.
    Exists,
    /// Reads or waits only.
    NoOp,
    /// Cannot go ahead; `reason` says why (SKU restricted, quota short, IP taken, ...).
    Blocked { reason: String },
    /// Already done in this run.
    Done,
    /// Done in this run, but what it made no longer matches.
    Drifted { reason: String },
    /// Not checked (offline plan, or live reads failed).
    Unknown,
}

/// A step's dry-run description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPlan {
    /// One line: what the step does.
    pub action: String,
    /// The API calls it would make, e.g. `PUT .../networkInterfaces/ps-vnet-a-nic`.
    pub calls: Vec<String>,
    pub change: PlanChange,
    /// Extra facts (resource ids, sizes) for the detailed view.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

impl StepPlan {
    pub fn new(action: impl Into<String>, change: PlanChange) -> Self {
        Self {
            action: action.into(),
            calls: Vec::new(),
            change,
            details: BTreeMap::new(),
        }
    }
    pub fn call(mut self, c: impl Into<String>) -> Self {
        self.calls.push(c.into());
        self
    }
    pub fn detail(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.details.insert(k.into(), v.into());
        self
    }
}

/// What `plan` may read.
pub struct PlanContext {
    /// The run planned: an existing one, or the id a new one would get.
    pub run_id: Option<String>,
    pub step_id: String,
    pub input: Value,
    pub run_input: Arc<Value>,
    /// For an existing run: outputs of succeeded steps (to check drift).
    pub outputs: Arc<BTreeMap<String, Value>>,
    /// `plan --offline`: make no remote reads.
    pub offline: bool,
}

/// One node of a workflow. Implementations must be idempotent: after a crash the executor
/// runs `execute` again for an attempt whose outcome was not recorded.
#[async_trait::async_trait]
pub trait Step: Send + Sync + 'static {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome;

    /// Describe what `execute` would do, without side effects.
    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        StepPlan::new(format!("run {}", ctx.step_id), PlanChange::Unknown)
    }
}
