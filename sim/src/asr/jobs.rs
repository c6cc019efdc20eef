//! Site Recovery jobs: list (with `$filter`), get, cancel, the operation-status URL, completion.

use super::fabrics::vault;
use super::protected_items::{scenario_name, start_job, JobStart};
use super::{not_found, vault_key, Action, ItemState, Job};
use crate::clock::{rfc3339, SimTime};
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::router::Ctx;
use crate::world::World;
use serde_json::{json, Value};

fn friendly(a: Action) -> &'static str {
    match a {
        Action::Reprotect => "Reprotect",
        Action::Failover => "Unplanned failover",
        Action::Commit => "Commit",
    }
}

fn state_description(s: &str) -> &str {
    match s {
        "Succeeded" => "Completed",
        "InProgress" => "InProgress",
        "Failed" => "Failed",
        "Cancelled" => "Cancelled",
        x => x,
    }
}

pub fn render(j: &Job) -> Value {
    let errors: Vec<Value> = match (&j.failure, j.state.as_str()) {
        (Some((code, msg)), "Failed") => vec![json!({
            "serviceErrorDetails": {"code": code, "message": msg, "possibleCauses": msg, "recommendedAction": "Fix the cause and retry the operation.", "activityId": j.activity_id},
            "providerErrorDetails": null, "errorLevel": "Error", "creationTime": rfc3339(j.ended.unwrap_or(j.ends_at)), "taskId": format!("{}-task", j.name),
        })],
        _ => vec![],
    };
    let mut task = json!({
        "taskId": format!("{}-task", j.name), "name": format!("{}Task", scenario_name(j.action)), "startTime": rfc3339(j.started),
        "allowedActions": [], "friendlyName": friendly(j.action), "state": j.state, "stateDescription": state_description(&j.state),
        "taskType": "TaskDetails", "customDetails": {"instanceType": "TaskDetails"}, "errors": errors,
    });
    let mut props = json!({
        "activityId": j.activity_id, "scenarioName": scenario_name(j.action), "friendlyName": friendly(j.action),
        "state": j.state, "stateDescription": state_description(&j.state), "tasks": [], "errors": errors,
        "startTime": rfc3339(j.started), "allowedActions": if j.state == "InProgress" { json!(["Cancel"]) } else { json!([]) },
        "targetObjectId": j.item, "targetObjectName": j.item_friendly, "targetInstanceType": "ProtectionEntity",
        "customDetails": {"instanceType": if j.action == Action::Reprotect { "AsrJobDetails" } else { "FailoverJobDetails" },
                          "affectedObjectDetails": {"ProtectedItemId": j.item_id}},
    });
    if let Some(e) = j.ended {
        props["endTime"] = json!(rfc3339(e));
        task["endTime"] = json!(rfc3339(e));
    }
    props["tasks"] = json!([task]);
    json!({"id": j.id, "name": j.name, "type": "Microsoft.RecoveryServices/vaults/replicationJobs", "properties": props})
}

/// `$filter` like `jobStatus eq 'InProgress' and affectedObjectTypes eq 'ProtectionEntity' and startTime ge '…'`.
fn matches(j: &Job, filter: &str) -> Result<bool, ArmError> {
    let re = regex::Regex::new(r"(?i)^\s*(\w+)\s+(eq|ge|le)\s+'([^']*)'\s*$")
        .map_err(|e| ArmError::new(500, "InternalServerError", e.to_string()))?;
    let split = regex::Regex::new(r"(?i)\s+and\s+")
        .map_err(|e| ArmError::new(500, "InternalServerError", e.to_string()))?;
    for clause in split.split(filter) {
        let c = re.captures(clause).ok_or_else(|| {
            ArmError::bad_request(
                "InvalidFilter",
                format!("Unsupported $filter clause '{clause}'."),
            )
        })?;
        let (field, op, val) = (
            c[1].to_ascii_lowercase(),
            c[2].to_ascii_lowercase(),
            c[3].to_string(),
        );
        let ok = match (field.as_str(), op.as_str()) {
            ("jobstatus", _) => val
                .split(',')
                .any(|s| s.trim().eq_ignore_ascii_case(&j.state)),
            ("jobname", _) => scenario_name(j.action).eq_ignore_ascii_case(&val),
            ("affectedobjecttypes", _) => val
                .split(',')
                .any(|s| s.trim().eq_ignore_ascii_case("ProtectionEntity")),
            ("starttime", "ge") => rfc3339(j.started) >= val,
            ("starttime", _) => rfc3339(j.started) <= val,
            ("endtime", _) => j.ended.is_some_and(|e| rfc3339(e) <= val),
            _ => true, // fabricId, jobOutputType, timezoneOffset: accepted, not filtered
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let mut jobs: Vec<&Job> = v.jobs.iter().collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.started));
    let mut items = vec![];
    for j in jobs {
        if let Some(f) = ctx.q("$filter").filter(|f| !f.trim().is_empty()) {
            if !matches(j, f)? {
                continue;
            }
        }
        items.push(render(j));
    }
    Ok(crate::lro::page(w, ctx, items))
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let name = ctx.name_of("replicationjobs");
    let j = v
        .jobs
        .iter()
        .find(|j| j.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| not_found("job", name))?;
    Ok(Resp::json(200, &render(j)))
}

