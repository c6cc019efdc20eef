//! A whole two-network failback through the engine and the production DAG builder, the real
//! client and the emulator over HTTPS: everything created once, registered once, and nothing
//! left behind. (Moved from `steps/tests`, which ran a hand-copied DAG.)

mod support;

use failback_state::RunState;
use failback_workflows::failback::{run_input, WORKFLOW};
use std::collections::BTreeMap;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_network_failback_creates_once_and_leaves_nothing() {
    let env = start(fast_scenario()).await;
    export_secrets(&env.sim);
    let spec = spec_for(&env.sim, 2, &["vm-app1", "vm-app2"]);
    let eng = engine_at(None, env.clock.clone(), &env.ca_file);
    eng.submit(WORKFLOW, "happy", run_input(&spec), BTreeMap::new())
        .await
        .unwrap();
    let run = eng.finished("happy").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    for net in &spec.networks {
        let vm = spec.vm_name("happy", net);
        let nic = spec.nic_name("happy", net);
        for what in [
            format!("networkInterfaces/{nic}?"),
            format!("virtualMachines/{vm}?"),
            format!("virtualMachines/{vm}/runCommands/failback-register"),
        ] {
            assert_eq!(count(&env.sim, "PUT", &what), 1, "PUT {what}");
        }
    }
    let inv = env.sim.inventory();
    assert!(inv.created().is_empty(), "left behind: {:?}", inv.created());
    let ps: Vec<_> = inv
        .process_servers
        .iter()
        .filter(|p| p.ip_address == "10.1.0.10" || p.ip_address == "10.2.0.10")
        .collect();
    assert_eq!(ps.len(), 2, "one registration per network: {ps:?}");
    let out = eng.store().load_steps("happy").unwrap();
    let teardown = out.iter().find(|s| s.step_id == "vnet-a/teardown").unwrap();
    let text = format!("{:?}", teardown.status);
    assert!(text.contains("Unregister-ASRComponent"), "{text}");
}
