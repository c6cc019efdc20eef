//! Managed run commands (`runCommands/{name}` child resource: rendering, GET, list, DELETE; the
//! PUT is `run_command_put`) and the action run command (`POST …/runCommand`). What the script
//! does is decided by the guest (guest.rs).

use crate::clock::{rfc3339, SimTime};
use crate::envelope::{get_ci, path, str_ci, ArmError, ArmResult, Resp};
use crate::guest;
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{key, Execution, OpKind, Operation, Outcome, RunCommand, World};
use serde_json::{json, Value};

pub fn execution_state(e: &Execution, now: SimTime) -> &str {
    if let Some(c) = e.canceled_at {
        if c <= now && c < e.end_at {
            return "Canceled";
        }
    }
    if now < e.start_at {
        "Pending"
    } else if now < e.end_at {
        "Running"
    } else {
        &e.final_state
    }
}

pub fn render(rc: &RunCommand, now: SimTime, expand: bool) -> Value {
    let mut props = rc.props.clone();
    if let Value::Object(m) = &mut props {
        m.entry("asyncExecution").or_insert(json!(false));
        m.entry("treatFailureAsDeploymentFailure")
            .or_insert(json!(false));
        m.entry("timeoutInSeconds").or_insert(json!(0));
        m.insert("provisioningState".into(), json!(rc.provisioning));
    }
    if expand {
        let e = &rc.exec;
        let st = execution_state(e, now);
        let mut iv = json!({"executionState": st, "executionMessage": "", "statuses": []});
        if st != "Pending" {
            iv["startTime"] = json!(rfc3339(e.start_at));
        }
        if !matches!(st, "Pending" | "Running") {
            let end = if st == "Canceled" {
                e.canceled_at.unwrap_or(e.end_at)
            } else {
                e.end_at
            };
            iv["endTime"] = json!(rfc3339(end));
            iv["exitCode"] = json!(if st == "Canceled" { -1 } else { e.exit_code });
            iv["output"] = json!(if st == "Canceled" {
                ""
            } else {
                e.output.as_str()
            });
            iv["error"] = json!(if st == "Canceled" {
                "Script execution was canceled."
            } else {
                e.error.as_str()
            });
            iv["executionMessage"] = json!(match st {
                "Succeeded" => "Execution completed".to_string(),
                "TimedOut" => "Execution timed out".to_string(),
                "Canceled" => "Execution was canceled".to_string(),
                _ => format!("Execution failed with exit code {}", e.exit_code),
            });
        }
        props["instanceView"] = iv;
    }
    let mut v = json!({"name": rc.name, "id": rc.id, "type": "Microsoft.Compute/virtualMachines/runCommands", "location": rc.location, "properties": props});
    if !rc.tags.is_null() {
        v["tags"] = rc.tags.clone();
    }
    v
}

pub fn render_key(w: &World, k: &str, now: SimTime, expand: bool) -> Option<Value> {
    w.run_commands.get(k).map(|rc| render(rc, now, expand))
}

pub(super) fn vm_or_404<'a>(w: &'a World, ctx: &Ctx) -> Result<&'a crate::world::Vm, ArmError> {
    let vm_id = ctx.prefix(8);
    w.vms.get(&key(&vm_id)).ok_or_else(|| ArmError::new(404, "ParentResourceNotFound", format!("Can not perform requested operation on nested resource. Parent resource '{}' not found.", ctx.name_of("virtualmachines"))))
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    vm_or_404(w, ctx)?;
    let id = ctx.prefix(10);
    let rc = w
        .run_commands
        .get(&key(&id))
        .ok_or_else(|| ArmError::not_found("Microsoft.Compute/virtualMachines/runCommands", &id))?;
    let expand = ctx
        .q("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    Ok(Resp::json(200, &render(rc, ctx.now, expand)))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    vm_or_404(w, ctx)?;
    let prefix = format!("{}/", key(&ctx.prefix(9)));
    let expand = ctx
        .q("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    let items: Vec<Value> = w
        .run_commands
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, rc)| render(rc, ctx.now, expand))
        .collect();
    Ok(lro::page(w, ctx, items))
}

/// `[{name, value}]` arrays to pairs.
pub(super) fn pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let n = str_ci(p, "name")?.to_string();
                    let val = match get_ci(p, "value") {
                        Some(Value::String(s)) => s.clone(),
                        Some(x) => x.to_string(),
                        None => String::new(),
                    };
                    Some((n, val))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn on_put_done(w: &mut World, op: &Operation, _at: SimTime) {
    if let Some(rc) = w.run_commands.get_mut(&op.target) {
        if rc.op.as_deref() == Some(op.id.as_str()) {
            rc.op = None;
            rc.provisioning = match op.outcome {
                Outcome::Succeeded => "Succeeded".into(),
                Outcome::Failed { .. } => "Failed".into(),
                Outcome::Canceled => "Canceled".into(),
            };
        }
    }
}

