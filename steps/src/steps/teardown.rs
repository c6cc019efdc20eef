//! `{net}/teardown` (and the compensation of create-nic/create-vm on `cancel --teardown`):
//! delete the VM (cascading its NIC and disks), then whatever is left, treating 404 as done;
//! verify nothing remains; remind the operator to unregister the process server on the CS.

use super::common::{from_error, poll_lro, saved_lro, wait_for_lro};
use crate::arm::{ArmError, LroPoll};
use crate::azure::Azure;
use crate::model::{NetworkTarget, TeardownPolicy};
use failback_engine::{
    PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Crash point between a DELETE and its checkpoint.
pub const AFTER_DELETE: &str = "after-delete";

pub struct Teardown {
    pub azure: Arc<Azure>,
    pub net: NetworkTarget,
    pub policy: TeardownPolicy,
}

enum Target {
    Vm,
    Nic,
    Disk(String),
}

impl Teardown {
    /// Every target reads as gone (404); one that still exists fails the step.
    async fn verify_gone(&self, targets: &[(String, Target)]) -> Result<(), StepOutcome> {
        for (label, target) in targets {
            let url = self.url(target).map_err(from_error)?;
            match self.azure.arm.get(url, &format!("GET {label}")).await {
                Err(e) if e.is_not_found() => {}
                Ok(_) => {
                    return Err(StepOutcome::Fail(StepFailure::new(
                        "TeardownIncomplete",
                        format!("{label} still exists after teardown"),
                    )))
                }
                Err(e) => return Err(from_error(e)),
            }
        }
        Ok(())
    }

    fn targets(&self) -> Vec<(String, Target)> {
        let mut t = vec![
            (format!("vm {}", self.net.names.vm), Target::Vm),
            (format!("nic {}", self.net.names.nic), Target::Nic),
            (
                format!("disk {}", self.net.names.os_disk),
                Target::Disk(self.net.names.os_disk.clone()),
            ),
        ];
        t.push((
            format!("disk {}", self.net.names.cache_disk),
            Target::Disk(self.net.names.cache_disk.clone()),
        ));
        t
    }

    fn url(&self, t: &Target) -> Result<url::Url, ArmError> {
        let arm = &self.azure.arm;
        match t {
            Target::Vm => {
                let mut u = arm.url(&self.azure.vm_path(&self.net), &arm.api().compute)?;
                if self.policy.force_deletion {
                    u.query_pairs_mut().append_pair("forceDeletion", "true");
                }
                Ok(u)
            }
            Target::Nic => arm.url(&self.azure.nic_path(&self.net), &arm.api().network),
            Target::Disk(d) => arm.url(&self.azure.disk_path(&self.net, d), &arm.api().disks),
        }
    }

    fn note(&self) -> String {
        format!(
            "remove process server {} ({}) from the configuration server: on the CS run \
             `perl Unregister-ASRComponent.pl -IPAddress {} -Component PS` from \
             %ProgramData%\\ASR\\home\\svsystems\\bin",
            self.net.names.computer_name, self.net.private_ip, self.net.private_ip
        )
    }
}

#[async_trait::async_trait]
impl Step for Teardown {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        if !self.policy.delete {
            return StepOutcome::Done(json!({ "kept": true, "note": self.note() }));
        }
        let start = ctx
            .poll_state
            .as_ref()
            .and_then(|s| s.get("next"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let targets = self.targets();
        let mut deleted: Vec<String> = ctx
            .poll_state
            .as_ref()
            .and_then(|s| s.get("deleted"))
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or_default();
        let mut lro = saved_lro(ctx);
        for (i, (label, target)) in targets.iter().enumerate().skip(start) {
            if let Some(l) = lro.take() {
                let state = json!({ "next": i, "deleted": deleted });
                if let Err(o) = poll_lro(&self.azure, ctx, &l, "poll delete", state).await {
                    return o;
                }
                deleted.push(label.clone());
                continue;
            }
            let url = match self.url(target) {
                Ok(u) => u,
                Err(e) => return from_error(e),
            };
            match self
                .azure
                .arm
                .delete(url.clone(), &format!("DELETE {label}"))
                .await
            {
                Ok(resp) => {
                    ctx.crash_point(AFTER_DELETE);
                    if resp.status == 204 {
                        continue; // did not exist
                    }
                    if let Some(l) = LroPoll::for_delete(&resp, &url) {
                        return wait_for_lro(
                            ctx,
                            &l,
                            resp.retry_after,
                            json!({ "next": i, "deleted": deleted }),
                        );
                    }
                    deleted.push(label.clone());
                }
                Err(e) if e.is_not_found() => {}
                // Still attached, or reserved for ~180 s after its VM went: wait, then again.
                Err(e)
                    if matches!(
                        e.code.as_str(),
                        "NicInUse" | "NicReservedForAnotherVm" | "OperationNotAllowed"
                    ) =>
                {
                    return StepOutcome::Wait {
                        until: ctx.now()
                            + e.retry_after.unwrap_or(Duration::from_secs(30)).as_millis() as u64,
                        state: json!({ "next": i, "deleted": deleted }),
                        deadline: ctx.deadline.or(Some(ctx.now() + 30 * 60 * 1000)),
                    };
                }
                Err(e) => return from_error(e),
            }
        }
        // Verify: nothing of this network's process server remains.
        if let Err(o) = self.verify_gone(&targets).await {
            return o;
        }
        StepOutcome::Done(json!({ "deleted": deleted, "note": self.note() }))
    }

    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        let action = if self.policy.delete {
            format!(
                "delete VM {} (NIC and disks cascade), then any leftover NIC/disks; verify none remain",
                self.net.names.vm
            )
        } else {
            format!("keep VM {} (teardown policy keep)", self.net.names.vm)
        };
        let change = if ctx.outputs.contains_key(&ctx.step_id) {
            PlanChange::Done
        } else {
            PlanChange::NoOp
        };
        let mut p = StepPlan::new(action, change);
        if self.policy.delete {
            p = p
                .call(format!("DELETE {}", self.azure.vm_path(&self.net)))
                .call(format!("DELETE {}", self.azure.nic_path(&self.net)))
                .call(format!("DELETE .../disks/{}", self.net.names.os_disk))
                .call(format!("DELETE .../disks/{}", self.net.names.cache_disk));
        }
        p
    }
}
