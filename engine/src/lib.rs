//! failback-engine: a durable DAG executor. It knows nothing of Azure: a workflow is a DAG of
//! [`Step`]s with stable string ids, and every transition is checkpointed through
//! `failback-state` before the next side effect (DESIGN.md section 3).

pub mod clock;
pub mod crash;
pub mod definition;
mod driver;
mod engine;
mod error;
pub mod fence_guard;
pub mod forward;
pub mod health;
pub mod inbox;
mod keeper;
pub mod planner;
pub mod progress;
mod quarantine;
mod refusal;
pub mod registry;
pub mod share;
mod shared;
pub mod step;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use clock::{Clock, ManualClock, ScaledClock, SystemClock};
pub use crash::CrashPoints;
pub use definition::{RetryPolicy, StepDef, WorkflowDef};
pub use engine::{valid_run_id, Amendment, Engine, EngineConfig, ResumeReport};
pub use error::EngineError;
pub use health::{Fatal, HealthReport};
pub use progress::{PollEvent, ProgressEvent};
pub use registry::WorkflowRegistry;
pub use step::{PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan};
