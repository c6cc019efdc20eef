//! Amending a failed run (`failback retry RUN --spec FILE`) through the binary and the
//! emulator: a protected item that was gone by the time `await-failback` looked fails the run;
//! a spec changing a created resource's identity is refused with nothing changed; the fixed
//! spec is shown as a difference, recorded in the history, and the run completes without
//! creating anything twice.

mod support;

use predicates::prelude::*;
use std::os::unix::process::ExitStatusExt;
use support::*;

fn write_variant(r: &Rehearsal, name: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(r.path("failback.toml")).unwrap();
    assert!(text.contains(from), "{from} not in the spec");
    std::fs::write(r.path(name), text.replace(from, to)).unwrap();
}

#[test]
fn retry_with_a_fixed_spec_completes_the_run_without_creating_twice() {
    let r = Rehearsal::start();
    let items = r#"protected_items = ["vm-app1", "vm-app2"]"#;
    write_variant(
        &r,
        "misspelt.toml",
        items,
        r#"protected_items = ["vm-app1", "vm-ap2"]"#,
    );
    write_variant(&r, "moved-ip.toml", "10.1.0.10", "10.1.0.11");
    // The vault knows the item as vm-ap2 while the run is planned and validated…
    assert_eq!(r.sim.rename_protected_item("vm-app2", "vm-ap2"), 1);
    let out = r
        .failback_std(&[
            "apply",
            "--yes",
            "--run-id",
            "a1",
            "--spec",
            "misspelt.toml",
        ])
        .env("FAILBACK_CRASH_AT", "await-failback:before-intent")
        .status()
        .unwrap();
    assert_eq!(out.signal(), Some(libc::SIGKILL));
    // …and as vm-app2 again when await-failback looks.
    assert_eq!(r.sim.rename_protected_item("vm-ap2", "vm-app2"), 1);
    r.failback(&["resume", "a1"])
        .assert()
        .failure()
        .stdout(predicate::str::contains("ProtectedItemNotFound"))
        .stdout(predicate::str::contains("vm-ap2"));
    let (nics, vms) = (r.count("PUT", "/networkInterfaces/"), r.vm_puts());
    assert_eq!((nics, vms), (2, 2), "one NIC and one VM PUT per network");

    // A change to a created resource's identity is refused, naming why; nothing changes.
    r.failback(&["retry", "a1", "--spec", "moved-ip.toml"])
        .assert()
        .failure()
        .stdout(predicate::str::contains(
            "network[0].private_ip: \"10.1.0.10\" -> \"10.1.0.11\"",
        ))
        .stderr(predicate::str::contains("changes the IP of NIC"))
        .stderr(predicate::str::contains("not amended, nothing changed"));
    r.failback(&["status", "a1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("failed"));

    // The fixed spec: the difference is shown, applied, and the run completes.
    r.failback(&["retry", "a1", "--spec", "failback.toml"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Amending run a1 with failback.toml (1 change):",
        ))
        .stdout(predicate::str::contains(
            r#"~ failback.protected_items: ["vm-app1","vm-ap2"] -> ["vm-app1","vm-app2"]"#,
        ))
        .stdout(predicate::str::contains("run a1 succeeded"));
    r.failback(&["history", "a1"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            r#"run amended: failback.protected_items: ["vm-app1","vm-ap2"] -> ["vm-app1","vm-app2"]"#,
        ));
    assert_eq!(r.count("PUT", "/networkInterfaces/"), 2, "no NIC PUT again");
    assert_eq!(r.vm_puts(), 2, "no VM PUT again");
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
    // A succeeded run is not amended.
    r.failback(&["retry", "a1", "--spec", "misspelt.toml"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "run a1 is succeeded; only a failed run can be retried and amended",
        ));
}
