//! Replication protected items and the failback actions (reProtect → unplannedFailover →
//! failoverCommit), each starting a job; plus the scripted "operator" of a scenario.

use super::fabrics::vault;
use super::{not_found, vault_key, Action, Item, ItemState, Job, Vault};
use crate::clock::{rfc3339, SimTime};
use crate::envelope::{path_str, ArmError, ArmResult, Resp};
use crate::router::Ctx;
use crate::scenario::Timings;
use crate::world::{Event, World};
use serde_json::{json, Value};

const IDLE_START: &str = "1753-01-01T01:01:01Z";

fn state_strings(s: ItemState) -> (&'static str, &'static str, &'static str, Vec<&'static str>) {
    // (protectionState, description, activeLocation, allowedOperations)
    match s {
        ItemState::FailedOver => (
            "CommitFailoverCompleted",
            "Failover committed",
            "Recovery",
            vec!["ReverseReplicate", "DisableProtection"],
        ),
        ItemState::Protected => (
            "Protected",
            "Protected",
            "Recovery",
            vec!["UnplannedFailover", "DisableProtection"],
        ),
        ItemState::FailbackPendingCommit => (
            "UnplannedFailoverCommitPendingStatesBegin",
            "Failover completed",
            "Primary",
            vec!["Commit", "ChangePit", "DisableProtection"],
        ),
        ItemState::FailedBack => (
            "CommitFailoverCompleted",
            "Failover committed",
            "Primary",
            vec!["ReverseReplicate", "DisableProtection"],
        ),
        ItemState::ReplicatingToAzure => (
            "Protected",
            "Protected",
            "Primary",
            vec![
                "PlannedFailover",
                "UnplannedFailover",
                "TestFailover",
                "DisableProtection",
            ],
        ),
        ItemState::FailoverPendingCommit => (
            "UnplannedFailoverCommitPendingStatesBegin",
            "Failover completed",
            "Recovery",
            vec!["Commit", "ChangePit", "DisableProtection"],
        ),
    }
}

pub fn render(it: &Item, v: &Vault, t: SimTime, tm: &Timings) -> Value {
    let (ps, desc, active, mut allowed) = state_strings(it.state);
    let job = it
        .job
        .as_ref()
        .and_then(|j| v.jobs.iter().find(|x| &x.name == j));
    if job.is_some() {
        allowed.clear();
    }
    let current = match job {
        Some(j) => {
            json!({"scenarioName": scenario_name(j.action), "jobId": j.id, "startTime": rfc3339(j.started)})
        }
        None => {
            json!({"scenarioName": "None", "jobId": format!("{}/replicationJobs/None", v.id), "startTime": IDLE_START})
        }
    };
    let fabric = v
        .fabrics
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(&it.fabric));
    let used_ps = it
        .ps_id
        .as_ref()
        .and_then(|id| fabric.and_then(|f| f.process_servers.iter().find(|p| &p.id == id)));
    let ps_health = used_ps.map(|p| p.health(t, tm)).unwrap_or("Normal");
    let (repl_health, health_errors) = if it.state == ItemState::Protected && ps_health != "Normal"
    {
        (
            ps_health,
            vec![
                json!({"errorCode": "78050", "errorMessage": "The process server used for replication is not sending heartbeats.", "possibleCauses": "The process server is down or deleted.", "recommendedAction": "Restore the process server or switch the item to a healthy one.", "errorLevel": "Error", "creationTimeUtc": rfc3339(t)}),
            ],
        )
    } else {
        ("Normal", vec![])
    };
    let provider = match it.state {
        ItemState::FailedOver
        | ItemState::FailoverPendingCommit
        | ItemState::ReplicatingToAzure => json!({
            "instanceType": "InMageAzureV2", "recoveryAzureVMName": it.friendly_name, "recoveryAzureVMSize": "Standard_D2s_v3",
            "processServerId": fabric.and_then(|f| f.process_servers.iter().find(|p| p.on_prem)).map(|p| p.id.clone()),
            "vmProtectionState": "FailedOver", "vmProtectionStateDescription": "Failed over", "protectionStage": "Failed over", "osType": "Windows",
        }),
        s => json!({
            "instanceType": "InMage", "activeSiteType": if s == ItemState::Protected { "Azure" } else { "OnPrem" },
            "processServerId": it.ps_id, "masterTargetId": it.mt_id,
            "vmProtectionState": if s == ItemState::Protected { "Protected" } else { "FailedOver" },
            "vmProtectionStateDescription": desc, "protectionStage": desc, "rpoInSeconds": if s == ItemState::Protected { json!(30) } else { Value::Null },
            "osDetails": {"osType": "Windows", "productType": "Windows Server 2016 Datacenter"},
        }),
    };
    json!({
        "id": it.id, "name": it.name,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
        "location": v.location,
        "properties": {
            "friendlyName": it.friendly_name, "protectedItemType": "VMwareVirtualMachine",
            "protectableItemId": it.id.replace("replicationProtectedItems", "replicationProtectableItems"),
            "recoveryServicesProviderId": format!("{}/replicationFabrics/{}/replicationRecoveryServicesProviders/cs", v.id, it.fabric),
            "primaryFabricFriendlyName": fabric.map(|f| f.friendly_name.clone()).unwrap_or_default(), "primaryFabricProvider": "VMware",
            "recoveryFabricFriendlyName": "Microsoft Azure", "recoveryFabricId": "Microsoft Azure",
            "primaryProtectionContainerFriendlyName": it.container, "recoveryProtectionContainerFriendlyName": "Microsoft Azure",
            "protectionState": ps, "protectionStateDescription": desc, "activeLocation": active,
            "testFailoverState": "None", "testFailoverStateDescription": "None",
            "switchProviderState": "None", "switchProviderStateDescription": "None",
            "allowedOperations": allowed, "replicationHealth": repl_health, "failoverHealth": "Normal", "healthErrors": health_errors,
            "policyId": format!("{}/replicationPolicies/{}", v.id, it.policy), "policyFriendlyName": it.policy,
            "lastSuccessfulFailoverTime": it.last_failover.map(rfc3339), "currentScenario": current,
            "failoverRecoveryPointId": "", "providerSpecificDetails": provider,
            "recoveryContainerId": "Microsoft Azure", "eventCorrelationId": it.name,
        }
    })
}

