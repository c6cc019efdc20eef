//! The emulated world: every resource, operation, token and scheduled event. One mutex guards it;
//! time-driven changes are scheduled events applied lazily by `tick(now)` before each request,
//! so a jump of the sim clock replays them in order at their own timestamps.

use crate::clock::SimTime;
use crate::scenario::{RegionDef, Scenario, SkuDef, SubscriptionDef};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub fn key(id: &str) -> String {
    let k = id.trim_end_matches('/').to_ascii_lowercase();
    if k.starts_with('/') {
        k
    } else {
        format!("/{k}")
    }
}

pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Outcome {
    Succeeded,
    Failed {
        code: String,
        message: String,
        status: u16,
    },
    Canceled,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum OpKind {
    NicPut,
    NicDelete,
    VmPut,
    VmDelete,
    DiskDelete,
    RunCommandPut,
    RunCommandDelete,
    RunCommandAction,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: String,
    /// `Microsoft.Compute` / `Microsoft.Network`.
    pub provider: String,
    pub sub: String,
    pub location: String,
    pub kind: OpKind,
    pub target: String,
    pub target_id: String,
    pub started: SimTime,
    pub ends_at: SimTime,
    pub outcome: Outcome,
    pub finished: bool,
    /// Final body for POST actions (run command result).
    pub result: Option<Value>,
    pub api_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenInfo {
    pub client_id: String,
    pub tenant_id: String,
    pub expires_at: SimTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subnet {
    pub name: String,
    pub id: String,
    pub prefixes: Vec<String>,
    /// Whether the subnet reports `addressPrefixes` (array) instead of `addressPrefix`.
    pub uses_array: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vnet {
    pub id: String,
    pub name: String,
    pub sub: String,
    pub location: String,
    pub prefixes: Vec<String>,
    pub subnets: Vec<Subnet>,
    pub etag: String,
    pub resource_guid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IpConfig {
    pub name: String,
    pub id: String,
    pub private_ip: String,
    pub allocation: String,
    pub subnet_id: String,
    pub subnet_key: String,
    pub primary: bool,
    pub extra: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Nic {
    pub id: String,
    pub name: String,
    pub sub: String,
    pub location: String,
    pub tags: Value,
    pub etag: String,
    pub resource_guid: String,
    pub ip_configs: Vec<IpConfig>,
    pub accelerated: bool,
    pub ip_forwarding: bool,
    pub nsg: Option<Value>,
    pub dns_servers: Vec<Value>,
    pub provisioning: String,
    pub vm_id: Option<String>,
    pub reserved_until: Option<SimTime>,
    pub mac: String,
    pub op: Option<String>,
    pub body_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmNicRef {
    pub key: String,
    pub id: String,
    pub primary: bool,
    pub delete_option: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmDiskRef {
    pub key: String,
    pub id: String,
    pub name: String,
    pub lun: Option<i64>,
    pub delete_option: String,
    pub os: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vm {
    pub id: String,
    pub name: String,
    pub sub: String,
    pub location: String,
    pub tags: Value,
    pub etag: u64,
    pub vm_id: String,
    pub size: String,
    pub family: String,
    pub vcpus: i64,
    /// `properties` as requested, secrets removed.
    pub props: Value,
    pub computer_name: String,
    pub gen2: bool,
    pub nics: Vec<VmNicRef>,
    pub disks: Vec<VmDiskRef>,
    pub provisioning: String,
    pub failure: Option<(String, String)>,
    pub time_created: SimTime,
    /// When provisioning succeeded (VM running from then on).
    pub running_at: Option<SimTime>,
    pub agent_ready_at: Option<SimTime>,
    pub op: Option<String>,
    /// An action run command in flight (op id).
    pub action_run: Option<String>,
    pub body_hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Disk {
    pub id: String,
    pub name: String,
    pub sub: String,
    pub location: String,
    pub tags: Value,
    pub sku: String,
    pub size_gb: i64,
    pub os_type: Option<String>,
    pub hyperv_generation: Option<String>,
    pub create_option: String,
    pub managed_by: Option<String>,
    pub provisioning: String,
    pub time_created: SimTime,
    pub unique_id: String,
    pub op: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Execution {
    pub start_at: SimTime,
    pub end_at: SimTime,
    pub exit_code: i64,
    pub output: String,
    pub error: String,
    /// `Succeeded`, `Failed` or `TimedOut` once ended.
    pub final_state: String,
    pub canceled_at: Option<SimTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunCommand {
    pub id: String,
    pub name: String,
    pub vm_key: String,
    pub location: String,
    pub tags: Value,
    /// `properties` as requested without `protectedParameters` / `runAsPassword`.
    pub props: Value,
    pub provisioning: String,
    pub body_hash: String,
    pub exec: Execution,
    pub op: Option<String>,
}

/// A process server registering with the configuration server once its setup script (run
/// command `rc` on VM `vm`, ending at `exec_end`) has run. Serialized as the struct variant it
/// replaced (`{"PsRegister": {…}}`), so state files stay readable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PsRegistration {
    pub vault: String,
    pub fabric: String,
    pub rc: String,
    pub ip: String,
    pub name: String,
    pub vm: String,
    pub exec_end: SimTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    OpDone { op: String },
    JobDone { vault: String, job: String },
    PsRegister(PsRegistration),
    ScriptCheck { vault: String, script: usize },
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct World {
    pub scenario: Scenario,
    pub vnets: BTreeMap<String, Vnet>,
    pub nics: BTreeMap<String, Nic>,
    pub vms: BTreeMap<String, Vm>,
    pub disks: BTreeMap<String, Disk>,
    pub run_commands: BTreeMap<String, RunCommand>,
    pub ops: BTreeMap<String, Operation>,
    pub vaults: BTreeMap<String, crate::asr::Vault>,
    pub tokens: BTreeMap<String, TokenInfo>,
    /// Key: zero-padded `time-seq` so the map iterates in firing order (and serialises as JSON).
    pub events: BTreeMap<String, Event>,
    pub seq: u64,
    pub sim_now: SimTime,
    pub started_at: SimTime,
    /// Bumped on every mutation (persistence watches it).
    #[serde(skip)]
    pub version: u64,
}

impl World {
    pub fn from_scenario(scenario: Scenario, now: SimTime) -> World {
        let mut w = World {
            scenario,
            sim_now: now,
            started_at: now,
            ..Default::default()
        };
        crate::network::vnets::seed(&mut w);
        crate::asr::seed(&mut w, now);
        w
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn schedule(&mut self, at: SimTime, ev: Event) {
        let s = self.next_seq();
        self.events
            .insert(format!("{:020}-{:012}", at.max(0), s), ev);
    }

    pub fn touch(&mut self) {
        self.version += 1;
    }

    /// Apply every scheduled event due at or before `now`, each at its own time.
    pub fn tick(&mut self, now: SimTime) {
        if now > self.sim_now {
            self.sim_now = now;
        }
        while let Some((k, _)) = self.events.iter().next() {
            let at: SimTime = k
                .split('-')
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            if at > now {
                break;
            }
            let k = k.clone();
            let Some(ev) = self.events.remove(&k) else {
                break;
            };
            self.apply(ev, at);
            self.touch();
        }
    }

    fn apply(&mut self, ev: Event, at: SimTime) {
        match ev {
            Event::OpDone { op } => crate::lro::complete(self, &op, at),
            Event::JobDone { vault, job } => crate::asr::jobs::complete(self, &vault, &job, at),
            Event::PsRegister(registration) => crate::guest::register_ps(self, &registration, at),
            Event::ScriptCheck { vault, script } => {
                crate::asr::protected_items::script_check(self, &vault, script, at)
            }
        }
    }

    // ---- scenario lookups (case-insensitive) ----

    pub fn sub(&self, sub: &str) -> Option<&SubscriptionDef> {
        self.scenario
            .subscriptions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(sub))
    }

    pub fn rg_exists(&self, sub: &str, rg: &str) -> bool {
        self.sub(sub).is_some_and(|s| {
            s.resource_groups
                .iter()
                .any(|r| r.name.eq_ignore_ascii_case(rg))
        })
    }

    pub fn region(&self, sub: &str, region: &str) -> Option<&RegionDef> {
        let norm = normalize_region(region);
        self.sub(sub)?
            .regions
            .iter()
            .find(|r| normalize_region(&r.name) == norm)
    }

    pub fn skus(&self, sub: &str, region: &str) -> Vec<SkuDef> {
        match self.region(sub, region) {
            Some(r) if !r.skus.is_empty() => r.skus.clone(),
            Some(_) => crate::scenario::builtin_skus(),
            None => vec![],
        }
    }

    pub fn sku(&self, sub: &str, region: &str, size: &str) -> Option<SkuDef> {
        self.skus(sub, region)
            .into_iter()
            .find(|s| s.name.eq_ignore_ascii_case(size))
    }

    pub fn timings(&self) -> &crate::scenario::Timings {
        &self.scenario.timings
    }
}

/// "West Europe" -> "westeurope".
pub fn normalize_region(r: &str) -> String {
    r.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_server_registration_in_an_older_state_file_still_loads() {
        let old = r#"{"PsRegister":{"vault":"v","fabric":"f","rc":"r","ip":"10.1.0.10","name":"ps1","vm":"m","exec_end":5}}"#;
        let Event::PsRegister(r) = serde_json::from_str::<Event>(old).unwrap() else {
            panic!("not a registration");
        };
        assert_eq!((r.ip.as_str(), r.exec_end), ("10.1.0.10", 5));
        assert_eq!(serde_json::to_string(&Event::PsRegister(r)).unwrap(), old);
    }
}
