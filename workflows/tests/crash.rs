//! Crash safety of the production failback DAG against the emulator: a child process (this
//! test binary) runs a one-network failback built by `failback::registry` — the binary's own
//! builder — and dies at each crash point (the engine's four around every step and the
//! steps' own, between a PUT or DELETE and its checkpoint); a new child resumes. Every case
//! converges: the run succeeds, the VM and the Run Command are sent once, one process server
//! is registered, nothing is left in the emulator. (Moved from `steps/tests`, which ran a
//! hand-copied DAG.)

mod support;

use failback_engine::crash::ENGINE_POINTS;
use failback_engine::{Clock, ScaledClock};
use failback_state::RunState;
use failback_workflows::failback::{run_input, WORKFLOW};
use failback_workflows::spec;
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

/// The emulator's clock, read over HTTPS from the child.
async fn sim_clock(base: &str, ca_file: &Path) -> Arc<dyn Clock> {
    let ca = std::fs::read(ca_file).expect("read ca");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
        .build()
        .expect("client");
    let body: serde_json::Value = http
        .get(format!("{base}/_sim/clock"))
        .send()
        .await
        .expect("clock")
        .json()
        .await
        .expect("json");
    Arc::new(ScaledClock::new(
        body["now_ms"].as_u64().expect("now"),
        body["speed"].as_f64().expect("speed"),
    ))
}

/// The child: resume (or start) run `c` and drive it to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of the crash test"]
async fn child() {
    let Ok(dir) = std::env::var("FB_CHILD_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    let ca_file = std::path::PathBuf::from(std::env::var("FAILBACK_CA_FILE").expect("ca"));
    let clock = sim_clock(&std::env::var("FB_SIM_URL").expect("sim url"), &ca_file).await;
    let spec = spec::load(&dir.join("failback.toml")).expect("spec");
    let eng = engine_at(Some(&dir.join("store")), clock, &ca_file);
    eng.resume_all().expect("resume");
    if eng.store().load_run("c").expect("read").is_none() {
        eng.submit(WORKFLOW, "c", run_input(&spec), Default::default())
            .await
            .expect("submit");
    }
    let run = eng.finished("c").await.expect("finish");
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    assert!(eng.shutdown(std::time::Duration::from_secs(30)).await);
}

fn run_child(env: &TestEnv, dir: &Path, crash_at: Option<&str>) -> ExitStatus {
    let mut cmd = Command::new(std::env::current_exe().expect("exe"));
    cmd.args(["child", "--exact", "--ignored", "--test-threads=1"])
        .env("FB_CHILD_DIR", dir)
        .env("FB_SIM_URL", env.sim.base_url())
        .env("FAILBACK_CA_FILE", &env.ca_file)
        .envs(
            secret_vars(env.sim.addr().port())
                .into_iter()
                .zip(secret_values(&env.sim)),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    failback_engine::testkit::crash_child(&mut cmd, crash_at);
    cmd.status().expect("spawn child")
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
        std::fs::write(
            dir.path().join("failback.toml"),
            spec_text(&env.sim, 1, &["vm-app1", "vm-app2"]),
        )
        .unwrap();
        export_secrets(&env.sim);
        let spec = spec_for(&env.sim, 1, &["vm-app1", "vm-app2"]);
        let (vm, nic) = (
            spec.vm_name("c", &spec.networks[0]),
            spec.nic_name("c", &spec.networks[0]),
        );
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
            created(sim, &format!("/networkInterfaces/{nic}")),
            1,
            "{point}: NIC created once"
        );
        assert_eq!(
            count(sim, "PUT", &format!("virtualMachines/{vm}?")),
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
        "workflows crash matrix: {} points, 0 duplicates, 0 orphans",
        points.len()
    );
}
