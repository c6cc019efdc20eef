//! No step adopts what it did not make. Everything a run creates carries its tags
//! (`model::tags`: `failback-run` = the run id); a NIC or VM with this run's deterministic name
//! but without this run's tag is a **collision**: `validate` blocks the run, `plan` says so, and
//! `create-nic` / `create-vm` never count it as theirs.

use super::common::str_at;
use super::validate::Blocked;
use crate::arm::ArmError;
use crate::azure::Azure;
use crate::model::NetworkTarget;
use serde_json::Value;

/// The resource carries `failback-run = run_id`.
pub fn owned_by(resource: &Value, run_id: &str) -> bool {
    str_at(resource, "/tags/failback-run") == Some(run_id)
}

/// Who the resource says made it, for messages.
fn maker(resource: &Value) -> String {
    match str_at(resource, "/tags/failback-run") {
        Some(r) => format!("failback run {r}"),
        None => "something else (no failback-run tag)".into(),
    }
}

/// The collision, as the plan and the failed step show it.
pub fn collision(kind: &str, name: &str, resource: &Value, run_id: &str) -> Blocked {
    Blocked::new(
        "ResourceNameCollision",
        format!(
            "{kind} {name} exists already and was made by {}, not by run {run_id}",
            maker(resource)
        ),
        format!(
            "delete or rename that {kind} if nothing needs it (`failback sweep` lists what failback \
             runs left behind), or apply under another --run-id"
        ),
    )
}

/// The NIC and VM of this run's names, where they exist without this run's tag.
pub async fn collisions(
    azure: &Azure,
    net: &NetworkTarget,
    run_id: &str,
) -> Result<Vec<Blocked>, ArmError> {
    let arm = &azure.arm;
    let mut out = Vec::new();
    let targets = [
        (
            "NIC",
            &net.names.nic,
            azure.nic_path(net),
            &arm.api().network,
            "GET networkInterface",
        ),
        (
            "VM",
            &net.names.vm,
            azure.vm_path(net),
            &arm.api().compute,
            "GET virtualMachine",
        ),
    ];
    for (kind, name, path, api, op) in targets {
        let url = arm.url(&path, api)?;
        match arm.get(url, op).await {
            Ok(r) if !owned_by(&r.body, run_id) => out.push(collision(kind, name, &r.body, run_id)),
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
