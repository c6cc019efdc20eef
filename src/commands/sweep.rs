//! `failback sweep`: what no run should still have.
//!
//! In the resource groups of the spec's networks: NICs and VMs tagged `created-by = failback`,
//! and managed disks tagged so or named like a run's disks (`{prefix}-{network}-{hash8}-os`,
//! `-cache`: disks made with a VM carry no tags), whose run this store does not hold, or whose
//! run finished — succeeded (its teardown should have deleted them, unless it kept them by
//! policy) or cancelled (nothing will delete them). In the spec's fabric: process servers named
//! like the spec's (`{prefix}-{network}`) that no existing VM of that computer name could have
//! sent their last heartbeat from (its VM is gone). `--delete` removes the Azure resources
//! after a confirmation that lists them (`--yes` for scripts); a process server cannot be
//! removed through Azure, so sweep prints the command to run on the configuration server.

use super::plan::load_spec;
use crate::cli::OutputFormat;
use crate::service::Runs;
use anyhow::{anyhow, Result};
use failback_state::{RunState, StepStatus};
use failback_steps::arm::{ArmError, LroPoll, LroStatus};
use failback_steps::steps::process_server::epoch_millis;
use failback_steps::Azure;
use failback_workflows::spec::{run_hash, Spec};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One thing no run should still have.
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    /// `vm`, `nic`, `disk` or `process-server`.
    pub kind: &'static str,
    pub name: String,
    /// ARM id (resources) or process-server id.
    pub id: String,
    /// The run it belongs to, if known.
    pub run: Option<String>,
    pub reason: String,
}

/// A run this store holds: its state and the networks whose teardown kept the process server.
struct KnownRun {
    state: RunState,
    kept: BTreeSet<String>,
}

pub async fn run(
    svc: &dyn Runs,
    spec_path: &Path,
    delete: bool,
    yes: bool,
    output: OutputFormat,
) -> Result<i32> {
    let spec = match load_spec(spec_path) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let known = known_runs(svc).await?;
    let clock = crate::context::clock().await?;
    let pool = failback_workflows::AzurePool::from_env(clock);
    let azure = pool.get(&spec).map_err(|e| anyhow!("{e}"))?;
    let mut orphans = find(&azure, &spec, &known)
        .await
        .map_err(|e| anyhow!("reading Azure: {e}"))?;
    // Azure lists in no promised order: by name within each kind, kinds as `find` groups them
    // (the order deletion goes in).
    let kinds: Vec<&'static str> = orphans.iter().fold(Vec::new(), |mut k, o| {
        if !k.contains(&o.kind) {
            k.push(o.kind);
        }
        k
    });
    orphans.sort_by_key(|o| (kinds.iter().position(|k| *k == o.kind), o.name.clone()));
    if !delete {
        print(&orphans, &[], output);
        return Ok(super::EXIT_OK);
    }
    let doomed: Vec<&Orphan> = orphans
        .iter()
        .filter(|o| o.kind != "process-server")
        .collect();
    if !doomed.is_empty() && !yes {
        if output == OutputFormat::Text {
            print(&orphans, &[], output);
        }
        let question = format!("Delete these {} resource(s)?", doomed.len());
        if !super::confirm::ask(&question, false, "deleted")? {
            eprintln!("nothing was deleted");
            return Ok(super::EXIT_FAILED);
        }
    }
    let mut deleted = Vec::new();
    for o in order(&doomed) {
        remove(&azure, o)
            .await
            .map_err(|e| anyhow!("deleting {} {}: {e}", o.kind, o.name))?;
        deleted.push(o.id.clone());
    }
    print(&orphans, &deleted, output);
    Ok(super::EXIT_OK)
}

/// The runs of this store, from whoever holds it.
async fn known_runs(svc: &dyn Runs) -> Result<BTreeMap<String, KnownRun>> {
    let mut out = BTreeMap::new();
    for r in svc.list(None).await?.runs {
        let steps = if r.state == RunState::Succeeded {
            svc.status(&r.id).await?.steps
        } else {
            Vec::new()
        };
        out.insert(r.id.clone(), known(r.state, &steps));
    }
    Ok(out)
}

