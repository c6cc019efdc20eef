//! Typed errors of the engine.

use failback_state::{QuarantineRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid workflow definition: {0}")]
    InvalidDefinition(String),
    #[error("unknown workflow {name:?} version {version} (this build knows: {known})")]
    UnknownWorkflow {
        name: String,
        version: u32,
        known: String,
    },
    #[error("run id {0:?} is not valid (1-64 of letters, digits, '.', '_', '-'; not . or ..)")]
    InvalidRunId(String),
    #[error("run {0} not found")]
    RunNotFound(String),
    #[error("run {run}: {message}")]
    InvalidState { run: String, message: String },
    #[error("run {run}: unknown step {step:?}")]
    UnknownStep { run: String, step: String },
    #[error("the engine is shutting down")]
    ShuttingDown,
    /// The run has a damaged record and is never driven.
    #[error("{0}")]
    Quarantined(QuarantineRecord),
    /// Another process owns the run (a shared store's lease), or this one lost it: it does
    /// not drive it.
    #[error("run {run} is driven by another process")]
    NotOwned { run: String },
    /// A command forwarded to the process that drives the run got no answer in time.
    #[error(
        "run {run}: the daemon that drives it did not answer within {secs} s; the command was \
         withdrawn but may still have been applied (see the run's status and history)"
    )]
    OwnerSilent { run: String, secs: u64 },
    /// The process that drives the run could not apply a forwarded command.
    #[error("run {run}: the daemon that drives it could not apply the command: {message}")]
    OwnerFailed {
        run: String,
        message: String,
        /// Its store could not be written (try again later), rather than a fault.
        unavailable: bool,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}
