//! Two processes on one state directory: a second `apply` or `daemon` while one runs gets a
//! clear error or goes through the daemon; there is never a second writer.

use crate::report::Family;
use crate::world::{text, Case};
use std::time::Duration;

pub fn run(rt: &tokio::runtime::Runtime, fam: &mut Family) {
    let case = Case::start(rt, crate::world::scenario());
    let mut attempts = 0;
    let mut second_writers = 0;

    // 1-2. While a foreground apply holds the store: apply and daemon are refused.
    let first = case.spawn(&["apply", "--yes", "--run-id", "ex-1"], None);
    let t0 = std::time::Instant::now();
    while !case.state_dir().join("store/db").exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    for (name, args) in [
        (
            "apply while apply runs",
            vec!["apply", "--yes", "--run-id", "ex-2"],
        ),
        ("daemon while apply runs", vec!["daemon"]),
    ] {
        attempts += 1;
        let out = case.run(&args, None);
        let err = text(&out.stderr);
        let result = if out.status.success() {
            second_writers += 1;
            Err("a second process opened the store".into())
        } else if err.contains("in use") {
            Ok(())
        } else {
            Err(format!("unclear error: {err}"))
        };
        fam.case(name, result);
    }
    let out = crate::daemon_support::wait_output(first, Duration::from_secs(120), &["apply"]);
    fam.case(
        "the first apply finishes",
        if out.status.success() {
            Ok(())
        } else {
            Err(text(&out.stderr))
        },
    );

    // ex-1's process servers stay in the fabric until they are unregistered on the
    // configuration server (docs/operations.md, "After teardown"); until then a new run on the
    // same IPs is blocked. Do what the operator does after a failback.
    case.unregister_process_servers();

    // 3-4. While a daemon runs: apply goes through it; a second daemon is refused.
    let mut d = case.daemon(1, None);
    if !case.daemon_ready(&mut d) {
        fam.case("daemon starts", Err(d.log_text()));
        return;
    }
    attempts += 1;
    let out = case.run(&["apply", "--yes", "--run-id", "ex-3"], None);
    let listed =
        crate::daemon_support::get(&case.socket(), "/v1/runs/ex-3").is_ok_and(|(s, _)| s == 200);
    fam.case(
        "apply while the daemon runs goes through it",
        if out.status.success() && listed {
            Ok(())
        } else {
            Err(text(&out.stderr))
        },
    );
    attempts += 1;
    let out = case.run(&["daemon"], None);
    let err = text(&out.stderr);
    fam.case(
        "second daemon",
        if out.status.success() {
            second_writers += 1;
            Err("a second daemon started".into())
        } else if err.contains("in use") || err.contains("already") {
            Ok(())
        } else {
            Err(format!("unclear error: {err}"))
        },
    );
    d.signal(libc::SIGTERM);
    d.wait_exit(Duration::from_secs(30));
    fam.summary(format!(
        "{attempts} second processes, {second_writers} second writers"
    ));
    fam.require_zero(second_writers);
}
