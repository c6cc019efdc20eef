//! What the steps are told, built by the workflow from a validated spec. Plain data: the
//! steps know nothing of the spec file or the store.

use crate::secrets::SecretRef;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

/// One virtual network that gets a process server (one DAG branch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkTarget {
    /// Branch id: step ids are `{name}/create-nic`, ...
    pub name: String,
    pub region: String,
    /// Resource group of the VNet; the NIC and VM are created here too.
    pub resource_group: String,
    pub vnet: String,
    pub subnet: String,
    pub private_ip: Ipv4Addr,
    pub names: ResourceNames,
}

/// Names derived deterministically from (run, network), so a re-executed PUT hits the same
/// resource instead of creating a second one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceNames {
    pub nic: String,
    pub vm: String,
    pub computer_name: String,
    pub os_disk: String,
    pub cache_disk: String,
    pub run_command: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

/// The process-server VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    pub size: String,
    pub image: ImageRef,
    pub os_disk_type: String,
    /// 0 = no cache data disk.
    pub cache_disk_gb: u32,
    pub admin_username: String,
    pub admin_password: SecretRef,
}

/// The Recovery Services vault and the VMware (configuration server) fabric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRecoveryTarget {
    pub resource_group: String,
    pub vault: String,
    pub fabric: String,
}

/// The on-premises configuration server the process server registers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub cs_ip: Ipv4Addr,
    pub cs_port: u16,
    pub data_port: u16,
    pub passphrase: SecretRef,
    /// Where the script fetches the unified setup installer ("" = look on the VM).
    pub installer_uri: Option<String>,
    /// How long the process server may take to appear healthy after the script.
    pub appear_timeout: Duration,
}

/// Which protected items must be failed back before teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailbackScope {
    /// Names or friendly names; `None` = every protected item of the vault.
    pub items: Option<Vec<String>>,
    pub poll_interval: Duration,
    pub deadline: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeardownPolicy {
    /// false: keep the process server (the step only reports).
    pub delete: bool,
    pub force_deletion: bool,
}

/// Tags on everything created, so an orphan sweep can find what no run owns.
pub fn tags(run_id: &str, step_id: &str, network: &str) -> serde_json::Value {
    serde_json::json!({
        "failback-run": run_id,
        "failback-step": step_id,
        "failback-network": network,
        "created-by": "failback",
    })
}
