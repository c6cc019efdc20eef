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
