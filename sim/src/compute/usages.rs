//! Compute usages (quota) per region; VM create/delete consume and free them.

use crate::envelope::{ArmError, ArmResult};
use crate::router::Ctx;
use crate::world::{normalize_region, World};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DEFAULT_LIMIT: i64 = 10;

/// vCPUs used by the sim's own live VMs: (total, per family, vm count).
fn consumption(w: &World, sub: &str, region: &str) -> (i64, BTreeMap<String, i64>, i64) {
    let mut fam = BTreeMap::new();
    let (mut total, mut n) = (0, 0);
    for vm in w.vms.values() {
        if vm.sub.eq_ignore_ascii_case(sub) && normalize_region(&vm.location) == region {
            total += vm.vcpus;
            n += 1;
            *fam.entry(vm.family.to_ascii_lowercase()).or_insert(0) += vm.vcpus;
        }
    }
    (total, fam, n)
}

fn lookup(m: &BTreeMap<String, i64>, name: &str) -> Option<i64> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

pub fn limit(w: &World, sub: &str, region: &str, name: &str) -> i64 {
    let d = if name.eq_ignore_ascii_case("virtualMachines") {
        25000
    } else {
        DEFAULT_LIMIT
    };
    w.region(sub, region)
        .and_then(|r| lookup(&r.quota, name))
        .unwrap_or(d)
}

pub fn current(w: &World, sub: &str, region: &str, name: &str) -> i64 {
    let region = normalize_region(region);
    let base = w
        .region(sub, &region)
        .and_then(|r| lookup(&r.usage, name))
        .unwrap_or(0);
    let (total, fam, n) = consumption(w, sub, &region);
    base + match name.to_ascii_lowercase().as_str() {
        "cores" => total,
        "virtualmachines" => n,
        f => fam.get(f).copied().unwrap_or(0),
    }
}

fn localized(name: &str) -> String {
    match name {
        "cores" => "Total Regional vCPUs".into(),
        "virtualMachines" => "Virtual Machines".into(),
        f => {
            let mid = f.trim_start_matches("standard").trim_end_matches("Family");
            format!("Standard {mid} Family vCPUs")
        }
    }
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let sub = ctx.subscription().to_string();
    let region = normalize_region(ctx.name_of("locations"));
    let Some(r) = w.region(&sub, &region) else {
        return Err(ArmError::bad_request("LocationNotAvailableForResourceType", format!("The provided location '{region}' is not available for resource type 'Microsoft.Compute/locations/usages'.")));
    };
    let mut names: Vec<String> = vec!["cores".into(), "virtualMachines".into()];
    for k in r.quota.keys() {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(k)) {
            names.push(k.clone());
        }
    }
    for s in w.skus(&sub, &region) {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&s.family)) {
            names.push(s.family.clone());
        }
    }
    let items: Vec<Value> = names
        .iter()
        .map(|n| json!({"unit": "Count", "currentValue": current(w, &sub, &region, n), "limit": limit(w, &sub, &region, n), "name": {"value": n, "localizedValue": localized(n)}}))
        .collect();
    Ok(crate::lro::page(w, ctx, items))
}
