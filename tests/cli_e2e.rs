//! End-to-end: the real `failback` binary against the emulator over HTTPS.

mod support;

use predicates::prelude::*;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn init_plan_apply_status_history_list_graph_and_plan_after_apply() {
    let r = Rehearsal::start();
    r.failback(&["init", "example.toml"]).assert().success();
    assert!(std::fs::read_to_string(r.path("example.toml"))
        .unwrap()
        .contains("[[network]]"));
    r.failback(&["init", "example.toml"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--force"));

    r.failback(&["plan", "--run-id", "e1"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Plan: 6 to create, 0 existing, 0 blocked.",
        ));
    assert_eq!(r.count("PUT", "/subscriptions/"), 0, "plan created nothing");

    r.failback(&["apply", "--yes", "--run-id", "e1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run e1 succeeded"));
    assert_eq!(r.vm_puts(), 2);
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());

    r.failback(&["status", "e1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("succeeded"));
    r.failback(&["status", "e1", "--format", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"state\": \"succeeded\""));
    r.failback(&["history", "e1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run succeeded"));
    r.failback(&["list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("e1"));
    r.failback(&["list", "--state", "failed"])
        .assert()
        .success()
        .stdout(predicate::str::contains("e1").not());
    r.failback(&["list", "--state", "nonsense"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("expected one of"));
    r.failback(&["graph", "e1", "--format", "mermaid"])
        .assert()
        .success()
        .stdout(predicate::str::contains("flowchart"));
    r.failback(&["plan", "--run", "e1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("No changes."));
    // The same run id cannot be applied twice.
    r.failback(&["apply", "--yes", "--run-id", "e1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists already"));
}

#[test]
fn apply_killed_mid_run_is_resumed_to_the_end_without_duplicates() {
    let r = Rehearsal::start();
    let mut child = r
        .failback_std(&["apply", "--yes", "--run-id", "k1"])
        .spawn()
        .unwrap();
    // Kill it once the first VM PUT has gone out: resources exist, the run is mid-way.
    let deadline = Instant::now() + Duration::from_secs(60);
    while r.vm_puts() == 0 {
        assert!(Instant::now() < deadline, "apply never reached the VM PUT");
        if let Ok(Some(st)) = child.try_wait() {
            panic!("apply ended before it could be killed: {st:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    r.failback(&["status", "k1"]).assert().success();
    r.failback(&["resume", "k1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run k1 succeeded"));
    assert_eq!(r.vm_puts(), 2, "one VM PUT per network");
    assert_eq!(
        r.count("PUT", "/runCommands/"),
        2,
        "one registration per network"
    );
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
}

#[test]
fn cancel_with_teardown_leaves_nothing_in_the_emulator() {
    let r = Rehearsal::start();
    let out = r
        .failback_std(&["apply", "--yes", "--run-id", "c1"])
        .env("FAILBACK_CRASH_AT", "vnet-a/register:after-intent")
        .status()
        .unwrap();
    assert_eq!(out.signal(), Some(libc::SIGKILL));
    assert!(
        !r.left_behind().is_empty(),
        "the crash left resources to tear down"
    );
    r.failback(&["cancel", "c1", "--teardown", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run c1 cancelled"));
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
    r.failback(&["status", "c1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("cancelled"));
    r.failback(&["cancel", "c1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already cancelled"));
}

#[test]
fn retry_from_a_step_after_a_permanent_failure() {
    let mut r = Rehearsal::start();
    let good = r
        .env()
        .iter()
        .find(|(k, _)| k == "FAILBACK_DEMO_CS_PASSPHRASE")
        .map(|(_, v)| v.clone())
        .unwrap();
    r.set_env("FAILBACK_DEMO_CS_PASSPHRASE", "the-wrong-passphrase");
    r.failback(&["apply", "--yes", "--run-id", "f1"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("RegistrationFailed"))
        .stdout(predicate::str::contains("failback retry f1"));
    r.failback(&["retry", "f1", "--from", "nope"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown step"));
    r.set_env("FAILBACK_DEMO_CS_PASSPHRASE", &good);
    r.failback(&["retry", "f1", "--from", "vnet-a/register"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run f1 succeeded"));
    assert_eq!(r.vm_puts(), 2, "earlier steps kept their outputs");
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
}
