//! The scenario: what the emulated cloud contains at start (TOML or JSON). See docs/sim.md.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Scenario {
    /// `public`, `china` or `usgov`: selects the default api-version sets.
    pub cloud: String,
    /// Sim start time (RFC 3339). Default: the real time at start.
    pub start_time: Option<String>,
    /// Seed for fault-injection randomness.
    pub seed: u64,
    pub auth: AuthConfig,
    pub throttle: ThrottleConfig,
    pub timings: Timings,
    pub paging: PagingConfig,
    /// Per-area overrides of supported api-versions: keys `compute`, `skus`, `disks`, `network`, `recoveryservices`, `resources`.
    pub api_versions: BTreeMap<String, Vec<String>>,
    pub subscriptions: Vec<SubscriptionDef>,
    /// Key Vault secrets served at `{base}/keyvault/{vault}/secrets/{name}`.
    #[serde(default)]
    pub key_vault_secrets: Vec<KeyVaultSecretDef>,
}

/// One secret of the emulated Key Vault data plane.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct KeyVaultSecretDef {
    pub vault: String,
    pub name: String,
    pub value: String,
    /// Empty: the sim makes one up.
    pub version: String,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            cloud: "public".into(),
            start_time: None,
            seed: 42,
            auth: AuthConfig::default(),
            throttle: ThrottleConfig::default(),
            timings: Timings::default(),
            paging: PagingConfig::default(),
            api_versions: BTreeMap::new(),
            subscriptions: vec![],
            key_vault_secrets: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Token lifetime in sim seconds.
    pub token_lifetime_secs: u64,
    /// Value clients must send as `X-IDENTITY-HEADER` to the managed-identity endpoint.
    pub identity_header: String,
    pub principals: Vec<PrincipalDef>,
    /// Print the client secret in the environment listing (only for non-secret rehearsal scenarios).
    pub print_secret: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_lifetime_secs: 3599,
            identity_header: "sim-identity-header-not-a-secret".into(),
            principals: vec![],
            print_secret: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PrincipalDef {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub display_name: String,
    /// This principal is what the managed-identity endpoint hands out.
    pub managed_identity: bool,
    /// Coarse operation names (e.g. `DELETE virtualMachines`) answered with 403 AuthorizationFailed.
    pub denied_operations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottleConfig {
    pub enabled: bool,
    pub reads_capacity: f64,
    pub reads_per_sec: f64,
    pub writes_capacity: f64,
    pub writes_per_sec: f64,
    pub deletes_capacity: f64,
    pub deletes_per_sec: f64,
    /// Compute's "HighCostGet" bucket (instanceView): capacity per 3 sim minutes.
    pub compute_high_cost_get_per_3min: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            enabled: true,
            reads_capacity: 250.0,
            reads_per_sec: 25.0,
            writes_capacity: 200.0,
            writes_per_sec: 10.0,
            deletes_capacity: 200.0,
            deletes_per_sec: 10.0,
            compute_high_cost_get_per_3min: 1000.0,
        }
    }
}

