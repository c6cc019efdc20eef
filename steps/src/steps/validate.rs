//! `validate`: everything that can be known before creating anything. The size exists and is
//! not restricted in each region, family and regional vCPU quota cover every process server of
//! the run, each subnet exists, each static IP is inside its subnet, not reserved, free; the
//! vault, fabric, configuration server and protected items are ready for a failback
//! (`site_checks.rs`); no NIC or VM of the run's names was made by someone else
//! (`ownership.rs`) and no stale process server sits at a static IP (`process_server.rs`).
//! Any finding is permanent and explained with its fix; it makes no write.
//! `plan` shows the same findings as blocked, and a credential or permission that Azure
//! refuses blocks the plan too (docs/operations.md, "What plan checks").

use super::common::{from_error, str_at};
use super::site_checks::SiteChecks;
use super::{ownership, process_server};
use crate::arm::ArmError;
use crate::azure::Azure;
use crate::cidr::Prefix;
use crate::model::{FailbackScope, NetworkTarget, SiteRecoveryTarget, VmSpec};
use failback_engine::{
    PlanChange, PlanContext, Step, StepContext, StepFailure, StepOutcome, StepPlan,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

pub struct Validate {
    pub azure: Arc<Azure>,
    pub vm: VmSpec,
    pub networks: Vec<NetworkTarget>,
    /// Secret references to prove readable now (what they are for, the reference). Key Vault
    /// ones are read and the value dropped, so a missing secret blocks before anything exists.
    pub secrets: Vec<(String, crate::secrets::SecretRef)>,
    pub site: SiteRecoveryTarget,
    pub scope: FailbackScope,
    /// `[configuration_server] ip`: must be the fabric's configuration server.
    pub cs_ip: Ipv4Addr,
}

/// A reason the run cannot go ahead, and what the operator does about it.
#[derive(Debug)]
pub struct Blocked {
    pub code: &'static str,
    pub message: String,
    pub fix: String,
}

impl Blocked {
    pub fn new(code: &'static str, message: String, fix: impl Into<String>) -> Self {
        Self {
            code,
            message,
            fix: fix.into(),
        }
    }

    /// `message; fix: …`, as plan and the failed step show it.
    pub fn text(&self) -> String {
        format!("{}; fix: {}", self.message, self.fix)
    }
}

fn blocked(code: &'static str, message: String, fix: &str) -> Blocked {
    Blocked::new(code, message, fix)
}

/// A read that Azure refused for good (the credential, a permission): the plan blocks on it,
/// with the fix, instead of calling the step unknown. `None` for transient failures.
pub fn refused(e: &ArmError) -> Option<Blocked> {
    if e.is_transient() {
        return None;
    }
    Some(if e.code == "AuthenticationFailed" {
        Blocked::new(
            "CredentialRefused",
            format!("Microsoft Entra ID refused the credential: {}", e.message),
            "check [azure.credential] (client id, tenant and the secret it references; \
             AADSTS7000215 is a wrong client secret, AADSTS700016 an unknown client id)",
        )
    } else if e.status == Some(403) {
        Blocked::new(
            "AuthorizationFailed",
            format!("Azure denied a read: {}", e.message),
            "grant the identity Contributor on the networks' resource groups and Site Recovery \
             Contributor on the vault (docs/operations.md, \"Permissions\")",
        )
    } else {
        Blocked::new(
            "AzureRefused",
            format!("Azure refused a read: {e}"),
            "correct what the error names, then plan again",
        )
    })
}

impl Validate {
    /// All checks; `Ok(Err(..))` is a finding, `Err` a failed read. `run_id`: the run the
    /// checks are for (what it owns is not a collision).
    async fn check(&self, run_id: &str) -> Result<Result<Value, Vec<Blocked>>, ArmError> {
        let mut problems = Vec::new();
        let mut regions: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &self.networks {
            *regions.entry(n.region.as_str()).or_default() += 1;
        }
        let mut region_facts = serde_json::Map::new();
        for (region, count) in regions {
            match self.check_region(region, count).await? {
                Ok(facts) => {
                    region_facts.insert(region.to_owned(), facts);
                }
                Err(found) => problems.extend(found),
            }
        }
        for (what, r) in &self.secrets {
            if let Err(e) = self.azure.secret(r).await {
                problems.push(blocked(
                    "SecretUnavailable",
                    format!("{what}: {e}"),
                    "make the secret readable where failback runs (environment, file or Key Vault access)",
                ));
            }
        }
        let site = SiteChecks {
            azure: &self.azure,
            site: &self.site,
            scope: &self.scope,
            cs_ip: self.cs_ip,
        };
        problems.extend(site.findings().await?);
        problems.extend(self.ownership(run_id).await?);
        let mut nets = serde_json::Map::new();
        for n in &self.networks {
            match self.check_network(n, run_id).await? {
                Ok(v) => {
                    nets.insert(n.name.clone(), v);
                }
                Err(b) => problems.push(b),
            }
        }
        if problems.is_empty() {
            Ok(Ok(json!({ "regions": region_facts, "networks": nets })))
        } else {
            Ok(Err(problems))
        }
    }

    /// Resources of this run's names that another made, and process servers in the fabric that
    /// share a network's IP or computer name but are not this run's (`ownership.rs`,
    /// `process_server.rs`).
    async fn ownership(&self, run_id: &str) -> Result<Vec<Blocked>, ArmError> {
        let servers = process_server::list(&self.azure, &self.site)
            .await?
            .unwrap_or_default();
        let mut out = Vec::new();
        for n in &self.networks {
            out.extend(ownership::collisions(&self.azure, n, run_id).await?);
            let created = if servers.is_empty() {
                None
            } else {
                process_server::own_vm_created(&self.azure, n, run_id).await?
            };
            out.extend(process_server::stale_findings(&servers, n, created));
        }
        Ok(out)
    }

    /// The size is offered and not restricted in `region`, and the family and regional vCPU
    /// quotas cover `count` process servers.
    async fn check_region(
        &self,
        region: &str,
        count: usize,
    ) -> Result<Result<Value, Vec<Blocked>>, ArmError> {
        let arm = &self.azure.arm;
        let mut url = arm.url(
            &arm.sub_path("/providers/Microsoft.Compute/skus"),
            &arm.api().skus,
        )?;
        url.query_pairs_mut()
            .append_pair("$filter", &format!("location eq '{region}'"));
        let skus = list_all(&self.azure, url, "GET skus").await?;
        let sku = skus.iter().find(|s| {
            str_at(s, "/resourceType") == Some("virtualMachines")
                && str_at(s, "/name").is_some_and(|n| n.eq_ignore_ascii_case(&self.vm.size))
        });
        let Some(sku) = sku else {
            return Ok(Err(vec![blocked(
                "SkuNotAvailable",
                format!("size {} is not offered in {region}", self.vm.size),
                "choose another [process_server] size (8 vCPUs or more) or another region",
            )]));
        };
        if let Some(reason) = location_restriction(sku, region) {
            return Ok(Err(vec![blocked(
                "SkuNotAvailable",
                format!(
                    "size {} is restricted in {region} for this subscription ({reason})",
                    self.vm.size
                ),
                "ask Azure support to lift the restriction, or choose another [process_server] size",
            )]));
        }
        let vcpus: u64 = capability(sku, "vCPUs")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let family = str_at(sku, "/family").unwrap_or("").to_owned();
        let short = self
            .quota_short(region, &family, vcpus * count as u64, count)
            .await?;
        if short.is_empty() {
            Ok(Ok(json!({ "vcpus": vcpus, "family": family })))
        } else {
            Ok(Err(short))
        }
    }

    async fn quota_short(
        &self,
        region: &str,
        family: &str,
        need: u64,
        count: usize,
    ) -> Result<Vec<Blocked>, ArmError> {
        let arm = &self.azure.arm;
        let url = arm.url(
            &arm.sub_path(&format!(
                "/providers/Microsoft.Compute/locations/{region}/usages"
            )),
            &arm.api().compute,
        )?;
        let usages = list_all(&self.azure, url, "GET usages").await?;
        let mut out = Vec::new();
        for quota in [family, "cores"] {
            let Some(u) = usages
                .iter()
                .find(|u| str_at(u, "/name/value") == Some(quota))
            else {
                continue;
            };
            let limit = u.get("limit").and_then(Value::as_u64).unwrap_or(0);
            let used = u.get("currentValue").and_then(Value::as_u64).unwrap_or(0);
            if limit.saturating_sub(used) < need {
                let label = str_at(u, "/name/localizedValue").unwrap_or(quota);
                out.push(blocked(
                    "QuotaExceeded",
                    format!(
                        "{label} in {region}: {count} process server(s) need {need} vCPUs, \
                         {} of {limit} are free",
                        limit.saturating_sub(used)
                    ),
                    "request a quota increase (portal: Subscriptions > Usage + quotas) or free vCPUs in the region",
                ));
            }
        }
        Ok(out)
    }

    async fn check_network(
        &self,
        n: &NetworkTarget,
        run_id: &str,
    ) -> Result<Result<Value, Blocked>, ArmError> {
        let arm = &self.azure.arm;
        let url = arm.url(&self.azure.subnet_path(n), &arm.api().network)?;
        let subnet = match arm.get(url, "GET subnet").await {
            Ok(r) => r.body,
            Err(e) if e.is_not_found() => {
                return Ok(Err(blocked(
                    "SubnetNotFound",
                    format!(
                        "network {}: subnet {} of VNet {} (resource group {}) does not exist",
                        n.name, n.subnet, n.vnet, n.resource_group
                    ),
                    "correct the network's resource_group, vnet and subnet in the spec",
                )))
            }
            Err(e) => return Err(e),
        };
        let prefix = match ip_in_subnet(n, &subnet) {
            Ok(p) => p,
            Err(b) => return Ok(Err(b)),
        };
        if let Err(b) = self.ip_free(n, run_id).await? {
            return Ok(Err(b));
        }
        let subnet_id = subnet
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Ok(
            json!({ "subnet_id": subnet_id, "prefix": prefix.to_string() }),
        ))
    }

    /// The static IP is free, or held by this run's own NIC (CheckIPAddressAvailability).
    async fn ip_free(
        &self,
        n: &NetworkTarget,
        run_id: &str,
    ) -> Result<Result<(), Blocked>, ArmError> {
        let arm = &self.azure.arm;
        let mut url = arm.url(
            &format!("{}/CheckIPAddressAvailability", self.azure.vnet_path(n)),
            &arm.api().network,
        )?;
        url.query_pairs_mut()
            .append_pair("ipAddress", &n.private_ip.to_string());
        let avail = arm.get(url, "GET CheckIPAddressAvailability").await?.body;
        if avail.get("available").and_then(Value::as_bool) == Some(false)
            && !self.held_by_own_nic(n, run_id).await?
        {
            let suggestions: Vec<&str> = avail
                .get("availableIPAddresses")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            return Ok(Err(blocked(
                "PrivateIPAddressInUse",
                format!(
                    "network {}: {} is already in use (free nearby: {})",
                    n.name,
                    n.private_ip,
                    suggestions.join(", ")
                ),
                "choose a free private_ip, or free this one",
            )));
        }
        Ok(Ok(()))
    }

    /// After a crash or a retry the IP may be taken by this run's own NIC (its name and its
    /// tag): that is fine.
    async fn held_by_own_nic(&self, n: &NetworkTarget, run_id: &str) -> Result<bool, ArmError> {
        let arm = &self.azure.arm;
        let url = arm.url(&self.azure.nic_path(n), &arm.api().network)?;
        match arm.get(url, "GET networkInterface").await {
            Ok(r) => Ok(ownership::owned_by(&r.body, run_id)
                && r.body
                    .pointer("/properties/ipConfigurations/0/properties/privateIPAddress")
                    .and_then(Value::as_str)
                    == Some(n.private_ip.to_string().as_str())),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn capability<'a>(sku: &'a Value, name: &str) -> Option<&'a str> {
    sku.get("capabilities")?
        .as_array()?
        .iter()
        .find(|c| str_at(c, "/name") == Some(name))
        .and_then(|c| str_at(c, "/value"))
}

/// A `Location` restriction covering `region` (zone restrictions do not matter for a regional VM).
fn location_restriction(sku: &Value, region: &str) -> Option<String> {
    let restrictions = sku.get("restrictions")?.as_array()?;
    restrictions.iter().find_map(|r| {
        if str_at(r, "/type") != Some("Location") {
            return None;
        }
        let covers = |v: Option<&Value>| {
            v.and_then(Value::as_array).is_some_and(|a| {
                a.iter()
                    .any(|x| x.as_str().is_some_and(|s| s.eq_ignore_ascii_case(region)))
            })
        };
        (covers(r.get("values")) || covers(r.pointer("/restrictionInfo/locations")))
            .then(|| str_at(r, "/reasonCode").unwrap_or("restricted").to_owned())
    })
}

/// Every item of a paged list, following `nextLink` (pages may be empty).
pub async fn list_all(azure: &Azure, first: url::Url, op: &str) -> Result<Vec<Value>, ArmError> {
    let mut out = Vec::new();
    let mut next = Some(first);
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > 1000 {
            break; // a server looping its nextLink must not hold us forever
        }
        let body = azure.arm.get(url, op).await?.body;
        if let Some(items) = body.get("value").and_then(Value::as_array) {
            out.extend(items.iter().cloned());
        }
        next = body
            .get("nextLink")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .and_then(|s| url::Url::parse(s).ok());
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Step for Validate {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        match self.check(&ctx.run_id).await {
            Ok(Ok(facts)) => StepOutcome::Done(facts),
            Ok(Err(problems)) => {
                let code = problems.first().map_or("ValidationFailed", |p| p.code);
                let message = problems
                    .iter()
                    .map(Blocked::text)
                    .collect::<Vec<_>>()
                    .join(" | ");
                StepOutcome::Fail(StepFailure::new(code, message))
            }
            Err(e) => from_error(e),
        }
    }

    async fn plan(&self, ctx: &PlanContext) -> StepPlan {
        let mut regions: Vec<&str> = self.networks.iter().map(|n| n.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        let mut plan = StepPlan::new(
            format!(
                "check {} in {}, vCPU quota for {} process server(s), subnets and static IPs",
                self.vm.size,
                regions.join(", "),
                self.networks.len()
            ),
            PlanChange::Unknown,
        )
        .call("GET .../providers/Microsoft.Compute/skus")
        .call("GET .../locations/{region}/usages")
        .call("GET .../virtualNetworks/{vnet}/subnets/{subnet}")
        .call("GET .../virtualNetworks/{vnet}/CheckIPAddressAvailability")
        .call("GET .../vaults/{vault}/replicationFabrics")
        .call("GET .../vaults/{vault}/replicationProtectedItems")
        .call("GET .../networkInterfaces/{nic}, .../virtualMachines/{vm} (made by this run?)")
        .call("GET .../replicationFabrics/{fabric} (stale process servers at the static IPs)");
        if ctx.outputs.contains_key(&ctx.step_id) {
            plan.change = PlanChange::Done;
            return plan;
        }
        if ctx.offline {
            return plan;
        }
        let run_id = ctx.run_id.as_deref().unwrap_or_default();
        plan.change = match self.check(run_id).await {
            Ok(Ok(_)) => PlanChange::NoOp,
            Ok(Err(problems)) => PlanChange::Blocked {
                reason: problems
                    .iter()
                    .map(Blocked::text)
                    .collect::<Vec<_>>()
                    .join(" | "),
            },
            Err(e) => {
                plan.details.insert("error".into(), e.to_string());
                match refused(&e) {
                    Some(b) => PlanChange::Blocked { reason: b.text() },
                    None => PlanChange::Unknown,
                }
            }
        };
        plan
    }
}

/// The subnet prefix that holds the network's static IP, unless the IP lies outside every
/// prefix of the subnet or is one Azure reserves.
fn ip_in_subnet(n: &NetworkTarget, subnet: &Value) -> Result<Prefix, Blocked> {
    let mut prefixes: Vec<String> = Vec::new();
    if let Some(p) = str_at(subnet, "/properties/addressPrefix") {
        prefixes.push(p.to_owned());
    }
    if let Some(a) = subnet
        .pointer("/properties/addressPrefixes")
        .and_then(Value::as_array)
    {
        prefixes.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    let Some(prefix) = prefixes
        .iter()
        .filter_map(|p| Prefix::parse(p))
        .find(|p| p.contains(n.private_ip))
    else {
        return Err(blocked(
            "PrivateIPAddressNotInSubnet",
            format!(
                "network {}: {} is not inside subnet {} ({})",
                n.name,
                n.private_ip,
                n.subnet,
                prefixes.join(", ")
            ),
            "choose a private_ip inside the subnet",
        ));
    };
    if prefix.is_azure_reserved(n.private_ip) {
        return Err(blocked(
            "PrivateIPAddressReserved",
            format!(
                "network {}: {} is reserved by Azure in {prefix} (network, .1–.3 and broadcast)",
                n.name, n.private_ip
            ),
            "choose another private_ip",
        ));
    }
    Ok(prefix)
}
