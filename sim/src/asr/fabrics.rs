//! `replicationFabrics` list/get: VMware fabric details with `processServers[]`.

use super::{not_found, vault_key, Fabric, Ps, Vault};
use crate::clock::{rfc3339, SimTime};
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::router::Ctx;
use crate::scenario::Timings;
use crate::world::World;
use serde_json::{json, Value};

const GB: i64 = 1 << 30;

pub fn render_ps(ps: &Ps, v: &Vault, t: SimTime, tm: &Timings) -> Value {
    let hb = ps.last_heartbeat(t, (tm.heartbeat_interval_secs * 1000.0) as i64);
    let health = ps.health(t, tm);
    let machines = v
        .items
        .iter()
        .filter(|i| i.ps_id.as_deref() == Some(ps.id.as_str()))
        .count();
    let errors: Vec<Value> = if health == "Normal" {
        vec![]
    } else {
        let mins = (t - hb) / 60_000;
        vec![json!({
            "errorSource": "ProcessServer", "errorType": "ProcessServerHeartbeat", "errorLevel": if health == "Critical" { "Error" } else { "Warning" },
            "errorCategory": "Health", "errorCode": if health == "Critical" { "EA0401" } else { "EA0402" },
            "summaryMessage": "Process server heartbeat is missing",
            "errorMessage": format!("The process server {} ({}) has not sent a heartbeat to the configuration server for {mins} minutes.", ps.friendly_name, ps.ip),
            "possibleCauses": "The process server VM is shut down, deleted, or cannot reach the configuration server on port 443.",
            "recommendedAction": "Ensure the process server is running and can reach the configuration server, or unregister it.",
            "creationTimeUtc": rfc3339(hb), "entityId": ps.id, "errorId": format!("{}-hb", ps.id),
        })]
    };
    let exp = t + 300 * 86_400_000;
    json!({
        "id": ps.id, "friendlyName": ps.friendly_name, "ipAddress": ps.ip, "osType": "Windows",
        "osVersion": "Microsoft Windows Server 2016 Datacenter", "agentVersion": "9.60.6885.1", "versionStatus": "Supported",
        "lastHeartbeat": rfc3339(hb), "health": health, "healthErrors": errors,
        "psServiceStatus": if health == "Normal" { "Running" } else { "Unknown" }, "hostId": ps.host_id,
        "machineCount": machines.to_string(), "replicationPairCount": machines.to_string(),
        "systemLoad": "1", "systemLoadStatus": "Healthy", "cpuLoad": "12", "cpuLoadStatus": "Healthy",
        "totalMemoryInBytes": 16 * GB, "availableMemoryInBytes": 11 * GB, "memoryUsageStatus": "Healthy",
        "totalSpaceInBytes": 600 * GB, "availableSpaceInBytes": 560 * GB, "spaceUsageStatus": "Healthy",
        "sslCertExpiryDate": rfc3339(exp), "sslCertExpiryRemainingDays": 300, "agentExpiryDate": rfc3339(exp),
        "psStatsRefreshTime": rfc3339(hb), "throughputUploadPendingDataInBytes": 0, "throughputInMBps": 0,
        "throughputInBytes": 0, "throughputStatus": "Healthy", "marsCommunicationStatus": "Connected",
        "marsRegistrationStatus": "Registered", "mobilityServiceUpdates": [],
    })
}

/// The configuration server reports every minute; a disconnected one stopped 3 hours ago.
fn cs_heartbeat(f: &Fabric, t: SimTime) -> SimTime {
    let last = t - t.rem_euclid(60_000);
    if f.cs_disconnected {
        last - 3 * 3_600_000
    } else {
        last
    }
}

