//! Crash safety of the real steps against the emulator: a child process (this test binary)
//! runs a one-network failback and dies at each crash point — the engine's four around every
//! step and the steps' own (between a PUT or DELETE and its checkpoint) — and a new child
//! resumes. Every case converges: the run succeeds, the VM and the Run Command are sent once,
//! one process server is registered, nothing is left in the emulator.

mod support;

use failback_engine::crash::ENGINE_POINTS;
use failback_engine::{Clock, CrashPoints, Engine, EngineConfig, ScaledClock, WorkflowRegistry};
use failback_sim::SimHandle;
use failback_state::{RunState, StateStore};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use support::*;

const STEPS: [&str; 7] = [
    "validate",
    "vnet-a/create-nic",
    "vnet-a/create-vm",
    "vnet-a/await-boot",
    "vnet-a/register",
    "await-failback",
    "vnet-a/teardown",
];
const STEP_POINTS: [&str; 4] = [
    "vnet-a/create-nic:after-put",
    "vnet-a/create-vm:after-put",
    "vnet-a/register:after-run-command-put",
    "vnet-a/teardown:after-delete",
];

/// The child: resume (or start) run `c` and drive it to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of the crash test"]
async fn child() {
    let Ok(dir) = std::env::var("FB_CHILD_DIR") else {
        return;
    };
    let base = std::env::var("FB_SIM_URL").expect("sim url");
    let ca = std::fs::read(std::env::var("FAILBACK_CA_FILE").expect("ca")).expect("read ca");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
        .build()
        .expect("client");
    let clock_body: serde_json::Value = http
        .get(format!("{base}/_sim/clock"))
        .send()
        .await
        .expect("clock")
        .json()
        .await
        .expect("json");
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(
        clock_body["now_ms"].as_u64().expect("now"),
        clock_body["speed"].as_f64().expect("speed"),
    ));
    let azure = azure_from_env(clock.clone());
    let reg = failback_steps::model::Registration {
        passphrase: failback_steps::secrets::SecretRef::Env {
            env: "FB_CS_PASSPHRASE".into(),
        },
        cs_ip: "10.0.0.10".parse().expect("ip"),
        cs_port: 443,
        data_port: 9443,
        installer_uri: None,
        appear_timeout: std::time::Duration::from_secs(3600),
    };
    let mut registry = WorkflowRegistry::new();
    registry.register("failback-test", 1, move |_, _| {
        Ok(failback_def(&azure, &[net_a()], &reg))
    });
    let store = StateStore::open(&Path::new(&dir).join("store")).expect("store");
    let eng = Engine::new(
        store,
        registry,
        clock,
        CrashPoints::from_env(),
        EngineConfig::default(),
    );
    eng.resume_all().expect("resume");
    if eng.store().load_run("c").expect("read").is_none() {
        eng.submit(
            "failback-test",
            "c",
            serde_json::json!({}),
            Default::default(),
        )
        .await
        .expect("submit");
    }
    let run = eng.finished("c").await.expect("finish");
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    assert!(eng.shutdown(std::time::Duration::from_secs(30)).await);
}

fn run_child(env: &TestEnv, dir: &Path, crash_at: Option<&str>) -> ExitStatus {
    let (tenant, client, secret) = env.sim.credentials().expect("principal");
    let mut cmd = Command::new(std::env::current_exe().expect("exe"));
    cmd.args(["child", "--exact", "--ignored", "--test-threads=1"])
        .env("FB_CHILD_DIR", dir)
        .env("FB_SIM_URL", env.sim.base_url())
        .env("FAILBACK_CA_FILE", &env.ca_file)
        .env("AZURE_TENANT_ID", tenant)
        .env("AZURE_CLIENT_ID", client)
        .env("AZURE_CLIENT_SECRET", secret)
        .env(
            "AZURE_SUBSCRIPTION_ID",
            env.sim.subscription_id().expect("sub"),
        )
        .env("FB_CS_PASSPHRASE", CS_PASSPHRASE)
        .env("FAILBACK_TEST_PS_PASSWORD", PS_PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    failback_engine::testkit::crash_child(&mut cmd, crash_at);
    cmd.status().expect("spawn child")
}

fn created_once(sim: &SimHandle, needle: &str) -> usize {
    sim.journal()
        .iter()
        .filter(|e| e.method == "PUT" && e.status == 201 && e.path.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_converges_without_duplicates() {
    let mut points: Vec<String> = STEPS
        .iter()
        .flat_map(|s| ENGINE_POINTS.iter().map(move |p| format!("{s}:{p}")))
        .collect();
    points.extend(STEP_POINTS.iter().map(|s| s.to_string()));
    for point in &points {
        let env = start(fast_scenario()).await;
        let dir = tempfile::tempdir().unwrap();
        let status = tokio::task::block_in_place(|| run_child(&env, dir.path(), Some(point)));
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{point}: expected a crash there, got {status:?}"
        );
        let status = tokio::task::block_in_place(|| run_child(&env, dir.path(), None));
        assert!(status.success(), "{point}: resume failed ({status:?})");
        let sim = &env.sim;
        assert_eq!(
            created_once(sim, "/networkInterfaces/ps-vnet-a-t1-nic"),
            1,
            "{point}: NIC created once"
        );
        assert_eq!(
            count(sim, "PUT", "virtualMachines/ps-vnet-a-t1?"),
            1,
            "{point}: one VM PUT"
        );
        assert_eq!(
            count(sim, "PUT", "/runCommands/failback-register"),
            1,
            "{point}: one registration"
        );
        let ps = sim
            .inventory()
            .process_servers
            .iter()
            .filter(|p| p.ip_address == "10.1.0.10")
            .count();
        assert_eq!(ps, 1, "{point}: one process server");
        assert!(
            sim.inventory().created().is_empty(),
            "{point}: left behind {:?}",
            sim.inventory().created()
        );
    }
    println!(
        "steps crash matrix: {} points, 0 duplicates, 0 orphans",
        points.len()
    );
}