/// Durations in sim seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Timings {
    pub nic_put_secs: f64,
    pub nic_delete_secs: f64,
    pub vm_create_secs: f64,
    pub vm_update_secs: f64,
    pub vm_delete_secs: f64,
    pub vm_force_delete_secs: f64,
    /// After provisioning succeeds, the guest agent reports Ready after this long.
    pub agent_ready_secs: f64,
    pub disk_delete_secs: f64,
    pub run_command_secs: f64,
    pub run_command_delete_secs: f64,
    /// How long the registration script (installer + cspsconfigtool) runs.
    pub registration_run_secs: f64,
    /// After the script succeeds, the process server shows up in the fabric after this long.
    pub registration_delay_secs: f64,
    pub heartbeat_interval_secs: f64,
    pub heartbeat_warning_secs: f64,
    pub heartbeat_critical_secs: f64,
    /// `NicReservedForAnotherVm` window after a VM delete.
    pub nic_reservation_secs: f64,
    pub reprotect_secs: f64,
    pub failover_secs: f64,
    pub commit_secs: f64,
    pub compute_retry_after_secs: u64,
    pub network_retry_after_secs: u64,
    pub asr_retry_after_secs: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            nic_put_secs: 5.0,
            nic_delete_secs: 5.0,
            vm_create_secs: 90.0,
            vm_update_secs: 20.0,
            vm_delete_secs: 60.0,
            vm_force_delete_secs: 15.0,
            agent_ready_secs: 60.0,
            disk_delete_secs: 5.0,
            run_command_secs: 30.0,
            run_command_delete_secs: 5.0,
            registration_run_secs: 120.0,
            registration_delay_secs: 180.0,
            heartbeat_interval_secs: 60.0,
            heartbeat_warning_secs: 900.0,
            heartbeat_critical_secs: 1800.0,
            nic_reservation_secs: 180.0,
            reprotect_secs: 900.0,
            failover_secs: 600.0,
            commit_secs: 300.0,
            compute_retry_after_secs: 10,
            network_retry_after_secs: 10,
            asr_retry_after_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PagingConfig {
    pub page_size: usize,
    /// The first page of every list is empty but carries a `nextLink`.
    pub empty_first_page: bool,
}