pub fn render(f: &Fabric, v: &Vault, t: SimTime, tm: &Timings) -> Value {
    let custom = if f.kind.eq_ignore_ascii_case("VMware") {
        let pss: Vec<Value> = f
            .process_servers
            .iter()
            .map(|p| render_ps(p, v, t, tm))
            .collect();
        let mts: Vec<Value> = f
            .master_targets
            .iter()
            .map(|m| json!({"id": m.id, "name": m.name, "ipAddress": m.ip_address, "osType": "Windows", "agentVersion": "9.60.6885.1",
                "lastHeartbeat": rfc3339(t - t.rem_euclid(60_000)), "versionStatus": "Supported", "health": "Normal", "healthErrors": [],
                "retentionVolumes": m.retention_volumes.iter().map(|r| json!({"volumeName": r, "capacityInBytes": 500 * GB, "freeSpaceInBytes": 400 * GB, "thresholdPercentage": 80})).collect::<Vec<_>>(),
                "dataStores": m.datastores.iter().map(|d| json!({"symbolicName": d, "uuid": format!("{d}-uuid"), "capacity": "2048", "freeSpace": "1024", "type": "VMFS"})).collect::<Vec<_>>(),
                "validationErrors": [], "marsAgentVersion": "2.0.9263.0"}))
            .collect();
        json!({
            "instanceType": "VMware", "processServers": pss, "masterTargetServers": mts,
            "runAsAccounts": f.run_as_accounts.iter().map(|a| json!({"accountId": a, "accountName": a})).collect::<Vec<_>>(),
            "replicationPairCount": v.items.len().to_string(), "processServerCount": f.process_servers.len().to_string(),
            "agentCount": v.items.len().to_string(), "protectedServers": v.items.len().to_string(),
            "systemLoad": "1", "systemLoadStatus": "Healthy", "cpuLoad": "10", "cpuLoadStatus": "Healthy",
            "totalMemoryInBytes": 16 * GB, "availableMemoryInBytes": 10 * GB, "memoryUsageStatus": "Healthy",
            "totalSpaceInBytes": 1000 * GB, "availableSpaceInBytes": 700 * GB, "spaceUsageStatus": "Healthy",
            "webLoad": "1", "webLoadStatus": "Healthy", "databaseServerLoad": "1", "databaseServerLoadStatus": "Healthy",
            "csServiceStatus": "Running", "ipAddress": f.cs_ip, "agentVersion": "9.60.6885.1", "hostName": f.cs_host_name,
            "lastHeartbeat": rfc3339(cs_heartbeat(f, t)), "versionStatus": "Supported",
            "sslCertExpiryDate": rfc3339(t + 300 * 86_400_000), "sslCertExpiryRemainingDays": 300,
            "psTemplateVersion": "1.0", "switchProviderBlockingErrorDetails": [],
        })
    } else {
        json!({"instanceType": f.kind})
    };
    json!({
        "id": f.id, "name": f.name, "type": "Microsoft.RecoveryServices/vaults/replicationFabrics", "location": v.location,
        "properties": {
            "friendlyName": f.friendly_name, "encryptionDetails": {"kekState": "None"}, "rolloverEncryptionDetails": {"kekState": "None"},
            "internalIdentifier": f.internal_id, "bcdrState": "Valid", "customDetails": custom, "healthErrorDetails": [], "health": "Normal",
        }
    })
}

pub fn vault<'a>(w: &'a World, ctx: &Ctx) -> Result<&'a Vault, ArmError> {
    w.vaults
        .get(&vault_key(ctx))
        .ok_or_else(|| ArmError::not_found("Microsoft.RecoveryServices/vaults", &ctx.prefix(8)))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let items: Vec<Value> = v
        .fabrics
        .iter()
        .map(|f| render(f, v, ctx.now, w.timings()))
        .collect();
    Ok(crate::lro::page(w, ctx, items))
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let name = ctx.name_of("replicationfabrics");
    let f = v
        .fabrics
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| not_found("fabric", name))?;
    Ok(Resp::json(200, &render(f, v, ctx.now, w.timings())))
}

/// `POST …/replicationFabrics/{f}/reassociateGateway`: validates both PS ids and accepts (no item effect here).
pub fn reassociate(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let f = v
        .fabrics
        .iter()
        .find(|f| {
            f.name
                .eq_ignore_ascii_case(ctx.name_of("replicationfabrics"))
        })
        .ok_or_else(|| not_found("fabric", ctx.name_of("replicationfabrics")))?;
    let body = ctx.json_body()?;
    for field in ["sourceProcessServerId", "targetProcessServerId"] {
        let id = crate::envelope::path_str(&body, &["properties", field]).unwrap_or("");
        if !f
            .process_servers
            .iter()
            .any(|p| p.id.eq_ignore_ascii_case(id))
        {
            return Err(ArmError::bad_request(
                "InvalidParameter",
                format!(
                    "{field} '{id}' is not a process server of fabric '{}'.",
                    f.name
                ),
            )
            .target(field));
        }
    }
    let vid = v.id.clone();
    let ra = w.timings().asr_retry_after_secs;
    let op = uuid::Uuid::new_v4();
    Ok(Resp::json(200, &render(f, v, ctx.now, w.timings()))
        .header(
            "Azure-AsyncOperation",
            format!(
                "{}{vid}/replicationOperationStatus/{op}?api-version={}",
                ctx.base,
                ctx.api_version()
            ),
        )
        .header("Retry-After", ra.to_string()))
}

/// The VM behind an Azure process server was deleted: its heartbeat stops.
pub fn vm_gone(w: &mut World, vm_key: &str, at: SimTime) {
    for v in w.vaults.values_mut() {
        for f in v.fabrics.iter_mut() {
            for p in f.process_servers.iter_mut() {
                if p.vm_key.as_deref() == Some(vm_key) && p.vm_gone_at.is_none() {
                    p.vm_gone_at = Some(at);
                }
            }
        }
    }
}
