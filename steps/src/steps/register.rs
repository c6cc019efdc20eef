//! `{net}/register`: make the VM a process server of the configuration server.
//!
//! 1. Read the VMware fabric: this run's process server there — bound to this run's VM by the
//!    rule of `process_server.rs`, never a stale entry that shares the IP or name — means done
//!    (a resumed or repeated step never registers twice).
//! 2. Otherwise run `scripts/register-process-server.ps1` as a managed Run Command, the
//!    passphrase as a protected parameter — unless this run's Run Command already exists.
//! 3. Wait for its exit code, then for the process server to appear healthy in the fabric.

use super::common::{from_error, str_at};
use super::process_server;
use crate::azure::Azure;
use crate::model::{NetworkTarget, Registration, SiteRecoveryTarget};
use failback_engine::{
    PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The registration script, shipped in the binary.
pub const SCRIPT: &str = include_str!("../../scripts/register-process-server.ps1");

/// Crash point between the Run Command PUT and its checkpoint.
pub const AFTER_RUN_COMMAND_PUT: &str = "after-run-command-put";

pub struct Register {
    pub azure: Arc<Azure>,
    pub net: NetworkTarget,
    pub site: SiteRecoveryTarget,
    pub reg: Registration,
    pub poll: Duration,
}

impl Register {
    fn run_command_path(&self) -> String {
        format!(
            "{}/runCommands/{}",
            self.azure.vm_path(&self.net),
            self.net.names.run_command
        )
    }

    /// This run's process server, if the fabric lists it: bound to this run's VM by the rule
    /// of `process_server.rs` — never a stale entry that merely shares the IP or name.
    async fn registered(&self, run_id: &str) -> Result<Option<Value>, crate::arm::ArmError> {
        let Some(servers) = process_server::list(&self.azure, &self.site).await? else {
            return Ok(None);
        };
        if servers.is_empty() {
            return Ok(None);
        }
        let created = process_server::own_vm_created(&self.azure, &self.net, run_id).await?;
        Ok(process_server::ours(&servers, &self.net, created).cloned())
    }

    pub fn body(&self, passphrase: &str) -> Value {
        let installer = self.reg.installer_uri.clone().unwrap_or_default();
        json!({
            "location": self.net.region,
            "properties": {
                "source": { "script": SCRIPT },
                "parameters": [
                    { "name": "ConfigurationServerIp", "value": self.reg.cs_ip.to_string() },
                    { "name": "ConfigurationServerPort", "value": self.reg.cs_port.to_string() },
                    { "name": "DataTransferSecurePort", "value": self.reg.data_port.to_string() },
                    { "name": "InstallerUri", "value": installer },
                    { "name": "ProcessServerName", "value": self.net.names.computer_name }
                ],
                "protectedParameters": [ { "name": "Passphrase", "value": passphrase } ],
                "asyncExecution": false,
                "treatFailureAsDeploymentFailure": false,
                "timeoutInSeconds": 5400
            }
        })
    }

    fn wait(&self, ctx: &StepContext, phase: &str, deadline: Option<u64>) -> StepOutcome {
        StepOutcome::Wait {
            until: ctx.now() + self.poll.as_millis() as u64,
            state: json!({ "phase": phase }),
            deadline,
        }
    }

    /// Follow the Run Command to its exit code.
    fn judge(&self, ctx: &StepContext, rc: &Value) -> StepOutcome {
        let iv = rc
            .pointer("/properties/instanceView")
            .cloned()
            .unwrap_or(Value::Null);
        match str_at(&iv, "/executionState").unwrap_or("Unknown") {
            "Succeeded" if iv.get("exitCode").and_then(Value::as_i64).unwrap_or(0) == 0 => {
                let deadline = ctx.now() + self.reg.appear_timeout.as_millis() as u64;
                self.wait(ctx, "appear", Some(deadline))
            }
            "Succeeded" | "Failed" | "TimedOut" | "Canceled" => {
                let code = iv.get("exitCode").and_then(Value::as_i64).unwrap_or(-1);
                let text = [
                    str_at(&iv, "/error"),
                    str_at(&iv, "/output"),
                    str_at(&iv, "/executionMessage"),
                ]
                .into_iter()
                .flatten()
                .find(|s| !s.trim().is_empty())
                .unwrap_or("");
                let tail: String = text
                    .chars()
                    .rev()
                    .take(400)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let what = match code {
                    3 => "the configuration server rejected the passphrase",
                    4 => "the configuration server is not reachable",
                    5 => "the installer could not be found",
                    _ => "registration script failed",
                };
                StepOutcome::Fail(StepFailure::new(
                    "RegistrationFailed",
                    format!("{what} (exit code {code}): {}", tail.trim()),
                ))
            }
            _ => self.wait(ctx, "script", ctx.deadline),
        }
    }
}

/// The Run Command ran and failed (or timed out, or was cancelled).
fn failed(rc: &Value) -> bool {
    let iv = rc
        .pointer("/properties/instanceView")
        .cloned()
        .unwrap_or(Value::Null);
    match str_at(&iv, "/executionState").unwrap_or("Unknown") {
        "Failed" | "TimedOut" | "Canceled" => true,
        "Succeeded" => iv.get("exitCode").and_then(Value::as_i64).unwrap_or(0) != 0,
        _ => false,
    }
}

#[async_trait::async_trait]
impl Step for Register {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        match self.registered(&ctx.run_id).await {
            Ok(Some(ps)) => {
                return StepOutcome::Done(json!({
                    "process_server_id": str_at(&ps, "/id").unwrap_or(""),
                    "process_server_name": str_at(&ps, "/friendlyName").unwrap_or(""),
                    "ip_address": self.net.private_ip.to_string(),
                }))
            }
            Ok(None) => {}
            Err(e) => return from_error(e),
        }
        let phase = ctx
            .poll_state
            .as_ref()
            .and_then(|s| str_at(s, "/phase"))
            .unwrap_or("start");
        if phase == "appear" {
            return self.wait(ctx, "appear", ctx.deadline);
        }
        let arm = &self.azure.arm;
        let url = match arm.url(&self.run_command_path(), &arm.api().compute) {
            Ok(u) => u,
            Err(e) => return from_error(e),
        };
        let mut get_url = url.clone();
        get_url
            .query_pairs_mut()
            .append_pair("$expand", "instanceView");
        match arm.get(get_url, "GET runCommand").await {
            // A fresh attempt (an operator's retry) sends a failed script again; anything
            // else — running, succeeded, or failed while we were following it — is judged.
            Ok(r) if !(phase == "start" && failed(&r.body)) => return self.judge(ctx, &r.body),
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return from_error(e),
        }
        let passphrase = match self.azure.secret(&self.reg.passphrase).await {
            Ok(p) => p,
            Err(e) => {
                return StepOutcome::Fail(StepFailure::new("SecretUnavailable", e.to_string()))
            }
        };
        let mut body = self.body(passphrase.expose());
        // A changed body makes ARM run the script again on an existing Run Command.
        if let Some(params) = body
            .pointer_mut("/properties/parameters")
            .and_then(Value::as_array_mut)
        {
            params.push(json!({ "name": "FailbackAttempt", "value": ctx.attempt.to_string() }));
        }
        drop(passphrase);
        let sent = arm.put(url, &body, "PUT runCommand").await;
        drop(body);
        if let Err(e) = sent {
            return from_error(e);
        }
        ctx.crash_point(AFTER_RUN_COMMAND_PUT);
        self.wait(ctx, "script", None)
    }

    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        let mut plan = StepPlan::new(
            format!(
                "register {} ({}) as a process server with configuration server {}:{}",
                self.net.names.computer_name, self.net.private_ip, self.reg.cs_ip, self.reg.cs_port
            ),
            PlanChange::Create,
        )
        .call(format!(
            "GET {}/replicationFabrics/{}",
            self.azure.vault_path(&self.site),
            self.site.fabric
        ))
        .call(format!("PUT {}", self.run_command_path()));
        if ctx.offline || super::common::torn_down(ctx, &self.net) {
            plan.change = if ctx.outputs.contains_key(&ctx.step_id) {
                PlanChange::Done
            } else {
                PlanChange::Unknown
            };
            return plan;
        }
        let run_id = ctx.run_id.as_deref().unwrap_or_default();
        plan.change = match self.registered(run_id).await {
            Ok(Some(_)) if ctx.outputs.contains_key(&ctx.step_id) => PlanChange::Done,
            Ok(Some(_)) => PlanChange::Exists,
            Ok(None) if ctx.outputs.contains_key(&ctx.step_id) => PlanChange::Drifted {
                reason: "the process server is no longer healthy in the fabric".into(),
            },
            Ok(None) => PlanChange::Create,
            Err(e) => {
                plan.details.insert("error".into(), e.to_string());
                PlanChange::Unknown
            }
        };
        plan
    }
}
