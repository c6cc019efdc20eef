//! Control plane under `/_sim/…` (clock, journal, inventory, faults, scenario, env, state) and
//! the small subscription / resource-group reads ARM clients commonly make.

use crate::clock::rfc3339;
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::faults::FaultRule;
pub use crate::inventory::{
    inventory, Inventory, InventoryItem, InventoryProcessServer, InventoryResource,
};
use crate::router::Ctx;
use crate::shared::Shared;
use crate::world::World;
use serde_json::{json, Value};

fn clock_body(sh: &Shared) -> Value {
    let now = sh.clock.now();
    json!({"now": rfc3339(now), "now_ms": now, "speed": sh.clock.speed()})
}

fn bad(msg: &str) -> Resp {
    Resp::json(
        400,
        &json!({"error": {"code": "BadRequest", "message": msg}}),
    )
}

fn body_json(ctx: &Ctx) -> Result<Value, Resp> {
    serde_json::from_slice(&ctx.body).map_err(|e| bad(&format!("invalid JSON: {e}")))
}

/// Advance the sim clock and apply everything that became due.
pub fn advance(sh: &Shared, secs: f64) {
    if secs.is_finite() && secs > 0.0 {
        sh.clock.advance_ms((secs * 1000.0).round() as i64);
    }
    let now = sh.clock.now();
    let mut w = sh.world.lock();
    w.tick(now);
}

pub fn replace_scenario(sh: &Shared, s: crate::scenario::Scenario) {
    let now = sh.clock.now();
    sh.faults.lock().reseed(s.seed);
    sh.throttle.lock().reset();
    let mut w = sh.world.lock();
    *w = World::from_scenario(s, now);
    w.touch();
}

/// Serve `/_sim/…`.
pub fn handle(sh: &Shared, ctx: &Ctx) -> Resp {
    let parts: Vec<&str> = ctx
        .segs_lowercase
        .iter()
        .skip(1)
        .map(|s| s.as_str())
        .collect();
    let m = ctx.method.as_str();
    let answer = match parts.first().copied() {
        Some("health") | Some("clock") => clock_endpoint(sh, ctx, m, &parts),
        Some("faults") => faults_endpoint(sh, ctx, m, &parts),
        Some("journal") => journal_endpoint(sh, ctx, m, &parts),
        _ => world_endpoint(sh, ctx, m, &parts),
    };
    answer.unwrap_or_else(|| {
        Resp::json(
            404,
            &json!({"error": {"code": "NotFound", "message": format!("unknown control endpoint {m} /{}", ctx.segs.join("/"))}}),
        )
    })
}

fn clock_endpoint(sh: &Shared, ctx: &Ctx, m: &str, parts: &[&str]) -> Option<Resp> {
    Some(match (m, parts) {
        ("GET", ["health"]) => Resp::json(200, &json!({"status": "ok"})),
        ("GET", ["clock"]) => Resp::json(200, &clock_body(sh)),
        ("POST", ["clock", "advance"]) => match body_json(ctx) {
            Ok(b) => {
                let Some(s) = b.get("seconds").and_then(|v| v.as_f64()) else {
                    return Some(bad("expected {\"seconds\": N}"));
                };
                advance(sh, s);
                Resp::json(200, &clock_body(sh))
            }
            Err(r) => r,
        },
        ("POST" | "PUT", ["clock", "speed"]) | ("PUT", ["clock"]) => match body_json(ctx) {
            Ok(b) => {
                let Some(s) = b
                    .get("speed")
                    .and_then(|v| v.as_f64())
                    .filter(|s| *s > 0.0 && s.is_finite())
                else {
                    return Some(bad("expected {\"speed\": F > 0}"));
                };
                sh.clock.set_speed(s);
                Resp::json(200, &clock_body(sh))
            }
            Err(r) => r,
        },
        _ => return None,
    })
}

