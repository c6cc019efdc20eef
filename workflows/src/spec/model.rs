//! The validated spec. Only [`super::parse`] / [`super::load`] build it from a file; a stored
//! run rebuilds it with [`Spec::from_snapshot`]. Secrets are held as references only, so a
//! serialized `Spec` never contains a secret value.
//!
//! Compatibility: a snapshot written by one release must deserialize under the next, so fields
//! added later get `#[serde(default)]` and nothing is renamed without bumping
//! [`SPEC_SCHEMA_VERSION`].

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use failback_steps::secrets::SecretRef;
use serde::{Deserialize, Serialize};

use super::error::SnapshotError;
use super::net::Ipv4Cidr;

/// Version of the snapshot shape written by [`Spec::snapshot`].
pub const SPEC_SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub azure: Azure,
    pub site_recovery: SiteRecovery,
    pub process_server: ProcessServer,
    pub configuration_server: ConfigurationServer,
    /// In file order; never empty.
    #[serde(rename = "network")]
    pub networks: Vec<Network>,
    pub failback: Failback,
    pub teardown: Teardown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Public,
    China,
    UsGov,
    Custom,
}

impl Cloud {
    pub const ALL: [&'static str; 4] = ["public", "china", "usgov", "custom"];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "public" => Cloud::Public,
            "china" => Cloud::China,
            "usgov" => Cloud::UsGov,
            "custom" => Cloud::Custom,
            _ => return None,
        })
    }

    /// Entra ID authority and ARM endpoint (REFERENCE.md §1). `None` for custom.
    pub fn endpoints(self) -> Option<(&'static str, &'static str)> {
        match self {
            Cloud::Public => Some((
                "https://login.microsoftonline.com",
                "https://management.azure.com",
            )),
            Cloud::China => Some((
                "https://login.chinacloudapi.cn",
                "https://management.chinacloudapi.cn",
            )),
            Cloud::UsGov => Some((
                "https://login.microsoftonline.us",
                "https://management.usgovcloudapi.net",
            )),
            Cloud::Custom => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Azure {
    pub cloud: Cloud,
    pub subscription_id: String,
    pub tenant_id: String,
    /// Entra ID authority host, without trailing `/`.
    pub authority_host: String,
    /// ARM endpoint, without trailing `/`.
    pub resource_manager: String,
    pub credential: Credential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    Cli,
    ClientSecret,
    ClientCertificate,
    ManagedIdentity,
    WorkloadIdentity,
}

impl CredentialKind {
    pub const ALL: [&'static str; 5] = [
        "cli",
        "client-secret",
        "client-certificate",
        "managed-identity",
        "workload-identity",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Cli => "cli",
            CredentialKind::ClientSecret => "client-secret",
            CredentialKind::ClientCertificate => "client-certificate",
            CredentialKind::ManagedIdentity => "managed-identity",
            CredentialKind::WorkloadIdentity => "workload-identity",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cli" => CredentialKind::Cli,
            "client-secret" => CredentialKind::ClientSecret,
            "client-certificate" => CredentialKind::ClientCertificate,
            "managed-identity" => CredentialKind::ManagedIdentity,
            "workload-identity" => CredentialKind::WorkloadIdentity,
            _ => return None,
        })
    }
}

/// How failback signs in to Entra ID; the fields each kind needs, and no others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Credential {
    Cli,
    ClientSecret {
        client_id: String,
        client_secret: SecretRef,
    },
    ClientCertificate {
        client_id: String,
        certificate: SecretRef,
    },
    ManagedIdentity {
        /// A user-assigned identity; `None` = system-assigned.
        #[serde(default)]
        client_id: Option<String>,
    },
    WorkloadIdentity {
        client_id: String,
        /// `None` = `AZURE_FEDERATED_TOKEN_FILE`.
        #[serde(default)]
        token_file: Option<PathBuf>,
    },
}

