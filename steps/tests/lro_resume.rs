//! A step that checkpointed its poll URL resumes by polling: the emulator's journal shows one
//! PUT, however often the step is woken (or re-executed after a crash).

mod support;

use failback_engine::{Step, StepContext, StepOutcome};
use failback_steps::steps::{CreateNic, CreateVm};
use std::sync::Arc;
use support::*;

fn ctx(env: &TestEnv, step: &str, attempt: u32, state: Option<serde_json::Value>) -> StepContext {
    let mut c = StepContext::for_test(step, serde_json::Value::Null, env.clock.clone());
    c.run_id = "lro".into();
    c.attempt = attempt;
    c.poll_state = state;
    c
}

async fn drive(env: &TestEnv, step: &dyn Step, id: &str) -> (serde_json::Value, u32) {
    let mut state = None;
    for attempt in 1..200 {
        match step.execute(&ctx(env, id, attempt, state.clone())).await {
            StepOutcome::Done(out) => return (out, attempt),
            StepOutcome::Wait {
                until, state: s, ..
            } => {
                assert!(
                    s.get("lro").is_some(),
                    "the poll URL is in the checkpoint: {s}"
                );
                env.clock.sleep_until(until).await;
                state = Some(s);
            }
            other => panic!("{id}: unexpected {other:?}"),
        }
    }
    panic!("{id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_resumes_from_the_checkpointed_url_without_a_second_put() {
    let env = start(fast_scenario()).await;
    let nic = CreateNic {
        azure: env.azure.clone(),
        net: net_a(),
    };
    let (out, attempts) = drive(&env, &nic, "vnet-a/create-nic").await;
    assert!(
        out["nic_id"]
            .as_str()
            .unwrap_or("")
            .ends_with("ps-vnet-a-t1-nic"),
        "{out}"
    );
    assert!(attempts >= 2, "the NIC PUT is asynchronous in the emulator");
    let vm = CreateVm {
        azure: env.azure.clone(),
        net: net_a(),
        vm: vm_spec(),
    };
    let (_, attempts) = drive(&env, &vm, "vnet-a/create-vm").await;
    assert!(attempts >= 2);
    assert_eq!(
        count(&env.sim, "PUT", "networkInterfaces/ps-vnet-a-t1-nic"),
        1
    );
    assert_eq!(count(&env.sim, "PUT", "virtualMachines/ps-vnet-a-t1?"), 1);
    // Polls went to the operation URLs, not to new PUTs.
    let polls = env
        .sim
        .journal()
        .iter()
        .filter(|e| e.method == "GET" && e.path.to_ascii_lowercase().contains("/operations/"))
        .count();
    assert!(polls >= 2, "{polls} operation polls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_step_re_executed_after_a_lost_checkpoint_does_not_put_again() {
    let env = start(fast_scenario()).await;
    let nic = CreateNic {
        azure: env.azure.clone(),
        net: net_a(),
    };
    drive(&env, &nic, "vnet-a/create-nic").await;
    let vm = Arc::new(CreateVm {
        azure: env.azure.clone(),
        net: net_a(),
        vm: vm_spec(),
    });
    // First attempt: the PUT goes out, then the process "dies" (its Wait is never recorded).
    let first = vm.execute(&ctx(&env, "vnet-a/create-vm", 1, None)).await;
    assert!(matches!(first, StepOutcome::Wait { .. }), "{first:?}");
    // The re-execution starts without a poll state, as after a crash at after-put.
    let (_, _) = drive(&env, vm.as_ref(), "vnet-a/create-vm").await;
    assert_eq!(
        count(&env.sim, "PUT", "virtualMachines/ps-vnet-a-t1?"),
        1,
        "no second PUT (and no second password send)"
    );
}
