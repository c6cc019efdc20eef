//! No step adopts what it did not make: a VM (or NIC) with this run's deterministic name but
//! another run's tag is a collision — `validate` blocks, `create-vm` / `create-nic` fail rather
//! than take it over, and nothing is sent to it.

mod support;

use failback_engine::{Step, StepContext, StepOutcome};
use failback_steps::steps::{CreateNic, CreateVm};
use support::*;

fn ctx(env: &TestEnv, run: &str, step: &str, state: Option<serde_json::Value>) -> StepContext {
    let mut c = StepContext::for_test(step, serde_json::Value::Null, env.clock.clone());
    c.run_id = run.into();
    c.poll_state = state;
    c
}

async fn drive(env: &TestEnv, step: &dyn Step, run: &str, id: &str) {
    let mut state = None;
    for _ in 0..200 {
        match step.execute(&ctx(env, run, id, state.take())).await {
            StepOutcome::Done(_) => return,
            StepOutcome::Wait {
                until, state: s, ..
            } => {
                env.clock.sleep_until(until).await;
                state = Some(s);
            }
            other => panic!("{id}: unexpected {other:?}"),
        }
    }
    panic!("{id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_and_nic_of_this_runs_name_made_by_another_run_are_collisions() {
    let env = start(fast_scenario()).await;
    let nic = CreateNic {
        azure: env.azure.clone(),
        net: net_a(),
    };
    let vm = CreateVm {
        azure: env.azure.clone(),
        net: net_a(),
        vm: vm_spec(),
    };
    // Another run made them under the same names (tagged failback-run = other).
    drive(&env, &nic, "other", "vnet-a/create-nic").await;
    drive(&env, &vm, "other", "vnet-a/create-vm").await;
    let writes_before = writes(&env.sim).len();

    for (step, id, kind) in [
        (&nic as &dyn Step, "vnet-a/create-nic", "NIC"),
        (&vm as &dyn Step, "vnet-a/create-vm", "VM"),
    ] {
        match step.execute(&ctx(&env, "t1", id, None)).await {
            StepOutcome::Fail(f) => {
                assert_eq!(f.code, "ResourceNameCollision", "{f:?}");
                assert!(f.message.contains(&format!("{kind} ps-vnet-a-t1")), "{f:?}");
                assert!(f.message.contains("made by failback run other"), "{f:?}");
            }
            other => panic!("{id} took over another run's {kind}: {other:?}"),
        }
    }
    assert_eq!(
        writes(&env.sim).len(),
        writes_before,
        "a write reached the other run's resources"
    );

    let validate = validate_step(&env, vec![net_a()], vec![]);
    match validate.execute(&ctx(&env, "t1", "validate", None)).await {
        StepOutcome::Fail(f) => {
            assert!(
                f.message.contains("NIC ps-vnet-a-t1-nic exists already"),
                "{f:?}"
            );
            assert!(
                f.message.contains("VM ps-vnet-a-t1 exists already"),
                "{f:?}"
            );
        }
        other => panic!("validate let the collision through: {other:?}"),
    }
    // The run that made them is not blocked by its own resources.
    match validate
        .execute(&ctx(&env, "other", "validate", None))
        .await
    {
        StepOutcome::Done(_) => {}
        other => panic!("validate of the owning run: {other:?}"),
    }
}
