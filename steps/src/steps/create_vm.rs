//! `{net}/create-vm`: the process-server VM. Gen1 image, managed OS disk (and a cache data
//! disk) of a type the size supports, the NIC attached with `deleteOption: Delete` so teardown
//! cascades, admin password resolved from its secret reference only here. If the VM already
//! exists (a crash after the PUT), the step does not send the PUT — and so the password —
//! again: it follows the VM's provisioning instead.

use super::common::{from_error, poll_lro, saved_lro, str_at, wait_for_lro};
use super::create_nic::AFTER_PUT;
use super::ownership::{collision, owned_by};
use crate::arm::lro::{LroPoll, PollKind};
use crate::azure::Azure;
use crate::model::{tags, NetworkTarget, VmSpec};
use failback_engine::{
    PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan,
};
use serde_json::{json, Value};
use std::sync::Arc;

pub struct CreateVm {
    pub azure: Arc<Azure>,
    pub net: NetworkTarget,
    pub vm: VmSpec,
}

impl CreateVm {
    /// The request body; `password` is only ever placed here.
    pub fn body(&self, run_id: &str, step_id: &str, password: &str) -> Value {
        let mut data_disks = Vec::new();
        if self.vm.cache_disk_gb > 0 {
            data_disks.push(json!({
                "lun": 0,
                "name": self.net.names.cache_disk,
                "createOption": "Empty",
                "diskSizeGB": self.vm.cache_disk_gb,
                "managedDisk": { "storageAccountType": self.vm.os_disk_type },
                "deleteOption": "Delete"
            }));
        }
        json!({
            "location": self.net.region,
            "tags": tags(run_id, step_id, &self.net.name),
            "properties": {
                "hardwareProfile": { "vmSize": self.vm.size },
                "storageProfile": {
                    "imageReference": {
                        "publisher": self.vm.image.publisher,
                        "offer": self.vm.image.offer,
                        "sku": self.vm.image.sku,
                        "version": self.vm.image.version
                    },
                    "osDisk": {
                        "name": self.net.names.os_disk,
                        "createOption": "FromImage",
                        "caching": "ReadWrite",
                        "managedDisk": { "storageAccountType": self.vm.os_disk_type },
                        "deleteOption": "Delete"
                    },
                    "dataDisks": data_disks
                },
                "osProfile": {
                    "computerName": self.net.names.computer_name,
                    "adminUsername": self.vm.admin_username,
                    "adminPassword": password,
                    "windowsConfiguration": { "provisionVMAgent": true, "enableAutomaticUpdates": true }
                },
                "networkProfile": {
                    "networkInterfaces": [{
                        "id": self.azure.nic_path(&self.net),
                        "properties": { "primary": true, "deleteOption": "Delete" }
                    }]
                },
                "diagnosticsProfile": { "bootDiagnostics": { "enabled": true } }
            }
        })
    }

    fn output(&self, vm: &Value) -> Value {
        json!({
            "vm_id": str_at(vm, "/id").map(str::to_owned).unwrap_or_else(|| self.azure.vm_path(&self.net)),
            "vm_name": self.net.names.vm,
            "computer_name": self.net.names.computer_name,
        })
    }
}

#[async_trait::async_trait]
impl Step for CreateVm {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        let arm = &self.azure.arm;
        let url = match arm.url(&self.azure.vm_path(&self.net), &arm.api().compute) {
            Ok(u) => u,
            Err(e) => return from_error(e),
        };
        if let Some(lro) = saved_lro(ctx) {
            return match poll_lro(&self.azure, ctx, &lro, "poll virtualMachine", json!({})).await {
                Ok(vm) => StepOutcome::Done(self.output(&vm)),
                Err(o) => o,
            };
        }
        // Exists already (the PUT went out before a crash, or a retry)?
        match arm.get(url.clone(), "GET virtualMachine").await {
            Ok(r) if !owned_by(&r.body, &ctx.run_id) => {
                let b = collision("VM", &self.net.names.vm, &r.body, &ctx.run_id);
                return StepOutcome::Fail(StepFailure::new(b.code, b.text()));
            }
            Ok(r) => match str_at(&r.body, "/properties/provisioningState") {
                Some("Succeeded") => return StepOutcome::Done(self.output(&r.body)),
                Some("Failed") => {} // send the PUT again: ARM retries the provisioning
                _ => {
                    let lro = LroPoll {
                        kind: PollKind::Resource,
                        url: url.to_string(),
                        resource_url: Some(url.to_string()),
                        deleting: None,
                    };
                    return wait_for_lro(ctx, &lro, r.retry_after, json!({}));
                }
            },
            Err(e) if e.is_not_found() => {}
            Err(e) => return from_error(e),
        }
        let password = match self.azure.secret(&self.vm.admin_password).await {
            Ok(p) => p,
            Err(e) => {
                return StepOutcome::Fail(StepFailure::new("SecretUnavailable", e.to_string()))
            }
        };
        let body = self.body(&ctx.run_id, &ctx.step_id, password.expose());
        drop(password);
        let resp = match arm.put(url.clone(), &body, "PUT virtualMachine").await {
            Ok(r) => r,
            Err(e) => return from_error(e),
        };
        drop(body);
        ctx.crash_point(AFTER_PUT);
        match LroPoll::from_response(&resp, Some(&url)) {
            Some(lro) => wait_for_lro(ctx, &lro, resp.retry_after, json!({})),
            None => StepOutcome::Done(self.output(&resp.body)),
        }
    }

    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        let path = self.azure.vm_path(&self.net);
        let mut plan = StepPlan::new(
            format!(
                "create VM {} ({}, {} {} {}, {} disks{})",
                self.net.names.vm,
                self.vm.size,
                self.vm.image.offer,
                self.vm.image.sku,
                self.vm.image.version,
                self.vm.os_disk_type,
                if self.vm.cache_disk_gb > 0 {
                    format!(", {} GiB cache disk", self.vm.cache_disk_gb)
                } else {
                    String::new()
                }
            ),
            PlanChange::Create,
        )
        .call(format!("PUT {path}"))
        .detail("vm", &self.net.names.vm)
        .detail("computer_name", &self.net.names.computer_name);
        let done = ctx.outputs.contains_key(&ctx.step_id);
        if ctx.offline || super::common::torn_down(ctx, &self.net) {
            plan.change = if done {
                PlanChange::Done
            } else {
                PlanChange::Unknown
            };
            return plan;
        }
        let arm = &self.azure.arm;
        plan.change = match arm.url(&path, &arm.api().compute) {
            Err(e) => PlanChange::Blocked {
                reason: e.to_string(),
            },
            Ok(url) => match arm.get(url, "GET virtualMachine").await {
                Ok(r) if !owned_by(&r.body, ctx.run_id.as_deref().unwrap_or_default()) => {
                    let run_id = ctx.run_id.as_deref().unwrap_or_default();
                    PlanChange::Blocked {
                        reason: collision("VM", &self.net.names.vm, &r.body, run_id).text(),
                    }
                }
                Ok(r) => {
                    let size = str_at(&r.body, "/properties/hardwareProfile/vmSize").unwrap_or("");
                    if !size.eq_ignore_ascii_case(&self.vm.size) {
                        PlanChange::Drifted {
                            reason: format!("VM size is {size}, spec says {}", self.vm.size),
                        }
                    } else if done {
                        PlanChange::Done
                    } else {
                        PlanChange::Exists
                    }
                }
                Err(e) if e.is_not_found() && done => PlanChange::Drifted {
                    reason: "the VM this run created is gone".into(),
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
