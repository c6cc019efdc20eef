//! The Site Recovery half of `validate`: everything in the vault that would make `register` or
//! `await-failback` fail later — the vault, the fabric and its configuration server, and the
//! protected items the spec names. Only reads; every finding carries its fix.

use super::common::str_at;
use super::items::{named, names, not_eligible};
use super::validate::{list_all, Blocked};
use crate::arm::ArmError;
use crate::azure::Azure;
use crate::model::{FailbackScope, SiteRecoveryTarget};
use crate::suggest::did_you_mean;
use serde_json::Value;
use std::net::Ipv4Addr;

/// A configuration server whose last heartbeat is older than this is not connected (the
/// portal calls a component Critical after 45 minutes without contact; registration needs a
/// live one).
const CS_HEARTBEAT_LIMIT_MS: u64 = 30 * 60 * 1000;

pub struct SiteChecks<'a> {
    pub azure: &'a Azure,
    pub site: &'a SiteRecoveryTarget,
    pub scope: &'a FailbackScope,
    /// `[configuration_server] ip` of the spec.
    pub cs_ip: Ipv4Addr,
}

impl SiteChecks<'_> {
    /// Every finding (empty: the vault is ready for this failback).
    pub async fn findings(&self) -> Result<Vec<Blocked>, ArmError> {
        let Some(fabrics) = self.fabrics().await? else {
            return Ok(vec![self.vault_missing()]);
        };
        let mut out = Vec::new();
        match fabrics.iter().find(|f| self.is_our_fabric(f)) {
            Some(f) => out.extend(self.fabric_findings(f)),
            None => out.push(self.fabric_missing(&fabrics)),
        }
        let items = self.items().await?;
        out.extend(self.item_findings(&items));
        Ok(out)
    }

    /// The vault's fabrics; `None` when the vault does not exist.
    async fn fabrics(&self) -> Result<Option<Vec<Value>>, ArmError> {
        let arm = &self.azure.arm;
        let path = format!("{}/replicationFabrics", self.azure.vault_path(self.site));
        let url = arm.url(&path, &arm.api().site_recovery)?;
        match list_all(self.azure, url, "GET replicationFabrics").await {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn items(&self) -> Result<Vec<Value>, ArmError> {
        let arm = &self.azure.arm;
        let path = format!(
            "{}/replicationProtectedItems",
            self.azure.vault_path(self.site)
        );
        let url = arm.url(&path, &arm.api().site_recovery)?;
        list_all(self.azure, url, "GET replicationProtectedItems").await
    }

    fn is_our_fabric(&self, f: &Value) -> bool {
        str_at(f, "/name").is_some_and(|n| n.eq_ignore_ascii_case(&self.site.fabric))
    }

    fn vault_missing(&self) -> Blocked {
        Blocked::new(
            "VaultNotFound",
            format!(
                "Recovery Services vault {} does not exist in resource group {} of subscription {}",
                self.site.vault,
                self.site.resource_group,
                self.azure.arm.subscription_id()
            ),
            "set [site_recovery] vault and resource_group to the vault the machines failed over with",
        )
    }

    fn fabric_missing(&self, fabrics: &[Value]) -> Blocked {
        let known: Vec<&str> = fabrics.iter().filter_map(|f| str_at(f, "/name")).collect();
        Blocked::new(
            "FabricNotFound",
            format!(
                "vault {} has no fabric {}{} (its fabrics: {})",
                self.site.vault,
                self.site.fabric,
                did_you_mean(&self.site.fabric, known.iter().copied()),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ),
            "set [site_recovery] fabric to the configuration server's fabric",
        )
    }

    fn fabric_findings(&self, f: &Value) -> Vec<Blocked> {
        let details = f
            .pointer("/properties/customDetails")
            .unwrap_or(&Value::Null);
        let kind = str_at(details, "/instanceType").unwrap_or("");
        if !kind.eq_ignore_ascii_case("VMware") {
            return vec![Blocked::new(
                "FabricNotClassic",
                format!(
                    "fabric {} is of type {kind}: a process server in Azure serves only the classic \
                     configuration-server (VMware) fabric",
                    self.site.fabric
                ),
                "name the classic VMware fabric in [site_recovery] fabric; a modernized \
                 (InMageRcm) failback uses its on-premises appliance instead",
            )];
        }
        let mut out = Vec::new();
        let cs_ip = str_at(details, "/ipAddress").unwrap_or("");
        if !cs_ip.is_empty() && cs_ip != self.cs_ip.to_string() {
            out.push(Blocked::new(
                "ConfigurationServerMismatch",
                format!(
                    "[configuration_server] ip {} is not the configuration server of fabric {} ({cs_ip})",
                    self.cs_ip, self.site.fabric
                ),
                format!("set [configuration_server] ip = \"{cs_ip}\""),
            ));
        }
        out.extend(self.cs_disconnected(details));
        out
    }

    fn cs_disconnected(&self, details: &Value) -> Option<Blocked> {
        let beat = str_at(details, "/lastHeartbeat")?;
        let at = epoch_millis(beat)?;
        let age = self.azure.arm.clock().now().saturating_sub(at);
        (age > CS_HEARTBEAT_LIMIT_MS).then(|| {
            Blocked::new(
                "ConfigurationServerDisconnected",
                format!(
                    "configuration server {} ({}) of fabric {} last reported to the vault {} min \
                     ago ({beat}); a process server cannot register with it",
                    str_at(details, "/hostName").unwrap_or("?"),
                    str_at(details, "/ipAddress").unwrap_or("?"),
                    self.site.fabric,
                    age / 60_000
                ),
                "restore the configuration server's connection to the vault (its services, and \
                 outbound HTTPS to Azure), refresh it in the portal, then plan again",
            )
        })
    }

    fn item_findings(&self, items: &[Value]) -> Vec<Blocked> {
        let Some(wanted) = &self.scope.items else {
            // "all": every item of the vault is awaited, so every one must be failing back.
            return items
                .iter()
                .filter_map(|i| self.ineligible(i, friendly(i), true))
                .collect();
        };
        let known: Vec<&str> = items.iter().flat_map(names).collect();
        let mut out = Vec::new();
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for w in wanted {
            let Some(item) = items.iter().find(|i| named(i, w)) else {
                out.push(Blocked::new(
                    "ProtectedItemNotFound",
                    format!(
                        "protected item {w} is not in vault {}{}",
                        self.site.vault,
                        did_you_mean(w, known.iter().copied())
                    ),
                    "correct [failback] protected_items (names or friendly names of the vault's \
                     replicated items)",
                ));
                continue;
            };
            let id = str_at(item, "/id").unwrap_or("");
            if let Some((first, _)) = seen.iter().find(|(_, i)| *i == id) {
                out.push(Blocked::new(
                    "ProtectedItemDuplicate",
                    format!(
                        "{first} and {w} name the same protected item {}",
                        names(item)[0]
                    ),
                    format!("list {} once in [failback] protected_items", names(item)[0]),
                ));
                continue;
            }
            seen.push((w.as_str(), id));
            out.extend(self.ineligible(item, w, false));
        }
        out
    }

    fn ineligible(&self, item: &Value, name: &str, all: bool) -> Option<Blocked> {
        let (code, message, fix) = not_eligible(item, name)?;
        let fix = if all {
            "list the items to fail back in [failback] protected_items instead of \"all\"".into()
        } else {
            fix
        };
        Some(Blocked::new(code, message, fix))
    }
}

/// The item's friendly name (its machine's name), else its ARM name.
fn friendly(item: &Value) -> &str {
    match names(item) {
        [_, f] if !f.is_empty() => f,
        [n, _] => n,
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn epoch_millis(t: &str) -> Option<u64> {
    let dt = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    u64::try_from(dt.timestamp_millis()).ok()
}
