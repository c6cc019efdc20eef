//! Virtual machines: rendering, GET, list, the end of a PUT's operation, DELETE with deleteOption
//! cascades and forceDeletion. The PUT itself is `vm_put` (with `vm_profile`, `vm_disks`).

use super::instance_view;
use crate::clock::{rfc3339, SimTime};
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{key, new_guid, OpKind, Operation, Outcome, Vm, World};
use serde_json::{json, Value};

pub fn etag(vm: &Vm) -> String {
    format!("\"{}\"", vm.etag)
}

pub fn render(w: &World, vm: &Vm, now: SimTime, expand_iv: bool) -> Value {
    let mut props = vm.props.clone();
    props["vmId"] = json!(vm.vm_id);
    props["provisioningState"] = json!(vm.provisioning);
    props["timeCreated"] = json!(rfc3339(vm.time_created));
    if let Some(Value::Object(os)) = props.get_mut("osProfile") {
        os.entry("secrets").or_insert(json!([]));
        os.entry("allowExtensionOperations").or_insert(json!(true));
        os.entry("requireGuestProvisionSignal")
            .or_insert(json!(true));
    }
    if expand_iv {
        props["instanceView"] = instance_view::render(w, vm, now);
    }
    let mut v = json!({"name": vm.name, "id": vm.id, "type": "Microsoft.Compute/virtualMachines", "location": vm.location, "etag": etag(vm), "properties": props});
    if !vm.tags.is_null() {
        v["tags"] = vm.tags.clone();
    }
    v
}

pub fn render_key(w: &World, k: &str, now: SimTime) -> Option<Value> {
    w.vms.get(k).map(|vm| render(w, vm, now, false))
}

pub fn agent_ready(vm: &Vm, now: SimTime) -> bool {
    vm.provisioning == "Succeeded" && vm.agent_ready_at.is_some_and(|t| t <= now)
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let vm = w
        .vms
        .get(&key(&id))
        .ok_or_else(|| ArmError::not_found("Microsoft.Compute/virtualMachines", &id))?;
    let expand = ctx
        .q("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    Ok(Resp::json(200, &render(w, vm, ctx.now, expand)))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let prefix = format!("{}/", ctx.list_scope());
    let items: Vec<Value> = w
        .vms
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, vm)| render(w, vm, ctx.now, false))
        .collect();
    Ok(lro::page(w, ctx, items))
}

pub fn on_put_done(w: &mut World, op: &Operation, at: SimTime) {
    let agent = w.timings().agent_ready_secs;
    let Some(vm) = w.vms.get_mut(&op.target) else {
        return;
    };
    if vm.op.as_deref() != Some(op.id.as_str()) {
        return;
    }
    vm.op = None;
    match &op.outcome {
        Outcome::Succeeded => {
            vm.provisioning = "Succeeded".into();
            if vm.running_at.is_none() {
                vm.running_at = Some(at);
                vm.agent_ready_at = Some(at + (agent * 1000.0) as i64);
            }
        }
        Outcome::Failed { code, message, .. } => {
            vm.provisioning = "Failed".into();
            vm.failure = Some((code.clone(), message.clone()));
            // A guest that never finished provisioning is running but its agent is not.
            if code == "OSProvisioningTimedOut" {
                vm.running_at = Some(at);
            }
        }
        Outcome::Canceled => vm.provisioning = "Canceled".into(),
    }
    vm.etag += 1;
}

pub fn delete(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let k = key(&id);
    let Some(vm) = w.vms.get(&k).cloned() else {
        return Ok(Resp::empty(204));
    };
    if let Some(im) = ctx.header("if-match") {
        if im != "*" && im.trim() != etag(&vm) {
            return Err(ArmError::new(
                412,
                "PreconditionFailed",
                format!("The specified precondition 'If-Match = {im}' failed."),
            ));
        }
    }
    if let Some(op) = vm
        .op
        .as_ref()
        .and_then(|o| w.ops.get(o))
        .filter(|o| !o.finished && o.kind == OpKind::VmDelete)
        .cloned()
    {
        return Ok(lro::with_headers(Resp::empty(202), w, ctx, &op.id, true));
    }
    let force = ctx
        .q("forceDeletion")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    for o in [vm.op.clone(), vm.action_run.clone()].into_iter().flatten() {
        lro::cancel(w, &o);
    }
    // Running scripts on the VM stop with it.
    let rc_keys: Vec<String> = w
        .run_commands
        .iter()
        .filter(|(_, rc)| rc.vm_key == k)
        .map(|(rk, _)| rk.clone())
        .collect();
    for rk in rc_keys {
        super::run_commands::cancel_execution(w, &rk, ctx.now);
    }
    crate::guest::cancel_registrations_for_vm(w, &k, ctx.now);
    let secs = if force {
        w.timings().vm_force_delete_secs
    } else {
        w.timings().vm_delete_secs
    };
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::VmDelete,
            sub: ctx.subscription(),
            location: &vm.location,
            target: &k,
            target_id: &vm.id,
            secs,
        },
    );
    if let Some(v) = w.vms.get_mut(&k) {
        v.provisioning = "Deleting".into();
        v.op = Some(op.clone());
        v.action_run = None;
        v.etag += 1;
    }
    Ok(lro::with_headers(Resp::empty(202), w, ctx, &op, true))
}

pub fn on_delete_done(w: &mut World, op: &Operation, at: SimTime) {
    if op.outcome != Outcome::Succeeded {
        if let Some(vm) = w.vms.get_mut(&op.target) {
            vm.provisioning = "Failed".into();
            vm.op = None;
        }
        return;
    }
    let Some(vm) = w.vms.remove(&op.target) else {
        return;
    };
    let reserve = (w.timings().nic_reservation_secs * 1000.0) as i64;
    for n in &vm.nics {
        if n.delete_option.eq_ignore_ascii_case("Delete") {
            w.nics.remove(&n.key);
        } else if let Some(nic) = w.nics.get_mut(&n.key) {
            nic.vm_id = None;
            nic.reserved_until = Some(at + reserve);
            nic.etag = format!("W/\"{}\"", new_guid());
        }
    }
    for d in &vm.disks {
        if d.delete_option.eq_ignore_ascii_case("Delete") {
            w.disks.remove(&d.key);
        } else if let Some(disk) = w.disks.get_mut(&d.key) {
            disk.managed_by = None;
        }
    }
    w.run_commands.retain(|_, rc| rc.vm_key != op.target);
    crate::asr::fabrics::vm_gone(w, &op.target, at);
}
