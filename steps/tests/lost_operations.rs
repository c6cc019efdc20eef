//! An operation-status URL that answers 404 (ARM forgets operation records; a restarted
//! service may too) does not fail the step: the step reads the resource. Here at the step
//! level: a create whose resource is absent sends its PUT again. Whole runs through the
//! production DAG: `workflows/tests/lost_operations.rs`.

mod support;

use failback_engine::{Step, StepContext, StepOutcome};
use failback_sim::{FaultAction, FaultMatch, FaultRule, FaultTrigger};
use failback_steps::steps::CreateNic;
use support::*;

fn not_found() -> FaultAction {
    FaultAction::Status {
        status: 404,
        retry_after: None,
        code: Some("NotFound".into()),
        message: Some("The operation could not be found.".into()),
    }
}

fn ctx(env: &TestEnv, attempt: u32, state: Option<serde_json::Value>) -> StepContext {
    let mut c = StepContext::for_test(
        "vnet-a/create-nic",
        serde_json::Value::Null,
        env.clock.clone(),
    );
    c.run_id = "t1".into();
    c.attempt = attempt;
    c.poll_state = state;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_create_whose_resource_is_absent_is_sent_again() {
    let env = start(fast_scenario()).await;
    let nic = CreateNic {
        azure: env.azure.clone(),
        net: net_a(),
    };
    let StepOutcome::Wait { state, until, .. } = nic.execute(&ctx(&env, 1, None)).await else {
        panic!("the NIC PUT is asynchronous in the emulator");
    };
    env.clock.sleep_until(until).await;
    // The next poll is forgotten, and the read that follows finds no NIC (as when the service
    // lost the request with its record).
    let once = FaultTrigger {
        count: Some(1),
        ..Default::default()
    };
    for path in [
        "/providers/Microsoft\\.Network/locations/[^/]+/operations/",
        "/networkInterfaces/ps-vnet-a-t1-nic\\?",
    ] {
        let m = FaultMatch {
            method: Some("GET".into()),
            path_regex: Some(path.into()),
            ..Default::default()
        };
        env.sim
            .add_fault(FaultRule::new(m, not_found(), once.clone()))
            .expect("fault");
    }
    let again = nic.execute(&ctx(&env, 1, Some(state))).await;
    assert!(
        matches!(&again, StepOutcome::Restart { reason, .. } if reason.contains("does not exist")),
        "{again:?}"
    );
    // The restart has no poll state: it sends the PUT again, then follows it to the end.
    let mut state = None;
    let out = loop {
        match nic.execute(&ctx(&env, 2, state.take())).await {
            StepOutcome::Done(out) => break out,
            StepOutcome::Wait {
                until, state: s, ..
            } => {
                env.clock.sleep_until(until).await;
                state = Some(s);
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(
        out["nic_id"]
            .as_str()
            .unwrap_or("")
            .ends_with("ps-vnet-a-t1-nic"),
        "{out}"
    );
    assert_eq!(
        count(&env.sim, "PUT", "networkInterfaces/ps-vnet-a-t1-nic"),
        2,
        "the PUT was sent again"
    );
    assert_eq!(created(&env.sim, "networkInterfaces/ps-vnet-a-t1-nic"), 1);
}
