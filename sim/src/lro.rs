//! Long-running operations: creation, the Azure-AsyncOperation status URL, the Location URL
//! (Compute's odd `&monitor=true` form included) and completion effects.

use crate::clock::{rfc3339, SimTime};
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::router::Ctx;
use crate::world::{new_guid, Event, OpKind, Operation, Outcome, World};
use serde_json::{json, Value};

pub struct Spec<'a> {
    pub provider: &'a str,
    pub kind: OpKind,
    pub sub: &'a str,
    pub location: &'a str,
    pub target: &'a str,
    pub target_id: &'a str,
    pub secs: f64,
}

/// Start an LRO; its outcome comes from an injected fault if one fired for this request.
pub fn start(w: &mut World, ctx: &Ctx, s: Spec) -> String {
    let outcome = ctx.lro_fault.clone().unwrap_or(Outcome::Succeeded);
    start_with(w, ctx, s, outcome)
}

pub fn start_with(w: &mut World, ctx: &Ctx, s: Spec, outcome: Outcome) -> String {
    let id = new_guid();
    let dur = (s.secs * ctx.slow * 1000.0).round().max(0.0) as i64;
    let op = Operation {
        id: id.clone(),
        provider: s.provider.to_string(),
        sub: s.sub.to_string(),
        location: crate::world::normalize_region(s.location),
        kind: s.kind,
        target: s.target.to_string(),
        target_id: s.target_id.to_string(),
        started: ctx.now,
        ends_at: ctx.now + dur,
        outcome,
        finished: false,
        result: None,
        api_version: ctx.api_version().to_string(),
    };
    w.schedule(op.ends_at, Event::OpDone { op: id.clone() });
    w.ops.insert(id.clone(), op);
    id
}

fn is_network(op: &Operation) -> bool {
    op.provider.eq_ignore_ascii_case("Microsoft.Network")
}

pub fn async_url(base: &str, op: &Operation) -> String {
    if is_network(op) {
        format!("{base}/subscriptions/{}/providers/Microsoft.Network/locations/{}/operations/{}?api-version={}", op.sub, op.location, op.id, op.api_version)
    } else {
        format!("{base}/subscriptions/{}/providers/Microsoft.Compute/locations/{}/operations/{}?p={}&api-version={}", op.sub, op.location, op.id, op.id, op.api_version)
    }
}

pub fn location_url(base: &str, op: &Operation) -> String {
    if is_network(op) {
        if op.kind == OpKind::NicDelete {
            format!(
                "{base}{}/operationResults/{}?api-version={}",
                op.target_id, op.id, op.api_version
            )
        } else {
            format!("{base}/subscriptions/{}/providers/Microsoft.Network/locations/{}/operationResults/{}?api-version={}", op.sub, op.location, op.id, op.api_version)
        }
    } else {
        // The form found in the official Compute examples: no '?' before the query.
        format!("{base}/subscriptions/{}/providers/Microsoft.Compute/locations/{}/operations/{}&monitor=true&api-version={}", op.sub, op.location, op.id, op.api_version)
    }
}

pub fn retry_after(w: &World, op: &Operation) -> u64 {
    if is_network(op) {
        w.timings().network_retry_after_secs
    } else {
        w.timings().compute_retry_after_secs
    }
}

/// Add `Azure-AsyncOperation` (+ `Location` when asked) and `Retry-After` for `op_id`.
pub fn with_headers(mut r: Resp, w: &World, ctx: &Ctx, op_id: &str, location: bool) -> Resp {
    if let Some(op) = w.ops.get(op_id) {
        r = r.header("Azure-AsyncOperation", async_url(&ctx.base, op));
        if location {
            r = r.header("Location", location_url(&ctx.base, op));
        }
        r = r.header("Retry-After", retry_after(w, op).to_string());
    }
    r
}

pub fn status_str(op: &Operation, now: SimTime) -> &'static str {
    if !op.finished && now < op.ends_at {
        return "InProgress";
    }
    match op.outcome {
        Outcome::Succeeded => "Succeeded",
        Outcome::Failed { .. } => "Failed",
        Outcome::Canceled => "Canceled",
    }
}

fn error_of(op: &Operation) -> Option<Value> {
    match &op.outcome {
        Outcome::Failed { code, message, .. } => Some(json!({"code": code, "message": message})),
        Outcome::Canceled => {
            Some(json!({"code": "OperationCanceled", "message": "The operation was canceled."}))
        }
        Outcome::Succeeded => None,
    }
}

