//! JSON logs of a whole run: every ARM request line carries its ids, status and operation,
//! and sits inside the step's span, so one `step_id` finds the Azure request ids to quote.
//! On the production DAG builder (moved from `steps/tests`).

mod support;

use failback_state::RunState;
use failback_workflows::failback::{run_input, WORKFLOW};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The innermost `step` span's `step_id` of a JSON log line, from its span list.
fn step_id(line: &Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .rev()
        .find(|s| s["name"] == "step")?
        .get("step_id")?
        .as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm_request_lines_carry_ids_and_the_step_span() {
    let json = Capture::default();
    let j = json.clone();
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(
            "info,failback_steps=debug",
        ))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(move || j.clone()),
        );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let env = start(fast_scenario()).await;
    export_secrets(&env.sim);
    let spec = spec_for(&env.sim, 1, &["vm-app1", "vm-app2"]);
    let eng = engine_at(
        Some(&env.dir.path().join("store")),
        env.clock.clone(),
        &env.ca_file,
    );
    eng.submit(WORKFLOW, "logs", run_input(&spec), BTreeMap::new())
        .await
        .unwrap();
    let run = eng.finished("logs").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    eng.shutdown(std::time::Duration::from_secs(5)).await;

    let bytes = json.0.lock().unwrap().clone();
    let lines: Vec<Value> = String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "arm request")
        .collect();
    assert!(!requests.is_empty(), "no ARM request lines");
    for r in &requests {
        let f = &r["fields"];
        for field in ["op", "status", "client_request_id", "request_id"] {
            assert!(!f[field].is_null(), "no {field}: {r}");
        }
    }
    let in_step = requests
        .iter()
        .filter(|r| step_id(r).is_some() && r["fields"]["request_id"].as_str() != Some(""))
        .count();
    assert!(
        in_step > 0,
        "no ARM request line with both a step_id and a request id"
    );
    // Non-2xx answers are logged at info with the same fields.
    for r in &requests {
        let status = r["fields"]["status"].as_u64().unwrap_or(0);
        let expected = if (200..300).contains(&status) {
            "DEBUG"
        } else {
            "INFO"
        };
        assert_eq!(r["level"], expected, "{r}");
    }
    eprintln!(
        "{} ARM request lines, {in_step} inside a step span with a request id; {} non-2xx",
        requests.len(),
        requests.iter().filter(|r| r["level"] == "INFO").count()
    );
}
