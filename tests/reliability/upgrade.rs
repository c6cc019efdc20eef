//! Upgrade: a store written by release 0.1.0 (`tests/fixtures/store-0.1.0`, with the emulator
//! world it ran against) is opened by today's binary, which lists its runs and drives them to
//! the end without creating anything twice. `--write-golden` writes the fixture; a release
//! adds its own and never rewrites an older one (docs/operations.md, "Upgrades").

use crate::report::Family;
use crate::world::{text, Case};
use failback_sim::SimConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RELEASE: &str = "0.1.0";
/// The runs' spec snapshots name the emulator's address, so it listens there again.
const PORT: u16 = 47613;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/store-{RELEASE}"))
}

fn config(dir: &Path) -> SimConfig {
    let scenario = crate::world::held_scenario();
    SimConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], PORT)),
        scenario,
        clock_speed: crate::world::SPEED,
        state_file: Some(dir.join("emulator.json")),
        tls: true,
    }
}

fn wait_state(case: &Case, run: &str, want: &str) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        let st = case.status(run)?;
        let steps = st["steps"].as_array().cloned().unwrap_or_default();
        let held = steps
            .iter()
            .any(|s| s["step_id"] == "await-failback" && s["status"]["status"] == "waiting");
        if st["run"]["state"] == want && (want != "waiting" || held) {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(format!("{run} is {} after 60 s", st["run"]["state"]));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Write the fixture: `golden-wait` held in await-failback by a daemon, then `golden-mid`
/// killed by SIGKILL right after its vnet-b VM PUT.
pub fn write_golden(rt: &tokio::runtime::Runtime) {
    let out = fixture();
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("fixture dir");
    let work = tempfile::tempdir().expect("tempdir");
    let case = Case::start_config(rt, config(&out), work);
    let mut d = case.daemon(1, None);
    assert!(case.daemon_ready(&mut d), "{}", d.log_text());
    case.submit("golden-wait").expect("submit");
    wait_state(&case, "golden-wait", "waiting").expect("golden-wait holds");
    d.signal(libc::SIGTERM);
    d.wait_exit(Duration::from_secs(30));
    // Its own addresses: golden-wait's NICs hold the spec's.
    case.spec_with_host("golden-mid.toml", 20).expect("spec");
    let o = case.run(
        &[
            "apply",
            "--yes",
            "--spec",
            "golden-mid.toml",
            "--run-id",
            "golden-mid",
        ],
        Some("vnet-b/create-vm:after-put"),
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(libc::SIGKILL),
        "golden-mid should have been killed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    case.sim.persist_now().expect("persist the emulator");
    crate::world::copy_dir(&case.state_dir(), &out.join("state")).expect("copy the store");
    println!("wrote {}", out.display());
}

pub fn run(rt: &tokio::runtime::Runtime, fam: &mut Family) {
    let result = resume_golden(rt, fam);
    fam.case(&format!("store of release {RELEASE} resumed"), result);
}

/// Wait until the fixture's port can be listened on. It lies in Linux's ephemeral range, so
/// another test's outgoing connection may hold it for a while (a fresh-clone CI run failed
/// "Address already in use" here).
fn port_free(limit: Duration) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        match std::net::TcpListener::bind(("127.0.0.1", PORT)) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && t0.elapsed() < limit => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(format!("port {PORT} of the fixture's emulator: {e}")),
        }
    }
}

fn resume_golden(rt: &tokio::runtime::Runtime, fam: &mut Family) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    crate::world::copy_dir(&fixture(), work.path()).map_err(|e| e.to_string())?;
    port_free(Duration::from_secs(120))?;
    let case = Case::start_config(rt, config(work.path()), work);
    let listed = case.run(&["list", "--output", "json"], None);
    let runs: serde_json::Value = serde_json::from_slice(&listed.stdout)
        .map_err(|e| format!("list: {e}: {}", text(&listed.stderr)))?;
    let states: Vec<(String, String)> = runs["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").into(),
                r["state"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let expected = [("golden-mid", "running"), ("golden-wait", "waiting")];
    if states
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .ne(expected)
    {
        return Err(format!("listed {states:?}, expected {expected:?}"));
    }
    let existed: Vec<String> = case
        .sim
        .inventory()
        .created()
        .iter()
        .map(|r| r.id.to_lowercase())
        .collect();
    for run in ["golden-wait", "golden-mid"] {
        let o = case.run(&["signal", run, "failback-complete", "--yes"], None);
        if !o.status.success() {
            return Err(format!("signal {run}: {}", text(&o.stderr)));
        }
    }
    let o = case.run(&["resume"], None);
    if !o.status.success() {
        return Err(format!("resume: {}", text(&o.stderr)));
    }
    for run in ["golden-wait", "golden-mid"] {
        let st = case.status(run)?;
        if st["run"]["state"] != "succeeded" {
            return Err(format!(
                "{run}: {} {}",
                st["run"]["state"], st["run"]["error"]
            ));
        }
    }
    let recreated: Vec<String> = case
        .sim
        .journal()
        .iter()
        .filter(|e| e.method == "PUT" && e.status == 201)
        .map(|e| e.path.split('?').next().unwrap_or("").to_lowercase())
        .filter(|p| existed.iter().any(|id| p.ends_with(id.as_str())))
        .collect();
    let orphans = failback::rehearsal::left_behind(&case.sim);
    fam.summary(format!(
        "store of release {RELEASE}: 2 runs resumed to success, {} re-created, {} left behind",
        recreated.len(),
        orphans.len()
    ));
    if !recreated.is_empty() || !orphans.is_empty() {
        return Err(format!("re-created {recreated:?}, left behind {orphans:?}"));
    }
    Ok(())
}
