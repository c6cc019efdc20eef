//! `PUT …/virtualMachines/{vm}/runCommands/{name}`: create or update a managed run command. The
//! guest (guest.rs) decides what the script does; this file turns that into an execution (start,
//! end, exit code, timeout) and the operation the PUT starts.

use super::run_commands::{execution_state, pairs, render, vm_or_404};
use crate::envelope::{fingerprint, get_ci, str_ci, ArmError, ArmResult, Resp};
use crate::guest::{self, GuestResult};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{key, Execution, OpKind, Outcome, RunCommand, Vm, World};
use serde_json::{json, Value};

/// What a run command PUT asks for.
struct RunCommandPutRequest {
    id: String,
    key: String,
    name: String,
    body: Value,
    props: Value,
    source: Value,
    hash: String,
}

impl RunCommandPutRequest {
    fn read(ctx: &Ctx, vm: &Vm) -> Result<RunCommandPutRequest, ArmError> {
        let body = ctx.json_body()?;
        if vm.provisioning != "Succeeded" {
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                format!(
                    "Run commands cannot be run on VM '{}' while its provisioning state is {}.",
                    vm.name, vm.provisioning
                ),
            ));
        }
        let props = get_ci(&body, "properties").cloned().ok_or_else(|| {
            ArmError::bad_request(
                "InvalidParameter",
                "Required parameter 'properties' is missing.",
            )
            .target("properties")
        })?;
        let source = get_ci(&props, "source").cloned().unwrap_or(json!({}));
        let kinds = ["script", "scriptUri", "commandId"]
            .iter()
            .filter(|f| str_ci(&source, f).is_some_and(|s| !s.is_empty()))
            .count();
        if kinds != 1 {
            return Err(ArmError::bad_request(
                "InvalidParameter",
                "Exactly one of source.script, source.scriptUri or source.commandId must be specified.",
            )
            .target("properties.source"));
        }
        let name = ctx.name_of("runcommands").to_string();
        Ok(RunCommandPutRequest {
            id: format!("{}/runCommands/{name}", vm.id),
            key: key(&ctx.prefix(10)),
            name,
            hash: fingerprint(&body),
            body,
            props,
            source,
        })
    }

    fn flag(&self, name: &str) -> bool {
        get_ci(&self.props, name)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }
}

pub fn put(w: &mut World, ctx: &Ctx) -> ArmResult {
    let vm = vm_or_404(w, ctx)?.clone();
    let req = RunCommandPutRequest::read(ctx, &vm)?;
    let existing = w.run_commands.get(&req.key).cloned();
    if let Some(ex) = &existing {
        if let Some(answer) = compare_with_existing(w, ctx, &req, ex, &vm)? {
            return Ok(answer);
        }
    }
    let mut params = pairs(get_ci(&req.props, "parameters"));
    params.extend(pairs(get_ci(&req.props, "protectedParameters")));
    let script = str_ci(&req.source, "script").unwrap_or("");
    let result = guest::evaluate(w, &vm, script, str_ci(&req.source, "commandId"), &params);
    let exec = execution(ctx, &req, &vm, &result);
    let op = start_operation(w, ctx, &req, &vm, &exec);
    if let Some(ex) = &existing {
        guest::cancel_registrations_for_rc(w, &key(&ex.id), ctx.now);
    }
    if exec.final_state == "Succeeded" {
        if let Some((vault, fabric)) = &result.registration {
            guest::schedule_registration(w, vault, fabric, &req.key, &vm, exec.end_at);
        }
    }
    let rc = RunCommand {
        id: existing
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or(req.id.clone()),
        name: existing
            .as_ref()
            .map(|e| e.name.clone())
            .unwrap_or(req.name.clone()),
        vm_key: key(&vm.id),
        location: str_ci(&req.body, "location")
            .unwrap_or(&vm.location)
            .to_string(),
        tags: get_ci(&req.body, "tags").cloned().unwrap_or(Value::Null),
        props: stored_properties(&req.props),
        provisioning: if existing.is_some() {
            "Updating"
        } else {
            "Creating"
        }
        .into(),
        body_hash: req.hash.clone(),
        exec,
        op: Some(op.clone()),
    };
    let status = if existing.is_some() { 200 } else { 201 };
    let r = Resp::json(status, &render(&rc, ctx.now, false));
    w.run_commands.insert(req.key, rc);
    Ok(lro::with_headers(r, w, ctx, &op, true))
}

