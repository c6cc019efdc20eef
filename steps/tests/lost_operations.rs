//! An operation-status URL that answers 404 (ARM forgets operation records; a restarted
//! service may too) does not fail the step: the step reads the resource. A create whose
//! resource is there and Succeeded is done, one whose resource is absent sends its PUT again;
//! a delete whose resource is absent is done. The runs end as they would without the 404s.

mod support;

use failback_engine::{Clock, ScaledClock, Step, StepContext, StepOutcome};
use failback_sim::{FaultAction, FaultMatch, FaultRule, FaultTrigger, Sim, SimConfig};
use failback_state::{RunState, StateStore};
use failback_steps::steps::CreateNic;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

fn not_found() -> FaultAction {
    FaultAction::Status {
        status: 404,
        retry_after: None,
        code: Some("NotFound".into()),
        message: Some("The operation could not be found.".into()),
    }
}

/// Every GET of an operation-status or operation-result URL (Compute and Network).
fn operation_polls() -> FaultMatch {
    FaultMatch {
        method: Some("GET".into()),
        path_regex: Some(
            "/providers/Microsoft\\.(Compute|Network)/locations/[^/]+/operation".into(),
        ),
        ..Default::default()
    }
}

fn always() -> FaultTrigger {
    FaultTrigger {
        count: Some(100_000),
        ..Default::default()
    }
}

async fn run(env: &TestEnv, id: &str) -> failback_state::RunRecord {
    let reg = registration(env, CS_PASSPHRASE);
    let eng = engine(env, vec![net_a()], reg, StateStore::in_memory());
    eng.submit("failback-test", id, serde_json::json!({}), BTreeMap::new())
        .await
        .expect("submit");
    eng.finished(id).await.expect("finished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_status_404_on_creates_and_deletes_is_reconciled_by_reading_the_resource() {
    let env = start(fast_scenario()).await;
    let rule = env
        .sim
        .add_fault(FaultRule::new(operation_polls(), not_found(), always()))
        .expect("fault");
    let run = run(&env, "lost").await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    let fired = env
        .sim
        .faults()
        .iter()
        .find(|f| f.id == rule)
        .map_or(0, |f| f.fired);
    assert!(
        fired >= 4,
        "the creates and deletes were polled into 404s ({fired})"
    );
    // The creates were read, not sent again: one PUT each.
    assert_eq!(
        count(&env.sim, "PUT", "networkInterfaces/ps-vnet-a-t1-nic"),
        1
    );
    assert_eq!(count(&env.sim, "PUT", "virtualMachines/ps-vnet-a-t1?"), 1);
    // The deletes (VM, then whatever is left) ended with nothing there.
    assert!(count(&env.sim, "DELETE", "virtualMachines/ps-vnet-a-t1") >= 1);
    let inv = env.sim.inventory();
    assert!(inv.created().is_empty(), "left behind: {:?}", inv.created());
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

/// The emulator stops while the VM's creation is in flight and starts again from its state
/// file on the same address. Whether it kept the operation or not, the run completes, creates
/// the VM once and leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_restarted_mid_operation_and_the_run_completes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut scenario = fast_scenario();
    scenario.timings.vm_create_secs = 900.0; // ~0.9 s real: room to stop it mid-way
    let config = |listen: SocketAddr| SimConfig {
        listen,
        scenario: scenario.clone(),
        clock_speed: SPEED,
        state_file: Some(dir.path().join("emulator.json")),
        tls: true,
    };
    let sim = Sim::start(config(SocketAddr::from(([127, 0, 0, 1], 0))))
        .await
        .expect("sim");
    let addr = sim.addr();
    let ca_file = dir.path().join("ca.pem");
    sim.write_ca(&ca_file).expect("ca");
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(sim.now_ms() as u64, SPEED));
    std::env::set_var("FAILBACK_TEST_PS_PASSWORD", PS_PASSWORD);
    let env = TestEnv {
        azure: azure_for(&sim, &ca_file, clock.clone()),
        sim,
        clock,
        dir: tempfile::tempdir().expect("tempdir"),
        ca_file,
    };
    let reg = registration(&env, CS_PASSPHRASE);
    let eng = engine(&env, vec![net_a()], reg, StateStore::in_memory());
    eng.submit(
        "failback-test",
        "restart",
        serde_json::json!({}),
        BTreeMap::new(),
    )
    .await
    .expect("submit");
    let t0 = Instant::now();
    while created(&env.sim, "virtualMachines/ps-vnet-a-t1?") == 0 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no VM PUT");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let TestEnv { sim, .. } = env;
    sim.shutdown().await;
    let sim = Sim::start(config(addr)).await.expect("restart");
    let run = eng.finished("restart").await.expect("finished");
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    assert_eq!(
        count(&sim, "PUT", "virtualMachines/ps-vnet-a-t1?"),
        0,
        "no second VM PUT after the restart"
    );
    assert!(
        sim.inventory().created().is_empty(),
        "{:?}",
        sim.inventory().created()
    );
    sim.shutdown().await;
}
