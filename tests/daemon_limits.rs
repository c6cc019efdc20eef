//! `failback daemon` as a real process under abuse: concurrent creates of one run id, run ids
//! that name directories, a token file others can read, health and its metric.

mod daemon_support;

use daemon_support::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn post_run(socket: &std::path::Path, spec: &std::path::Path, id: &str) -> (u16, String) {
    let body = serde_json::json!({ "spec_path": spec, "run_id": id }).to_string();
    request(socket, "POST", "/v1/runs", body.as_bytes()).expect("POST /v1/runs")
}

#[test]
fn concurrent_creates_of_one_id_give_one_201_and_409s_and_dot_ids_are_refused() {
    let r = Rehearsal::start();
    let d = r.daemon(&[]);
    let spec = r.path(&r.spec_with(1, true));

    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| post_run(&d.socket, &spec, "same-id")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let created = answers.iter().filter(|(st, _)| *st == 201).count();
    let conflicts = answers.iter().filter(|(st, _)| *st == 409).count();
    assert_eq!(
        (created, conflicts),
        (1, 19),
        "answers: {:?}",
        answers
            .iter()
            .map(|(s, b)| format!("{s} {b}"))
            .collect::<Vec<_>>()
    );
    // One run, created once.
    let (st, body) = get(&d.socket, "/v1/runs/same-id/history").expect("history");
    assert_eq!(st, 200, "{body}");
    let created_events = json(&body)["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"]["event"] == "run_created")
        .count();
    assert_eq!(created_events, 1, "{body}");

    for id in [".", ".."] {
        let (st, body) = post_run(&d.socket, &spec, id);
        assert_eq!(st, 400, "run id {id:?}: {body}");
        assert!(body.contains("not . or .."), "{body}");
    }

    let (st, body) = get(&d.socket, "/v1/health").expect("health");
    assert_eq!(st, 200, "{body}");
    assert_eq!(json(&body)["healthy"], true, "{body}");
    let (st, metrics) = get(&d.socket, "/metrics").expect("metrics");
    assert_eq!(st, 200);
    assert!(
        metrics.contains("\nfailback_engine_healthy 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("failback_api_connection_limit{listener=\"unix\"}"),
        "{metrics}"
    );
}

#[test]
fn a_token_file_others_can_read_is_refused() {
    let r = Rehearsal::start();
    let token = r.path("token");
    std::fs::write(&token, "0123456789abcdef-daemon-test-token\n").expect("token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let started = std::time::Instant::now();
    let out = r.run(&[
        "daemon",
        "--listen-tcp",
        "127.0.0.1:0",
        "--token-file",
        "token",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Named as given on the command line (relative to the daemon's directory).
    assert!(
        err.contains("the token file token can be read by group or others"),
        "{err}"
    );
    assert!(err.contains("chmod 600 token"), "{err}");
}
