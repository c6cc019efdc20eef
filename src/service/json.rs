//! The JSON the CLI prints (`-o json`): one document per command, or one event per line while
//! following. Every document carries `schema_version`; every time is an RFC 3339 UTC string
//! with milliseconds (`2026-11-24T12:04:05.123Z`). The schema is in docs/cli.md.

use super::types::{RunList, RunStatus};
use crate::render;
use failback_engine::planner::Plan;
use failback_state::EventRecord;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The version of the printed JSON; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = render::time::fmt_utc(ms);
    format!("{}.{:03}Z", secs.trim_end_matches('Z'), ms % 1000)
}

fn is_time_key(k: &str) -> bool {
    k == "at" || k == "now" || k == "deadline" || k.ends_with("_at")
}

/// Every epoch-millisecond time in `v` (by key: `at`, `now`, `deadline`, `*_at`) as RFC 3339.
fn times_as_rfc3339(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match x {
                    Value::Number(n) if is_time_key(k) => {
                        if let Some(ms) = n.as_u64() {
                            *x = Value::String(rfc3339_ms(ms));
                        }
                    }
                    _ => times_as_rfc3339(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(times_as_rfc3339),
        _ => {}
    }
}

fn value<T: Serialize>(t: &T) -> Value {
    // Plain data records cannot fail to serialise; should one ever, the output says so.
    let mut v = serde_json::to_value(t).unwrap_or_else(|e| json!({ "error": e.to_string() }));
    times_as_rfc3339(&mut v);
    v
}

fn document(fields: Value) -> String {
    let mut m = Map::new();
    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    format!("{:#}", Value::Object(m))
}

/// `status RUN -o json`.
pub fn status(s: &RunStatus) -> String {
    document(json!({
        "run": value(&s.run),
        "steps": value(&s.steps),
        "edges": value(&s.edges),
    }))
}

/// `list -o json` (`status -o json` without a run).
pub fn list(l: &RunList) -> String {
    document(json!({ "runs": value(&l.runs) }))
}

/// One event, with its `description` in words.
pub fn event(e: &EventRecord) -> Value {
    let mut v = value(e);
    if let Value::Object(m) = &mut v {
        m.insert("description".into(), Value::String(render::event_text(e)));
    }
    v
}

/// One event as a line of `-o json` while following.
pub fn event_line(e: &EventRecord) -> String {
    let mut v = event(e);
    if let Value::Object(m) = &mut v {
        m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    }
    v.to_string()
}

/// `history RUN -o json`.
pub fn history(run_id: &str, events: &[EventRecord]) -> String {
    let list: Vec<Value> = events.iter().map(event).collect();
    document(json!({ "run_id": run_id, "events": list }))
}

/// `plan -o json`.
pub fn plan(p: &Plan) -> String {
    let v: Value = serde_json::from_str(&render::plan::plan_json(p)).unwrap_or(Value::Null);
    document(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_become_rfc3339_and_others_stay() {
        let mut v = json!({"at": 1_764_000_000_123u64, "seq": 7, "x": {"wake_at": 0, "deadline": null},
                           "list": [{"created_at": 86_400_000u64}]});
        times_as_rfc3339(&mut v);
        assert_eq!(v["at"], "2025-11-24T16:00:00.123Z");
        assert_eq!(v["seq"], 7);
        assert_eq!(v["x"]["wake_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["x"]["deadline"], Value::Null);
        assert_eq!(v["list"][0]["created_at"], "1970-01-02T00:00:00.000Z");
    }
}
