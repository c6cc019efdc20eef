//! `/v1/health` and `/metrics` tell the truth: a store whose writes fail (injected with
//! `FailingStore`) turns health into 503 naming the cause, and the metric into 0.

use super::api::AppState;
use super::metrics::Metrics;
use super::router::router;
use axum::http::{Request, StatusCode};
use failback_engine::testkit::{registry, Journal};
use failback_engine::{CrashPoints, Engine, EngineConfig, SystemClock};
use failback_state::{FailingStore, MemStore, StateStore};
use std::sync::Arc;
use std::time::Duration;

async fn get(state: &Arc<AppState>, path: &str) -> (StatusCode, String) {
    use tower::ServiceExt as _;
    let req = Request::get(path)
        .body(axum::body::Body::empty())
        .expect("request");
    let Ok(resp) = router(state.clone()).oneshot(req).await;
    let status = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_write_makes_health_503_with_its_cause() {
    let failing = Arc::new(FailingStore::new(Arc::new(MemStore::new())));
    let engine = Engine::new(
        StateStore::new(failing.clone()),
        registry(Journal::memory()),
        Arc::new(SystemClock),
        CrashPoints::none(),
        EngineConfig::default(),
    );
    let state = Arc::new(AppState::new(
        crate::service::local::LocalRuns::new(engine.clone()),
        Metrics::start(&engine, None),
    ));
    let (status, body) = get(&state, "/v1/health").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"healthy\":true"), "{body}");

    failing.fail_after(0, libc::EIO);
    let input = serde_json::json!({ "branches": ["a"], "wait_ms": 1 });
    let refused = engine
        .submit("branching", "r1", input, Default::default())
        .await;
    assert!(refused.is_err());
    tokio::time::timeout(Duration::from_secs(5), engine.fatal())
        .await
        .expect("fatal");

    let (status, body) = get(&state, "/v1/health").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["healthy"], false);
    assert_eq!(v["cause"], "store_write_failed");
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("EIO") && error.contains("check the disk"),
        "{error}"
    );
    let (_, metrics) = get(&state, "/metrics").await;
    assert!(
        metrics.contains("\nfailback_engine_healthy 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("failback_engine_unhealthy{cause=\"store_write_failed\"} 1"),
        "{metrics}"
    );
}
