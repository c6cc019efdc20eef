//! The cancel table of docs/cli.md through the real binary and the emulator, for the cell an
//! operator hit: `cancel --teardown` of a run cancelled before (plainly) deletes what the run
//! created. Every cell of the table is covered in-process by `engine/tests/cancel_table.rs`.

mod support;

use predicates::prelude::*;
use std::os::unix::process::ExitStatusExt;
use support::*;

#[test]
fn teardown_of_a_run_cancelled_before_deletes_what_it_created() {
    let r = Rehearsal::start();
    // Both networks created and registered; the run is stored waiting in await-failback.
    let out = r
        .failback_std(&["apply", "--yes", "--run-id", "c1"])
        .env("FAILBACK_CRASH_AT", "await-failback:after-outcome")
        .status()
        .unwrap();
    assert_eq!(out.signal(), Some(libc::SIGKILL));
    let made = r.left_behind();
    assert_eq!(
        made.len(),
        10,
        "2 VMs, 2 NICs, 4 disks, 2 Run Commands: {made:?}"
    );
    r.failback(&["cancel", "c1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run c1 cancelled"));
    assert_eq!(r.left_behind(), made, "a plain cancel deletes nothing");
    r.failback(&["cancel", "c1", "--teardown", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("vnet-a/create-vm       undone"))
        .stdout(predicate::str::contains("run c1 cancelled"));
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
    assert_eq!(r.vm_puts(), 2, "nothing was created again");
    // Torn down: a plain cancel is refused, a second teardown finds nothing to undo.
    r.failback(&["cancel", "c1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already cancelled"));
    r.failback(&["cancel", "c1", "--teardown", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run c1 cancelled"));
    assert!(r.left_behind().is_empty());
}
