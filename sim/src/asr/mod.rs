//! Site Recovery (classic VMware/InMage): vaults, fabrics with process servers, protected items
//! with the InMageAzureV2 → InMage failback state machine, jobs, scripted failback.

pub mod fabrics;
pub mod jobs;
pub mod protected_items;

use crate::clock::SimTime;
use crate::scenario::{FailbackScriptDef, MasterTargetDef, ProtectedItemDef, Timings};
use crate::world::{key, Event, World};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ps {
    pub id: String,
    pub friendly_name: String,
    pub ip: String,
    pub host_id: String,
    pub registered_at: SimTime,
    /// The Azure VM running it (None for on-prem servers).
    pub vm_key: Option<String>,
    pub vm_gone_at: Option<SimTime>,
    pub on_prem: bool,
}

impl Ps {
    pub fn last_heartbeat(&self, t: SimTime, interval_ms: i64) -> SimTime {
        let interval = interval_ms.max(1000);
        if self.on_prem {
            return t - t.rem_euclid(interval);
        }
        let alive_until = self.vm_gone_at.unwrap_or(t).min(t);
        let n = ((alive_until - self.registered_at).max(0)) / interval;
        self.registered_at + n * interval
    }

    pub fn health(&self, t: SimTime, tm: &Timings) -> &'static str {
        let stale = t - self.last_heartbeat(t, (tm.heartbeat_interval_secs * 1000.0) as i64);
        if stale > (tm.heartbeat_critical_secs * 1000.0) as i64 {
            "Critical"
        } else if stale > (tm.heartbeat_warning_secs * 1000.0) as i64 {
            "Warning"
        } else {
            "Normal"
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fabric {
    pub name: String,
    pub id: String,
    pub friendly_name: String,
    pub kind: String,
    pub internal_id: String,
    pub cs_ip: String,
    pub cs_port: u16,
    pub cs_host_name: String,
    pub passphrase: String,
    pub reachable_vnets: Vec<String>,
    #[serde(default)]
    pub cs_disconnected: bool,
    pub process_servers: Vec<Ps>,
    pub master_targets: Vec<MasterTargetDef>,
    pub run_as_accounts: Vec<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ItemState {
    /// In Azure after failover (InMageAzureV2, activeLocation Recovery).
    FailedOver,
    /// Reprotected Azure → on-prem (InMage, replicating through the Azure PS).
    Protected,
    /// Failed over to on-prem, commit pending.
    FailbackPendingCommit,
    /// Failback committed: back on-prem.
    FailedBack,
    /// Never failed over: on-prem, replicating to Azure (InMageAzureV2, activeLocation Primary).
    ReplicatingToAzure,
    /// Failed over to Azure, the failover not committed yet (activeLocation Recovery).
    FailoverPendingCommit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    pub id: String,
    pub fabric: String,
    pub container: String,
    pub friendly_name: String,
    pub state: ItemState,
    pub job: Option<String>,
    pub ps_id: Option<String>,
    pub mt_id: Option<String>,
    pub last_failover: Option<SimTime>,
    pub policy: String,
    pub agent_ready_at: SimTime,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum Action {
    Reprotect,
    Failover,
    Commit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub name: String,
    pub id: String,
    pub action: Action,
    pub item: String,
    pub item_id: String,
    pub item_friendly: String,
    /// NotStarted | InProgress | Succeeded | Failed | Cancelled
    pub state: String,
    pub started: SimTime,
    pub ends_at: SimTime,
    pub ended: Option<SimTime>,
    /// The failure this job will end with, decided when it starts.
    pub failure: Option<(String, String)>,
    pub by_script: Option<usize>,
    pub activity_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vault {
    pub id: String,
    pub name: String,
    pub sub: String,
    pub location: String,
    pub fabrics: Vec<Fabric>,
    pub items: Vec<Item>,
    pub jobs: Vec<Job>,
    pub scripts: Vec<FailbackScriptDef>,
}

pub fn seed(w: &mut World, now: SimTime) {
    let subs = w.scenario.subscriptions.clone();
    let tm = w.scenario.timings.clone();
    for s in subs {
        for v in s.vaults {
            let vid = format!("/Subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}", s.id, v.resource_group, v.name);
            let fabrics: Vec<Fabric> = v
                .fabrics
                .iter()
                .map(|f| Fabric {
                    name: f.name.clone(),
                    id: format!("{vid}/replicationFabrics/{}", f.name),
                    friendly_name: if f.friendly_name.is_empty() {
                        f.name.clone()
                    } else {
                        f.friendly_name.clone()
                    },
                    kind: f.kind.clone(),
                    internal_id: uuid::Uuid::new_v4().to_string(),
                    cs_ip: f.cs_ip.clone(),
                    cs_port: f.cs_port,
                    cs_host_name: f.cs_host_name.clone(),
                    passphrase: f.passphrase.clone(),
                    reachable_vnets: f.reachable_from_vnets.clone(),
                    cs_disconnected: f.cs_disconnected,
                    process_servers: f
                        .process_servers
                        .iter()
                        .map(|p| Ps {
                            id: if p.id.is_empty() {
                                uuid::Uuid::new_v4().to_string().to_uppercase()
                            } else {
                                p.id.clone()
                            },
                            friendly_name: p.friendly_name.clone(),
                            ip: p.ip_address.clone(),
                            host_id: uuid::Uuid::new_v4().to_string().to_uppercase(),
                            registered_at: now,
                            vm_key: None,
                            vm_gone_at: None,
                            on_prem: true,
                        })
                        .collect(),
                    master_targets: f.master_targets.clone(),
                    run_as_accounts: f.run_as_accounts.clone(),
                    containers: if f.containers.is_empty() {
                        vec![format!("cloud_{}", f.name)]
                    } else {
                        f.containers.clone()
                    },
                })
                .collect();
            let items = seed_items(&v.protected_items, &vid, &fabrics, now);
            let vk = key(&vid);
            let scripts = v.failback_scripts.clone();
            schedule_scripts(w, &vk, &scripts, &tm, now);
            w.vaults.insert(
                vk,
                Vault {
                    id: vid,
                    name: v.name.clone(),
                    sub: s.id.clone(),
                    location: v.location.clone(),
                    fabrics,
                    items,
                    jobs: vec![],
                    scripts,
                },
            );
        }
    }
}

/// The scenario's protected items, failed over a day before `now`.
fn seed_items(defs: &[ProtectedItemDef], vid: &str, fabrics: &[Fabric], now: SimTime) -> Vec<Item> {
    defs.iter()
        .map(|i| {
            let fabric = if i.fabric.is_empty() { fabrics.first().map(|f| f.name.clone()).unwrap_or_default() } else { i.fabric.clone() };
            let container = if i.container.is_empty() { format!("cloud_{fabric}") } else { i.container.clone() };
            let state = match i.state.to_ascii_lowercase().as_str() {
                "protected" => ItemState::Protected,
                "failbackpendingcommit" => ItemState::FailbackPendingCommit,
                "failedback" => ItemState::FailedBack,
                "replicatingtoazure" => ItemState::ReplicatingToAzure,
                "failoverpendingcommit" => ItemState::FailoverPendingCommit,
                _ => ItemState::FailedOver,
            };
            Item {
                name: i.name.clone(),
                id: format!("{vid}/replicationFabrics/{fabric}/replicationProtectionContainers/{container}/replicationProtectedItems/{}", i.name),
                fabric,
                container,
                friendly_name: if i.friendly_name.is_empty() { i.name.clone() } else { i.friendly_name.clone() },
                state,
                job: None,
                ps_id: None,
                mt_id: None,
                last_failover: Some(now - 86_400_000),
                policy: if i.policy.is_empty() { "failback-policy".into() } else { i.policy.clone() },
                agent_ready_at: now + (i.agent_ready_after_secs * 1000.0) as i64,
            }
        })
        .collect()
}

/// Each failback script first checks its items when its reprotect, failover and commit would
/// end at `complete_after_secs`.
fn schedule_scripts(
    w: &mut World,
    vk: &str,
    scripts: &[FailbackScriptDef],
    tm: &Timings,
    now: SimTime,
) {
    for (idx, sc) in scripts.iter().enumerate() {
        let lead = tm.reprotect_secs + tm.failover_secs + tm.commit_secs;
        let start = now + (((sc.complete_after_secs - lead).max(0.0)) * 1000.0) as i64;
        w.schedule(
            start,
            Event::ScriptCheck {
                vault: vk.to_string(),
                script: idx,
            },
        );
    }
}

/// Vault key from a request path (`/subscriptions/…/vaults/{v}` = 8 segments).
pub fn vault_key(ctx: &crate::router::Ctx) -> String {
    key(&ctx.prefix(8))
}

pub fn not_found(what: &str, name: &str) -> crate::envelope::ArmError {
    crate::envelope::ArmError::new(
        404,
        "NotFound",
        format!("The {what} '{name}' was not found."),
    )
    .extra(serde_json::json!({
        "possibleCauses": format!("The {what} does not exist in this vault."),
        "recommendedAction": "Check the name and retry.",
    }))
}
