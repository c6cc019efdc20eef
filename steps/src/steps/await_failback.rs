//! `await-failback`: a durable wait, possibly for weeks, until every protected item in scope
//! has failed back and committed — or an operator signals `failback-complete`. Between polls
//! the run holds no task; the deadline is fixed at the first poll and survives restarts.

use super::common::from_error;
use super::items::{failed_back, named, names};
use super::validate::list_all;
use crate::azure::Azure;
use crate::model::{FailbackScope, SiteRecoveryTarget};
use failback_engine::{
    PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan,
};
use serde_json::{json, Value};
use std::sync::Arc;

pub const SIGNAL: &str = "failback-complete";

pub struct AwaitFailback {
    pub azure: Arc<Azure>,
    pub site: SiteRecoveryTarget,
    pub scope: FailbackScope,
}

#[async_trait::async_trait]
impl Step for AwaitFailback {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        if ctx.has_signal(SIGNAL) {
            return StepOutcome::Done(json!({ "completed_by": "signal" }));
        }
        let arm = &self.azure.arm;
        let url = match arm.url(
            &format!(
                "{}/replicationProtectedItems",
                self.azure.vault_path(&self.site)
            ),
            &arm.api().site_recovery,
        ) {
            Ok(u) => u,
            Err(e) => return from_error(e),
        };
        let items = match list_all(&self.azure, url, "GET replicationProtectedItems").await {
            Ok(i) => i,
            Err(e) => return from_error(e),
        };
        let in_scope: Vec<&Value> = match &self.scope.items {
            None => items.iter().collect(),
            Some(wanted) => {
                let missing: Vec<&String> = wanted
                    .iter()
                    .filter(|w| !items.iter().any(|i| named(i, w)))
                    .collect();
                if !missing.is_empty() {
                    return StepOutcome::Fail(StepFailure::new(
                        "ProtectedItemNotFound",
                        format!(
                            "not in vault {}: {}",
                            self.site.vault,
                            missing
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                items
                    .iter()
                    .filter(|i| wanted.iter().any(|w| named(i, w)))
                    .collect()
            }
        };
        let pending: Vec<&str> = in_scope
            .iter()
            .filter(|i| !failed_back(i))
            .map(|i| names(i)[1])
            .collect();
        if pending.is_empty() {
            let done: Vec<&str> = in_scope.iter().map(|i| names(i)[1]).collect();
            return StepOutcome::Done(json!({ "completed_by": "site-recovery", "items": done }));
        }
        let deadline = ctx
            .deadline
            .unwrap_or(ctx.now() + self.scope.deadline.as_millis() as u64);
        StepOutcome::Wait {
            until: ctx.now() + self.scope.poll_interval.as_millis() as u64,
            state: json!({ "pending": pending }),
            deadline: Some(deadline),
        }
    }

    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        let scope = match &self.scope.items {
            None => "every protected item of the vault".to_owned(),
            Some(i) => i.join(", "),
        };
        let change = if ctx.outputs.contains_key(&ctx.step_id) {
            PlanChange::Done
        } else {
            PlanChange::NoOp
        };
        StepPlan::new(
            format!(
                "wait until {scope} failed back and committed (poll every {}s, deadline {}h), or signal {SIGNAL}",
                self.scope.poll_interval.as_secs(),
                self.scope.deadline.as_secs() / 3600
            ),
            change,
        )
        .call(format!("GET {}/replicationProtectedItems", self.azure.vault_path(&self.site)))
    }
}
