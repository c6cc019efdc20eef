//! Destructive verbs ask on a terminal: `cancel --teardown` run on a pseudo-terminal (Python's
//! `pty.spawn`, so the binary's stdin really is a tty) shows what it will delete and asks;
//! anything but `yes` deletes nothing, `yes` tears the run down. Without a terminal and without
//! `--yes` it refuses, naming `--yes` (also in tests/one_surface.rs, both ways).

mod support;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use support::*;

/// `failback ARGS` on a pseudo-terminal, `answer` typed into it: (exit code, what it showed).
fn on_tty(r: &Rehearsal, args: &[&str], answer: &str) -> (Option<i32>, String) {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)",
    ])
    .arg(assert_cmd::cargo::cargo_bin("failback"))
    .args(args)
    .current_dir(r.dir.path())
    .env_remove("FAILBACK_CRASH_AT")
    .envs(r.env().iter().map(|(k, v)| (k, v)))
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("python3 with pty");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answer.as_bytes())
        .expect("answer");
    let out = child.wait_with_output().expect("wait");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!shown.contains("panicked"), "{shown}");
    (out.status.code(), shown)
}

#[test]
fn cancel_teardown_asks_on_a_terminal() {
    let r = Rehearsal::start();
    // Both networks created and registered; the run is stored waiting in await-failback.
    let died = r
        .failback_std(&["apply", "--yes", "--run-id", "t1"])
        .env("FAILBACK_CRASH_AT", "await-failback:after-outcome")
        .status()
        .expect("apply");
    assert_eq!(died.signal(), Some(libc::SIGKILL));
    let made = r.left_behind();
    assert_eq!(made.len(), 10, "{made:?}");

    let (code, shown) = on_tty(&r, &["cancel", "t1", "--teardown"], "no\n");
    assert!(shown.contains("deletes what it created"), "{shown}");
    assert!(shown.contains("virtualMachines/ps-vnet-a-"), "{shown}");
    assert!(shown.contains("Only 'yes' is accepted"), "{shown}");
    assert_eq!(code, Some(1), "{shown}");
    assert_eq!(r.left_behind(), made, "declined, yet deleted");

    let (code, shown) = on_tty(&r, &["cancel", "t1", "--teardown"], "yes\n");
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("run t1 cancelled"), "{shown}");
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
}
