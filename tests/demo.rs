//! `failback demo` end to end: the plan printed once (by apply), the emulator's accelerated
//! clock named as such, a real crash and resume, and the closing summary.

use assert_cmd::Command;

/// Slower than the default x400, so a loaded machine's stalls stay short in simulated time.
const SPEED: &str = "200";

#[test]
fn demo_prints_the_plan_once_marks_the_emulator_clock_and_ends_with_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::cargo_bin("failback")
        .expect("binary")
        .args(["demo", "--speed", SPEED, "--dir"])
        .arg(dir.path())
        .env_remove("FAILBACK_CRASH_AT")
        .env_remove("FAILBACK_STATE_DIR")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let plans = stdout.matches("Workflow failback v1 (new run)").count();
    assert_eq!(plans, 1, "the plan is printed once:\n{stdout}");
    assert_eq!(stdout.matches("\nPlan: ").count(), 1, "{stdout}");
    assert!(
        stdout.contains(&format!("are the emulator's clock, accelerated x{SPEED}")),
        "{stdout}"
    );
    assert!(stdout.contains("apply process died (signal"), "{stdout}");
    assert!(stdout.contains("run demo-run succeeded"), "{stdout}");
    assert!(stdout.contains("No changes. 12 done"), "{stdout}");

    let summary = stdout
        .split_once("] summary\n")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    for line in [
        "runs:            1 (1 succeeded)",
        "steps:           12 (12 succeeded)",
        "resources left:  none",
        "VM PUTs 2: one per network",
        "left to you:     2 manual step(s): remove each process server from the configuration server",
    ] {
        assert!(summary.contains(line), "no {line:?} in:\n{summary}");
    }
    let time = summary
        .lines()
        .find(|l| l.starts_with("time:"))
        .unwrap_or_default();
    assert!(time.contains(" s real; "), "{time}");
    assert!(
        time.ends_with(&format!("on the emulator's clock (x{SPEED})")),
        "{time}"
    );
}
