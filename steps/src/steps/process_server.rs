//! Which process server in the VMware fabric is this run's — the one place the rule lives.
//!
//! The fabric lists process servers by `friendlyName`, `ipAddress`, `lastHeartbeat`, `health`
//! and `hostId` (REFERENCE.md §8.1). A deleted VM's process server stays in that list, `Normal`
//! for about 15 minutes, until it is unregistered on the configuration server; a new run on the
//! same spec has the same computer name and IP. So an entry is **this run's** only when all of:
//!
//! 1. `ipAddress` is this network's static IP, and `friendlyName` is this run's computer name
//!    (case-insensitive, as Windows compares host names);
//! 2. this run's VM exists — the VM of this run's deterministic name, tagged with this run's id
//!    (`failback-run`) — and the entry's `lastHeartbeat` is later than that VM's `timeCreated`:
//!    a heartbeat no machine of this run could have sent before it existed;
//! 3. `health` is `Normal`.
//!
//! (`hostId` is the agent's own identity, which Azure does not tell us for a VM, so it cannot
//! bind the entry to the VM.) Any other entry with the same IP or the same name is **stale**:
//! `register` never records it. One at this network's IP that is not yet `Critical` (the
//! configuration server may still route to it) makes `validate` block the run with the
//! unregister command — or the wait until it turns `Critical`. One with only the same name is
//! another run of the same spec on another IP: it never counts, and it does not block.

use super::common::str_at;
use super::validate::Blocked;
use crate::arm::ArmError;
use crate::azure::Azure;
use crate::model::{NetworkTarget, SiteRecoveryTarget};
use serde_json::Value;

/// How an entry of the fabric relates to this run's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Bound to this run's VM (the rule above).
    Ours,
    /// Same IP or name, not proven this run's.
    Stale,
    /// Another address and name: none of this run's business.
    Unrelated,
}

/// Judge one `processServers[]` entry. `vm_created`: this run's VM's `timeCreated` in
/// milliseconds since the epoch, `None` when this run has no VM.
pub fn verdict(ps: &Value, net: &NetworkTarget, vm_created: Option<i64>) -> Verdict {
    let same_ip = str_at(ps, "/ipAddress") == Some(net.private_ip.to_string().as_str());
    let same_name = str_at(ps, "/friendlyName")
        .is_some_and(|n| n.eq_ignore_ascii_case(&net.names.computer_name));
    if !same_ip && !same_name {
        return Verdict::Unrelated;
    }
    let heard_since = match (
        str_at(ps, "/lastHeartbeat").and_then(epoch_millis),
        vm_created,
    ) {
        (Some(hb), Some(created)) => hb > created,
        _ => false,
    };
    if same_ip && same_name && heard_since && str_at(ps, "/health") == Some("Normal") {
        Verdict::Ours
    } else {
        Verdict::Stale
    }
}

