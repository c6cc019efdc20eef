//! Virtual networks and subnets (seeded from the scenario, read-only) and CheckIPAddressAvailability.

use super::ip;
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::router::Ctx;
use crate::world::{key, new_guid, Subnet, Vnet, World};
use serde_json::{json, Value};

pub fn seed(w: &mut World) {
    let subs = w.scenario.subscriptions.clone();
    for s in subs {
        for v in s.vnets {
            let id = format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/virtualNetworks/{}", s.id, v.resource_group, v.name);
            let subnets = v
                .subnets
                .iter()
                .map(|sn| {
                    let uses_array = sn.address_prefix.is_none();
                    let mut prefixes: Vec<String> = sn.address_prefix.iter().cloned().collect();
                    prefixes.extend(sn.address_prefixes.iter().cloned());
                    Subnet {
                        name: sn.name.clone(),
                        id: format!("{id}/subnets/{}", sn.name),
                        prefixes,
                        uses_array,
                    }
                })
                .collect();
            w.vnets.insert(
                key(&id),
                Vnet {
                    id: id.clone(),
                    name: v.name.clone(),
                    sub: s.id.clone(),
                    location: v.location.clone(),
                    prefixes: v.address_prefixes.clone(),
                    subnets,
                    etag: format!("W/\"{}\"", new_guid()),
                    resource_guid: new_guid(),
                },
            );
        }
    }
}

/// Private IPs in use in a subnet: (ip, ipconfig id, nic key).
pub fn used_ips(w: &World, subnet_key: &str) -> Vec<(u32, String, String)> {
    let mut out = vec![];
    for (k, n) in &w.nics {
        for c in &n.ip_configs {
            if c.subnet_key == subnet_key {
                if let Some(v) = ip::parse_ip(&c.private_ip) {
                    out.push((v, c.id.clone(), k.clone()));
                }
            }
        }
    }
    out
}

pub fn render_subnet(w: &World, v: &Vnet, s: &Subnet) -> Value {
    let sk = key(&s.id);
    let users: Vec<Value> = used_ips(w, &sk)
        .into_iter()
        .map(|(_, id, _)| json!({"id": id}))
        .collect();
    let mut props = json!({
        "provisioningState": "Succeeded",
        "privateEndpointNetworkPolicies": "Disabled",
        "privateLinkServiceNetworkPolicies": "Enabled",
    });
    if s.uses_array {
        props["addressPrefixes"] = json!(s.prefixes);
    } else {
        props["addressPrefix"] = json!(s.prefixes.first());
        if s.prefixes.len() > 1 {
            props["addressPrefixes"] = json!(s.prefixes);
        }
    }
    if !users.is_empty() {
        props["ipConfigurations"] = json!(users);
    }
    json!({"name": s.name, "id": s.id, "etag": v.etag, "type": "Microsoft.Network/virtualNetworks/subnets", "properties": props})
}

pub fn render(w: &World, v: &Vnet) -> Value {
    let subnets: Vec<Value> = v.subnets.iter().map(|s| render_subnet(w, v, s)).collect();
    json!({
        "name": v.name, "id": v.id, "etag": v.etag, "type": "Microsoft.Network/virtualNetworks", "location": v.location,
        "properties": {
            "provisioningState": "Succeeded", "resourceGuid": v.resource_guid,
            "addressSpace": {"addressPrefixes": v.prefixes}, "subnets": subnets,
            "virtualNetworkPeerings": [], "enableDdosProtection": false
        }
    })
}

fn find<'a>(w: &'a World, ctx: &Ctx) -> Result<&'a Vnet, ArmError> {
    let id = ctx.prefix(8);
    w.vnets
        .get(&key(&id))
        .ok_or_else(|| ArmError::not_found("Microsoft.Network/virtualNetworks", &id))
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = find(w, ctx)?;
    Ok(Resp::json(200, &render(w, v)))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let prefix = key(&ctx.prefix(7));
    let items: Vec<Value> = w
        .vnets
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{prefix}/")))
        .map(|(_, v)| render(w, v))
        .collect();
    Ok(crate::lro::page(w, ctx, items))
}

pub fn list_subnets(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = find(w, ctx)?;
    let items: Vec<Value> = v.subnets.iter().map(|s| render_subnet(w, v, s)).collect();
    Ok(crate::lro::page(w, ctx, items))
}

pub fn get_subnet(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = find(w, ctx)?;
    let name = ctx.name_of("subnets");
    let s = v
        .subnets
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ArmError::new(
                404,
                "NotFound",
                format!("Resource {} not found.", ctx.prefix(10)),
            )
        })?;
    Ok(Resp::json(200, &render_subnet(w, v, s)))
}

pub fn check_ip(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = find(w, ctx)?;
    let Some(addr) = ctx.q("ipAddress") else {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            "Missing required query parameter 'ipAddress'.",
        ));
    };
    let Some(ipv) = ip::parse_ip(addr) else {
        return Err(ArmError::bad_request(
            "InvalidRequestFormat",
            format!("'{addr}' is not a valid IPv4 address."),
        ));
    };
    let Some((s, cidr)) = v.subnets.iter().find_map(|s| {
        s.prefixes
            .iter()
            .filter_map(|p| ip::parse_cidr(p))
            .find(|c| ip::contains(*c, ipv))
            .map(|c| (s, c))
    }) else {
        return Ok(Resp::json(
            200,
            &json!({"available": false, "availableIPAddresses": []}),
        ));
    };
    let used: Vec<u32> = used_ips(w, &key(&s.id))
        .into_iter()
        .map(|(i, _, _)| i)
        .collect();
    let reserved = ip::is_reserved(cidr, ipv);
    if !reserved && !used.contains(&ipv) {
        return Ok(Resp::json(200, &json!({"available": true})));
    }
    let suggestions: Vec<String> = ip::usable(cidr)
        .filter(|c| *c > ipv && !used.contains(c))
        .take(5)
        .map(ip::fmt_ip)
        .collect();
    let mut body = json!({"available": false, "availableIPAddresses": suggestions});
    if reserved {
        body["isPlatformReserved"] = json!(true);
    }
    Ok(Resp::json(200, &body))
}
