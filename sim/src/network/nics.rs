//! Network interfaces: PUT with static/dynamic IP validation, GET, DELETE (NicInUse, reservation),
//! concurrent-write conflicts and etags.

use super::{ip, vnets};
use crate::clock::SimTime;
use crate::envelope::{get_ci, path, path_str, str_ci, ArmError, ArmResult, Resp};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{key, new_guid, IpConfig, Nic, OpKind, Operation, Outcome, World};
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

fn op_in_flight(w: &World, op: &Option<String>) -> Option<Operation> {
    op.as_ref()
        .and_then(|id| w.ops.get(id))
        .filter(|o| !o.finished)
        .cloned()
}

fn check_if_match(ctx: &Ctx, etag: Option<&str>) -> Result<(), ArmError> {
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

fn mac_for(id: &str) -> String {
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

pub fn put(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let k = key(&id);
    let body = ctx.json_body()?;
    let existing = w.nics.get(&k).cloned();
    check_if_match(ctx, existing.as_ref().map(|n| n.etag.as_str()))?;
    let Some(location) = str_ci(&body, "location").map(crate::world::normalize_region) else {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let hash = crate::envelope::fingerprint(&body);
    if let Some(ex) = &existing {
        if let Some(op) = op_in_flight(w, &ex.op) {
            if op.kind == OpKind::NicDelete {
                return Err(ArmError::conflict("AnotherOperationInProgress", format!("Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {}.", lro::async_url(&ctx.base, &op))));
            }
            if ex.body_hash == hash {
                let r = Resp::json(200, &render(w, ex, ctx.now));
                return Ok(lro::with_headers(r, w, ctx, &op.id, false));
            }
            return Err(ArmError::new(429, "RetryableErrorDueToAnotherOperation", format!("Operation PutNetworkInterfaceOperation (PUT) on resource {id} is not allowed because another operation is in progress on it. Retry after some time."))
                .header("Retry-After", w.timings().network_retry_after_secs.to_string()));
        }
        if ex.body_hash == hash && ex.provisioning == "Succeeded" {
            return Ok(Resp::json(200, &render(w, ex, ctx.now)));
        }
        if crate::world::normalize_region(&ex.location) != location {
            return Err(ArmError::bad_request(
                "InvalidRequestFormat",
                "Cannot change the location of an existing resource.",
            ));
        }
    }
    let cfgs = path(&body, &["properties", "ipConfigurations"])
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    if cfgs.is_empty() {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            "Network interface must have at least one IP configuration.",
        )
        .target("properties.ipConfigurations"));
    }
    let mut ip_configs = vec![];
    let mut taken_here: Vec<(String, u32)> = vec![];
    for (i, c) in cfgs.iter().enumerate() {
        let name = str_ci(c, "name").unwrap_or("ipconfig1").to_string();
        let cfg_id = format!("{id}/ipConfigurations/{name}");
        let Some(subnet_id) = path_str(c, &["properties", "subnet", "id"]) else {
            return Err(ArmError::bad_request(
                "InvalidRequestFormat",
                format!("IP configuration {cfg_id} must reference a subnet."),
            )
            .target("properties.ipConfigurations.properties.subnet"));
        };
        let sk = key(subnet_id);
        let not_found = || {
            ArmError::bad_request("InvalidResourceReference", format!("Resource {subnet_id} referenced by resource {id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region."))
        };
        let Some((vnet_key, subnet_name)) = sk.rsplit_once("/subnets/") else {
            return Err(not_found());
        };
        let Some(vnet) = w.vnets.get(vnet_key) else {
            return Err(not_found());
        };
        let Some(subnet) = vnet
            .subnets
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(subnet_name))
        else {
            return Err(not_found());
        };
        if crate::world::normalize_region(&vnet.location) != location {
            return Err(not_found());
        }
        let cidrs: Vec<(u32, u8)> = subnet
            .prefixes
            .iter()
            .filter_map(|p| ip::parse_cidr(p))
            .collect();
        let used: Vec<(u32, String, String)> = vnets::used_ips(w, &key(&subnet.id))
            .into_iter()
            .filter(|(_, _, nk)| *nk != k)
            .collect();
        let method = path_str(c, &["properties", "privateIPAllocationMethod"]).unwrap_or("Dynamic");
        let static_alloc = method.eq_ignore_ascii_case("Static");
        let addr = if static_alloc {
            let Some(a) = path_str(c, &["properties", "privateIPAddress"]) else {
                return Err(ArmError::bad_request(
                    "PrivateIPAddressRequired",
                    format!(
                        "IP configuration {cfg_id} has Static allocation but no privateIPAddress."
                    ),
                ));
            };
            let Some(v) = ip::parse_ip(a) else {
                return Err(ArmError::bad_request(
                    "PrivateIPAddressInvalid",
                    format!("'{a}' is not a valid private IP address."),
                ));
            };
            let Some(cidr) = cidrs.iter().find(|c| ip::contains(**c, v)) else {
                return Err(ArmError::bad_request("PrivateIPAddressNotInSubnet", format!("Private static IP address {a} does not belong to the range of subnet prefix {} for IP configuration {cfg_id}.", subnet.prefixes.join(", "))));
            };
            if ip::is_reserved(*cidr, v) {
                return Err(ArmError::bad_request("PrivateIPAddressInReservedRange", format!("Private static IP address {a} is one of the addresses Azure reserves in subnet {} (network, gateway, DNS and broadcast).", subnet.name)));
            }
            if let Some((_, other, _)) = used.iter().find(|(u, _, _)| *u == v) {
                return Err(ArmError::bad_request("PrivateIPAddressInUse", format!("IP configuration {cfg_id} is using the private IP address {a} which is already allocated to resource {other}.")));
            }
            v
        } else {
            // Keep a dynamic address across updates; else the first free one.
            let prev = existing
                .as_ref()
                .and_then(|n| {
                    n.ip_configs.iter().find(|p| {
                        p.subnet_key == key(&subnet.id) && p.name.eq_ignore_ascii_case(&name)
                    })
                })
                .and_then(|p| ip::parse_ip(&p.private_ip));
            match prev {
                Some(p) => p,
                None => {
                    let free = cidrs.iter().flat_map(|c| ip::usable(*c)).find(|c| {
                        !used.iter().any(|(u, _, _)| u == c)
                            && !taken_here.iter().any(|(_, t)| t == c)
                    });
                    free.ok_or_else(|| ArmError::bad_request("SubnetIsFull", format!("Subnet {} with address prefix {} does not have enough capacity for 1 IP addresses.", subnet.name, subnet.prefixes.join(", "))))?
                }
            }
        };
        if taken_here
            .iter()
            .any(|(s, t)| *s == key(&subnet.id) && *t == addr)
        {
            return Err(ArmError::bad_request(
                "PrivateIPAddressInUse",
                format!(
                    "Private IP address {} is used twice in network interface {id}.",
                    ip::fmt_ip(addr)
                ),
            ));
        }
        taken_here.push((key(&subnet.id), addr));
        let mut extra = get_ci(c, "properties").cloned().unwrap_or(json!({}));
        if let Value::Object(m) = &mut extra {
            for f in [
                "subnet",
                "privateIPAddress",
                "privateIPAllocationMethod",
                "primary",
                "provisioningState",
            ] {
                m.retain(|k2, _| !k2.eq_ignore_ascii_case(f));
            }
        }
        ip_configs.push(IpConfig {
            name,
            id: cfg_id,
            private_ip: ip::fmt_ip(addr),
            allocation: if static_alloc {
                "Static".into()
            } else {
                "Dynamic".into()
            },
            subnet_id: subnet.id.clone(),
            subnet_key: key(&subnet.id),
            primary: path(c, &["properties", "primary"])
                .and_then(|v| v.as_bool())
                .unwrap_or(i == 0),
            extra,
        });
    }
    let props = get_ci(&body, "properties").cloned().unwrap_or(json!({}));
    let b = |f: &str| get_ci(&props, f).and_then(|v| v.as_bool()).unwrap_or(false);
    let mut nic = Nic {
        id: existing
            .as_ref()
            .map(|n| n.id.clone())
            .unwrap_or(id.clone()),
        name: existing
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or(ctx.seg(7).to_string()),
        sub: ctx.seg(1).to_string(),
        location: location.clone(),
        tags: get_ci(&body, "tags").cloned().unwrap_or(Value::Null),
        etag: format!("W/\"{}\"", new_guid()),
        resource_guid: existing
            .as_ref()
            .map(|n| n.resource_guid.clone())
            .unwrap_or_else(new_guid),
        ip_configs,
        accelerated: b("enableAcceleratedNetworking"),
        ip_forwarding: b("enableIPForwarding"),
        nsg: get_ci(&props, "networkSecurityGroup").cloned(),
        dns_servers: path(&props, &["dnsSettings", "dnsServers"])
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default(),
        provisioning: "Updating".into(),
        vm_id: existing.as_ref().and_then(|n| n.vm_id.clone()),
        reserved_until: existing.as_ref().and_then(|n| n.reserved_until),
        mac: mac_for(&k),
        op: None,
        body_hash: hash,
    };
    let secs = w.timings().nic_put_secs;
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Network",
            kind: OpKind::NicPut,
            sub: ctx.seg(1),
            location: &location,
            target: &k,
            target_id: &nic.id,
            secs,
        },
    );
    nic.op = Some(op.clone());
    let status = if existing.is_some() { 200 } else { 201 };
    let r = Resp::json(status, &render(w, &nic, ctx.now));
    w.nics.insert(k, nic);
    Ok(lro::with_headers(r, w, ctx, &op, false))
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
            sub: ctx.seg(1),
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