pub fn scenario_name(a: Action) -> &'static str {
    match a {
        Action::Reprotect => "ReverseReplicate",
        Action::Failover => "UnplannedFailover",
        Action::Commit => "CommitFailover",
    }
}

fn item_idx(v: &Vault, ctx: &Ctx) -> Result<usize, ArmError> {
    let (fabric, container, name) = (
        ctx.name_of("replicationfabrics"),
        ctx.name_of("replicationprotectioncontainers"),
        ctx.name_of("replicationprotecteditems"),
    );
    v.items
        .iter()
        .position(|i| {
            i.fabric.eq_ignore_ascii_case(fabric)
                && i.container.eq_ignore_ascii_case(container)
                && i.name.eq_ignore_ascii_case(name)
        })
        .ok_or_else(|| not_found("replication protected item", name))
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let i = item_idx(v, ctx)?;
    Ok(Resp::json(
        200,
        &render(&v.items[i], v, ctx.now, w.timings()),
    ))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let per_container = ctx.segs_lowercase.len() > 12;
    let items: Vec<Value> = v
        .items
        .iter()
        .filter(|i| {
            !per_container
                || (i
                    .fabric
                    .eq_ignore_ascii_case(ctx.name_of("replicationfabrics"))
                    && i.container
                        .eq_ignore_ascii_case(ctx.name_of("replicationprotectioncontainers")))
        })
        .map(|i| render(i, v, ctx.now, w.timings()))
        .collect();
    Ok(crate::lro::page(w, ctx, items))
}

fn asr_error(status: u16, code: &str, msg: String, cause: &str, action: &str) -> ArmError {
    ArmError::new(status, code, msg)
        .extra(json!({"possibleCauses": cause, "recommendedAction": action}))
}

/// Where a reprotect sends an item: process server, master target, retention drive, datastore.
struct ReprotectTarget<'a> {
    ps_id: &'a str,
    mt_id: &'a str,
    retention: &'a str,
    datastore: &'a str,
}

impl<'a> ReprotectTarget<'a> {
    fn new(ps_id: &'a str, mt_id: &'a str, retention: &'a str, datastore: &'a str) -> Self {
        ReprotectTarget {
            ps_id,
            mt_id,
            retention,
            datastore,
        }
    }
}

