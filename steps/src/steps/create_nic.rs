//! `{net}/create-nic`: the process server's NIC with its static IP. A PUT keyed by a name
//! derived from the run, so sending it again after a crash updates the same NIC; the poll URL
//! is checkpointed so a resumed step polls instead of sending it again. A NIC of that name
//! without this run's tag is a collision (`ownership.rs`): the step fails instead of taking it.

use super::common::{from_error, poll_lro, saved_lro, str_at, wait_for_lro};
use super::ownership::{collision, owned_by};
use crate::arm::LroPoll;
use crate::azure::Azure;
use crate::model::{tags, NetworkTarget};
use failback_engine::{
    PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan,
};
use serde_json::{json, Value};
use std::sync::Arc;

pub struct CreateNic {
    pub azure: Arc<Azure>,
    pub net: NetworkTarget,
}

/// Crash point between the PUT and the checkpoint that records its poll URL.
pub const AFTER_PUT: &str = "after-put";

impl CreateNic {
    pub fn body(&self, run_id: &str, step_id: &str) -> Value {
        let subnet_id = self.azure.subnet_path(&self.net);
        json!({
            "location": self.net.region,
            "tags": tags(run_id, step_id, &self.net.name),
            "properties": {
                "ipConfigurations": [{
                    "name": "ipconfig1",
                    "properties": {
                        "primary": true,
                        "privateIPAllocationMethod": "Static",
                        "privateIPAddress": self.net.private_ip.to_string(),
                        "privateIPAddressVersion": "IPv4",
                        "subnet": { "id": subnet_id }
                    }
                }],
                "enableAcceleratedNetworking": false
            }
        })
    }

    fn output(&self, nic: &Value) -> Value {
        json!({
            "nic_id": str_at(nic, "/id").map(str::to_owned).unwrap_or_else(|| self.azure.nic_path(&self.net)),
            "private_ip": self.net.private_ip.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl Step for CreateNic {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        let arm = &self.azure.arm;
        let url = match arm.url(&self.azure.nic_path(&self.net), &arm.api().network) {
            Ok(u) => u,
            Err(e) => return from_error(e),
        };
        if let Some(lro) = saved_lro(ctx) {
            return match poll_lro(&self.azure, ctx, &lro, "poll networkInterface", json!({})).await
            {
                Ok(nic) => StepOutcome::Done(self.output(&nic)),
                Err(o) => o,
            };
        }
        // A NIC of this name that this run did not make is not updated into ours.
        match arm.get(url.clone(), "GET networkInterface").await {
            Ok(r) if !owned_by(&r.body, &ctx.run_id) => {
                let b = collision("NIC", &self.net.names.nic, &r.body, &ctx.run_id);
                return StepOutcome::Fail(StepFailure::new(b.code, b.text()));
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return from_error(e),
        }
        let resp = match arm
            .put(
                url.clone(),
                &self.body(&ctx.run_id, &ctx.step_id),
                "PUT networkInterface",
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return from_error(e),
        };
        ctx.crash_point(AFTER_PUT);
        match LroPoll::from_response(&resp, Some(&url)) {
            Some(lro) => wait_for_lro(ctx, &lro, resp.retry_after, json!({})),
            None => StepOutcome::Done(self.output(&resp.body)),
        }
    }

    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        let path = self.azure.nic_path(&self.net);
        let mut plan = StepPlan::new(
            format!(
                "create NIC {} with static IP {}",
                self.net.names.nic, self.net.private_ip
            ),
            PlanChange::Create,
        )
        .call(format!("PUT {path}"))
        .detail("nic", &self.net.names.nic)
        .detail("private_ip", self.net.private_ip.to_string());
        if ctx.offline || super::common::torn_down(ctx, &self.net) {
            plan.change = if ctx.outputs.contains_key(&ctx.step_id) {
                PlanChange::Done
            } else {
                PlanChange::Unknown
            };
            return plan;
        }
        let arm = &self.azure.arm;
        let done = ctx.outputs.contains_key(&ctx.step_id);
        plan.change = match arm.url(&path, &arm.api().network) {
            Err(e) => PlanChange::Blocked {
                reason: e.to_string(),
            },
            Ok(url) => match arm.get(url, "GET networkInterface").await {
                Ok(r) if !owned_by(&r.body, ctx.run_id.as_deref().unwrap_or_default()) => {
                    let run_id = ctx.run_id.as_deref().unwrap_or_default();
                    PlanChange::Blocked {
                        reason: collision("NIC", &self.net.names.nic, &r.body, run_id).text(),
                    }
                }
                Ok(r) => {
                    let ip = str_at(
                        &r.body,
                        "/properties/ipConfigurations/0/properties/privateIPAddress",
                    );
                    if ip == Some(self.net.private_ip.to_string().as_str()) {
                        if done {
                            PlanChange::Done
                        } else {
                            PlanChange::Exists
                        }
                    } else {
                        PlanChange::Drifted {
                            reason: format!(
                                "NIC has IP {}, spec says {}",
                                ip.unwrap_or("none"),
                                self.net.private_ip
                            ),
                        }
                    }
                }
                Err(e) if e.is_not_found() && done => PlanChange::Drifted {
                    reason: "the NIC this run created is gone".into(),
                },
                Err(e) if e.is_not_found() => PlanChange::Create,
                Err(e) => {
                    plan.details.insert("error".into(), e.to_string());
                    PlanChange::Unknown
                }
            },
        };
        plan
    }
}
