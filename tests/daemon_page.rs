//! The status page and `--paused`: a run held in await-failback is shown with its steps (in
//! the served HTML, and as rendered by headless Chromium); a daemon started
//! with `--paused` pauses it until an operator resumes it.

mod daemon_support;

use daemon_support::*;
use std::time::Duration;

const RUN: &str = "page-run";

#[test]
fn status_page_shows_runs_and_paused_start_holds_them() {
    let r = Rehearsal::start();
    let mut d = r.daemon(&[]);
    let spec = r.path(&r.spec_with(0, true));
    let body = serde_json::json!({ "spec_path": spec.display().to_string(), "run_id": RUN });
    let (status, text) =
        request(&d.socket, "POST", "/v1/runs", body.to_string().as_bytes()).expect("submit");
    assert_eq!(status, 201, "{text}");
    let (status, text) =
        request(&d.socket, "POST", "/v1/runs", body.to_string().as_bytes()).expect("again");
    assert_eq!(status, 409, "{text}");
    // The run is also "waiting" while a step waits out a retry (a slow machine times out
    // a request now and then), and await-failback is "running" for the instant of each
    // poll: wait for a page that shows the run held in await-failback.
    let mut html = String::new();
    wait_until(
        Duration::from_secs(60),
        "the page to show the run held in await-failback",
        || {
            html = get(&d.socket, "/")
                .map(|(_, page)| page)
                .unwrap_or_default();
            html.contains(r#"data-step="await-failback" data-status="waiting""#)
        },
    );
    for needle in [
        RUN,
        "data-step=\"validate\"",
        "data-step=\"vnet-a/create-vm\"",
        "data-step=\"await-failback\"",
        "data-status=\"succeeded\"",
        "data-status=\"waiting\"",
    ] {
        assert!(html.contains(needle), "page lacks {needle}:\n{html}");
    }
    chromium_renders(&r, &html);

    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(0));
    let d = r.daemon(&["--paused"]);
    assert_eq!(run_states(&d.socket)[RUN], "paused");
    let (status, text) =
        request(&d.socket, "POST", &format!("/v1/runs/{RUN}/resume"), b"").expect("resume");
    assert_eq!(status, 200, "{text}");
    let out = r.run(&["signal", RUN, "failback-complete", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(run_states(&d.socket)[RUN], "succeeded");
}

/// Load the page in headless Chromium and check the rendered DOM still shows the run and its
/// steps. Debian's `chromium` is required (`.ci/run` installs it); without it the test fails.
fn chromium_renders(r: &Rehearsal, html: &str) {
    let file = r.path("status.html");
    std::fs::write(&file, html).expect("write page");
    // A fresh profile, and none of Chromium's own network traffic: on a closed network its
    // background fetches fail slowly and can stall the dump.
    let profile = r.path("chromium-profile");
    let child = chromium()
        .args([
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", file.display()),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn chromium");
    let out = wait_output(child, Duration::from_secs(120), &["chromium"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [RUN, "vnet-a/create-vm", "await-failback"] {
        assert!(dom.contains(needle), "rendered DOM lacks {needle}");
    }
}
