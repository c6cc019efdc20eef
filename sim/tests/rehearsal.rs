//! Rehearsal plumbing: persistence across a restart, the binary and its printed environment.

mod support;
use failback_sim::{Sim, SimConfig};
use std::io::{BufRead, BufReader};
use support::*;

#[tokio::test]
async fn state_file_survives_a_restart_mid_rehearsal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim-state.json");
    let cfg = SimConfig {
        scenario: scenario(),
        state_file: Some(path.clone()),
        ..Default::default()
    };
    let sim = Sim::start(cfg.clone()).await.unwrap();
    let t = T::attach(sim).await;
    let ps = t.deploy_registered_ps("ps1", "vnet-a", "10.1.0.10").await;
    let before = t.sim.now_ms();
    let token = t.token.clone();
    t.sim.shutdown().await;
    assert!(path.exists());
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(
        !raw.contains("Sim-Passw0rd!x"),
        "admin password never persisted"
    );

    let sim = Sim::start(cfg).await.unwrap();
    assert!(sim.now_ms() >= before, "sim time resumes, not reset");
    let mut t = T::attach(sim).await;
    t.token = token; // tokens survive too
    let vm = t
        .get(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
        .await;
    assert_eq!(vm.status, 200);
    assert_eq!(vm.body["properties"]["provisioningState"], "Succeeded");
    let again = t.azure_process_servers().await;
    assert_eq!(again[0]["id"], ps["id"]);
    assert_eq!(
        t.sim.inventory().created().len(),
        5,
        "vm, nic, 2 disks, run command"
    );
    t.sim.shutdown().await;
}

#[tokio::test]
async fn binary_prints_endpoints_and_environment_and_stops_on_sigterm() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args(["--listen", "127.0.0.1:0", "--clock-speed", "2", "--no-tls"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn failback-sim");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("failback-sim listening on ")
        .expect("url line")
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "--no-tls: {url}");
    // The environment ends with FAILBACK_SIM_CLOCK.
    let mut env = vec![];
    for l in lines.by_ref().take(30) {
        let l = l.unwrap();
        let last = l.starts_with("export FAILBACK_SIM_CLOCK=");
        env.push(l);
        if last {
            break;
        }
    }
    assert!(
        !env.iter()
            .any(|l| l.starts_with("export FAILBACK_CA_FILE=")),
        "{env:?}"
    );
    for k in [
        "FAILBACK_ARM_ENDPOINT",
        "FAILBACK_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_SUBSCRIPTION_ID",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "FAILBACK_CLIENT_SECRET_ENV",
        "FAILBACK_SIM_CLOCK",
    ] {
        assert!(
            env.iter().any(|l| l.starts_with(&format!("export {k}="))),
            "{k} in {env:?}"
        );
    }
    let r = reqwest::get(format!("{url}/_sim/health")).await.unwrap();
    assert_eq!(r.status(), 200);
    let c: serde_json::Value = reqwest::get(format!("{url}/_sim/clock"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["speed"], 2.0);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sim did not stop on SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn control_plane_scenario_upload_inventory_and_journal() {
    let t = T::new().await;
    let toml = r#"
seed = 7
[auth]
[[auth.principals]]
tenant_id = "t1"
client_id = "c1"
client_secret = "sim-s1"
[[subscriptions]]
id = "s1"
tenant_id = "t1"
[[subscriptions.regions]]
name = "northeurope"
quota = { cores = 4 }
[[subscriptions.resource_groups]]
name = "rg"
location = "northeurope"
[[subscriptions.vnets]]
resource_group = "rg"
name = "v"
location = "northeurope"
address_prefixes = ["10.9.0.0/16"]
subnets = [{ name = "default", address_prefixes = ["10.9.1.0/24"] }]
"#;
    let r = to_r(
        t.http
            .post(t.url("/_sim/scenario"))
            .body(toml)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let inv = to_r(t.http.get(t.url("/_sim/inventory")).send().await.unwrap()).await;
    assert_eq!(inv.body["resources"].as_array().unwrap().len(), 1);
    assert_eq!(inv.body["resources"][0]["seeded"], true);
    let j = to_r(
        t.http
            .get(t.url("/_sim/journal?since=0"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(j.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["seq"].as_u64().is_some()
            && e["sim_time"].is_string()
            && e["operation"].is_string()));
    let env = to_r(t.http.get(t.url("/_sim/env")).send().await.unwrap()).await;
    assert_eq!(env.body["AZURE_TENANT_ID"], "t1");
    assert!(
        env.body.get("AZURE_CLIENT_SECRET").is_none(),
        "secret printed only when the scenario says so"
    );
    let bad = to_r(
        t.http
            .post(t.url("/_sim/scenario"))
            .body("not = [valid")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, 400);
}
