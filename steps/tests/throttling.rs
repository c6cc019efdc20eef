//! A Retry-After holds every read of the subscription, including a concurrent read of the same
//! resource: two `register` branches read one Site Recovery fabric, and the one that is not
//! answered 429 must not reach ARM before the Retry-After has passed (issue 18).
//!
//! The client runs on a manual clock, so "before it expires" is decided by the test, not by
//! how fast this machine is.

mod support;

use failback_engine::{Clock, ManualClock};
use failback_sim::{FaultAction, FaultMatch, FaultRule, FaultTrigger};
use failback_steps::arm::{ArmClient, ArmError, HttpRetry};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const FABRIC: &str = "/replicationFabrics/cs-fabric";

fn fabric_gets(env: &TestEnv) -> usize {
    env.sim
        .journal()
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains(FABRIC))
        .count()
}

/// Wait (bounded) until `cond` holds; the tasks under test run on other threads.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < Duration::from_secs(10), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn read_fabric(arm: Arc<ArmClient>) -> Result<u16, ArmError> {
    let path = format!(
        "{}{FABRIC}",
        arm.sub_path(
            "/resourceGroups/rg-asr/providers/Microsoft.RecoveryServices/vaults/vault-failback"
        )
    );
    let url = arm.url(&path, &arm.api().site_recovery)?;
    arm.get(url, "GET replicationFabric")
        .await
        .map(|r| r.status)
}

/// `attempts` in-call attempts; the first fabric read is answered 429 with Retry-After 2.
async fn throttled_client(attempts: u32) -> (TestEnv, Arc<ArmClient>, ManualClock) {
    let env = start(fast_scenario()).await;
    env.sim
        .add_fault(FaultRule::new(
            FaultMatch {
                method: Some("GET".into()),
                path: Some(FABRIC.into()),
                ..Default::default()
            },
            FaultAction::Status {
                status: 429,
                retry_after: Some(2),
                code: None,
                message: None,
            },
            FaultTrigger {
                nth: Some(1),
                count: Some(1),
                ..Default::default()
            },
        ))
        .expect("fault");
    let clock = ManualClock::new(1_000_000);
    let mut config = client_config(&env.sim, &env.ca_file);
    config.retry = HttpRetry {
        max_attempts: attempts,
        ..config.retry
    };
    let arm = ArmClient::new(config, Arc::new(clock.clone()) as Arc<dyn Clock>).expect("client");
    (env, Arc::new(arm), clock)
}

/// The caller that got the 429 does not retry in-call (its step retries on a durable timer):
/// the pause must still hold the other read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_read_of_a_throttled_resource_waits_out_retry_after() {
    let (env, arm, clock) = throttled_client(1).await;
    let a = tokio::spawn(read_fabric(arm.clone()));
    let b = tokio::spawn(read_fabric(arm.clone()));
    // One of the two is answered 429; the other must then be held, not sent.
    until("one read answered 429", || {
        a.is_finished() || b.is_finished()
    })
    .await;
    let (done, waiting) = if a.is_finished() { (a, b) } else { (b, a) };
    let err = done
        .await
        .expect("task")
        .expect_err("the first read is throttled");
    assert_eq!(err.status, Some(429));
    until("the other read is held by the limiter", || {
        arm.limiter().held() == 1
    })
    .await;
    assert_eq!(fabric_gets(&env), 1, "a read went out inside Retry-After");
    clock.advance(Duration::from_millis(1_999));
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    assert_eq!(fabric_gets(&env), 1, "a read went out inside Retry-After");
    clock.advance(Duration::from_millis(1));
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the held read goes once Retry-After has passed")
        .expect("task")
        .expect("the held read succeeds");
    assert_eq!(status, 200);
    assert_eq!(fabric_gets(&env), 2);
}

/// Both callers retry in-call: the throttled one and the other both wait 2 s, and neither
/// read reaches ARM before then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_in_call_and_the_concurrent_read_both_wait() {
    let (env, arm, clock) = throttled_client(4).await;
    let a = tokio::spawn(read_fabric(arm.clone()));
    let b = tokio::spawn(read_fabric(arm.clone()));
    until("the 429 is in", || fabric_gets(&env) == 1).await;
    until("the other read is held by the limiter", || {
        arm.limiter().held() >= 1
    })
    .await;
    clock.advance(Duration::from_millis(1_999));
    tokio::task::yield_now().await;
    assert_eq!(fabric_gets(&env), 1, "a read went out inside Retry-After");
    clock.advance(Duration::from_millis(2));
    for t in [a, b] {
        let status = tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .expect("reads go once Retry-After has passed")
            .expect("task")
            .expect("read succeeds");
        assert_eq!(status, 200);
    }
    assert_eq!(
        fabric_gets(&env),
        3,
        "the retry and the other read, once each"
    );
}