/// GET on a status (`…/operations/{id}`) or Location (`…/operationResults/{id}`, `&monitor=true`) URL.
pub fn get_operation(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.segs.last().cloned().unwrap_or_default();
    let Some(op) = w
        .ops
        .values()
        .find(|o| o.id.eq_ignore_ascii_case(&id) && o.sub.eq_ignore_ascii_case(ctx.subscription()))
        .cloned()
    else {
        return Err(ArmError::new(
            404,
            "NotFound",
            format!("The operation '{id}' could not be found."),
        ));
    };
    let location_mode = ctx.segs_lowercase.iter().any(|s| s == "operationresults")
        || ctx
            .q("monitor")
            .is_some_and(|m| m.eq_ignore_ascii_case("true"));
    let status = status_str(&op, ctx.now);
    if !location_mode {
        let mut body = if is_network(&op) {
            json!({"status": status})
        } else {
            json!({"name": op.id, "status": status, "startTime": rfc3339(op.started)})
        };
        if status != "InProgress" {
            if !is_network(&op) {
                body["endTime"] = json!(rfc3339(op.ends_at.min(ctx.now).max(op.started)));
            }
            if let Some(e) = error_of(&op) {
                body["error"] = e;
            }
            if let (Some(r), "Succeeded") = (&op.result, status) {
                body["properties"] = json!({"output": r});
            }
        }
        let mut resp = Resp::json(200, &body);
        if status == "InProgress" {
            resp = resp.header("Retry-After", retry_after(w, &op).to_string());
        }
        return Ok(resp);
    }
    if status == "InProgress" {
        return Ok(Resp::empty(202)
            .header("Location", location_url(&ctx.base, &op))
            .header("Retry-After", retry_after(w, &op).to_string()));
    }
    if let Outcome::Failed {
        code,
        message,
        status: st,
    } = &op.outcome
    {
        return Err(ArmError::new(
            if *st >= 400 { *st } else { 400 },
            code,
            message.clone(),
        ));
    }
    if op.outcome == Outcome::Canceled {
        return Err(ArmError::new(
            400,
            "OperationCanceled",
            "The operation was canceled.",
        ));
    }
    let body = match op.kind {
        OpKind::NicPut => crate::network::nics::render_key(w, &op.target, ctx.now),
        OpKind::VmPut => crate::compute::vms::render_key(w, &op.target, ctx.now),
        OpKind::RunCommandPut => {
            crate::compute::run_commands::render_key(w, &op.target, ctx.now, false)
        }
        OpKind::RunCommandAction => op.result.clone(),
        _ => None,
    };
    Ok(match body {
        Some(b) => Resp::json(200, &b),
        None => Resp::empty(200),
    })
}

/// Applied by the scheduler at `ends_at`.
pub fn complete(w: &mut World, op_id: &str, at: SimTime) {
    let Some(op) = w.ops.get_mut(op_id) else {
        return;
    };
    if op.finished {
        return;
    }
    op.finished = true;
    let op = op.clone();
    match op.kind {
        OpKind::NicPut => crate::network::nics::on_put_done(w, &op, at),
        OpKind::NicDelete => crate::network::nics::on_delete_done(w, &op, at),
        OpKind::VmPut => crate::compute::vms::on_put_done(w, &op, at),
        OpKind::VmDelete => crate::compute::vms::on_delete_done(w, &op, at),
        OpKind::DiskDelete => crate::compute::disks::on_delete_done(w, &op, at),
        OpKind::RunCommandPut => crate::compute::run_commands::on_put_done(w, &op, at),
        OpKind::RunCommandDelete => crate::compute::run_commands::on_delete_done(w, &op, at),
        OpKind::RunCommandAction => crate::compute::run_commands::on_action_done(w, &op, at),
    }
}

/// Mark an in-flight op Canceled now (e.g. a delete overtaking a create).
pub fn cancel(w: &mut World, op_id: &str) {
    if let Some(op) = w.ops.get_mut(op_id) {
        if !op.finished {
            op.finished = true;
            op.outcome = Outcome::Canceled;
        }
    }
}

/// Paging: `{"value": [...], "nextLink": abs-url}` with `$skiptoken` offsets.
pub fn page(w: &World, ctx: &Ctx, items: Vec<Value>) -> Resp {
    let size = w.scenario.paging.page_size.max(1);
    let token = ctx.q("$skiptoken").and_then(|t| t.parse::<usize>().ok());
    let (start, len) = match token {
        None if w.scenario.paging.empty_first_page => (0, 0),
        None => (0, size),
        Some(s) => (s, size),
    };
    let end = (start + len).min(items.len());
    let slice: Vec<Value> = items
        .get(start..end)
        .map(|s| s.to_vec())
        .unwrap_or_default();
    let mut body = json!({"value": slice});
    if end < items.len() {
        let mut q: Vec<(String, String)> = ctx
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        q.push(("$skiptoken".into(), end.to_string()));
        body["nextLink"] = json!(ctx.url_with_query(&q));
    }
    Resp::json(200, &body)
}
