//! `failback retry RUN --spec FILE` while a daemon owns the store: the CLI shows the
//! difference, the daemon checks the amendment itself (a client cannot slip in a change to a
//! created resource's identity) and drives the amended run to success.

mod daemon_support;

use daemon_support::*;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

#[test]
fn the_daemon_amends_a_failed_run_and_refuses_identity_changes() {
    let r = Rehearsal::start();
    let spec = std::fs::read_to_string(r.path("failback.toml")).expect("spec");
    let items = r#"protected_items = ["vm-app1", "vm-app2"]"#;
    assert!(spec.contains(items));
    let misspelt = spec.replace(items, r#"protected_items = ["vm-app1", "vm-ap2"]"#);
    std::fs::write(r.path("misspelt.toml"), misspelt).expect("write");
    // Validated while the vault calls the item vm-ap2; stopped before await-failback.
    assert_eq!(r.sim.rename_protected_item("vm-app2", "vm-ap2"), 1);
    let st = r
        .failback(&[
            "apply",
            "--yes",
            "--run-id",
            "d1",
            "--spec",
            "misspelt.toml",
        ])
        .env("FAILBACK_CRASH_AT", "await-failback:before-intent")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("apply");
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    assert_eq!(r.sim.rename_protected_item("vm-ap2", "vm-app2"), 1);
    let d = r.daemon(&[]);
    wait_until(Duration::from_secs(60), "run d1 to fail", || {
        get(&d.socket, "/v1/runs/d1")
            .is_ok_and(|(s, body)| s == 200 && json(&body)["run"]["state"] == "failed")
    });

    // A hand-made request changing the NIC's IP is refused by the daemon.
    let (_, body) = get(&d.socket, "/v1/runs/d1").expect("get");
    let mut input = json(&body)["run"]["input"].clone();
    input["spec"]["spec"]["network"][0]["private_ip"] = "10.1.0.99".into();
    let req = serde_json::json!({ "amend": { "input": input } });
    let (status, text) = request(
        &d.socket,
        "POST",
        "/v1/runs/d1/retry",
        req.to_string().as_bytes(),
    )
    .expect("request");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("changes the IP of NIC"), "{text}");

    let out = r.run(&["retry", "d1", "--spec", "failback.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            r#"~ failback.protected_items: ["vm-app1","vm-ap2"] -> ["vm-app1","vm-app2"]"#
        ),
        "{stdout}"
    );
    assert!(stdout.contains("run d1 succeeded"), "{stdout}");
    assert!(
        stdout.contains("run amended:"),
        "the history shows the amendment: {stdout}"
    );
    assert_eq!(r.vm_puts().len(), 2, "no VM PUT again");
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
}

/// Attempts are not polls, through the daemon: a run held in await-failback polls every 5
/// simulated minutes; /metrics counts the polls, `status` says `polling (n)` with attempt 1,
/// and the history does not grow with the polls.
#[test]
fn a_polled_wait_shows_polls_in_metrics_and_status_not_attempts() {
    let r = Rehearsal::start();
    let spec = r.spec_with(3, true);
    let d = r.daemon(&[]);
    let req = serde_json::json!({
        "spec_path": r.path(&spec).display().to_string(),
        "run_id": "p1",
    });
    let (status, text) =
        request(&d.socket, "POST", "/v1/runs", req.to_string().as_bytes()).expect("submit");
    assert_eq!(status, 201, "{text}");
    let metric = |name: &str| -> f64 {
        let (_, body) = get(&d.socket, "/metrics").expect("metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    let polls = || -> u64 {
        let (_, body) = get(&d.socket, "/v1/runs/p1").expect("run");
        json(&body)["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["step_id"] == "await-failback"))
            .and_then(|s| s["polls"].as_u64())
            .unwrap_or(0)
    };
    wait_until(
        Duration::from_secs(60),
        "await-failback to poll 3 times",
        || polls() >= 3,
    );
    // Only await-failback polls now (the rest succeeded): the gauges are its own.
    assert_eq!(metric("failback_steps_polling"), 1.0);
    assert!(metric("failback_step_wait_polls") >= 3.0);
    let events_then = {
        let (_, body) = get(&d.socket, "/v1/runs/p1/history").expect("history");
        json(&body)["events"].as_array().map_or(0, Vec::len)
    };
    let polls_then = polls();
    wait_until(Duration::from_secs(60), "three more polls", || {
        polls() >= polls_then + 3
    });
    let (_, body) = get(&d.socket, "/v1/runs/p1/history").expect("history");
    let events_now = json(&body)["events"].as_array().map_or(0, Vec::len);
    assert_eq!(events_now, events_then, "polls appended events");
    let out = r.run(&["status", "p1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("await-failback"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("polling ("), "{line}");
    assert!(!line.contains("attempt"), "a first attempt's polls: {line}");
}
