//! Fault storms from the emulator: transient ones are retried to success, permanent ones fail
//! the step with the ARM code and message. On the production DAG builder (moved from
//! `steps/tests`, which ran a hand-copied DAG).

mod support;

use failback_sim::{FaultAction, FaultMatch, FaultRule, FaultTrigger};
use failback_state::{RunState, StepStatus};
use failback_workflows::failback::{run_input, WORKFLOW};
use std::collections::BTreeMap;
use support::*;

/// Submit run `id` of a one-network spec for `env` and wait for its end.
async fn run_one(env: &TestEnv, id: &str) -> (failback_state::RunRecord, failback_engine::Engine) {
    let spec = spec_for(&env.sim, 1, &["vm-app1", "vm-app2"]);
    let eng = engine_at(None, env.clock.clone(), &env.ca_file);
    eng.submit(WORKFLOW, id, run_input(&spec), BTreeMap::new())
        .await
        .unwrap();
    let run = eng.finished(id).await.unwrap();
    (run, eng)
}

fn vm_name(env: &TestEnv, id: &str) -> String {
    let spec = spec_for(&env.sim, 1, &["vm-app1", "vm-app2"]);
    spec.vm_name(id, &spec.networks[0])
}

async fn run_with(
    rules: Vec<FaultRule>,
) -> (TestEnv, failback_state::RunRecord, failback_engine::Engine) {
    let env = start(fast_scenario()).await;
    for r in rules {
        env.sim.add_fault(r).expect("fault");
    }
    export_secrets(&env.sim);
    let (run, eng) = run_one(&env, "f").await;
    (env, run, eng)
}

fn status(code: u16, retry_after: Option<u64>) -> FaultAction {
    FaultAction::Status {
        status: code,
        retry_after,
        code: None,
        message: None,
    }
}

fn rate(r: f64) -> FaultTrigger {
    FaultTrigger {
        rate: Some(r),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_storms_are_retried_to_success() {
    let arm_only = || FaultMatch {
        path_regex: Some("^/subscriptions/".into()),
        ..Default::default()
    };
    let (env, run, _) = run_with(vec![
        FaultRule::new(arm_only(), status(429, Some(2)), rate(0.15)),
        FaultRule::new(arm_only(), status(503, None), rate(0.1)),
        FaultRule::new(arm_only(), FaultAction::Drop, rate(0.05)),
    ])
    .await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    let faults: usize = env.sim.faults().iter().map(|f| f.fired as usize).sum();
    assert!(faults > 5, "the storm fired ({faults} faults)");
    assert!(env.sim.inventory().created().is_empty());
    assert_eq!(
        created(
            &env.sim,
            &format!("virtualMachines/{}?", vm_name(&env, "f"))
        ),
        1,
        "retries did not duplicate the VM"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_allocation_fails_the_step_with_the_arm_code() {
    let (_, run, eng) = run_with(vec![FaultRule::new(
        FaultMatch {
            operation: Some("PUT virtualMachines".into()),
            ..Default::default()
        },
        FaultAction::FailOperation {
            code: "AllocationFailed".into(),
            message: Some("Allocation failed. We do not have sufficient capacity.".into()),
            canceled: false,
        },
        FaultTrigger {
            count: Some(1),
            ..Default::default()
        },
    )])
    .await;
    assert_eq!(run.state, RunState::Failed);
    let steps = eng.store().load_steps("f").unwrap();
    let vm = steps
        .iter()
        .find(|s| s.step_id == "vnet-a/create-vm")
        .unwrap();
    match &vm.status {
        StepStatus::Failed { error } => {
            assert_eq!(error.code, "AllocationFailed");
            assert!(
                error.message.contains("sufficient capacity"),
                "{}",
                error.message
            );
        }
        s => panic!("{s:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_passphrase_fails_registration_without_a_process_server() {
    let env = start(fast_scenario()).await;
    export_secrets(&env.sim);
    std::env::set_var(&secret_vars(env.sim.addr().port())[2], "not-the-passphrase");
    let (run, _) = run_one(&env, "p").await;
    assert_eq!(run.state, RunState::Failed);
    let err = run.error.unwrap_or_default();
    assert!(
        err.contains("RegistrationFailed") && err.contains("passphrase"),
        "{err}"
    );
    assert!(!env
        .sim
        .inventory()
        .process_servers
        .iter()
        .any(|p| p.ip_address == "10.1.0.10"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_rejected_as_expired_are_renewed() {
    // A 400 s token: azure_identity caches it (it refreshes only in the last 5 minutes, on its
    // wall clock). Once the run has made its first ARM request with it, the emulator's clock
    // jumps 500 s, so the cached token is expired there, however fast this machine drives.
    let mut s = fast_scenario();
    s.auth.token_lifetime_secs = 400;
    let env = start(s).await;
    export_secrets(&env.sim);
    let spec = spec_for(&env.sim, 1, &["vm-app1", "vm-app2"]);
    let eng = engine_at(None, env.clock.clone(), &env.ca_file);
    eng.submit(WORKFLOW, "t", run_input(&spec), BTreeMap::new())
        .await
        .unwrap();
    let arm_request = || {
        env.sim
            .journal()
            .iter()
            .any(|e| e.path.starts_with("/subscriptions/"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !arm_request() {
        assert!(std::time::Instant::now() < deadline, "no ARM request");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    env.sim.advance(500.0);
    let run = eng.finished("t").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    let expired = env
        .sim
        .journal()
        .iter()
        .filter(|e| e.error_code.as_deref() == Some("ExpiredAuthenticationToken"))
        .count();
    let tokens = env
        .sim
        .journal()
        .iter()
        .filter(|e| e.path.contains("/oauth2/v2.0/token"))
        .count();
    assert!(
        expired > 0 && tokens > 1,
        "{expired} expired-token answers, {tokens} token requests"
    );
}