pub fn cancel(w: &mut World, ctx: &Ctx) -> ArmResult {
    let vk = vault_key(ctx);
    let name = ctx.name_of("replicationjobs").to_string();
    let now = ctx.now;
    let v = w
        .vaults
        .get_mut(&vk)
        .ok_or_else(|| ArmError::not_found("Microsoft.RecoveryServices/vaults", &ctx.prefix(8)))?;
    let j = v
        .jobs
        .iter_mut()
        .find(|j| j.name.eq_ignore_ascii_case(&name))
        .ok_or_else(|| not_found("job", &name))?;
    if j.state != "InProgress" {
        return Err(ArmError::bad_request(
            "JobNotCancellable",
            format!("Job '{name}' is {} and cannot be cancelled.", j.state),
        ));
    }
    j.state = "Cancelled".into();
    j.ended = Some(now);
    let (item, body) = (j.item.clone(), render(j));
    if let Some(it) = v.items.iter_mut().find(|i| i.name == item) {
        it.job = None;
    }
    Ok(Resp::json(200, &body))
}

/// `…/replicationOperationStatus/{id}` (id = job name): ARM async-operation body.
pub fn operation_status(w: &mut World, ctx: &Ctx) -> ArmResult {
    let v = vault(w, ctx)?;
    let id = ctx.name_of("replicationoperationstatus");
    let j = v
        .jobs
        .iter()
        .find(|j| j.name.eq_ignore_ascii_case(id))
        .ok_or_else(|| not_found("operation", id))?;
    let status = match j.state.as_str() {
        "Succeeded" => "Succeeded",
        "Failed" => "Failed",
        "Cancelled" => "Canceled",
        _ => "InProgress",
    };
    let mut body = json!({"id": format!("{}/replicationOperationStatus/{}", v.id, j.name), "name": j.name, "status": status, "startTime": rfc3339(j.started)});
    if let Some(e) = j.ended {
        body["endTime"] = json!(rfc3339(e));
    }
    if let (Some((code, msg)), "Failed") = (&j.failure, status) {
        body["error"] = json!({"code": code, "message": msg});
    }
    let mut r = Resp::json(200, &body);
    if status == "InProgress" {
        r = r.header("Retry-After", w.timings().asr_retry_after_secs.to_string());
    }
    Ok(r)
}

pub fn complete(w: &mut World, vk: &str, job: &str, at: SimTime) {
    let Some(v) = w.vaults.get_mut(vk) else {
        return;
    };
    let Some(j) = v.jobs.iter_mut().find(|j| j.name == job) else {
        return;
    };
    if j.state != "InProgress" {
        return;
    }
    let ok = j.failure.is_none();
    j.state = if ok {
        "Succeeded".into()
    } else {
        "Failed".into()
    };
    j.ended = Some(at);
    let (action, item, by_script) = (j.action, j.item.clone(), j.by_script);
    let Some(idx) = v.items.iter().position(|i| i.name == item) else {
        return;
    };
    let it = &mut v.items[idx];
    it.job = None;
    if ok {
        it.state = match action {
            Action::Reprotect => ItemState::Protected,
            Action::Failover => {
                it.last_failover = Some(at);
                ItemState::FailbackPendingCommit
            }
            Action::Commit => ItemState::FailedBack,
        };
    }
    if let Some(s) = by_script {
        match (ok, action) {
            (true, Action::Reprotect) => {
                start_job(w, vk, idx, JobStart::scripted(Action::Failover, at, s));
            }
            (true, Action::Failover) => {
                start_job(w, vk, idx, JobStart::scripted(Action::Commit, at, s));
            }
            (false, _) => w.schedule(
                at + 300_000,
                crate::world::Event::ScriptCheck {
                    vault: vk.to_string(),
                    script: s,
                },
            ),
            _ => {}
        }
    }
}
