//! Progress events for CLIs and the daemon: every durable transition, after it is durable.

use failback_state::{EventKind, Millis, RunState};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ProgressEvent {
    pub run_id: String,
    pub at: Millis,
    pub step_id: Option<String>,
    pub kind: EventKind,
    /// The run's state after this event.
    pub run_state: RunState,
}

/// A poll of a wait started (after its intent is durable): not an attempt and not a
/// transition, so it is no [`ProgressEvent`] and appends no history; metrics count it.
#[derive(Debug, Clone, Serialize)]
pub struct PollEvent {
    pub run_id: String,
    pub workflow: String,
    pub step_id: String,
    pub at: Millis,
}