/// Stop a running script (DELETE of the run command, or the VM going away).
pub fn cancel_execution(w: &mut World, k: &str, now: SimTime) {
    if let Some(rc) = w.run_commands.get_mut(k) {
        if now < rc.exec.end_at && rc.exec.canceled_at.is_none() {
            rc.exec.canceled_at = Some(now);
        }
        if let Some(op) = rc.op.clone() {
            lro::cancel(w, &op);
        }
    }
    crate::guest::cancel_registrations_for_rc(w, k, now);
}

pub fn delete(w: &mut World, ctx: &Ctx) -> ArmResult {
    vm_or_404(w, ctx)?;
    let k = key(&ctx.prefix(10));
    let Some(rc) = w.run_commands.get(&k).cloned() else {
        return Ok(Resp::empty(204));
    };
    if let Some(op) = rc
        .op
        .as_ref()
        .and_then(|o| w.ops.get(o))
        .filter(|o| !o.finished && o.kind == OpKind::RunCommandDelete)
        .cloned()
    {
        return Ok(lro::with_headers(Resp::empty(202), w, ctx, &op.id, true));
    }
    cancel_execution(w, &k, ctx.now);
    let secs = w.timings().run_command_delete_secs;
    let loc = w
        .vms
        .get(&rc.vm_key)
        .map(|v| v.location.clone())
        .unwrap_or(rc.location.clone());
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::RunCommandDelete,
            sub: ctx.subscription(),
            location: &loc,
            target: &k,
            target_id: &rc.id,
            secs,
        },
    );
    if let Some(r) = w.run_commands.get_mut(&k) {
        r.provisioning = "Deleting".into();
        r.op = Some(op.clone());
    }
    Ok(lro::with_headers(Resp::empty(202), w, ctx, &op, true))
}

pub fn on_delete_done(w: &mut World, op: &Operation, _at: SimTime) {
    if op.outcome == Outcome::Succeeded {
        w.run_commands.remove(&op.target);
    }
}

fn last_bytes(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut start = s.len() - n;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// `POST …/virtualMachines/{vm}/runCommand` (v1 action): one at a time, ≥ 20 s, no exit code.
pub fn action(w: &mut World, ctx: &Ctx) -> ArmResult {
    let vm_id = ctx.prefix(8);
    let vk = key(&vm_id);
    let vm = w
        .vms
        .get(&vk)
        .cloned()
        .ok_or_else(|| ArmError::not_found("Microsoft.Compute/virtualMachines", &vm_id))?;
    let body = ctx.json_body()?;
    let Some(command_id) = str_ci(&body, "commandId").map(|s| s.to_string()) else {
        return Err(ArmError::bad_request(
            "InvalidParameter",
            "Required parameter 'commandId' is missing (null).",
        )
        .target("commandId"));
    };
    if !crate::compute::vms::agent_ready(&vm, ctx.now) || vm.running_at.is_none_or(|t| t > ctx.now)
    {
        return Err(ArmError::conflict("OperationNotAllowed", format!("Run command can only be executed on a running VM whose VM agent is Ready; VM '{}' is not.", vm.name)));
    }
    if vm
        .action_run
        .as_ref()
        .and_then(|o| w.ops.get(o))
        .is_some_and(|o| !o.finished)
    {
        return Err(ArmError::conflict("Conflict", "Run command extension execution is in progress. Please wait for completion before invoking a run command."));
    }
    let script: String = get_ci(&body, "script")
        .and_then(|s| s.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let params = pairs(get_ci(&body, "parameters"));
    let result = guest::evaluate(w, &vm, &script, Some(&command_id), &params);
    let secs = result.secs.max(20.0);
    let stdout = last_bytes(&result.output, 4096);
    let stderr = last_bytes(&result.error, 4096);
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::RunCommandAction,
            sub: ctx.subscription(),
            location: &vm.location,
            target: &vk,
            target_id: &vm.id,
            secs,
        },
    );
    if let Some(o) = w.ops.get_mut(&op) {
        o.result = Some(json!({"value": [
            {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "message": stdout},
            {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "message": stderr},
        ]}));
    }
    if result.exit_code == 0 {
        if let Some((vault, fabric)) = &result.registration {
            let end = ctx.now + (secs * 1000.0) as i64;
            guest::schedule_registration(w, vault, fabric, "", &vm, end);
        }
    }
    if let Some(v) = w.vms.get_mut(&vk) {
        v.action_run = Some(op.clone());
    }
    let _ = path;
    Ok(lro::with_headers(Resp::empty(202), w, ctx, &op, true))
}

pub fn on_action_done(w: &mut World, op: &Operation, _at: SimTime) {
    if let Some(vm) = w.vms.get_mut(&op.target) {
        if vm.action_run.as_deref() == Some(op.id.as_str()) {
            vm.action_run = None;
        }
    }
}
