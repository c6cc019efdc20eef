//! An operation-status URL that answers 404 (ARM forgets operation records; a restarted
//! service may too) does not fail the step: the step reads the resource. A create whose
//! resource is there and Succeeded is done; a delete whose resource is absent is done. Whole
//! one-network runs through the production DAG end as they would without the 404s. (The
//! step-level case of an absent resource: `steps/tests/lost_operations.rs`.)

mod support;

use failback_engine::{Clock, ScaledClock};
use failback_sim::{FaultAction, FaultMatch, FaultRule, FaultTrigger, Sim, SimConfig};
use failback_state::{RunRecord, RunState};
use failback_workflows::failback::{run_input, WORKFLOW};
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

/// A one-network failback `id` through the production DAG; returns the finished run and the
/// names of its NIC and VM.
async fn run(env: &TestEnv, id: &str) -> (RunRecord, String, String) {
    export_secrets(&env.sim);
    let spec = spec_for(&env.sim, 1, &["vm-app1", "vm-app2"]);
    let eng = engine_at(None, env.clock.clone(), &env.ca_file);
    eng.submit(WORKFLOW, id, run_input(&spec), BTreeMap::new())
        .await
        .expect("submit");
    let net = &spec.networks[0];
    let names = (spec.nic_name(id, net), spec.vm_name(id, net));
    (eng.finished(id).await.expect("finished"), names.0, names.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_status_404_on_creates_and_deletes_is_reconciled_by_reading_the_resource() {
    let env = start(fast_scenario()).await;
    let rule = env
        .sim
        .add_fault(FaultRule::new(operation_polls(), not_found(), always()))
        .expect("fault");
    let (run, nic, vm) = run(&env, "lost").await;
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
        count(&env.sim, "PUT", &format!("networkInterfaces/{nic}?")),
        1
    );
    assert_eq!(count(&env.sim, "PUT", &format!("virtualMachines/{vm}?")), 1);
    // The deletes (VM, then whatever is left) ended with nothing there.
    assert!(count(&env.sim, "DELETE", &format!("virtualMachines/{vm}")) >= 1);
    let inv = env.sim.inventory();
    assert!(inv.created().is_empty(), "left behind: {:?}", inv.created());
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
    // The restarted emulator listens on the same port, so the secrets' variables still hold.
    export_secrets(&sim);
    let spec = spec_for(&sim, 1, &["vm-app1", "vm-app2"]);
    let vm = spec.vm_name("restart", &spec.networks[0]);
    let eng = engine_at(None, clock, &ca_file);
    eng.submit(WORKFLOW, "restart", run_input(&spec), BTreeMap::new())
        .await
        .expect("submit");
    let t0 = Instant::now();
    while created(&sim, &format!("virtualMachines/{vm}?")) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no VM PUT");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sim.shutdown().await;
    let sim = Sim::start(config(addr)).await.expect("restart");
    let run = eng.finished("restart").await.expect("finished");
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    assert_eq!(
        count(&sim, "PUT", &format!("virtualMachines/{vm}?")),
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
