//! Requests and answers of [`super::Runs`]: the local API's wire format (JSON), shared by the
//! daemon's handlers and its client. Store records travel as they are stored (times in epoch
//! milliseconds); what the CLI prints is made from them by [`super::json`] and `render`.

use failback_engine::planner::Plan;
use failback_state::{EventRecord, RunRecord, RunSummary, StepRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API's version: answers carry it as `api_version`; a client refuses another.
pub const API_VERSION: u32 = 1;

fn api_version() -> u32 {
    API_VERSION
}

/// A spec for `plan` or `submit`: its text, or an absolute path the holder of the store reads
/// (relative secret files are then found next to it, as in the CLI).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_toml: Option<String>,
    /// With `spec_toml`: the name used in messages. Alone: an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_path: Option<String>,
    /// Default: a generated id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `plan` only: make no Azure reads.
    #[serde(default)]
    pub offline: bool,
}

pub type PlanRequest = SpecRequest;
pub type SubmitRequest = SpecRequest;

/// `POST /v1/plan`, `GET /v1/runs/{id}/plan`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanReply {
    #[serde(default = "api_version")]
    pub api_version: u32,
    pub plan: Plan,
    pub blocked: bool,
    pub no_changes: bool,
}

/// `GET /v1/runs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunList {
    #[serde(default = "api_version")]
    pub api_version: u32,
    pub runs: Vec<RunSummary>,
    /// The holder's clock (epoch ms), for relative times.
    pub now: u64,
    /// Records that do not read (damaged, quarantined): reported, not fatal.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `GET /v1/runs/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStatus {
    #[serde(default = "api_version")]
    pub api_version: u32,
    pub run: RunRecord,
    pub steps: Vec<StepRecord>,
    /// The DAG: (dependency, dependant) step ids.
    #[serde(default)]
    pub edges: Vec<(String, String)>,
    pub now: u64,
}

/// `GET /v1/runs/{id}/history?after=N&wait_ms=M`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryPage {
    #[serde(default = "api_version")]
    pub api_version: u32,
    /// The run as read before its events, so the events cover at least its state.
    pub run: RunRecord,
    pub events: Vec<EventRecord>,
    /// The `after` of the next page.
    pub next: u64,
}

/// `POST /v1/runs/{id}/{action}`: which action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cancel,
    Signal,
    Retry,
    Pause,
    Resume,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Self::Cancel,
        Self::Signal,
        Self::Retry,
        Self::Pause,
        Self::Resume,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Signal => "signal",
            Self::Retry => "retry",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The body of an action; unknown fields are refused so typos do not pass silently.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    /// `cancel`: delete what the run created first.
    #[serde(default)]
    pub teardown: bool,
    /// `signal`: its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// `retry`: reset from this step instead of the failed ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `retry` with an amended input (`failback retry --spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amend: Option<AmendBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmendBody {
    /// The new run input; the holder computes (and records) the changes itself.
    pub input: Value,
}

/// An action and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRequest {
    pub action: Action,
    pub body: ControlBody,
}

/// `POST /v1/runs/{id}/{action}`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReply {
    #[serde(default = "api_version")]
    pub api_version: u32,
    pub run: RunRecord,
}

/// `POST /v1/resume`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// Runs to unpause and follow; empty: every unfinished run.
    #[serde(default)]
    pub runs: Vec<String>,
}

/// One run to follow from its next event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowFrom {
    pub run_id: String,
    pub after: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResumeReply {
    #[serde(default = "api_version")]
    pub api_version: u32,
    pub runs: Vec<FollowFrom>,
    /// Runs waiting on a timer among them.
    pub scheduled: usize,
    /// Records that do not read, runs quarantined: each needs the operator.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Some run is quarantined: the command's exit code says so too.
    #[serde(default)]
    pub quarantined: bool,
}
