//! `GET …/providers/Microsoft.Compute/skus?$filter=location eq '…'`.

use crate::envelope::{ArmError, ArmResult};
use crate::router::Ctx;
use crate::scenario::SkuDef;
use crate::world::{normalize_region, World};
use serde_json::{json, Value};

/// Parses `location eq 'westus'` (the only filter the API supports).
pub fn parse_filter(f: &str) -> Result<String, ArmError> {
    let re = regex::Regex::new(r"(?i)^\s*location\s+eq\s+'([^']+)'\s*$")
        .map_err(|e| ArmError::new(500, "InternalServerError", e.to_string()))?;
    match re.captures(f) {
        Some(c) => Ok(normalize_region(&c[1])),
        None => Err(ArmError::bad_request("InvalidFilter", format!("The filter '{f}' is not supported. Only a single \"location eq '<region>'\" filter is supported.")).target("$filter")),
    }
}

fn b(v: bool) -> &'static str {
    if v {
        "True"
    } else {
        "False"
    }
}

pub fn render(s: &SkuDef, region: &str) -> Value {
    let caps = [
        ("MaxResourceVolumeMB", (s.vcpus * 10240).to_string()),
        ("OSVhdSizeMB", "1047552".to_string()),
        ("vCPUs", s.vcpus.to_string()),
        ("HyperVGenerations", s.hyperv_generations.clone()),
        ("MemoryGB", format!("{}", s.memory_gb)),
        ("MaxDataDiskCount", s.max_data_disks.to_string()),
        ("LowPriorityCapable", "True".into()),
        ("PremiumIO", b(s.premium_io).into()),
        ("VMDeploymentTypes", "IaaS".into()),
        ("vCPUsAvailable", s.vcpus.to_string()),
        ("ACUs", "100".into()),
        ("vCPUsPerCore", "1".into()),
        ("EphemeralOSDiskSupported", b(s.premium_io).into()),
        (
            "AcceleratedNetworkingEnabled",
            b(s.accelerated_networking).into(),
        ),
        ("RdmaEnabled", "False".into()),
        ("MaxNetworkInterfaces", s.max_nics.to_string()),
    ];
    let restrictions: Vec<Value> = s
        .restrictions
        .iter()
        .map(|r| {
            if r.kind.eq_ignore_ascii_case("Zone") {
                json!({"type": "Zone", "values": [region], "restrictionInfo": {"locations": [region], "zones": r.zones}, "reasonCode": r.reason_code})
            } else {
                json!({"type": "Location", "values": [region], "restrictionInfo": {"locations": [region]}, "reasonCode": r.reason_code})
            }
        })
        .collect();
    json!({
        "resourceType": "virtualMachines", "name": s.name, "tier": s.tier, "size": s.size, "family": s.family,
        "locations": [region],
        "locationInfo": [{"location": region, "zones": s.zones, "zoneDetails": []}],
        "capabilities": caps.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        "restrictions": restrictions,
    })
}

fn disk_skus(region: &str) -> Vec<Value> {
    ["Standard_LRS", "StandardSSD_LRS", "Premium_LRS"]
        .iter()
        .map(|n| {
            json!({"resourceType": "disks", "name": n, "tier": if n.starts_with("Premium") {"Premium"} else {"Standard"},
                   "size": "E1", "locations": [region], "locationInfo": [{"location": region, "zones": [], "zoneDetails": []}],
                   "capabilities": [{"name": "MaxSizeGiB", "value": "32767"}], "restrictions": []})
        })
        .collect()
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let sub = ctx.subscription().to_string();
    let regions: Vec<String> = match ctx.q("$filter") {
        Some(f) if !f.trim().is_empty() => vec![parse_filter(f)?],
        _ => w
            .sub(&sub)
            .map(|s| {
                s.regions
                    .iter()
                    .map(|r| normalize_region(&r.name))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut items = vec![];
    for r in regions {
        if w.region(&sub, &r).is_none() {
            continue; // unknown region: empty list, as ARM does
        }
        for s in w.skus(&sub, &r) {
            items.push(render(&s, &r));
        }
        items.extend(disk_skus(&r));
    }
    Ok(crate::lro::page(w, ctx, items))
}
