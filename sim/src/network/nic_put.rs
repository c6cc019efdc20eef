//! `PUT …/networkInterfaces/{name}`: create or update a NIC. Preconditions, the operation already
//! in flight, then each IP configuration: its subnet, and a static address checked against the
//! subnet (range, Azure's reserved addresses, other NICs) or a dynamic one allocated.

use super::nics::{check_if_match, mac_for, op_in_flight, render};
use super::{ip, vnets};
use crate::envelope::{fingerprint, get_ci, path, path_str, str_ci, ArmError, ArmResult, Resp};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{key, new_guid, normalize_region, IpConfig, Nic, OpKind, Subnet, World};
use serde_json::{json, Value};

/// What a NIC PUT asks for, read from its path and body.
struct NicPutRequest {
    id: String,
    key: String,
    name: String,
    sub: String,
    body: Value,
    /// Normalized (`westeurope`).
    location: String,
    hash: String,
}

impl NicPutRequest {
    fn read(ctx: &Ctx, body: Value) -> Result<NicPutRequest, ArmError> {
        let Some(location) = str_ci(&body, "location").map(normalize_region) else {
            return Err(ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            ));
        };
        let id = ctx.prefix(8);
        Ok(NicPutRequest {
            key: key(&id),
            id,
            name: ctx.name_of("networkinterfaces").to_string(),
            sub: ctx.subscription().to_string(),
            hash: fingerprint(&body),
            location,
            body,
        })
    }
}

pub fn put(w: &mut World, ctx: &Ctx) -> ArmResult {
    let body = ctx.json_body()?;
    let existing = w.nics.get(&key(&ctx.prefix(8))).cloned();
    check_if_match(ctx, existing.as_ref().map(|n| n.etag.as_str()))?;
    let req = NicPutRequest::read(ctx, body)?;
    if let Some(ex) = &existing {
        if let Some(answer) = compare_with_existing(w, ctx, &req, ex)? {
            return Ok(answer);
        }
    }
    let ip_configs = ip_configs(w, &req, existing.as_ref())?;
    let nic = new_nic(&req, existing.as_ref(), ip_configs);
    Ok(commit(w, ctx, nic, existing.is_some()))
}

/// The same body again answers at once; a delete in flight, or another change during an
/// operation, is refused; the location cannot change.
fn compare_with_existing(
    w: &World,
    ctx: &Ctx,
    req: &NicPutRequest,
    ex: &Nic,
) -> Result<Option<Resp>, ArmError> {
    if let Some(op) = op_in_flight(w, &ex.op) {
        if op.kind == OpKind::NicDelete {
            return Err(ArmError::conflict("AnotherOperationInProgress", format!("Another operation on this or dependent resource is in progress. To retrieve status of the operation use uri: {}.", lro::async_url(&ctx.base, &op))));
        }
        if ex.body_hash == req.hash {
            let r = Resp::json(200, &render(w, ex, ctx.now));
            return Ok(Some(lro::with_headers(r, w, ctx, &op.id, false)));
        }
        return Err(ArmError::new(429, "RetryableErrorDueToAnotherOperation", format!("Operation PutNetworkInterfaceOperation (PUT) on resource {} is not allowed because another operation is in progress on it. Retry after some time.", req.id))
            .header("Retry-After", w.timings().network_retry_after_secs.to_string()));
    }
    if ex.body_hash == req.hash && ex.provisioning == "Succeeded" {
        return Ok(Some(Resp::json(200, &render(w, ex, ctx.now))));
    }
    if normalize_region(&ex.location) != req.location {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            "Cannot change the location of an existing resource.",
        ));
    }
    Ok(None)
}

/// Addresses given out by this request so far: (subnet key, address).
type TakenHere = Vec<(String, u32)>;

fn ip_configs(
    w: &World,
    req: &NicPutRequest,
    existing: Option<&Nic>,
) -> Result<Vec<IpConfig>, ArmError> {
    let cfgs = path(&req.body, &["properties", "ipConfigurations"])
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
    let mut taken = TakenHere::new();
    let mut out = vec![];
    for (i, c) in cfgs.iter().enumerate() {
        out.push(ip_config(w, req, existing, c, i == 0, &mut taken)?);
    }
    Ok(out)
}

