//! After a whole run on a real store with debug logging, neither the store's bytes nor any
//! log line contains a secret (client secret, admin password, CS passphrase). On the
//! production DAG builder (moved from `steps/tests`).

mod support;

use failback_state::RunState;
use failback_workflows::failback::{run_input, WORKFLOW};
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

fn read_all(dir: &std::path::Path, out: &mut Vec<u8>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            read_all(&p, out);
        } else {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_store_bytes_or_logs() {
    let text = Capture::default();
    let json = Capture::default();
    let (t, j) = (text.clone(), json.clone());
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("debug"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || t.clone())
                .with_ansi(false),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(move || j.clone()),
        );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let env = start(fast_scenario()).await;
    export_secrets(&env.sim);
    let [client_secret, _, passphrase] = secret_values(&env.sim);
    let spec = spec_for(&env.sim, 1, &["vm-app1", "vm-app2"]);
    let store_dir = env.dir.path().join("store");
    {
        let eng = engine_at(Some(&store_dir), env.clock.clone(), &env.ca_file);
        eng.submit(WORKFLOW, "s", run_input(&spec), BTreeMap::new())
            .await
            .unwrap();
        let run = eng.finished("s").await.unwrap();
        assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
        eng.shutdown(std::time::Duration::from_secs(5)).await;
    }
    let mut bytes = Vec::new();
    read_all(&store_dir, &mut bytes);
    let logs_text = text.0.lock().unwrap().clone();
    let logs_json = json.0.lock().unwrap().clone();
    assert!(
        logs_text.len() > 1000,
        "debug logging captured ({} bytes)",
        logs_text.len()
    );
    assert!(
        String::from_utf8_lossy(&logs_text).contains("x-ms-request-id")
            || String::from_utf8_lossy(&logs_text).contains("request_id")
    );
    for (name, secret) in [
        ("client secret", client_secret.as_str()),
        ("admin password", PS_PASSWORD),
        ("passphrase", passphrase.as_str()),
    ] {
        for (what, hay) in [
            ("store", &bytes),
            ("text logs", &logs_text),
            ("json logs", &logs_json),
        ] {
            assert!(
                !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the {name} appears in the {what}"
            );
        }
    }
}
