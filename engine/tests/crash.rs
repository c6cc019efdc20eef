//! Crash safety with real processes. A child process (this test binary re-executing its
//! ignored `child` test) drives runs of the multi-branch test workflow on a real sled store;
//! it is SIGKILLed at a named crash point, or SIGKILLed at a random instant, and a new process
//! resumes. After every death the store and the side-effect journal must agree:
//! every effect applied once per attempt, no successor started before its predecessors'
//! outcomes were durable, no step skipped, a gap-free event log.

mod support;

use failback_engine::crash::ENGINE_POINTS;
use failback_engine::testkit::{self, Journal};
use failback_engine::{CrashPoints, Engine, EngineConfig, SystemClock};
use failback_state::{RunFilter, StateStore};
use rand::Rng;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const BRANCHES: [&str; 2] = ["a", "b"];

fn child_command(dir: &Path, submit: &[String], crash_at: Option<&str>) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary path"));
    cmd.args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("FB_CHILD_DIR", dir)
    .env("FB_CHILD_SUBMIT", submit.join(","))
    .stdout(Stdio::null())
    .stderr(child_stderr(dir));
    failback_engine::testkit::crash_child(&mut cmd, crash_at);
    cmd
}

/// The children's stderr, appended to `child.stderr` in the case's directory (a panic of the
/// resuming child is reported from it).
fn child_stderr(dir: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("child.stderr"))
        .map_or_else(|_| Stdio::null(), Stdio::from)
}

fn run_child(dir: &Path, submit: &[String], crash_at: Option<&str>) -> ExitStatus {
    child_command(dir, submit, crash_at)
        .status()
        .expect("spawn child")
}

fn check(dir: &Path, finished: bool) -> Result<(), String> {
    let store = StateStore::open(&dir.join("store")).map_err(|e| e.to_string())?;
    let effects = Journal::read(&dir.join("journal")).map_err(|e| e.to_string())?;
    check_invariants(&store, &effects, finished)
}

/// The child: submit the named runs (if new), resume everything unfinished, drive all to the
/// end, exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of the crash tests"]
async fn child() {
    let Ok(dir) = std::env::var("FB_CHILD_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    let journal = Journal::file(&dir.join("journal"));
    let store = StateStore::open(&dir.join("store")).expect("open store");
    let engine = Engine::new(
        store,
        testkit::registry(journal),
        Arc::new(SystemClock),
        CrashPoints::from_env(),
        EngineConfig::default(),
    );
    engine.resume_all().expect("resume");
    let submit = std::env::var("FB_CHILD_SUBMIT").unwrap_or_default();
    for id in submit.split(',').filter(|s| !s.is_empty()) {
        if engine.store().load_run(id).expect("read").is_none() {
            engine
                .submit("branching", id, branching_input(&BRANCHES, 10), no_labels())
                .await
                .expect("submit");
        }
    }
    let runs = engine.store().list_runs(&RunFilter::all()).expect("list");
    for run in runs {
        engine.finished(&run.id).await.expect("finish");
    }
    // Like the CLI: let drivers finish their transition (and its crash point) before exiting.
    assert!(engine.shutdown(std::time::Duration::from_secs(30)).await);
}

fn step_ids() -> Vec<String> {
    let def = testkit::branching(Journal::memory(), &BRANCHES, Duration::from_millis(10))
        .expect("definition");
    def.topo().map(|s| s.id.clone()).collect()
}

#[test]
fn every_crash_point_resumes_to_the_same_end() {
    let mut cases = 0;
    for step in step_ids() {
        for point in ENGINE_POINTS {
            let dir = tempfile::tempdir().unwrap();
            let spec = format!("{step}:{point}");
            let runs = vec!["r1".to_string()];
            let status = run_child(dir.path(), &runs, Some(&spec));
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "{spec}: the child should have died at the crash point, got {status:?}; its stderr:\n{}",
                std::fs::read_to_string(dir.path().join("child.stderr")).unwrap_or_default()
            );
            check(dir.path(), false).unwrap_or_else(|e| panic!("{spec}, after the crash: {e}"));
            let status = run_child(dir.path(), &[], None);
            assert!(
                status.success(),
                "{spec}: resume failed: {status:?}; stderr:\n{}",
                std::fs::read_to_string(dir.path().join("child.stderr")).unwrap_or_default()
            );
            check(dir.path(), true).unwrap_or_else(|e| panic!("{spec}, after resume: {e}"));
            cases += 1;
        }
    }
    println!("crash matrix: {cases} points, 0 violations");
}

fn kill_at_random(child: &mut Child, max: Duration) -> bool {
    let delay = rand::rng().random_range(Duration::ZERO..max);
    let deadline = Instant::now() + delay;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // finished before the chosen instant
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1).min(deadline - Instant::now()));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let status = child.wait().expect("wait");
    status.signal() == Some(libc::SIGKILL)
}

fn soak_kills() -> usize {
    std::env::var("FB_SOAK_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

#[test]
fn random_sigkill_soak() {
    let target = soak_kills();
    let dir = tempfile::tempdir().unwrap();
    let mut kills = 0;
    let mut iter = 0;
    while kills < target {
        iter += 1;
        assert!(iter < target * 4, "only {kills} kills in {iter} tries");
        // Two new runs each time, so there is always work in flight to interrupt.
        let submit = vec![format!("s{iter}-0"), format!("s{iter}-1")];
        let mut child = child_command(dir.path(), &submit, None)
            .spawn()
            .expect("spawn");
        if kill_at_random(&mut child, Duration::from_millis(60)) {
            kills += 1;
        }
        check(dir.path(), false).unwrap_or_else(|e| panic!("after kill {kills}: {e}"));
    }
    assert!(run_child(dir.path(), &[], None).success());
    check(dir.path(), true).unwrap_or_else(|e| panic!("after the final resume: {e}"));
    println!("random kill soak: {kills} kills over {iter} starts, 0 violations");
}