/// Decide up front how a reprotect will end (PS present and healthy, MT, retention, datastore, agent).
fn reprotect_failure(
    v: &Vault,
    it: &Item,
    target: &ReprotectTarget,
    t: SimTime,
    tm: &Timings,
) -> Option<(String, String)> {
    let (ps_id, mt_id) = (target.ps_id, target.mt_id);
    let (retention, datastore) = (target.retention, target.datastore);
    let f = v
        .fabrics
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(&it.fabric))?;
    let Some(ps) = f
        .process_servers
        .iter()
        .find(|p| p.id.eq_ignore_ascii_case(ps_id))
    else {
        return Some((
            "ProcessServerNotFound".into(),
            format!(
                "The process server '{ps_id}' is not registered with the configuration server."
            ),
        ));
    };
    if ps.health(t, tm) != "Normal" {
        return Some((
            "ProcessServerNotHealthy".into(),
            format!(
                "The process server '{}' is not healthy (no recent heartbeat).",
                ps.friendly_name
            ),
        ));
    }
    match f
        .master_targets
        .iter()
        .find(|m| m.id.eq_ignore_ascii_case(mt_id))
    {
        Some(mt) => {
            if !mt
                .retention_volumes
                .iter()
                .any(|r| r.eq_ignore_ascii_case(retention))
            {
                return Some(("InvalidRetentionDrive".into(), format!("Retention drive '{retention}' is not a retention volume of master target '{}'.", mt.name)));
            }
            if !mt
                .datastores
                .iter()
                .any(|d| d.eq_ignore_ascii_case(datastore))
            {
                return Some((
                    "InvalidDatastore".into(),
                    format!(
                        "Datastore '{datastore}' is not visible to master target '{}'.",
                        mt.name
                    ),
                ));
            }
        }
        None if f
            .process_servers
            .iter()
            .any(|p| p.id.eq_ignore_ascii_case(mt_id)) => {}
        None => {
            return Some((
                "MasterTargetNotFound".into(),
                format!("The master target '{mt_id}' was not found."),
            ))
        }
    }
    if t < it.agent_ready_at {
        return Some(("MobilityServiceNotRegistered".into(), "The Mobility service on the VM has not yet registered with the configuration server (this can take up to 15 minutes after the Azure VM boots). Retry later.".into()));
    }
    None
}

/// A job to start on an item: the action, when, whether a failback script started it, how it
/// will fail (decided up front), and the (process server, master target) of a reprotect.
pub struct JobStart {
    pub action: Action,
    pub at: SimTime,
    pub by_script: Option<usize>,
    pub failure: Option<(String, String)>,
    pub ps_mt: Option<(String, String)>,
}

impl JobStart {
    /// A step of failback script `script`.
    pub fn scripted(action: Action, at: SimTime, script: usize) -> JobStart {
        JobStart {
            action,
            at,
            by_script: Some(script),
            failure: None,
            ps_mt: None,
        }
    }
}

pub fn start_job(w: &mut World, vk: &str, idx: usize, start: JobStart) -> Option<String> {
    let JobStart {
        action,
        at,
        by_script,
        failure,
        ps_mt,
    } = start;
    let tm = w.timings().clone();
    let v = w.vaults.get_mut(vk)?;
    let it = v.items.get_mut(idx)?;
    let secs = match action {
        Action::Reprotect => tm.reprotect_secs,
        Action::Failover => tm.failover_secs,
        Action::Commit => tm.commit_secs,
    };
    let dur = if failure.is_some() {
        (secs.min(60.0) * 1000.0) as i64
    } else {
        (secs * 1000.0) as i64
    };
    let name = uuid::Uuid::new_v4().to_string();
    let job = Job {
        name: name.clone(),
        id: format!("{}/replicationJobs/{name}", v.id),
        action,
        item: it.name.clone(),
        item_id: it.id.clone(),
        item_friendly: it.friendly_name.clone(),
        state: "InProgress".into(),
        started: at,
        ends_at: at + dur,
        ended: None,
        failure,
        by_script,
        activity_id: format!(
            "{} ActivityId: {}",
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        ),
    };
    if let Some((ps, mt)) = ps_mt {
        it.ps_id = Some(ps);
        it.mt_id = Some(mt);
    }
    it.job = Some(name.clone());
    v.jobs.push(job);
    w.schedule(
        at + dur,
        Event::JobDone {
            vault: vk.to_string(),
            job: name.clone(),
        },
    );
    Some(name)
}