/// The process servers of the fabric; `None` when the vault or fabric does not exist (the
/// site checks report that).
pub async fn list(
    azure: &Azure,
    site: &SiteRecoveryTarget,
) -> Result<Option<Vec<Value>>, ArmError> {
    let arm = &azure.arm;
    let url = arm.url(
        &format!(
            "{}/replicationFabrics/{}",
            azure.vault_path(site),
            site.fabric
        ),
        &arm.api().site_recovery,
    )?;
    match arm.get(url, "GET replicationFabric").await {
        Ok(r) => Ok(Some(
            r.body
                .pointer("/properties/customDetails/processServers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        )),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// This run's VM's `timeCreated` (ms since the epoch): `None` when there is no VM of this
/// name or it is not tagged as this run's.
pub async fn own_vm_created(
    azure: &Azure,
    net: &NetworkTarget,
    run_id: &str,
) -> Result<Option<i64>, ArmError> {
    let arm = &azure.arm;
    let url = arm.url(&azure.vm_path(net), &arm.api().compute)?;
    match arm.get(url, "GET virtualMachine").await {
        Ok(r) if super::ownership::owned_by(&r.body, run_id) => {
            Ok(str_at(&r.body, "/properties/timeCreated").and_then(epoch_millis))
        }
        Ok(_) => Ok(None),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// This run's process server among `servers`, if the fabric lists it.
pub fn ours<'a>(
    servers: &'a [Value],
    net: &NetworkTarget,
    vm_created: Option<i64>,
) -> Option<&'a Value> {
    servers
        .iter()
        .find(|ps| verdict(ps, net, vm_created) == Verdict::Ours)
}

/// Stale entries that block a run on `net` (this network's IP, not this run's, not yet
/// `Critical`), each with its fix. An entry with only the same name (another IP) is never this
/// run's either, but does not block: other runs of the same spec on other IPs register the
/// same computer name.
pub fn stale_findings(
    servers: &[Value],
    net: &NetworkTarget,
    vm_created: Option<i64>,
) -> Vec<Blocked> {
    let ip = net.private_ip.to_string();
    servers
        .iter()
        .filter(|ps| verdict(ps, net, vm_created) == Verdict::Stale)
        .filter(|ps| str_at(ps, "/ipAddress") == Some(ip.as_str()))
        .filter(|ps| str_at(ps, "/health") != Some("Critical"))
        .map(|ps| stale(ps, net))
        .collect()
}

fn stale(ps: &Value, net: &NetworkTarget) -> Blocked {
    let ip = str_at(ps, "/ipAddress").unwrap_or("?");
    Blocked::new(
        "StaleProcessServer",
        format!(
            "network {}: the fabric still lists process server {} ({ip}, id {}, health {}, last \
             heartbeat {}), which is not this run's: a new registration at {} could be taken for it",
            net.name,
            str_at(ps, "/friendlyName").unwrap_or("?"),
            str_at(ps, "/id").unwrap_or("?"),
            str_at(ps, "/health").unwrap_or("?"),
            str_at(ps, "/lastHeartbeat").unwrap_or("?"),
            net.private_ip,
        ),
        format!(
            "unregister it on the configuration server: `perl Unregister-ASRComponent.pl \
             -IPAddress {ip} -Component PS` from %ProgramData%\\ASR\\home\\svsystems\\bin, then \
             refresh the configuration server; or wait until the fabric reports it Critical \
             (about 30–45 minutes after the last heartbeat above) — then plan again"
        ),
    )
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn epoch_millis(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ResourceNames;
    use serde_json::json;

    fn net() -> NetworkTarget {
        NetworkTarget {
            name: "vnet-a".into(),
            region: "westeurope".into(),
            resource_group: "rg".into(),
            vnet: "vnet-a".into(),
            subnet: "default".into(),
            private_ip: "10.1.0.10".parse().expect("ip"),
            names: ResourceNames {
                nic: "ps-vnet-a-1-nic".into(),
                vm: "ps-vnet-a-1".into(),
                computer_name: "ps-vnet-a".into(),
                os_disk: "ps-vnet-a-1-os".into(),
                cache_disk: "ps-vnet-a-1-cache".into(),
                run_command: "failback-register".into(),
            },
        }
    }

    fn ps(name: &str, ip: &str, hb: &str, health: &str) -> Value {
        json!({ "id": "P", "friendlyName": name, "ipAddress": ip, "lastHeartbeat": hb, "health": health })
    }

    #[test]
    fn the_rule() {
        let created = epoch_millis("2026-01-01T10:00:00Z");
        let n = net();
        let after = "2026-01-01T10:20:00.000000Z";
        let before = "2026-01-01T09:59:00Z";
        assert_eq!(
            verdict(&ps("PS-VNET-A", "10.1.0.10", after, "Normal"), &n, created),
            Verdict::Ours
        );
        // A heartbeat from before this run's VM existed: a dead predecessor.
        assert_eq!(
            verdict(&ps("ps-vnet-a", "10.1.0.10", before, "Normal"), &n, created),
            Verdict::Stale
        );
        // No VM of this run: nothing can be ours.
        assert_eq!(
            verdict(&ps("ps-vnet-a", "10.1.0.10", after, "Normal"), &n, None),
            Verdict::Stale
        );
        // Same IP, other name; same name, other IP; not healthy.
        assert_eq!(
            verdict(&ps("other", "10.1.0.10", after, "Normal"), &n, created),
            Verdict::Stale
        );
        assert_eq!(
            verdict(&ps("ps-vnet-a", "10.9.0.10", after, "Normal"), &n, created),
            Verdict::Stale
        );
        assert_eq!(
            verdict(&ps("ps-vnet-a", "10.1.0.10", after, "Warning"), &n, created),
            Verdict::Stale
        );
        assert_eq!(
            verdict(&ps("cs01", "10.0.0.10", after, "Normal"), &n, created),
            Verdict::Unrelated
        );
        // A Critical stale entry is never ours but no longer blocks.
        let dead = [ps("ps-vnet-a", "10.1.0.10", before, "Critical")];
        assert!(stale_findings(&dead, &n, created).is_empty());
        // Only the name: another run of the spec on another IP — never ours, never blocks.
        let elsewhere = [ps("ps-vnet-a", "10.1.0.11", after, "Normal")];
        assert!(stale_findings(&elsewhere, &n, created).is_empty());
        let live = [ps("ps-vnet-a", "10.1.0.10", before, "Normal")];
        let b = stale_findings(&live, &n, created);
        assert_eq!(b.len(), 1);
        assert!(
            b[0].fix
                .contains("Unregister-ASRComponent.pl -IPAddress 10.1.0.10"),
            "{}",
            b[0].fix
        );
    }
}