fn ip_config(
    w: &World,
    req: &NicPutRequest,
    existing: Option<&Nic>,
    c: &Value,
    first: bool,
    taken: &mut TakenHere,
) -> Result<IpConfig, ArmError> {
    let name = str_ci(c, "name").unwrap_or("ipconfig1").to_string();
    let cfg_id = format!("{}/ipConfigurations/{name}", req.id);
    let subnet = subnet_of(w, req, c, &cfg_id)?;
    let subnet_key = key(&subnet.id);
    let static_alloc = path_str(c, &["properties", "privateIPAllocationMethod"])
        .unwrap_or("Dynamic")
        .eq_ignore_ascii_case("Static");
    let addr = if static_alloc {
        static_address(w, req, c, subnet, &cfg_id)?
    } else {
        // Keep a dynamic address across updates; else the first free one.
        let prev = existing
            .and_then(|n| {
                n.ip_configs
                    .iter()
                    .find(|p| p.subnet_key == subnet_key && p.name.eq_ignore_ascii_case(&name))
            })
            .and_then(|p| ip::parse_ip(&p.private_ip));
        match prev {
            Some(p) => p,
            None => free_address(w, req, subnet, taken)?,
        }
    };
    if taken.iter().any(|(s, t)| *s == subnet_key && *t == addr) {
        return Err(ArmError::bad_request(
            "PrivateIPAddressInUse",
            format!(
                "Private IP address {} is used twice in network interface {}.",
                ip::fmt_ip(addr),
                req.id
            ),
        ));
    }
    taken.push((subnet_key.clone(), addr));
    Ok(IpConfig {
        name,
        id: cfg_id,
        private_ip: ip::fmt_ip(addr),
        allocation: if static_alloc { "Static" } else { "Dynamic" }.into(),
        subnet_id: subnet.id.clone(),
        subnet_key,
        primary: path(c, &["properties", "primary"])
            .and_then(|v| v.as_bool())
            .unwrap_or(first),
        extra: extra_properties(c),
    })
}

/// The subnet an IP configuration references, in a VNet of the NIC's region.
fn subnet_of<'a>(
    w: &'a World,
    req: &NicPutRequest,
    c: &Value,
    cfg_id: &str,
) -> Result<&'a Subnet, ArmError> {
    let Some(subnet_id) = path_str(c, &["properties", "subnet", "id"]) else {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            format!("IP configuration {cfg_id} must reference a subnet."),
        )
        .target("properties.ipConfigurations.properties.subnet"));
    };
    let not_found = || {
        ArmError::bad_request("InvalidResourceReference", format!("Resource {subnet_id} referenced by resource {} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.", req.id))
    };
    let sk = key(subnet_id);
    let (vnet_key, subnet_name) = sk.rsplit_once("/subnets/").ok_or_else(not_found)?;
    let vnet = w.vnets.get(vnet_key).ok_or_else(not_found)?;
    if normalize_region(&vnet.location) != req.location {
        return Err(not_found());
    }
    vnet.subnets
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(subnet_name))
        .ok_or_else(not_found)
}

/// Addresses other NICs hold in the subnet: (address, holder id).
fn used_by_others(w: &World, req: &NicPutRequest, subnet: &Subnet) -> Vec<(u32, String)> {
    vnets::used_ips(w, &key(&subnet.id))
        .into_iter()
        .filter(|(_, _, nic_key)| *nic_key != req.key)
        .map(|(addr, holder, _)| (addr, holder))
        .collect()
}

fn cidrs(subnet: &Subnet) -> Vec<(u32, u8)> {
    subnet
        .prefixes
        .iter()
        .filter_map(|p| ip::parse_cidr(p))
        .collect()
}