impl Default for PagingConfig {
    fn default() -> Self {
        PagingConfig {
            page_size: 100,
            empty_first_page: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SubscriptionDef {
    pub id: String,
    pub tenant_id: String,
    pub display_name: String,
    pub regions: Vec<RegionDef>,
    pub resource_groups: Vec<ResourceGroupDef>,
    pub vnets: Vec<VnetDef>,
    pub vaults: Vec<VaultDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RegionDef {
    pub name: String,
    /// SKU catalogue; empty = the built-in catalogue.
    pub skus: Vec<SkuDef>,
    /// Limits: `cores` (regional total) and family names (`standardAv2Family`, …).
    pub quota: BTreeMap<String, i64>,
    /// Usage already consumed by things outside the sim (same keys as `quota`).
    pub usage: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SkuDef {
    pub name: String,
    pub family: String,
    pub tier: String,
    pub size: String,
    pub vcpus: i64,
    pub memory_gb: f64,
    /// `V1`, `V2` or `V1,V2`.
    pub hyperv_generations: String,
    pub premium_io: bool,
    pub accelerated_networking: bool,
    pub max_data_disks: i64,
    pub max_nics: i64,
    pub zones: Vec<String>,
    pub restrictions: Vec<RestrictionDef>,
}

impl Default for SkuDef {
    fn default() -> Self {
        SkuDef {
            name: String::new(),
            family: String::new(),
            tier: "Standard".into(),
            size: String::new(),
            vcpus: 2,
            memory_gb: 4.0,
            hyperv_generations: "V1".into(),
            premium_io: false,
            accelerated_networking: false,
            max_data_disks: 4,
            max_nics: 2,
            zones: vec![],
            restrictions: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RestrictionDef {
    /// `Location` or `Zone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `NotAvailableForSubscription` or `QuotaId`.
    pub reason_code: String,
    /// Zones, for `Zone` restrictions.
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ResourceGroupDef {
    pub name: String,
    pub location: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VnetDef {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub address_prefixes: Vec<String>,
    pub subnets: Vec<SubnetDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SubnetDef {
    pub name: String,
    pub address_prefix: Option<String>,
    /// Newer subnets may only carry the array form.
    pub address_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct VaultDef {
    pub resource_group: String,
    pub name: String,
    pub location: String,
    pub fabrics: Vec<FabricDef>,
    pub protected_items: Vec<ProtectedItemDef>,
    pub failback_scripts: Vec<FailbackScriptDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FabricDef {
    pub name: String,
    pub friendly_name: String,
    /// `VMware` (classic CS), `Azure`, `InMageRcm`, …
    pub kind: String,
    pub cs_ip: String,
    pub cs_port: u16,
    pub cs_host_name: String,
    pub passphrase: String,
    /// If non-empty, only VMs in these VNets (names) can reach the CS.
    pub reachable_from_vnets: Vec<String>,
    /// The configuration server has lost its connection to the vault: its last heartbeat is
    /// hours old and no process server can register with it.
    pub cs_disconnected: bool,
    pub process_servers: Vec<ProcessServerDef>,
    pub master_targets: Vec<MasterTargetDef>,
    pub run_as_accounts: Vec<String>,
    pub containers: Vec<String>,
}

impl Default for FabricDef {
    fn default() -> Self {
        FabricDef {
            name: String::new(),
            friendly_name: String::new(),
            kind: "VMware".into(),
            cs_ip: String::new(),
            cs_port: 443,
            cs_host_name: "cs01".into(),
            passphrase: String::new(),
            reachable_from_vnets: vec![],
            cs_disconnected: false,
            process_servers: vec![],
            master_targets: vec![],
            run_as_accounts: vec![],
            containers: vec![],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProcessServerDef {
    pub id: String,
    pub friendly_name: String,
    pub ip_address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MasterTargetDef {
    pub id: String,
    pub name: String,
    pub ip_address: String,
    pub retention_volumes: Vec<String>,
    pub datastores: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ProtectedItemDef {
    pub name: String,
    pub friendly_name: String,
    pub fabric: String,
    pub container: String,
    /// `FailedOver` (default: in Azure, InMageAzureV2), `Protected`, `FailbackPendingCommit`,
    /// `FailedBack`; `ReplicatingToAzure` (never failed over) and `FailoverPendingCommit` (failed
    /// over to Azure, not committed) are states a failback cannot start from.
    pub state: String,
    pub policy: String,
    /// Reprotect fails until this many sim seconds after start (mobility agent re-registering).
    pub agent_ready_after_secs: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FailbackScriptDef {
    /// Protected item names (or friendly names).
    pub items: Vec<String>,
    /// Failback (reprotect → failover → commit) completes this many sim seconds after start,
    /// provided a healthy Azure process server is registered by then (else it waits for one).
    pub complete_after_secs: f64,
    pub require_process_server: bool,
}

impl Default for FailbackScriptDef {
    fn default() -> Self {
        FailbackScriptDef {
            items: vec![],
            complete_after_secs: 3600.0,
            require_process_server: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid scenario: {0}")]
    Parse(String),
}

impl Scenario {
    pub fn from_toml_str(s: &str) -> Result<Scenario, ScenarioError> {
        toml::from_str(s).map_err(|e| ScenarioError::Parse(e.to_string()))
    }

    /// TOML, or JSON when the file ends in `.json`.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let p = path.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| ScenarioError::Io {
            path: p.display().to_string(),
            source: e,
        })?;
        if p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            serde_json::from_str(&text).map_err(|e| ScenarioError::Parse(e.to_string()))
        } else {
            Self::from_toml_str(&text)
        }
    }

    /// Accepts TOML or JSON text (control-plane uploads).
    pub fn from_text(s: &str) -> Result<Scenario, ScenarioError> {
        if s.trim_start().starts_with('{') {
            serde_json::from_str(s).map_err(|e| ScenarioError::Parse(e.to_string()))
        } else {
            Self::from_toml_str(s)
        }
    }

    pub fn primary_principal(&self) -> Option<&PrincipalDef> {
        self.auth
            .principals
            .iter()
            .find(|p| !p.managed_identity)
            .or(self.auth.principals.first())
    }

    pub fn validate(&self) -> Result<(), ScenarioError> {
        for s in &self.subscriptions {
            if s.id.is_empty() {
                return Err(ScenarioError::Parse("subscription without id".into()));
            }
            for v in &s.vnets {
                for p in &v.address_prefixes {
                    crate::network::ip::parse_cidr(p).ok_or_else(|| {
                        ScenarioError::Parse(format!("vnet {}: bad prefix {p}", v.name))
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The same world with the timings tests use: VM creation, boot, registration and
    /// reprotect take tens of simulated seconds (a whole failback is about a second of real
    /// time at 1000×, yet each takes more than one poll), and every failback completes
    /// `failback_after_secs` after start.
    pub fn with_test_timings(mut self, failback_after_secs: f64) -> Scenario {
        let t = &mut self.timings;
        t.vm_create_secs = 30.0;
        t.agent_ready_secs = 20.0;
        t.registration_run_secs = 30.0;
        t.registration_delay_secs = 30.0;
        t.reprotect_secs = 60.0;
        t.failover_secs = 60.0;
        t.commit_secs = 30.0;
        for v in self
            .subscriptions
            .iter_mut()
            .flat_map(|s| s.vaults.iter_mut())
        {
            for f in &mut v.failback_scripts {
                f.complete_after_secs = failback_after_secs;
            }
        }
        self
    }

    /// The built-in demo scenario (see docs/sim.md): two VNets in `westeurope`, one vault with a
    /// VMware fabric whose CS is 10.0.0.10:443, and three failed-over items whose failback
    /// completes two sim hours after start.
    pub fn default_two_networks() -> Scenario {
        let tenant = "72f988bf-0000-4000-8000-00000000f001".to_string();
        Scenario {
            auth: demo_auth(&tenant),
            subscriptions: vec![SubscriptionDef {
                id: "00000000-0000-4000-8000-0000000000a1".into(),
                tenant_id: tenant,
                display_name: "Failback rehearsal".into(),
                regions: vec![demo_region()],
                resource_groups: ["rg-failback", "rg-network", "rg-asr"]
                    .iter()
                    .map(|name| ResourceGroupDef {
                        name: name.to_string(),
                        location: "westeurope".into(),
                    })
                    .collect(),
                vnets: vec![demo_vnet("vnet-a", "10.1"), demo_vnet("vnet-b", "10.2")],
                vaults: vec![demo_vault()],
            }],
            ..Default::default()
        }
    }
}

/// The demo's app registration (secret) and managed identity.
fn demo_auth(tenant: &str) -> AuthConfig {
    AuthConfig {
        principals: vec![
            PrincipalDef {
                tenant_id: tenant.to_string(),
                client_id: "11111111-0000-4000-8000-00000000c11e".into(),
                client_secret: "sim-secret-not-a-real-secret".into(),
                display_name: "failback-automation".into(),
                ..Default::default()
            },
            PrincipalDef {
                tenant_id: tenant.to_string(),
                client_id: "22222222-0000-4000-8000-0000000000m1".into(),
                client_secret: String::new(),
                display_name: "failback-managed-identity".into(),
                managed_identity: true,
                ..Default::default()
            },
        ],
        print_secret: true,
        ..Default::default()
    }
}

fn demo_region() -> RegionDef {
    let mut quota = BTreeMap::new();
    quota.insert("cores".to_string(), 20);
    quota.insert("standardAv2Family".to_string(), 16);
    quota.insert("standardDSv3Family".to_string(), 10);
    quota.insert("virtualMachines".to_string(), 25000);
    RegionDef {
        name: "westeurope".into(),
        skus: vec![],
        quota,
        usage: BTreeMap::new(),
    }
}

/// `name` with `{net}.0.0/16` and one subnet `default` = `{net}.0.0/24`.
fn demo_vnet(name: &str, net: &str) -> VnetDef {
    VnetDef {
        resource_group: "rg-network".into(),
        name: name.into(),
        location: "westeurope".into(),
        address_prefixes: vec![format!("{net}.0.0/16")],
        subnets: vec![SubnetDef {
            name: "default".into(),
            address_prefix: Some(format!("{net}.0.0/24")),
            address_prefixes: vec![],
        }],
    }
}

/// One vault: the VMware fabric of configuration server cs01 and three failed-over items.
fn demo_vault() -> VaultDef {
    VaultDef {
        resource_group: "rg-asr".into(),
        name: "vault-failback".into(),
        location: "westeurope".into(),
        fabrics: vec![demo_fabric()],
        protected_items: ["vm-app1", "vm-app2", "vm-db1"]
            .iter()
            .map(|n| ProtectedItemDef {
                name: format!("item-{n}"),
                friendly_name: n.to_string(),
                fabric: "cs-fabric".into(),
                container: "cloud_cs-fabric".into(),
                state: "FailedOver".into(),
                policy: "failback-policy".into(),
                agent_ready_after_secs: 0.0,
            })
            .collect(),
        failback_scripts: vec![FailbackScriptDef {
            items: vec![
                "item-vm-app1".into(),
                "item-vm-app2".into(),
                "item-vm-db1".into(),
            ],
            complete_after_secs: 7200.0,
            require_process_server: true,
        }],
    }
}

fn demo_fabric() -> FabricDef {
    FabricDef {
        name: "cs-fabric".into(),
        friendly_name: "cs01.contoso.local".into(),
        kind: "VMware".into(),
        cs_ip: "10.0.0.10".into(),
        cs_port: 443,
        cs_host_name: "cs01.contoso.local".into(),
        passphrase: "sim-passphrase-not-a-secret".into(),
        process_servers: vec![ProcessServerDef {
            id: "5D3ED340-85AE-C646-B338641E015DA405".into(),
            friendly_name: "cs01".into(),
            ip_address: "10.0.0.10".into(),
        }],
        master_targets: vec![MasterTargetDef {
            id: "5D3ED340-85AE-C646-B338641E015DA405".into(),
            name: "cs01".into(),
            ip_address: "10.0.0.10".into(),
            retention_volumes: vec!["R:".into()],
            datastores: vec!["datastore1".into()],
        }],
        containers: vec!["cloud_cs-fabric".into()],
        ..Default::default()
    }
}

/// One built-in SKU: name, family, vCPUs, memory (GB), Hyper-V generations, premium IO and
/// accelerated networking, max data disks, max NICs.
#[rustfmt::skip]
type BuiltinSku = (&'static str, &'static str, i64, f64, &'static str, bool, i64, i64);

#[rustfmt::skip]
const BUILTIN_SKUS: &[BuiltinSku] = &[
    ("Standard_A2_v2",  "standardAv2Family",  2,  4.0, "V1",    false,  4, 2),
    ("Standard_A4_v2",  "standardAv2Family",  4,  8.0, "V1",    false,  8, 4),
    ("Standard_A8_v2",  "standardAv2Family",  8, 16.0, "V1",    false, 16, 8),
    ("Standard_D2s_v3", "standardDSv3Family", 2,  8.0, "V1,V2", true,   4, 2),
    ("Standard_D4s_v3", "standardDSv3Family", 4, 16.0, "V1,V2", true,   8, 2),
    ("Standard_D8s_v3", "standardDSv3Family", 8, 32.0, "V1,V2", true,  16, 4),
];

/// The catalogue used when a region lists no SKUs: realistic entries incl. Standard_A8_v2 (Gen1 only, no Premium IO).
pub fn builtin_skus() -> Vec<SkuDef> {
    BUILTIN_SKUS
        .iter()
        .map(
            |&(name, family, vcpus, memory_gb, gens, premium, max_data_disks, max_nics)| SkuDef {
                name: name.into(),
                family: family.into(),
                tier: "Standard".into(),
                size: name.trim_start_matches("Standard_").into(),
                vcpus,
                memory_gb,
                hyperv_generations: gens.into(),
                premium_io: premium,
                accelerated_networking: premium,
                max_data_disks,
                max_nics,
                zones: vec!["1".into(), "2".into(), "3".into()],
                restrictions: vec![],
            },
        )
        .collect()
}
