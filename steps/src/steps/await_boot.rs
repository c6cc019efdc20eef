//! `{net}/await-boot`: the VM is provisioned, running, and its VM agent is Ready (Run Command
//! needs the agent). Polls the instance view on a durable timer, never faster than every
//! `interval` (instanceView is a "high cost" read), up to `timeout`.

use super::common::{from_error, str_at};
use crate::azure::Azure;
use crate::model::NetworkTarget;
use failback_engine::{
    PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub struct AwaitBoot {
    pub azure: Arc<Azure>,
    pub net: NetworkTarget,
    pub interval: Duration,
    pub timeout: Duration,
}

/// (provisioned, running, agent ready) from an instance view.
fn boot_state(iv: &Value) -> (bool, bool, bool) {
    let statuses = iv
        .get("statuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |code: &str| statuses.iter().any(|s| str_at(s, "/code") == Some(code));
    let agent = iv
        .pointer("/vmAgent/statuses")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|s| str_at(s, "/displayStatus") == Some("Ready"))
        });
    (
        has("ProvisioningState/succeeded"),
        has("PowerState/running"),
        agent,
    )
}

#[async_trait::async_trait]
impl Step for AwaitBoot {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        let arm = &self.azure.arm;
        let url = match arm.url(
            &format!("{}/instanceView", self.azure.vm_path(&self.net)),
            &arm.api().compute,
        ) {
            Ok(u) => u,
            Err(e) => return from_error(e),
        };
        let iv = match arm.get(url, "GET instanceView").await {
            Ok(r) => r.body,
            Err(e) => return from_error(e),
        };
        let statuses = iv
            .get("statuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(failed) = statuses
            .iter()
            .filter_map(|s| str_at(s, "/code"))
            .find(|c| c.starts_with("ProvisioningState/failed"))
        {
            return StepOutcome::Fail(StepFailure::new(
                "VmProvisioningFailed",
                format!("VM {}: {failed}", self.net.names.vm),
            ));
        }
        let (provisioned, running, agent) = boot_state(&iv);
        if provisioned && running && agent {
            return StepOutcome::Done(
                json!({ "booted_at": ctx.now(), "vm_name": self.net.names.vm }),
            );
        }
        let deadline = ctx
            .deadline
            .unwrap_or(ctx.now() + self.timeout.as_millis() as u64);
        StepOutcome::Wait {
            until: ctx.now() + self.interval.as_millis() as u64,
            state: json!({ "provisioned": provisioned, "running": running, "agent_ready": agent }),
            deadline: Some(deadline),
        }
    }

    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        let change = if ctx.outputs.contains_key(&ctx.step_id) {
            PlanChange::Done
        } else {
            PlanChange::NoOp
        };
        StepPlan::new(
            format!(
                "wait for VM {} to run with its agent Ready (poll every {}s, up to {} min)",
                self.net.names.vm,
                self.interval.as_secs(),
                self.timeout.as_secs() / 60
            ),
            change,
        )
        .call(format!(
            "GET {}/instanceView",
            self.azure.vm_path(&self.net)
        ))
    }
}