fn known(state: RunState, steps: &[failback_state::StepRecord]) -> KnownRun {
    let kept = steps
        .iter()
        .filter_map(|s| match &s.status {
            StepStatus::Succeeded { output } if output.get("kept") == Some(&json!(true)) => {
                s.step_id.strip_suffix("/teardown").map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    KnownRun { state, kept }
}

/// Why a resource of `run` on `network` is an orphan; `None` when a run still owns it.
fn orphaned(
    run: Option<&str>,
    network: &str,
    known: &BTreeMap<String, KnownRun>,
) -> Option<String> {
    let Some(id) = run else {
        return Some("no run of this store has its name".into());
    };
    match known.get(id) {
        None => Some(format!("run {id} is not in this store")),
        Some(k) if k.state == RunState::Succeeded && !k.kept.contains(network) => Some(format!(
            "run {id} succeeded: its teardown should have deleted it"
        )),
        Some(k) if k.state == RunState::Cancelled => {
            Some(format!("run {id} was cancelled: nothing will delete it"))
        }
        Some(_) => None,
    }
}

/// Everything the sweep finds, in a stable order.
async fn find(
    azure: &Azure,
    spec: &Spec,
    known: &BTreeMap<String, KnownRun>,
) -> Result<Vec<Orphan>, ArmError> {
    let groups: BTreeSet<&str> = spec
        .networks
        .iter()
        .map(|n| n.resource_group.as_str())
        .collect();
    let mut out = Vec::new();
    let mut vms = Vec::new();
    for rg in groups {
        let found = resources(azure, rg).await?;
        for (kind, r) in &found {
            if let Some(o) = judge(kind, r, spec, known) {
                out.push(o);
            }
        }
        vms.extend(
            found
                .into_iter()
                .filter(|(k, _)| *k == "vm")
                .map(|(_, v)| v),
        );
    }
    out.extend(process_servers(azure, spec, &vms).await?);
    Ok(out)
}

/// The VMs, NICs and disks of a resource group.
async fn resources(azure: &Azure, rg: &str) -> Result<Vec<(&'static str, Value)>, ArmError> {
    let arm = &azure.arm;
    let base = arm.sub_path(&format!("/resourceGroups/{rg}/providers"));
    let lists = [
        (
            "vm",
            "Microsoft.Compute/virtualMachines",
            &arm.api().compute,
            "GET virtualMachines",
        ),
        (
            "nic",
            "Microsoft.Network/networkInterfaces",
            &arm.api().network,
            "GET networkInterfaces",
        ),
        (
            "disk",
            "Microsoft.Compute/disks",
            &arm.api().disks,
            "GET disks",
        ),
    ];
    let mut out = Vec::new();
    for (kind, path, api, op) in lists {
        let url = arm.url(&format!("{base}/{path}"), api)?;
        match failback_steps::steps::validate::list_all(azure, url, op).await {
            Ok(items) => out.extend(items.into_iter().map(|v| (kind, v))),
            Err(e) if e.is_not_found() => {} // no such resource group: nothing of ours there
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A resource is failback's by its tags, or (disks, which are made untagged with their VM)
/// by its name; its run by the `failback-run` tag or the name's run hash.
fn judge(
    kind: &'static str,
    r: &Value,
    spec: &Spec,
    known: &BTreeMap<String, KnownRun>,
) -> Option<Orphan> {
    let tag = |t: &str| r.pointer(&format!("/tags/{t}")).and_then(Value::as_str);
    let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
    let (run, network) = if tag("created-by") == Some("failback") {
        (
            tag("failback-run").map(str::to_owned),
            tag("failback-network")?.to_owned(),
        )
    } else if kind == "disk" {
        disk_owner(name, spec, known)?
    } else {
        return None;
    };
    let reason = orphaned(run.as_deref(), &network, known)?;
    Some(Orphan {
        kind,
        name: name.to_owned(),
        id: r
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        run,
        reason,
    })
}

/// `{prefix}-{network}-{hash8}-os|cache` of one of the spec's networks: (the stored run with
/// that hash, if any; the network).
fn disk_owner(
    name: &str,
    spec: &Spec,
    known: &BTreeMap<String, KnownRun>,
) -> Option<(Option<String>, String)> {
    let stem = name
        .strip_suffix("-os")
        .or_else(|| name.strip_suffix("-cache"))?;
    let net = spec.networks.iter().find(|n| {
        stem.strip_prefix(&spec.computer_name(n))
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|h| h.len() == 8 && h.chars().all(|c| c.is_ascii_hexdigit()))
    })?;
    let hash = &stem[stem.len() - 8..];
    let run = known.keys().find(|id| run_hash(id) == hash).cloned();
    Some((run, net.name.clone()))
}

/// Process servers named like the spec's whose last heartbeat no existing VM of that computer
/// name could have sent (created after it).
async fn process_servers(
    azure: &Azure,
    spec: &Spec,
    vms: &[Value],
) -> Result<Vec<Orphan>, ArmError> {
    let site = failback_steps::model::SiteRecoveryTarget {
        resource_group: spec.site_recovery.resource_group.clone(),
        vault: spec.site_recovery.vault.clone(),
        fabric: spec.site_recovery.fabric.clone(),
    };
    let Some(servers) = failback_steps::steps::process_server::list(azure, &site).await? else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = spec
        .networks
        .iter()
        .map(|n| spec.computer_name(n))
        .collect();
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let mut out = Vec::new();
    for ps in &servers {
        let name = s(ps, "/friendlyName").unwrap_or_default();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let heartbeat = s(ps, "/lastHeartbeat").as_deref().and_then(epoch_millis);
        let live = vms.iter().any(|vm| {
            s(vm, "/properties/osProfile/computerName")
                .is_some_and(|c| c.eq_ignore_ascii_case(&name))
                && match (
                    s(vm, "/properties/timeCreated")
                        .as_deref()
                        .and_then(epoch_millis),
                    heartbeat,
                ) {
                    (Some(created), Some(hb)) => hb > created,
                    _ => false,
                }
        });
        if live {
            continue;
        }
        let ip = s(ps, "/ipAddress").unwrap_or_default();
        out.push(Orphan {
            kind: "process-server",
            name: format!("{name} ({ip})"),
            id: s(ps, "/id").unwrap_or_default(),
            run: None,
            reason: format!(
                "its VM no longer exists (health {}, last heartbeat {}); remove it on the \
                 configuration server: `perl Unregister-ASRComponent.pl -IPAddress {ip} \
                 -Component PS` from %ProgramData%\\ASR\\home\\svsystems\\bin",
                s(ps, "/health").unwrap_or_default(),
                s(ps, "/lastHeartbeat").unwrap_or_default()
            ),
        });
    }
    Ok(out)
}

/// VMs first (their NICs and disks may go with them), then NICs, then disks.
fn order<'a>(doomed: &[&'a Orphan]) -> Vec<&'a Orphan> {
    let mut v = doomed.to_vec();
    v.sort_by_key(|o| match o.kind {
        "vm" => 0,
        "nic" => 1,
        _ => 2,
    });
    v
}

/// DELETE and follow the operation to its end; gone already is done. A NIC still attached
/// or reserved after its VM went is tried again for up to 30 minutes.
async fn remove(azure: &Arc<Azure>, o: &Orphan) -> Result<(), ArmError> {
    let arm = &azure.arm;
    let api = match o.kind {
        "vm" => &arm.api().compute,
        "nic" => &arm.api().network,
        _ => &arm.api().disks,
    };
    let url = arm.url(&o.id, api)?;
    let op = format!("DELETE {}", o.kind);
    let clock = arm.clock().clone();
    let give_up = clock.now() + 30 * 60 * 1000;
    loop {
        let resp = match arm.delete(url.clone(), &op).await {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e)
                if matches!(e.code.as_str(), "NicInUse" | "NicReservedForAnotherVm")
                    && clock.now() < give_up =>
            {
                clock
                    .sleep(e.retry_after.unwrap_or(Duration::from_secs(30)))
                    .await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(lro) = LroPoll::for_delete(&resp, &url) else {
            return Ok(());
        };
        loop {
            match lro.poll(arm, &op).await? {
                LroStatus::InProgress { retry_after } => clock.sleep(retry_after).await,
                LroStatus::Succeeded(_) => return Ok(()),
                LroStatus::Failed(e) => return Err(e),
                LroStatus::Lost(_) => break, // forgotten: send the DELETE again
            }
        }
    }
}

fn print(orphans: &[Orphan], deleted: &[String], output: OutputFormat) {
    match output {
        OutputFormat::Json => {
            let v = json!({
                "schema_version": crate::service::json::SCHEMA_VERSION,
                "orphans": orphans,
                "deleted": deleted,
            });
            crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        OutputFormat::Text => {
            if orphans.is_empty() {
                crate::outln!("No orphans: every failback resource here belongs to a run that still needs it.");
                return;
            }
            crate::outln!("{} orphan(s):", orphans.len());
            for o in orphans {
                let mark = if deleted.contains(&o.id) {
                    " (deleted)"
                } else {
                    ""
                };
                crate::outln!(
                    "  {:<15} {}{mark}\n                  {}",
                    o.kind,
                    o.name,
                    o.reason
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_runs_still_own_their_resources() {
        let run = |state, kept: &[&str]| KnownRun {
            state,
            kept: kept.iter().map(|s| s.to_string()).collect(),
        };
        let known: BTreeMap<String, KnownRun> = [
            ("live".to_owned(), run(RunState::Waiting, &[])),
            ("failed".to_owned(), run(RunState::Failed, &[])),
            ("done".to_owned(), run(RunState::Succeeded, &[])),
            ("kept".to_owned(), run(RunState::Succeeded, &["vnet-a"])),
            ("gone".to_owned(), run(RunState::Cancelled, &[])),
        ]
        .into_iter()
        .collect();
        let o = |r: Option<&str>, n: &str| orphaned(r, n, &known);
        assert_eq!(o(Some("live"), "vnet-a"), None);
        assert_eq!(
            o(Some("failed"), "vnet-a"),
            None,
            "a failed run may be retried"
        );
        assert_eq!(o(Some("kept"), "vnet-a"), None, "kept by policy");
        assert!(o(Some("kept"), "vnet-b").is_some_and(|r| r.contains("should have deleted")));
        assert!(o(Some("done"), "vnet-a").is_some_and(|r| r.contains("should have deleted")));
        assert!(o(Some("gone"), "vnet-a").is_some_and(|r| r.contains("cancelled")));
        assert!(o(Some("other"), "vnet-a").is_some_and(|r| r.contains("not in this store")));
        assert!(o(None, "vnet-a").is_some());
    }
}