impl Credential {
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::Cli => CredentialKind::Cli,
            Credential::ClientSecret { .. } => CredentialKind::ClientSecret,
            Credential::ClientCertificate { .. } => CredentialKind::ClientCertificate,
            Credential::ManagedIdentity { .. } => CredentialKind::ManagedIdentity,
            Credential::WorkloadIdentity { .. } => CredentialKind::WorkloadIdentity,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecovery {
    pub resource_group: String,
    pub vault: String,
    /// The VMware fabric (the configuration server) in the vault.
    pub fabric: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRef {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

impl Default for ImageRef {
    fn default() -> Self {
        Self {
            publisher: "MicrosoftWindowsServer".into(),
            offer: "WindowsServer".into(),
            sku: "2016-Datacenter".into(),
            version: "latest".into(),
        }
    }
}

/// Managed-disk storage type (`storageAccountType`). Unmanaged VHDs in a storage account are
/// retired, so the portal's "storage account for the VM disks" maps to this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskType {
    #[serde(rename = "Standard_LRS")]
    StandardLrs,
    #[serde(rename = "StandardSSD_LRS")]
    StandardSsdLrs,
    #[serde(rename = "Premium_LRS")]
    PremiumLrs,
}

impl DiskType {
    pub const ALL: [&'static str; 3] = ["Standard_LRS", "StandardSSD_LRS", "Premium_LRS"];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Standard_LRS" => DiskType::StandardLrs,
            "StandardSSD_LRS" => DiskType::StandardSsdLrs,
            "Premium_LRS" => DiskType::PremiumLrs,
            _ => return None,
        })
    }

    /// The ARM `storageAccountType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskType::StandardLrs => "Standard_LRS",
            DiskType::StandardSsdLrs => "StandardSSD_LRS",
            DiskType::PremiumLrs => "Premium_LRS",
        }
    }
}

pub const DEFAULT_SIZE: &str = "Standard_A8_v2";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessServer {
    pub name_prefix: String,
    pub size: String,
    pub image: ImageRef,
    pub os_disk_type: DiskType,
    /// Size of the empty data disk for the process-server cache; 0 = none.
    pub cache_disk_gb: u32,
    pub admin_username: String,
    pub admin_password: SecretRef,
    #[serde(default)]
    pub installer_uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigurationServer {
    pub ip: Ipv4Addr,
    pub port: u16,
    pub data_port: u16,
    pub passphrase: SecretRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Branch id in step ids (`vnet-a/create-nic`) and part of resource names.
    pub name: String,
    pub resource_group: String,
    pub vnet: String,
    pub subnet: String,
    pub region: String,
    pub private_ip: Ipv4Addr,
    #[serde(default)]
    pub subnet_prefix: Option<Ipv4Cidr>,
}

/// Which replication protected items the await-failback step waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtectedItems {
    All,
    Named(Vec<String>),
}

impl Serialize for ProtectedItems {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ProtectedItems::All => s.serialize_str("all"),
            ProtectedItems::Named(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ProtectedItems {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Names(Vec<String>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "all" => Ok(ProtectedItems::All),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "protected_items: expected \"all\" or a list, found {w:?}"
            ))),
            Raw::Names(v) => Ok(ProtectedItems::Named(v)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failback {
    pub protected_items: ProtectedItems,
    #[serde(with = "super::duration::serde_text")]
    pub poll_interval: Duration,
    #[serde(with = "super::duration::serde_text")]
    pub deadline: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeardownPolicy {
    Delete,
    Keep,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teardown {
    pub policy: TeardownPolicy,
    pub force_deletion: bool,
}

impl Spec {
    /// What a run stores: `{"spec_schema": N, "spec": {…}}`. Secrets appear only as references
    /// (variable names, paths, Key Vault names), never as values.
    pub fn snapshot(&self) -> serde_json::Value {
        let spec = serde_json::to_value(self).unwrap_or_else(|e| {
            // Serializing these plain types cannot fail; keep the shape if it ever does.
            serde_json::json!({ "error": e.to_string() })
        });
        serde_json::json!({ "spec_schema": SPEC_SCHEMA_VERSION, "spec": spec })
    }

    /// Rebuilds the spec a run was started with. Reads every schema version up to this
    /// release's; secrets are not re-checked here (the steps resolve them when used).
    pub fn from_snapshot(snapshot: &serde_json::Value) -> Result<Spec, SnapshotError> {
        let version = snapshot
            .get("spec_schema")
            .and_then(serde_json::Value::as_u64)
            .ok_or(SnapshotError::NoVersion)?;
        if version > SPEC_SCHEMA_VERSION {
            return Err(SnapshotError::TooNew {
                found: version,
                supported: SPEC_SCHEMA_VERSION,
            });
        }
        let spec = snapshot
            .get("spec")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        Ok(serde_json::from_value(spec)?)
    }

    /// The network whose branch id is `name`.
    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }
}
