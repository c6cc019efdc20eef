//! Record types as stored. Every type here is wrapped by [`crate::codec`] with its schema
//! version; a change to a stored shape bumps the version and freezes the old struct in
//! `codec::v1` (or later) with an upgrade into the current one.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Milliseconds since the UNIX epoch, from the engine's (injectable) clock.
pub type Millis = u64;

/// The store's own format record (`meta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaRecord {
    pub format_version: u32,
    pub created_by: String,
}

/// Whole-run state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created, not yet picked up by an executor.
    Pending,
    /// Has a step running or ready.
    Running,
    /// Every unfinished step waits on a durable timer.
    Waiting,
    /// An operator paused it: no new step starts, no timer fires.
    Paused,
    Succeeded,
    /// A step failed permanently; `retry` can continue it.
    Failed,
    /// Cancel requested: compensations run in reverse order.
    Cancelling,
    Cancelled,
}

impl RunState {
    /// Every state, in lifecycle order.
    pub const ALL: [RunState; 8] = [
        RunState::Pending,
        RunState::Running,
        RunState::Waiting,
        RunState::Paused,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Cancelling,
        RunState::Cancelled,
    ];
    /// The state named `s` as [`RunState::as_str`] spells it.
    pub fn from_name(s: &str) -> Option<RunState> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
    pub fn is_terminal(self) -> bool {
        matches!(self, RunState::Succeeded | RunState::Cancelled)
    }
    /// States an executor drives on start-up (Failed waits for an operator's retry).
    pub fn is_unfinished(self) -> bool {
        matches!(
            self,
            RunState::Pending | RunState::Running | RunState::Waiting | RunState::Cancelling
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Waiting => "waiting",
            RunState::Paused => "paused",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelling => "cancelling",
            RunState::Cancelled => "cancelled",
        }
    }
}

/// One workflow run. Schema 2 (schema 1 had no `labels`, `signals` or `wake_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    /// Name of the workflow definition that builds this run's DAG.
    pub workflow: String,
    /// Version of that definition; a newer release must still build older versions.
    pub definition_version: u32,
    /// The definition's input (for failback: the spec snapshot, never secrets).
    pub input: Value,
    pub state: RunState,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Sequence number the next event of this run gets.
    pub next_event_seq: u64,
    /// Summary of why the run failed, when it did.
    pub error: Option<String>,
    /// Free-form labels (spec file name, operator, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Operator signals received (for example `failback-complete`).
    #[serde(default)]
    pub signals: Vec<String>,
    /// When `Waiting`: the earliest wake time of its steps, so a restart schedules the run
    /// without loading its steps.
    #[serde(default)]
    pub wake_at: Option<Millis>,
}

/// A run record without its input and signals: what lists, metrics and a restart need.
/// Decoded straight from the stored record (the skipped fields are walked, not allocated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    pub workflow: String,
    pub definition_version: u32,
    pub state: RunState,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub error: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub wake_at: Option<Millis>,
}

impl From<&RunRecord> for RunSummary {
    fn from(r: &RunRecord) -> Self {
        RunSummary {
            id: r.id.clone(),
            workflow: r.workflow.clone(),
            definition_version: r.definition_version,
            state: r.state,
            created_at: r.created_at,
            updated_at: r.updated_at,
            error: r.error.clone(),
            labels: r.labels.clone(),
            wake_at: r.wake_at,
        }
    }
}

/// Why a step sleeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WaitReason {
    /// The step asked to be called again (polling, durable timers).
    Timer,
    /// A transient failure; the next attempt runs at `wake_at`.
    Retry { reason: String },
}

/// A step failure as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepErrorRecord {
    pub code: String,
    pub message: String,
    pub permanent: bool,
}

/// The checkpoint protocol's step states (DESIGN.md section 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    /// Intent: the side effect of `attempt` may have started. Carries the poll state and
    /// deadline of the wait it was woken from, so a crash mid-poll loses neither.
    Running {
        attempt: u32,
        #[serde(default)]
        poll_state: Option<Value>,
        #[serde(default)]
        deadline: Option<Millis>,
    },
    Waiting {
        wake_at: Millis,
        deadline: Option<Millis>,
        poll_state: Value,
        reason: WaitReason,
    },
    Succeeded {
        output: Value,
    },
    Failed {
        error: StepErrorRecord,
    },
    Compensating {
        attempt: u32,
    },
    Compensated,
    /// Never started because the run was cancelled.
    Skipped,
}