/// No job running on the item, and the item in the state the action needs.
fn check_allowed(it: &Item, act: Action) -> Result<(), ArmError> {
    if let Some(j) = &it.job {
        return Err(asr_error(
            409,
            "OperationInProgress",
            format!(
                "Another operation (job '{j}') is in progress on replicated item '{}'.",
                it.friendly_name
            ),
            "A job is already running for this item.",
            "Wait for the job to finish and retry.",
        ));
    }
    let (needed, op_name) = match act {
        Action::Reprotect => (ItemState::FailedOver, "Reprotect"),
        Action::Failover => (ItemState::Protected, "UnplannedFailover"),
        Action::Commit => (ItemState::FailbackPendingCommit, "Commit"),
    };
    if it.state != needed {
        let (_, desc, _, allowed) = state_strings(it.state);
        return Err(asr_error(400, "539", format!("The operation '{op_name}' isn't allowed for the replicated item '{}' in its current state '{desc}'. Allowed operations: {}.", it.friendly_name, allowed.join(", ")), "The replicated item is not in a state that allows this operation.", "Check allowedOperations on the replicated item."));
    }
    Ok(())
}

/// Reprotect and failover go back to VMware: direction RecoveryToPrimary, InMage input.
fn check_failback_input(body: &serde_json::Value, act: Action) -> Result<(), ArmError> {
    let p = |f: &[&str]| path_str(body, f).map(|s| s.to_string());
    if act != Action::Commit {
        if !p(&["properties", "failoverDirection"])
            .is_some_and(|d| d.eq_ignore_ascii_case("RecoveryToPrimary"))
        {
            return Err(asr_error(400, "InvalidFailoverDirection", "Failback of a VMware item requires properties.failoverDirection = RecoveryToPrimary.".into(), "The failover direction is missing or wrong.", "Set failoverDirection to RecoveryToPrimary."));
        }
        if !p(&["properties", "providerSpecificDetails", "instanceType"])
            .is_some_and(|d| d.eq_ignore_ascii_case("InMage"))
        {
            return Err(asr_error(400, "InvalidProviderSpecificInput", "For an InMageAzureV2 item failing back to VMware, providerSpecificDetails.instanceType must be 'InMage'.".into(), "Wrong provider input.", "Use InMage input."));
        }
    }
    Ok(())
}

pub fn action(w: &mut World, ctx: &Ctx) -> ArmResult {
    let vk = vault_key(ctx);
    let v = vault(w, ctx)?.clone();
    let idx = item_idx(&v, ctx)?;
    let it = v.items[idx].clone();
    let act = match ctx.segs_lowercase.last().map(|s| s.as_str()) {
        Some("reprotect") => Action::Reprotect,
        Some("unplannedfailover") => Action::Failover,
        _ => Action::Commit,
    };
    check_allowed(&it, act)?;
    let body = ctx.json_body_opt()?;
    let p = |f: &[&str]| path_str(&body, f).map(|s| s.to_string());
    let mut failure = None;
    let mut ps_mt = None;
    check_failback_input(&body, act)?;
    if act == Action::Reprotect {
        let mut missing = vec![];
        let mut get = |f: &str| {
            let v = p(&["properties", "providerSpecificDetails", f]);
            if v.as_deref().is_none_or(|s| s.is_empty()) {
                missing.push(f.to_string());
            }
            v.unwrap_or_default()
        };
        let ps = get("processServerId");
        let retention = get("retentionDrive");
        let datastore = get("datastoreName");
        let _profile = get("profileId");
        if !missing.is_empty() {
            return Err(asr_error(
                400,
                "InvalidParameter",
                format!("Reprotect input is missing: {}.", missing.join(", ")),
                "Required InMage reprotect fields are missing.",
                "Provide processServerId, retentionDrive, datastoreName and profileId.",
            ));
        }
        let mt = p(&["properties", "providerSpecificDetails", "masterTargetId"])
            .filter(|s| !s.is_empty())
            .unwrap_or(ps.clone());
        let target = ReprotectTarget::new(&ps, &mt, &retention, &datastore);
        failure = reprotect_failure(&v, &it, &target, ctx.now, w.timings());
        ps_mt = Some((ps, mt));
    }
    if let Some(crate::world::Outcome::Failed { code, message, .. }) = &ctx.lro_fault {
        failure = Some((code.clone(), message.clone()));
    }
    let start = JobStart {
        action: act,
        at: ctx.now,
        by_script: None,
        failure,
        ps_mt,
    };
    let job = start_job(w, &vk, idx, start)
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "job start failed"))?;
    let ra = w.timings().asr_retry_after_secs;
    let av = ctx.api_version();
    Ok(Resp::empty(202)
        .header(
            "Location",
            format!(
                "{}{}/operationresults/{job}?api-version={av}",
                ctx.base, it.id
            ),
        )
        .header(
            "Azure-AsyncOperation",
            format!(
                "{}{}/replicationOperationStatus/{job}?api-version={av}",
                ctx.base, v.id
            ),
        )
        .header("Retry-After", ra.to_string()))
}

