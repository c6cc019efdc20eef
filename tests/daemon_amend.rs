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
    let req = serde_json::json!({ "amend": { "input": input, "changes": ["nothing"] } });
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