fn journal_endpoint(sh: &Shared, ctx: &Ctx, m: &str, parts: &[&str]) -> Option<Resp> {
    Some(match (m, parts) {
        ("GET", ["journal"]) => {
            let since = ctx.q("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            Resp::json(200, &json!({"entries": sh.journal.since(since)}))
        }
        ("DELETE", ["journal"]) => {
            sh.journal.clear();
            Resp::empty(204)
        }
        _ => return None,
    })
}

fn faults_endpoint(sh: &Shared, ctx: &Ctx, m: &str, parts: &[&str]) -> Option<Resp> {
    Some(match (m, parts) {
        ("GET", ["faults"]) => Resp::json(200, &json!({"rules": sh.faults.lock().list()})),
        ("POST", ["faults"]) => match serde_json::from_slice::<FaultRule>(&ctx.body) {
            Ok(rule) => match sh.faults.lock().add(rule) {
                Ok(id) => Resp::json(201, &json!({"id": id})),
                Err(e) => bad(&e),
            },
            Err(e) => bad(&format!("invalid fault rule: {e}")),
        },
        ("DELETE", ["faults"]) => {
            sh.faults.lock().clear();
            Resp::empty(204)
        }
        ("DELETE", ["faults", id]) => match id.parse::<u64>() {
            Ok(id) if sh.faults.lock().remove(id) => Resp::empty(204),
            _ => Resp::json(
                404,
                &json!({"error": {"code": "NotFound", "message": "no such fault rule"}}),
            ),
        },
        _ => return None,
    })
}

/// Inventory, scenario, environment, state, persistence, token expiry.
fn world_endpoint(sh: &Shared, ctx: &Ctx, m: &str, parts: &[&str]) -> Option<Resp> {
    let as_json = |v: Result<Value, serde_json::Error>| Resp::json(200, &v.unwrap_or(Value::Null));
    Some(match (m, parts) {
        ("GET", ["inventory"]) => {
            let now = sh.clock.now();
            let mut w = sh.world.lock();
            w.tick(now);
            as_json(serde_json::to_value(inventory(&w, now)))
        }
        ("POST" | "PUT", ["scenario"]) => load_scenario(sh, ctx),
        ("GET", ["scenario"]) => as_json(serde_json::to_value(&sh.world.lock().scenario)),
        ("GET", ["env"]) => {
            let env: serde_json::Map<String, Value> = crate::env_for(sh)
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            Resp::json(200, &Value::Object(env))
        }
        ("GET", ["state"]) => as_json(serde_json::to_value(&*sh.world.lock())),
        ("POST", ["persist"]) => match crate::persist::save_now(sh) {
            Ok(()) => Resp::json(200, &json!({"status": "saved"})),
            Err(e) => Resp::json(
                500,
                &json!({"error": {"code": "PersistFailed", "message": e.to_string()}}),
            ),
        },
        ("POST", ["tokens", "expire"]) => {
            let now = sh.clock.now();
            for t in sh.world.lock().tokens.values_mut() {
                t.expires_at = t.expires_at.min(now);
            }
            Resp::empty(204)
        }
        _ => return None,
    })
}

fn load_scenario(sh: &Shared, ctx: &Ctx) -> Resp {
    let text = String::from_utf8_lossy(&ctx.body);
    match crate::scenario::Scenario::from_text(&text).and_then(|s| s.validate().map(|_| s)) {
        Ok(s) => {
            replace_scenario(sh, s);
            Resp::json(200, &json!({"status": "loaded"}))
        }
        Err(e) => bad(&e.to_string()),
    }
}

pub fn subscription_body(w: &mut World, ctx: &Ctx) -> ArmResult {
    let s = w
        .sub(ctx.subscription())
        .ok_or_else(|| ArmError::new(404, "SubscriptionNotFound", "not found"))?;
    Ok(Resp::json(
        200,
        &json!({"id": format!("/subscriptions/{}", s.id), "subscriptionId": s.id, "tenantId": s.tenant_id, "displayName": s.display_name, "state": "Enabled"}),
    ))
}

pub fn resource_group_body(w: &mut World, ctx: &Ctx) -> ArmResult {
    let s = w
        .sub(ctx.subscription())
        .ok_or_else(|| ArmError::new(404, "SubscriptionNotFound", "not found"))?;
    let rg = s
        .resource_groups
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(ctx.resource_group()))
        .ok_or_else(|| {
            ArmError::new(
                404,
                "ResourceGroupNotFound",
                format!(
                    "Resource group '{}' could not be found.",
                    ctx.resource_group()
                ),
            )
        })?;
    Ok(Resp::json(
        200,
        &json!({"id": format!("/subscriptions/{}/resourceGroups/{}", s.id, rg.name), "name": rg.name, "type": "Microsoft.Resources/resourceGroups", "location": rg.location, "properties": {"provisioningState": "Succeeded"}}),
    ))
}
