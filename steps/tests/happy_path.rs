//! A whole two-network failback through the engine, the real client and the emulator over
//! HTTPS: everything created once, registered once, and nothing left behind.

mod support;

use failback_state::{RunState, StateStore};
use std::collections::BTreeMap;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_network_failback_creates_once_and_leaves_nothing() {
    let env = start(fast_scenario()).await;
    let reg = registration(&env, CS_PASSPHRASE);
    let eng = engine(&env, vec![net_a(), net_b()], reg, StateStore::in_memory());
    eng.submit(
        "failback-test",
        "happy",
        serde_json::json!({}),
        BTreeMap::new(),
    )
    .await
    .unwrap();
    let run = eng.finished("happy").await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    for (method, what) in [
        ("PUT", "networkInterfaces/ps-vnet-a-t1-nic"),
        ("PUT", "networkInterfaces/ps-vnet-b-t1-nic"),
        ("PUT", "virtualMachines/ps-vnet-a-t1?"),
        ("PUT", "virtualMachines/ps-vnet-b-t1?"),
        (
            "PUT",
            "virtualMachines/ps-vnet-a-t1/runCommands/failback-register",
        ),
        (
            "PUT",
            "virtualMachines/ps-vnet-b-t1/runCommands/failback-register",
        ),
    ] {
        assert_eq!(count(&env.sim, method, what), 1, "{method} {what}");
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
