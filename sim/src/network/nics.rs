//! Network interfaces: rendering, GET, list, the end of a PUT's operation, DELETE (NicInUse,
//! reservation), etags. The PUT itself is `nic_put`.

use crate::clock::SimTime;
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{key, Nic, OpKind, Operation, Outcome, World};
use serde_json::{json, Value};

pub fn render(w: &World, n: &Nic, now: SimTime) -> Value {
    let cfgs: Vec<Value> = n
        .ip_configs
        .iter()
        .map(|c| {
            let mut props = json!({
                "provisioningState": n.provisioning, "privateIPAddress": c.private_ip,
                "privateIPAllocationMethod": c.allocation, "privateIPAddressVersion": "IPv4",
                "subnet": {"id": c.subnet_id}, "primary": c.primary,
            });
            if let (Value::Object(extra), Value::Object(p)) = (&c.extra, &mut props) {
                for (k, v) in extra {
                    p.entry(k.clone()).or_insert(v.clone());
                }
            }
            json!({"name": c.name, "id": c.id, "etag": n.etag, "type": "Microsoft.Network/networkInterfaces/ipConfigurations", "properties": props})
        })
        .collect();
    let mut props = json!({
        "provisioningState": n.provisioning, "resourceGuid": n.resource_guid, "ipConfigurations": cfgs,
        "dnsSettings": {"dnsServers": n.dns_servers, "appliedDnsServers": []},
        "enableAcceleratedNetworking": n.accelerated, "vnetEncryptionSupported": false,
        "enableIPForwarding": n.ip_forwarding, "disableTcpStateTracking": false,
        "hostedWorkloads": [], "tapConfigurations": [], "nicType": "Standard", "auxiliaryMode": "None", "auxiliarySku": "None",
    });
    if let Some(nsg) = &n.nsg {
        props["networkSecurityGroup"] = nsg.clone();
    }
    if let Some(vm_id) = &n.vm_id {
        props["virtualMachine"] = json!({"id": vm_id});
        // MAC and primary show up once the VM runs.
        if let Some(vm) = w.vms.get(&key(vm_id)) {
            if vm.running_at.is_some_and(|t| t <= now) {
                props["macAddress"] = json!(n.mac);
                props["primary"] = json!(vm.nics.iter().any(|r| r.key == key(&n.id) && r.primary));
            }
        }
    }
    let mut v = json!({"name": n.name, "id": n.id, "etag": n.etag, "type": "Microsoft.Network/networkInterfaces", "location": n.location, "kind": "Regular", "properties": props});
    if !n.tags.is_null() {
        v["tags"] = n.tags.clone();
    }
    v
}

pub fn render_key(w: &World, k: &str, now: SimTime) -> Option<Value> {
    w.nics.get(k).map(|n| render(w, n, now))
}

fn find<'a>(w: &'a World, ctx: &Ctx) -> Option<&'a Nic> {
    w.nics.get(&key(&ctx.prefix(8)))
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let n = find(w, ctx).ok_or_else(|| {
        ArmError::not_found("Microsoft.Network/networkInterfaces", &ctx.prefix(8))
    })?;
    Ok(Resp::json(200, &render(w, n, ctx.now)))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let prefix = format!("{}/", ctx.list_scope());
    let items: Vec<Value> = w
        .nics
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, n)| render(w, n, ctx.now))
        .collect();
    Ok(lro::page(w, ctx, items))
}

pub(super) fn op_in_flight(w: &World, op: &Option<String>) -> Option<Operation> {
    op.as_ref()
        .and_then(|id| w.ops.get(id))
        .filter(|o| !o.finished)
        .cloned()
}

pub(super) fn check_if_match(ctx: &Ctx, etag: Option<&str>) -> Result<(), ArmError> {
    if let Some(im) = ctx.header("if-match") {
        let ok = match etag {
            Some(e) => im == "*" || im.trim() == e,
            None => false,
        };
        if !ok {
            return Err(ArmError::new(412, "PreconditionFailed", format!("The condition specified using HTTP conditional header(s) is not met (If-Match: {im}).")));
        }
    }
    if ctx.header("if-none-match").is_some_and(|v| v.trim() == "*") && etag.is_some() {
        return Err(ArmError::new(
            412,
            "PreconditionFailed",
            "The resource already exists (If-None-Match: *).",
        ));
    }
    Ok(())
}

pub(super) fn mac_for(id: &str) -> String {
    let h = id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!(
        "00-0D-3A-{:02X}-{:02X}-{:02X}",
        (h >> 16) & 255,
        (h >> 8) & 255,
        h & 255
    )
}

pub fn on_put_done(w: &mut World, op: &Operation, _at: SimTime) {
    if let Some(n) = w.nics.get_mut(&op.target) {
        if n.op.as_deref() == Some(op.id.as_str()) {
            n.op = None;
            n.provisioning = if op.outcome == Outcome::Succeeded {
                "Succeeded".into()
            } else {
                "Failed".into()
            };
        }
    }
}

pub fn delete(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let k = key(&id);
    let Some(n) = w.nics.get(&k).cloned() else {
        return Ok(Resp::empty(204));
    };
    check_if_match(ctx, Some(&n.etag))?;
    if let Some(op) = op_in_flight(w, &n.op) {
        if op.kind == OpKind::NicDelete {
            let r = Resp::empty(202);
            return Ok(lro::with_headers(r, w, ctx, &op.id, true));
        }
        return Err(ArmError::conflict("AnotherOperationInProgress", format!("Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {}.", lro::async_url(&ctx.base, &op))));
    }
    if let Some(vm) = n.vm_id.as_ref().filter(|v| w.vms.contains_key(&key(v))) {
        return Err(ArmError::bad_request("NicInUse", format!("Network Interface {} is used by existing resource {vm}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.", n.id)));
    }
    if let Some(until) = n.reserved_until.filter(|u| *u > ctx.now) {
        let secs = ((until - ctx.now) as f64 / 1000.0).ceil() as i64;
        return Err(ArmError::bad_request("NicReservedForAnotherVm", format!("Nic {} is reserved for another VM for {secs} more seconds after the VM using it was deleted. Please try after {secs} seconds.", n.id)));
    }
    let secs = w.timings().nic_delete_secs;
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Network",
            kind: OpKind::NicDelete,
            sub: ctx.subscription(),
            location: &n.location,
            target: &k,
            target_id: &n.id,
            secs,
        },
    );
    if let Some(nm) = w.nics.get_mut(&k) {
        nm.provisioning = "Deleting".into();
        nm.op = Some(op.clone());
    }
    Ok(lro::with_headers(Resp::empty(202), w, ctx, &op, true))
}

pub fn on_delete_done(w: &mut World, op: &Operation, _at: SimTime) {
    if op.outcome == Outcome::Succeeded {
        w.nics.remove(&op.target);
    } else if let Some(n) = w.nics.get_mut(&op.target) {
        n.provisioning = "Failed".into();
        n.op = None;
    }
}