/// The same body again answers at once (with the operation in flight, if any); a different one
/// while the script still runs is refused.
fn compare_with_existing(
    w: &World,
    ctx: &Ctx,
    req: &RunCommandPutRequest,
    ex: &RunCommand,
    vm: &Vm,
) -> Result<Option<Resp>, ArmError> {
    if ex.body_hash == req.hash {
        let r = Resp::json(200, &render(ex, ctx.now, false));
        let in_flight = ex
            .op
            .as_ref()
            .filter(|o| w.ops.get(*o).is_some_and(|o| !o.finished));
        return Ok(Some(match in_flight {
            Some(op) => lro::with_headers(r, w, ctx, op, true),
            None => r,
        }));
    }
    if matches!(execution_state(&ex.exec, ctx.now), "Pending" | "Running") {
        return Err(ArmError::conflict("OperationNotAllowed", format!("Run command '{}' is still executing on VM '{}'; wait for it to finish or delete it first.", ex.name, vm.name)));
    }
    Ok(None)
}

/// The script starts 2 s after the agent is ready (or now) and ends as the guest says, or at
/// `timeoutInSeconds`.
fn execution(ctx: &Ctx, req: &RunCommandPutRequest, vm: &Vm, result: &GuestResult) -> Execution {
    let start_at = vm.agent_ready_at.unwrap_or(ctx.now).max(ctx.now) + 2_000;
    let timeout = get_ci(&req.props, "timeoutInSeconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let dur = (result.secs * 1000.0) as i64;
    let (end_at, final_state, exit_code, error) = if timeout > 0 && dur > timeout * 1000 {
        (
            start_at + timeout * 1000,
            "TimedOut",
            -1,
            format!("Script execution timed out after {timeout} seconds."),
        )
    } else if result.exit_code == 0 {
        (start_at + dur, "Succeeded", 0, result.error.clone())
    } else {
        (
            start_at + dur,
            "Failed",
            result.exit_code,
            result.error.clone(),
        )
    };
    Execution {
        start_at,
        end_at,
        exit_code,
        output: result.output.clone(),
        error,
        final_state: final_state.to_string(),
        canceled_at: None,
    }
}

/// The PUT's operation ends when the script does (when it starts, with `asyncExecution`); it
/// fails with the script under `treatFailureAsDeploymentFailure`.
fn start_operation(
    w: &mut World,
    ctx: &Ctx,
    req: &RunCommandPutRequest,
    vm: &Vm,
    exec: &Execution,
) -> String {
    let ends = if req.flag("asyncExecution") {
        exec.start_at
    } else {
        exec.end_at
    };
    let outcome = match &ctx.lro_fault {
        Some(o) => o.clone(),
        None if req.flag("treatFailureAsDeploymentFailure") && exec.final_state != "Succeeded" => {
            Outcome::Failed {
                code: "VMExtensionProvisioningError".into(),
                message: format!("VM has reported a failure when processing extension '{}' (publisher 'Microsoft.CPlat.Core' and type 'RunCommandHandlerWindows'). Error message: '{}'.", req.name, exec.error),
                status: 200,
            }
        }
        None => Outcome::Succeeded,
    };
    let secs = ((ends - ctx.now) as f64 / 1000.0).max(0.0) / ctx.slow.max(0.0001);
    lro::start_with(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::RunCommandPut,
            sub: ctx.subscription(),
            location: &vm.location,
            target: &req.key,
            target_id: &req.id,
            secs,
        },
        outcome,
    )
}

/// `properties` as stored: no protected parameters or passwords, nothing the service computes.
fn stored_properties(props: &Value) -> Value {
    let mut out = props.clone();
    if let Value::Object(m) = &mut out {
        m.retain(|k, _| {
            !k.eq_ignore_ascii_case("protectedParameters")
                && !k.eq_ignore_ascii_case("runAsPassword")
                && !k.eq_ignore_ascii_case("provisioningState")
                && !k.eq_ignore_ascii_case("instanceView")
        });
    }
    out
}