/// Location of an item action: 202 while its job runs, then the item (or the job's error).
pub fn operation_result(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let idx = item_idx(v, ctx)?;
    let jname = ctx.name_of("operationresults");
    let job = v
        .jobs
        .iter()
        .find(|j| j.name.eq_ignore_ascii_case(jname))
        .ok_or_else(|| not_found("operation", jname))?;
    match job.state.as_str() {
        "InProgress" | "NotStarted" => Ok(Resp::empty(202)
            .header(
                "Location",
                format!(
                    "{}{}/operationresults/{}?api-version={}",
                    ctx.base,
                    v.items[idx].id,
                    job.name,
                    ctx.api_version()
                ),
            )
            .header("Retry-After", w.timings().asr_retry_after_secs.to_string())),
        "Succeeded" => Ok(Resp::json(
            200,
            &render(&v.items[idx], v, ctx.now, w.timings()),
        )),
        "Cancelled" => Err(ArmError::new(
            400,
            "OperationCanceled",
            "The job was cancelled.",
        )),
        _ => {
            let (code, msg) = job
                .failure
                .clone()
                .unwrap_or(("JobFailed".into(), "The job failed.".into()));
            Err(ArmError::new(400, &code, msg))
        }
    }
}

/// The scenario's operator: once the script time has come and a healthy Azure PS exists,
/// run reprotect → unplanned failover → commit on the scripted items.
pub fn script_check(w: &mut World, vk: &str, script: usize, at: SimTime) {
    let tm = w.timings().clone();
    let Some(v) = w.vaults.get(vk).cloned() else {
        return;
    };
    let Some(sc) = v.scripts.get(script).cloned() else {
        return;
    };
    let mut waiting = false;
    for (idx, it) in v.items.iter().enumerate() {
        if !sc
            .items
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&it.name) || n.eq_ignore_ascii_case(&it.friendly_name))
            || it.job.is_some()
        {
            continue;
        }
        match it.state {
            ItemState::FailedOver => {
                let f = v
                    .fabrics
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(&it.fabric));
                let ps = f.and_then(|f| {
                    f.process_servers
                        .iter()
                        .filter(|p| !p.on_prem || !sc.require_process_server)
                        .find(|p| p.health(at, &tm) == "Normal")
                });
                let Some(ps) = ps else {
                    waiting = true;
                    continue;
                };
                let mt = f
                    .and_then(|f| f.master_targets.first())
                    .map(|m| m.id.clone())
                    .unwrap_or(ps.id.clone());
                let failure = if at < it.agent_ready_at {
                    let target = ReprotectTarget::new(&ps.id, &mt, "", "");
                    reprotect_failure(&v, it, &target, at, &tm)
                } else {
                    None
                };
                if failure.is_some() {
                    waiting = true;
                    continue;
                }
                let start = JobStart {
                    ps_mt: Some((ps.id.clone(), mt)),
                    ..JobStart::scripted(Action::Reprotect, at, script)
                };
                start_job(w, vk, idx, start);
            }
            ItemState::Protected => {
                start_job(w, vk, idx, JobStart::scripted(Action::Failover, at, script));
            }
            ItemState::FailbackPendingCommit => {
                start_job(w, vk, idx, JobStart::scripted(Action::Commit, at, script));
            }
            // Nothing for the operator's script to do: done, or not a failback at all.
            ItemState::FailedBack
            | ItemState::ReplicatingToAzure
            | ItemState::FailoverPendingCommit => {}
        }
    }
    if waiting {
        w.schedule(
            at + 60_000,
            Event::ScriptCheck {
                vault: vk.to_string(),
                script,
            },
        );
    }
}
