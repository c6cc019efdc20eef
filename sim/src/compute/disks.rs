//! Managed disks: GET, list, DELETE (refused while attached).

use crate::clock::{rfc3339, SimTime};
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{key, Disk, OpKind, Operation, Outcome, World};
use serde_json::{json, Value};

pub fn render(d: &Disk) -> Value {
    let mut props = json!({
        "creationData": {"createOption": d.create_option}, "diskSizeGB": d.size_gb,
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"}, "timeCreated": rfc3339(d.time_created),
        "provisioningState": d.provisioning, "diskState": if d.managed_by.is_some() { "Attached" } else { "Unattached" },
        "uniqueId": d.unique_id, "networkAccessPolicy": "AllowAll", "publicNetworkAccess": "Enabled",
    });
    if let Some(o) = &d.os_type {
        props["osType"] = json!(o);
    }
    if let Some(g) = &d.hyperv_generation {
        props["hyperVGeneration"] = json!(g);
    }
    let tier = if d.sku.starts_with("Premium") {
        "Premium"
    } else {
        "Standard"
    };
    let mut v = json!({"name": d.name, "id": d.id, "type": "Microsoft.Compute/disks", "location": d.location, "sku": {"name": d.sku, "tier": tier}, "properties": props});
    if let Some(m) = &d.managed_by {
        v["managedBy"] = json!(m);
    }
    if !d.tags.is_null() {
        v["tags"] = d.tags.clone();
    }
    v
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let d = w
        .disks
        .get(&key(&id))
        .ok_or_else(|| ArmError::not_found("Microsoft.Compute/disks", &id))?;
    Ok(Resp::json(200, &render(d)))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let prefix = format!("{}/", key(&ctx.prefix(7)));
    let items: Vec<Value> = w
        .disks
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, d)| render(d))
        .collect();
    Ok(lro::page(w, ctx, items))
}

pub fn delete(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let k = key(&id);
    let Some(d) = w.disks.get(&k).cloned() else {
        return Ok(Resp::empty(204));
    };
    if let Some(op) =
        d.op.as_ref()
            .and_then(|o| w.ops.get(o))
            .filter(|o| !o.finished)
            .cloned()
    {
        return Ok(lro::with_headers(Resp::empty(202), w, ctx, &op.id, true));
    }
    if let Some(vm) = &d.managed_by {
        return Err(ArmError::conflict(
            "OperationNotAllowed",
            format!("Disk {} is attached to VM {vm}.", d.name),
        ));
    }
    let secs = w.timings().disk_delete_secs;
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::DiskDelete,
            sub: ctx.subscription(),
            location: &d.location,
            target: &k,
            target_id: &d.id,
            secs,
        },
    );
    if let Some(dm) = w.disks.get_mut(&k) {
        dm.provisioning = "Deleting".into();
        dm.op = Some(op.clone());
    }
    Ok(lro::with_headers(Resp::empty(202), w, ctx, &op, true))
}

pub fn on_delete_done(w: &mut World, op: &Operation, _at: SimTime) {
    if op.outcome == Outcome::Succeeded {
        w.disks.remove(&op.target);
    } else if let Some(d) = w.disks.get_mut(&op.target) {
        d.provisioning = "Failed".into();
        d.op = None;
    }
}