fn static_address(
    w: &World,
    req: &NicPutRequest,
    c: &Value,
    subnet: &Subnet,
    cfg_id: &str,
) -> Result<u32, ArmError> {
    let Some(a) = path_str(c, &["properties", "privateIPAddress"]) else {
        return Err(ArmError::bad_request(
            "PrivateIPAddressRequired",
            format!("IP configuration {cfg_id} has Static allocation but no privateIPAddress."),
        ));
    };
    let Some(v) = ip::parse_ip(a) else {
        return Err(ArmError::bad_request(
            "PrivateIPAddressInvalid",
            format!("'{a}' is not a valid private IP address."),
        ));
    };
    let Some(cidr) = cidrs(subnet).into_iter().find(|c| ip::contains(*c, v)) else {
        return Err(ArmError::bad_request("PrivateIPAddressNotInSubnet", format!("Private static IP address {a} does not belong to the range of subnet prefix {} for IP configuration {cfg_id}.", subnet.prefixes.join(", "))));
    };
    if ip::is_reserved(cidr, v) {
        return Err(ArmError::bad_request("PrivateIPAddressInReservedRange", format!("Private static IP address {a} is one of the addresses Azure reserves in subnet {} (network, gateway, DNS and broadcast).", subnet.name)));
    }
    if let Some((_, other)) = used_by_others(w, req, subnet).iter().find(|(u, _)| *u == v) {
        return Err(ArmError::bad_request("PrivateIPAddressInUse", format!("IP configuration {cfg_id} is using the private IP address {a} which is already allocated to resource {other}.")));
    }
    Ok(v)
}

fn free_address(
    w: &World,
    req: &NicPutRequest,
    subnet: &Subnet,
    taken: &TakenHere,
) -> Result<u32, ArmError> {
    let used = used_by_others(w, req, subnet);
    cidrs(subnet)
        .into_iter()
        .flat_map(ip::usable)
        .find(|a| !used.iter().any(|(u, _)| u == a) && !taken.iter().any(|(_, t)| t == a))
        .ok_or_else(|| ArmError::bad_request("SubnetIsFull", format!("Subnet {} with address prefix {} does not have enough capacity for 1 IP addresses.", subnet.name, subnet.prefixes.join(", "))))
}

/// The configuration's other properties, echoed as given.
fn extra_properties(c: &Value) -> Value {
    let mut extra = get_ci(c, "properties").cloned().unwrap_or(json!({}));
    if let Value::Object(m) = &mut extra {
        for f in [
            "subnet",
            "privateIPAddress",
            "privateIPAllocationMethod",
            "primary",
            "provisioningState",
        ] {
            m.retain(|k, _| !k.eq_ignore_ascii_case(f));
        }
    }
    extra
}

fn new_nic(req: &NicPutRequest, existing: Option<&Nic>, ip_configs: Vec<IpConfig>) -> Nic {
    let props = get_ci(&req.body, "properties")
        .cloned()
        .unwrap_or(json!({}));
    let flag = |f: &str| get_ci(&props, f).and_then(|v| v.as_bool()).unwrap_or(false);
    Nic {
        id: existing.map(|n| n.id.clone()).unwrap_or(req.id.clone()),
        name: existing.map(|n| n.name.clone()).unwrap_or(req.name.clone()),
        sub: req.sub.clone(),
        location: req.location.clone(),
        tags: get_ci(&req.body, "tags").cloned().unwrap_or(Value::Null),
        etag: format!("W/\"{}\"", new_guid()),
        resource_guid: existing
            .map(|n| n.resource_guid.clone())
            .unwrap_or_else(new_guid),
        ip_configs,
        accelerated: flag("enableAcceleratedNetworking"),
        ip_forwarding: flag("enableIPForwarding"),
        nsg: get_ci(&props, "networkSecurityGroup").cloned(),
        dns_servers: path(&props, &["dnsSettings", "dnsServers"])
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default(),
        provisioning: "Updating".into(),
        vm_id: existing.and_then(|n| n.vm_id.clone()),
        reserved_until: existing.and_then(|n| n.reserved_until),
        mac: mac_for(&req.key),
        op: None,
        body_hash: req.hash.clone(),
    }
}

/// Start the operation and answer 201 (200 for an update).
fn commit(w: &mut World, ctx: &Ctx, mut nic: Nic, update: bool) -> Resp {
    let secs = w.timings().nic_put_secs;
    let k = key(&nic.id);
    let (sub, location, id) = (nic.sub.clone(), nic.location.clone(), nic.id.clone());
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Network",
            kind: OpKind::NicPut,
            sub: &sub,
            location: &location,
            target: &k,
            target_id: &id,
            secs,
        },
    );
    nic.op = Some(op.clone());
    let r = Resp::json(if update { 200 } else { 201 }, &render(w, &nic, ctx.now));
    w.nics.insert(k, nic);
    lro::with_headers(r, w, ctx, &op, false)
}
