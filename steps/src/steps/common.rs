//! What the steps share: mapping ARM errors to outcomes, checkpointed LRO polling.

use crate::arm::{ArmError, LroPoll, LroStatus};
use crate::azure::Azure;
use failback_engine::{StepContext, StepFailure, StepOutcome};
use serde_json::{json, Value};
use std::time::Duration;

/// A transient error retries the step (after the server's Retry-After if it gave one);
/// a permanent one fails it with the ARM code and message.
pub fn from_error(e: ArmError) -> StepOutcome {
    if e.is_transient() {
        StepOutcome::Retry {
            after: e.retry_after,
            reason: e.to_string(),
        }
    } else {
        StepOutcome::Fail(StepFailure::new(e.code.clone(), e.to_string()))
    }
}

/// Operation failure codes worth another try from scratch (re-sending the PUT).
const TRANSIENT_LRO_CODES: &[&str] = &[
    "InternalServerError",
    "InternalExecutionError",
    "RetryableError",
    "ServiceUnavailable",
    "GatewayTimeout",
    "OperationPreempted",
];

/// Wait `d` on a durable timer with `state` checkpointed.
pub fn wait(ctx: &StepContext, d: Duration, state: Value) -> StepOutcome {
    StepOutcome::Wait {
        until: ctx.now() + d.as_millis() as u64,
        state,
        deadline: ctx.deadline,
    }
}

/// The LRO a previous attempt started, if its poll state carries one.
pub fn saved_lro(ctx: &StepContext) -> Option<LroPoll> {
    ctx.poll_state
        .as_ref()
        .and_then(|s| s.get("lro"))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Checkpoint a started operation: the poll URL is durable before anything else happens.
pub fn wait_for_lro(
    ctx: &StepContext,
    lro: &LroPoll,
    after: Option<Duration>,
    extra: Value,
) -> StepOutcome {
    let mut state = json!({ "lro": lro });
    if let (Some(s), Value::Object(e)) = (state.as_object_mut(), extra) {
        s.extend(e);
    }
    wait(ctx, after.unwrap_or(crate::arm::lro::DEFAULT_POLL), state)
}

/// Poll a checkpointed LRO once. `Ok(body)` when it succeeded; otherwise the outcome to
/// return (wait again, retry from scratch, fail).
pub async fn poll_lro(
    azure: &Azure,
    ctx: &StepContext,
    lro: &LroPoll,
    op: &str,
    extra: Value,
) -> Result<Value, StepOutcome> {
    match lro.poll(&azure.arm, op).await {
        Ok(LroStatus::Succeeded(body)) => Ok(body),
        Ok(LroStatus::InProgress { retry_after }) => {
            Err(wait_for_lro(ctx, lro, Some(retry_after), extra))
        }
        Ok(LroStatus::Failed(e)) if TRANSIENT_LRO_CODES.contains(&e.code.as_str()) => {
            // Start over: the next attempt has no LRO in its state and sends the PUT again.
            Err(StepOutcome::Restart {
                after: None,
                reason: format!("{op} failed transiently: {e}"),
            })
        }
        Ok(LroStatus::Failed(e)) => Err(StepOutcome::Fail(StepFailure::new(
            e.code.clone(),
            format!("{op}: {e}"),
        ))),
        // The operation was forgotten and never took effect: send the request again.
        Ok(LroStatus::Lost(reason)) => Err(StepOutcome::Restart {
            after: None,
            reason,
        }),
        // A failed poll keeps the same LRO: the retry resumes polling, it does not re-PUT.
        Err(e) if e.is_transient() => Err(StepOutcome::Retry {
            after: e.retry_after,
            reason: e.to_string(),
        }),
        Err(e) => Err(StepOutcome::Fail(StepFailure::new(
            e.code.clone(),
            format!("{op}: {e}"),
        ))),
    }
}

pub fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// This network's teardown already ran in this run: what the create steps made is gone on
/// purpose, so a plan of the finished run reports them done, not drifted.
pub fn torn_down(ctx: &failback_engine::PlanContext, net: &crate::model::NetworkTarget) -> bool {
    ctx.outputs.contains_key(&format!("{}/teardown", net.name))
}
