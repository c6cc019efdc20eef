//! Control plane under `/_sim/…` (clock, journal, inventory, faults, scenario, env, state) and
//! the small subscription / resource-group reads ARM clients commonly make.

use crate::clock::rfc3339;
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::faults::FaultRule;
use crate::router::Ctx;
use crate::shared::Shared;
use crate::world::World;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub location: String,
    pub tags: Value,
    pub provisioning_state: String,
    /// Part of the scenario (not created through the API).
    pub seeded: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryProcessServer {
    pub vault: String,
    pub fabric: String,
    pub id: String,
    pub friendly_name: String,
    pub ip_address: String,
    pub health: String,
    pub last_heartbeat: String,
    pub on_prem: bool,
    pub vm_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryItem {
    pub id: String,
    pub name: String,
    pub friendly_name: String,
    pub state: String,
    pub job: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inventory {
    pub sim_time: String,
    pub resources: Vec<InventoryResource>,
    pub process_servers: Vec<InventoryProcessServer>,
    pub protected_items: Vec<InventoryItem>,
    /// LROs still running.
    pub operations_in_flight: usize,
}

impl Inventory {
    /// Resources created through the API (not seeded) that still exist.
    pub fn created(&self) -> Vec<&InventoryResource> {
        self.resources.iter().filter(|r| !r.seeded).collect()
    }
}

pub fn inventory(w: &World, now: i64) -> Inventory {
    let mut resources = vec![];
    let mut push =
        |id: &str, kind: &str, name: &str, loc: &str, tags: &Value, ps: &str, seeded: bool| {
            resources.push(InventoryResource {
                id: id.into(),
                kind: kind.into(),
                name: name.into(),
                location: loc.into(),
                tags: tags.clone(),
                provisioning_state: ps.into(),
                seeded,
            });
        };
    for v in w.vnets.values() {
        push(
            &v.id,
            "Microsoft.Network/virtualNetworks",
            &v.name,
            &v.location,
            &Value::Null,
            "Succeeded",
            true,
        );
    }
    for n in w.nics.values() {
        push(
            &n.id,
            "Microsoft.Network/networkInterfaces",
            &n.name,
            &n.location,
            &n.tags,
            &n.provisioning,
            false,
        );
    }
    for vm in w.vms.values() {
        push(
            &vm.id,
            "Microsoft.Compute/virtualMachines",
            &vm.name,
            &vm.location,
            &vm.tags,
            &vm.provisioning,
            false,
        );
    }
    for d in w.disks.values() {
        push(
            &d.id,
            "Microsoft.Compute/disks",
            &d.name,
            &d.location,
            &d.tags,
            &d.provisioning,
            false,
        );
    }
    for rc in w.run_commands.values() {
        push(
            &rc.id,
            "Microsoft.Compute/virtualMachines/runCommands",
            &rc.name,
            &rc.location,
            &rc.tags,
            &rc.provisioning,
            false,
        );
    }
    let tm = w.timings();
    let mut process_servers = vec![];
    let mut protected_items = vec![];
    for v in w.vaults.values() {
        for f in &v.fabrics {
            for p in &f.process_servers {
                process_servers.push(InventoryProcessServer {
                    vault: v.name.clone(),
                    fabric: f.name.clone(),
                    id: p.id.clone(),
                    friendly_name: p.friendly_name.clone(),
                    ip_address: p.ip.clone(),
                    health: p.health(now, tm).into(),
                    last_heartbeat: rfc3339(
                        p.last_heartbeat(now, (tm.heartbeat_interval_secs * 1000.0) as i64),
                    ),
                    on_prem: p.on_prem,
                    vm_id: p.vm_key.clone(),
                });
            }
        }
        for i in &v.items {
            protected_items.push(InventoryItem {
                id: i.id.clone(),
                name: i.name.clone(),
                friendly_name: i.friendly_name.clone(),
                state: format!("{:?}", i.state),
                job: i.job.clone(),
            });
        }
    }
    let operations_in_flight = w.ops.values().filter(|o| !o.finished).count();
    Inventory {
        sim_time: rfc3339(now),
        resources,
        process_servers,
        protected_items,
        operations_in_flight,
    }
}

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

pub fn handle(sh: &Shared, ctx: &Ctx) -> Resp {
    let parts: Vec<&str> = ctx.lsegs.iter().skip(1).map(|s| s.as_str()).collect();
    let m = ctx.method.as_str();
    match (m, parts.as_slice()) {
        ("GET", ["health"]) => Resp::json(200, &json!({"status": "ok"})),
        ("GET", ["clock"]) => Resp::json(200, &clock_body(sh)),
        ("POST", ["clock", "advance"]) => match body_json(ctx) {
            Ok(b) => {
                let Some(s) = b.get("seconds").and_then(|v| v.as_f64()) else {
                    return bad("expected {\"seconds\": N}");
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
                    return bad("expected {\"speed\": F > 0}");
                };
                sh.clock.set_speed(s);
                Resp::json(200, &clock_body(sh))
            }
            Err(r) => r,
        },
        ("GET", ["journal"]) => {
            let since = ctx.q("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            Resp::json(200, &json!({"entries": sh.journal.since(since)}))
        }
        ("DELETE", ["journal"]) => {
            sh.journal.clear();
            Resp::empty(204)
        }
        ("GET", ["inventory"]) => {
            let now = sh.clock.now();
            let mut w = sh.world.lock();
            w.tick(now);
            Resp::json(
                200,
                &serde_json::to_value(inventory(&w, now)).unwrap_or(Value::Null),
            )
        }
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
        ("POST" | "PUT", ["scenario"]) => {
            let text = String::from_utf8_lossy(&ctx.body);
            match crate::scenario::Scenario::from_text(&text).and_then(|s| s.validate().map(|_| s))
            {
                Ok(s) => {
                    replace_scenario(sh, s);
                    Resp::json(200, &json!({"status": "loaded"}))
                }
                Err(e) => bad(&e.to_string()),
            }
        }
        ("GET", ["scenario"]) => Resp::json(
            200,
            &serde_json::to_value(&sh.world.lock().scenario).unwrap_or(Value::Null),
        ),
        ("GET", ["env"]) => {
            let env: serde_json::Map<String, Value> = crate::env_for(sh)
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            Resp::json(200, &Value::Object(env))
        }
        ("GET", ["state"]) => Resp::json(
            200,
            &serde_json::to_value(&*sh.world.lock()).unwrap_or(Value::Null),
        ),
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
        _ => Resp::json(
            404,
            &json!({"error": {"code": "NotFound", "message": format!("unknown control endpoint {m} /{}", ctx.segs.join("/"))}}),
        ),
    }
}

pub fn subscription_body(w: &mut World, ctx: &Ctx) -> ArmResult {
    let s = w
        .sub(ctx.seg(1))
        .ok_or_else(|| ArmError::new(404, "SubscriptionNotFound", "not found"))?;
    Ok(Resp::json(
        200,
        &json!({"id": format!("/subscriptions/{}", s.id), "subscriptionId": s.id, "tenantId": s.tenant_id, "displayName": s.display_name, "state": "Enabled"}),
    ))
}

pub fn resource_group_body(w: &mut World, ctx: &Ctx) -> ArmResult {
    let s = w
        .sub(ctx.seg(1))
        .ok_or_else(|| ArmError::new(404, "SubscriptionNotFound", "not found"))?;
    let rg = s
        .resource_groups
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(ctx.seg(3)))
        .ok_or_else(|| {
            ArmError::new(
                404,
                "ResourceGroupNotFound",
                format!("Resource group '{}' could not be found.", ctx.seg(3)),
            )
        })?;
    Ok(Resp::json(
        200,
        &json!({"id": format!("/subscriptions/{}/resourceGroups/{}", s.id, rg.name), "name": rg.name, "type": "Microsoft.Resources/resourceGroups", "location": rg.location, "properties": {"provisioningState": "Succeeded"}}),
    ))
}
