//! The Azure context shared by every step of every run in a process: one ARM client per
//! subscription (and so one rate limiter), plus resource paths.

use crate::arm::{ArmClient, ArmError};
use crate::model::{NetworkTarget, SiteRecoveryTarget};
use crate::secrets::{Secret, SecretError, SecretRef};
use std::sync::Arc;

/// Key Vault data-plane api-version.
const KEY_VAULT_API: &str = "7.4";

/// The token audience of a vault: `https://vault.azure.net` for `*.vault.azure.net` (and the
/// sovereign equivalents), else the vault URL's own origin (custom clouds, the emulator).
fn key_vault_scope(vault: &url::Url) -> String {
    let host = vault.host_str().unwrap_or_default();
    match host.split_once(".vault.") {
        Some((_, suffix)) => format!("https://vault.{suffix}/.default"),
        None => format!("{}/.default", vault.origin().ascii_serialization()),
    }
}

pub struct Azure {
    pub arm: ArmClient,
}

impl Azure {
    pub fn new(arm: ArmClient) -> Arc<Self> {
        Arc::new(Self { arm })
    }

    /// Resolve a secret reference when a step needs it: environment and files locally, Key Vault
    /// through its REST API with a token for the vault's audience. The value is never logged.
    pub async fn secret(&self, r: &SecretRef) -> Result<Secret, SecretError> {
        let SecretRef::KeyVault {
            key_vault,
            name,
            version,
        } = r
        else {
            return r.resolve_local();
        };
        let reference = r.to_string();
        let fail = |message: String| SecretError::KeyVault {
            reference: reference.clone(),
            message,
        };
        let base =
            url::Url::parse(key_vault.trim_end_matches('/')).map_err(|e| fail(e.to_string()))?;
        let mut path = format!("{}/secrets/{name}", base.as_str().trim_end_matches('/'));
        if let Some(v) = version {
            path.push('/');
            path.push_str(v);
        }
        let mut url = url::Url::parse(&path).map_err(|e| fail(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("api-version", KEY_VAULT_API);
        let resp = self
            .arm
            .get_scoped(url, &key_vault_scope(&base), "GET keyVaultSecret")
            .await
            .map_err(|e: ArmError| fail(format!("{}: {}", e.code, e.message)))?;
        match resp.body.get("value").and_then(|v| v.as_str()) {
            Some(v) if !v.is_empty() => Ok(Secret::new(v)),
            _ => Err(SecretError::Empty { reference }),
        }
    }

    fn rg(&self, rg: &str) -> String {
        self.arm.sub_path(&format!("/resourceGroups/{rg}"))
    }
    pub fn subnet_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/{}/subnets/{}",
            self.rg(&n.resource_group),
            n.vnet,
            n.subnet
        )
    }
    pub fn vnet_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/{}",
            self.rg(&n.resource_group),
            n.vnet
        )
    }
    pub fn nic_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Network/networkInterfaces/{}",
            self.rg(&n.resource_group),
            n.names.nic
        )
    }
    pub fn vm_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{}",
            self.rg(&n.resource_group),
            n.names.vm
        )
    }
    pub fn disk_path(&self, n: &NetworkTarget, disk: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/disks/{disk}",
            self.rg(&n.resource_group)
        )
    }
    pub fn vault_path(&self, t: &SiteRecoveryTarget) -> String {
        format!(
            "{}/providers/Microsoft.RecoveryServices/vaults/{}",
            self.rg(&t.resource_group),
            t.vault
        )
    }
}