impl StepStatus {
    pub fn name(&self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running { .. } => "running",
            StepStatus::Waiting { .. } => "waiting",
            StepStatus::Succeeded { .. } => "succeeded",
            StepStatus::Failed { .. } => "failed",
            StepStatus::Compensating { .. } => "compensating",
            StepStatus::Compensated => "compensated",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// One step of one run. Schema 2 (schema 1 had no `polls` or `last_poll_at`, and counted
/// every poll of a wait as an attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub run_id: String,
    pub step_id: String,
    pub status: StepStatus,
    /// Executions started so far: the first, and each one after a failure, a restart or a
    /// reset. A poll of a wait is not an attempt.
    pub attempt: u32,
    /// Transient failures consumed; counted against the retry policy's max attempts.
    pub retries: u32,
    pub started_at: Option<Millis>,
    pub updated_at: Millis,
    /// Polls of this attempt's wait (an execution woken by its own timer to look again).
    /// They change no state, so they append no history event; this count and
    /// `last_poll_at` are their record. Zero again when a new attempt starts.
    #[serde(default)]
    pub polls: u32,
    /// When the last poll started.
    #[serde(default)]
    pub last_poll_at: Option<Millis>,
}

impl StepRecord {
    pub fn pending(run_id: &str, step_id: &str, now: Millis) -> Self {
        Self {
            run_id: run_id.into(),
            step_id: step_id.into(),
            status: StepStatus::Pending,
            attempt: 0,
            retries: 0,
            started_at: None,
            updated_at: now,
            polls: 0,
            last_poll_at: None,
        }
    }
}

/// What happened, for `history` and audits. Never carries step outputs or secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunCreated,
    StepStarted {
        attempt: u32,
    },
    StepSucceeded {
        attempt: u32,
    },
    StepWaiting {
        attempt: u32,
        wake_at: Millis,
    },
    StepRetryScheduled {
        attempt: u32,
        wake_at: Millis,
        reason: String,
    },
    StepFailed {
        attempt: u32,
        code: String,
        message: String,
    },
    StepCompensating {
        attempt: u32,
    },
    StepCompensated,
    StepSkipped,
    StepReset,
    RunWaiting {
        wake_at: Millis,
    },
    RunSucceeded,
    RunFailed {
        step_id: String,
        message: String,
    },
    RunPaused,
    RunResumed,
    RunCancelRequested {
        compensate: bool,
    },
    RunCancelled,
    RunRetried {
        from: Option<String>,
    },
    /// An operator amended the run's input (`retry --spec`): one line per changed field,
    /// `path: old -> new` (never secrets: the input holds secret references only).
    RunAmended {
        changes: Vec<String>,
    },
    Signal {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub run_id: String,
    pub seq: u64,
    pub at: Millis,
    pub step_id: Option<String>,
    pub kind: EventKind,
    /// Who caused it, for an operator's action where that is known (the browser console
    /// names its user). Absent in older records and for the engine's own events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The forwarded command ([`InboxRequest::id`]) that caused it, when one did: a request
    /// found again after its owner changed is known applied by this mark, not applied twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// Why a run is not driven (`quarantine/{run}`): a record of it does not decode. The run's
/// records are left as found, for an operator to inspect or restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRecord {
    pub run_id: String,
    /// The damaged record's key (`run/{run}` or `step/{run}/{step}`).
    pub key: String,
    /// Why it does not decode.
    pub error: String,
    /// When the run was quarantined.
    pub at: Millis,
}

impl std::fmt::Display for QuarantineRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} is quarantined and not driven: record {} is damaged ({})",
            self.run_id, self.key, self.error
        )
    }
}

/// An operator command as another process is asked to apply it (the inbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestedCommand {
    Pause,
    Unpause,
    Cancel {
        compensate: bool,
    },
    Retry {
        from: Option<String>,
        /// A new input for the run, with its changes in words (`retry --spec`).
        amend: Option<(Value, Vec<String>)>,
    },
    Signal {
        name: String,
    },
}

/// A command for a run another process drives (`inbox/{run}/{id}`): the owner applies it under
/// its fence and answers with an [`InboxReply`]. Written by a process that could not take the
/// run's fence; no run's record, so any process may write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxRequest {
    /// Unique per request: the asker's wall-clock time, process id and a counter.
    pub id: String,
    pub run_id: String,
    pub command: RequestedCommand,
    /// On whose behalf (recorded in the events the command appends).
    pub by: Option<String>,
    /// When it was asked (wall clock, not the engine's clock: requests expire in real time).
    pub at: Millis,
}

/// Why the owner refused a forwarded command: the engine errors an operator is shown, in a
/// form that crosses processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    RunNotFound,
    InvalidState {
        message: String,
    },
    UnknownStep {
        step: String,
    },
    Quarantined(QuarantineRecord),
    /// The owner could not write its store.
    Unavailable {
        message: String,
    },
    /// Anything else, in words.
    Failed {
        message: String,
    },
}

/// The owner's answer to an [`InboxRequest`] (`inbox-reply/{id}`): the run as the command left
/// it, or why it was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxReply {
    pub id: String,
    pub run_id: String,
    pub outcome: Result<RunRecord, Refusal>,
    /// When it was answered (wall clock): unclaimed answers are removed after a while.
    pub at: Millis,
}
