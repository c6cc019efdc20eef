//! The one typed interface every verb is written against: [`Runs`], with two implementations —
//! [`local::LocalRuns`] over an in-process engine and [`remote::RemoteRuns`] over the local API
//! of whoever holds the store (the daemon, or a foreground `apply`/`resume`). The request and
//! answer types in [`types`] are the API's wire format too (serde, versioned by
//! [`types::API_VERSION`]), so the daemon and its client cannot drift apart.

pub mod json;
pub mod local;
pub mod remote;
pub mod suggest;
pub mod types;

use async_trait::async_trait;
use failback_engine::planner::Plan;
use failback_state::RunRecord;
use types::{
    ControlRequest, HistoryPage, PlanRequest, ResumeReply, ResumeRequest, RunList, RunStatus,
    SubmitRequest,
};

/// Why a call failed, in the operator's words; the kind decides the API's HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub kind: ErrorKind,
    pub message: String,
}

/// What kind of failure: maps 1:1 to the API's HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (unknown step, bad id, bad spec): 400.
    BadRequest,
    /// No such run: 404.
    NotFound,
    /// Not in this state (retry of a running run, a run id taken): 409.
    Conflict,
    /// The store cannot be written, or the engine is stopping: 503.
    Unavailable,
    /// Anything else: 500.
    Internal,
    /// The holder of the store could not be reached or answered nonsense (client side only).
    Transport,
}

impl ServiceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Where runs are driven from the point of view of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// This process holds the store and drives the runs it starts.
    InProcess,
    /// Another process (a daemon or a foreground apply) holds the store; this one asks it.
    Remote,
}

/// Operations on runs. Every method answers the same on both implementations; the contract is
/// pinned by `tests/one_surface.rs`, which runs every verb both ways.
#[async_trait]
pub trait Runs: Send + Sync {
    fn place(&self) -> Place;
    /// The dry run of a new run from a spec file.
    async fn plan_new(&self, req: &PlanRequest) -> ServiceResult<Plan>;
    /// What an existing run has left to do.
    async fn plan_run(&self, id: &str, offline: bool) -> ServiceResult<Plan>;
    /// Create a run (it is driven by whoever holds the store).
    async fn submit(&self, req: &SubmitRequest) -> ServiceResult<RunRecord>;
    async fn list(&self, state: Option<&str>) -> ServiceResult<RunList>;
    /// A run, its steps and its DAG's edges.
    async fn status(&self, id: &str) -> ServiceResult<RunStatus>;
    /// Events with `seq >= after`; with `wait_ms`, waits (long poll) for one or the run's end.
    async fn history(&self, id: &str, after: u64, wait_ms: u64) -> ServiceResult<HistoryPage>;
    /// Cancel, signal, retry, pause or unpause; durable when it returns.
    async fn control(&self, id: &str, req: &ControlRequest) -> ServiceResult<RunRecord>;
    /// Unpause the named runs and name the unfinished ones to follow.
    async fn resume(&self, req: &ResumeRequest) -> ServiceResult<ResumeReply>;
    /// Resolves, with the reason, when this session can drive nothing more (its in-process
    /// engine's store write failed); never for a remote session.
    async fn fatal(&self) -> String;
    /// Ctrl-C while following: lines telling the operator what happened.
    async fn interrupt(&self) -> Vec<String>;
    /// Done with the session: in-process, let in-flight steps reach a checkpoint.
    async fn close(&self);
}
