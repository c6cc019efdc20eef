//! Helpers for tests of several daemons sharing a `--store` (a blob container): held runs
//! applied through one daemon, the runs a daemon owns, waiting for every run to succeed.

use super::{get, json, run_states, Daemon, Rehearsal};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `failback apply` of held run `n` through the daemon of `state_dir` (it follows the run).
/// `poll`: the spec's `poll_interval` (emulated time, 1000 times faster); its await-failback
/// deadline is the longest allowed, 365 days (8.8 hours real).
pub fn apply_held(
    r: &Rehearsal,
    state_dir: &Path,
    n: usize,
    id: &str,
    poll: &str,
) -> std::process::Child {
    let spec = r.spec_with(n, true);
    let path = r.path(&spec);
    let text = std::fs::read_to_string(&path).expect("spec");
    // The longest deadline: a soak of many takeovers outlasts the rehearsal's 7 days (10 min).
    let text = text
        .replace(
            "poll_interval = \"5m\"",
            &format!("poll_interval = \"{poll}\""),
        )
        .replace("deadline = \"7d\"", "deadline = \"365d\"");
    std::fs::write(&path, text).expect("spec");
    let state = state_dir.to_string_lossy();
    r.failback(&[
        "--state-dir",
        &state,
        "apply",
        "--yes",
        "--spec",
        &spec,
        "--run-id",
        id,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn apply")
}

/// Every run succeeded, as the daemons still running see them; on timeout, what each saw
/// and their logs.
pub fn wait_succeeded(ids: &[String], daemons: &[Daemon], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let s = run_states(&daemons[0].socket);
        if ids
            .iter()
            .all(|id| s.get(id).is_some_and(|st| st == "succeeded"))
        {
            return;
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = daemons
                .iter()
                .map(|d| {
                    format!(
                        "{:?} owning {}:\n{}",
                        run_states(&d.socket),
                        owned(&d.socket),
                        d.log_text()
                    )
                })
                .collect();
            panic!(
                "not every run succeeded within {limit:?}:\n{}",
                seen.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether run `id`'s await-failback step waits for its next poll.
pub fn waiting_on_failback(socket: &Path, id: &str) -> bool {
    let Ok((200, body)) = get(socket, &format!("/v1/runs/{id}")) else {
        return false;
    };
    let v = json(&body);
    let steps = v["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {body}"));
    steps
        .iter()
        .any(|s| s["step_id"] == "await-failback" && s["status"]["status"] == "waiting")
}

/// Runs the daemon of `socket` holds the fence of (0 if it does not answer).
pub fn owned(socket: &Path) -> usize {
    shared_store_count(socket, "owned_runs")
}

/// The daemons sharing the store, as the daemon of `socket` last listed them (0 if it does
/// not answer).
pub fn live_daemons(socket: &Path) -> usize {
    shared_store_count(socket, "live_daemons")
}

/// A count of `/v1/health`'s `shared_store` (0 if the daemon does not answer).
fn shared_store_count(socket: &Path, field: &str) -> usize {
    get(socket, "/v1/health")
        .ok()
        .map(|(_, body)| json(&body)["shared_store"][field].as_u64().unwrap_or(0) as usize)
        .unwrap_or(0)
}

/// Each run's two VMs were PUT once (no duplicate from a takeover), and nothing is left in the
/// emulator after teardown.
pub fn assert_each_vm_put_once(r: &Rehearsal, runs: usize) {
    let puts = r.vm_puts();
    let distinct: std::collections::BTreeSet<&String> = puts.iter().collect();
    assert_eq!(
        puts.len(),
        2 * runs,
        "one VM PUT per network per run: {puts:?}"
    );
    assert_eq!(distinct.len(), 2 * runs, "{puts:?}");
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
}

/// SIGKILL and reap (the `apply` processes still following runs).
pub fn stop_all(children: &mut [std::process::Child]) {
    for child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
