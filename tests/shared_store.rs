//! Several `failback daemon`s sharing runs on Azure Blob Storage (Azurite, a real process)
//! against the emulator: the daemon that owns every run is SIGKILLed, the other two take its
//! runs over once its leases lapse, and every run completes with each VM PUT once and nothing
//! left behind. (The reliability suite's full mode kills owners 20 times.)

#[path = "../azblob/tests/support/mod.rs"]
mod azurite;
mod daemon_support;

use daemon_support::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const RUNS: usize = 6;
/// Azure's shortest lease: takeover within 15 s plus a scan (5 s) plus a refresh.
const LEASE: &str = "15s";

fn owned(socket: &Path) -> usize {
    get(socket, "/v1/health")
        .ok()
        .map(|(_, body)| {
            json(&body)["shared_store"]["owned_runs"]
                .as_u64()
                .unwrap_or(0) as usize
        })
        .unwrap_or(0)
}

#[test]
fn a_killed_owners_runs_are_taken_over_and_complete_once() {
    // vm-db1's failback completes 60 s (real) after the emulator starts: the runs hold in
    // await-failback across the SIGKILL and the takeover.
    let r = Rehearsal::start_with_db1_failback_after(60.0 * SPEED);
    let az = azurite::Azurite::start();
    let store = format!("azblob+{}", az.container_url("runs"));
    let dirs: Vec<PathBuf> = (0..3).map(|i| r.path(&format!("state-{i}"))).collect();
    let args = ["--store", store.as_str(), "--lease", LEASE];
    let owner = r.daemon_at(&dirs[0], &args);
    let others = [r.daemon_at(&dirs[1], &args), r.daemon_at(&dirs[2], &args)];

    let ids: Vec<String> = (0..RUNS).map(|i| format!("s-{i}")).collect();
    let state = dirs[0].to_string_lossy().into_owned();
    let applies: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let spec = r.spec_with(n, true);
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
        })
        .collect();
    wait_until(
        Duration::from_secs(60),
        "every run waiting on its failback",
        || {
            let s = run_states(&owner.socket);
            ids.iter()
                .all(|id| s.get(id).is_some_and(|st| st == "waiting"))
        },
    );
    assert_eq!(owned(&owner.socket), RUNS, "{}", owner.log_text());
    assert_eq!(owned(&others[0].socket) + owned(&others[1].socket), 0);

    let killed = Instant::now();
    owner.kill();
    for child in applies {
        wait_output(child, Duration::from_secs(30), &["apply"]);
    }
    wait_until(Duration::from_secs(60), "the runs taken over", || {
        owned(&others[0].socket) + owned(&others[1].socket) == RUNS
    });
    let takeover = killed.elapsed();
    eprintln!(
        "takeover of {RUNS} runs after SIGKILL of their owner: {takeover:?} (lease {LEASE}); split {} / {}",
        owned(&others[0].socket),
        owned(&others[1].socket)
    );
    assert!(
        takeover >= Duration::from_secs(14),
        "taken over before the lease lapsed: {takeover:?}"
    );

    wait_until(Duration::from_secs(120), "every run succeeded", || {
        let s = run_states(&others[0].socket);
        ids.iter()
            .all(|id| s.get(id).is_some_and(|st| st == "succeeded"))
    });
    let puts = r.vm_puts();
    let distinct: BTreeSet<&String> = puts.iter().collect();
    assert_eq!(
        puts.len(),
        2 * RUNS,
        "one VM PUT per network per run: {puts:?}"
    );
    assert_eq!(distinct.len(), 2 * RUNS);
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
}
