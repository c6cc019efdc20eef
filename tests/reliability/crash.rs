//! Crash matrix and random-kill soak: a two-network failback killed with SIGKILL — at every
//! named crash point, or at random instants including during its own resume — then resumed,
//! through the CLI and through the daemon. Each case is audited against the emulator's journal
//! and inventory (nothing created twice, nothing left after teardown) and the run's history
//! (what was recorded before the kill is still there, no step succeeded twice).

use crate::report::Family;
use crate::world::{panicked, Case};
use failback_engine::crash::ENGINE_POINTS;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::time::{Duration, Instant};

pub const STEPS: [&str; 12] = [
    "validate",
    "vnet-a/create-nic",
    "vnet-a/create-vm",
    "vnet-a/await-boot",
    "vnet-a/register",
    "vnet-b/create-nic",
    "vnet-b/create-vm",
    "vnet-b/await-boot",
    "vnet-b/register",
    "await-failback",
    "vnet-a/teardown",
    "vnet-b/teardown",
];

/// Every crash point of a two-network failback: the engine's four around each step, the
/// steps' own (between a PUT or DELETE and its checkpoint), and between polls of the steps
/// that wait (the Nth execution).
pub fn points() -> Vec<String> {
    let mut out = Vec::new();
    for s in STEPS {
        for p in ENGINE_POINTS {
            out.push(format!("{s}:{p}"));
        }
    }
    for net in ["vnet-a", "vnet-b"] {
        for own in [
            "create-nic:after-put",
            "create-vm:after-put",
            "register:after-run-command-put",
            "teardown:after-delete",
            "await-boot:before-intent@2",
            "register:before-intent@2",
            "register:before-intent@3",
            "teardown:before-intent@2",
        ] {
            out.push(format!("{net}/{own}"));
        }
    }
    out.push("await-failback:before-intent@2".into());
    out
}

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Cli,
    Daemon,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Cli => "cli",
            Mode::Daemon => "daemon",
        }
    }
}

#[derive(Default)]
struct Counts {
    duplicates: usize,
    orphans: usize,
    lost: usize,
}

pub fn matrix(rt: &tokio::runtime::Runtime, full: bool, fam: &mut Family) {
    let all = points();
    // The quick run takes every 8th point (a spread over steps and kinds) in both modes.
    let chosen: Vec<&String> = if full {
        all.iter().collect()
    } else {
        all.iter().step_by(8).collect()
    };
    let mut c = Counts::default();
    for mode in [Mode::Cli, Mode::Daemon] {
        for point in &chosen {
            let name = format!("{} {point}", mode.name());
            let result = crate::report::catch(|| crash_case(rt, mode, point, &mut c));
            fam.case(&name, result);
        }
    }
    fam.summary(format!(
        "{} points x 2 modes, {} duplicates, {} orphans, {} lost",
        chosen.len(),
        c.duplicates,
        c.orphans,
        c.lost
    ));
    fam.require_zero(c.duplicates + c.orphans + c.lost);
}

/// Kill at `point`, resume, audit.
fn crash_case(
    rt: &tokio::runtime::Runtime,
    mode: Mode,
    point: &str,
    c: &mut Counts,
) -> Result<(), String> {
    // Between polls of await-failback: the failback must not finish before the second poll,
    // however slowly the machine gets the run there, so it holds until signalled.
    let held = point.starts_with("await-failback:");
    let scenario = if held {
        crate::world::held_scenario()
    } else {
        crate::world::scenario()
    };
    let case = Case::start(rt, scenario);
    let run = "crash-1";
    match mode {
        Mode::Cli => {
            let out = case.run(&["apply", "--yes", "--run-id", run], Some(point));
            if panicked(&out) {
                return Err(format!("panic: {}", crate::world::text(&out.stderr)));
            }
            if out.status.signal() != Some(libc::SIGKILL) {
                return Err(format!(
                    "the point was not reached: apply ended with {:?}",
                    out.status
                ));
            }
        }
        Mode::Daemon => {
            let mut d = case.daemon(1, Some(point));
            if !case.daemon_ready(&mut d) {
                return Err(format!("daemon did not start: {}", d.log_text()));
            }
            // The daemon may die at the point before it answers the POST: the run was
            // created durably all the same (the history below proves it).
            let submitted = case.submit(run);
            let Some(st) = d.try_exit(Duration::from_secs(120)) else {
                return Err(format!(
                    "the point was not reached within 120 s (submit: {submitted:?}); daemon log:\n{}",
                    d.log_text()
                ));
            };
            if st.signal() != Some(libc::SIGKILL) {
                submitted?;
            }
            if st.signal() != Some(libc::SIGKILL) {
                return Err(format!(
                    "the point was not reached: daemon ended with {st:?}"
                ));
            }
        }
    }
    let before = case.history(run)?;
    if held {
        let out = case.run(&["signal", run, "failback-complete", "--yes"], None);
        if !out.status.success() {
            return Err(format!("signal: {}", crate::world::text(&out.stderr)));
        }
    }
    resume(&case, mode, run)?;
    audit(&case, run, &before, c)
}

/// Drive the run to its end after a death.
fn resume(case: &Case, mode: Mode, run: &str) -> Result<(), String> {
    match mode {
        Mode::Cli => {
            let out = case.run(&["resume", run], None);
            if !out.status.success() {
                return Err(format!(
                    "resume: {:?}: {}",
                    out.status,
                    crate::world::text(&out.stderr)
                ));
            }
        }
        Mode::Daemon => {
            let mut d = case.daemon(2, None);
            if !case.daemon_ready(&mut d) {
                return Err(format!("restarted daemon did not start: {}", d.log_text()));
            }
            let t0 = Instant::now();
            loop {
                let st = case.status(run)?;
                let state = st["run"]["state"].as_str().unwrap_or("").to_owned();
                if matches!(state.as_str(), "succeeded" | "failed" | "cancelled") {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(120) {
                    return Err(format!("run still {state} after 120 s"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            d.signal(libc::SIGTERM);
            let st = d.wait_exit(Duration::from_secs(30));
            if st.code() != Some(0) {
                return Err(format!("daemon stop: {st:?}: {}", d.log_text()));
            }
            if crate::world::file_panicked(&d.log) {
                return Err(format!("daemon panicked: {}", d.log_text()));
            }
        }
    }
    Ok(())
}

fn event_key(e: &Value) -> (u64, String, String) {
    (
        e["seq"].as_u64().unwrap_or(u64::MAX),
        e["step_id"].as_str().unwrap_or("").to_owned(),
        e["kind"]["event"].as_str().unwrap_or("").to_owned(),
    )
}

/// The run succeeded like an uninterrupted one; nothing duplicated or left; history kept.
fn audit(case: &Case, run: &str, before: &[Value], c: &mut Counts) -> Result<(), String> {
    let st = case.status(run)?;
    let mut problems = Vec::new();
    if st["run"]["state"] != "succeeded" {
        problems.push(format!(
            "run {} ({})",
            st["run"]["state"],
            st["run"]["error"].as_str().unwrap_or("")
        ));
    }
    let steps = st["steps"].as_array().cloned().unwrap_or_default();
    if steps.len() != STEPS.len() || steps.iter().any(|s| s["status"]["status"] != "succeeded") {
        problems.push("not every step succeeded".into());
    }
    let after = case.history(run)?;
    let kept = before.len() <= after.len()
        && before
            .iter()
            .zip(&after)
            .all(|(a, b)| event_key(a) == event_key(b));
    let mut succeeded = std::collections::BTreeMap::<String, usize>::new();
    for e in &after {
        if e["kind"]["event"] == "step_succeeded" {
            *succeeded
                .entry(e["step_id"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = succeeded.iter().filter(|(_, n)| **n > 1).collect();
    if !kept || !twice.is_empty() {
        c.lost += 1;
        problems.push(format!(
            "history: kept={kept}, steps succeeded twice: {twice:?}"
        ));
    }
    let a = case.audit();
    c.duplicates += a.duplicates;
    c.orphans += a.orphans.len();
    if a.duplicates > 0 {
        problems.push(format!("{} duplicate creations", a.duplicates));
    }
    if !a.orphans.is_empty() {
        problems.push(format!("left behind: {:?}", a.orphans));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Kill `child` with SIGKILL after a random delay below `max`; false if it ended first.
fn kill_at_random(child: &mut Child, max: Duration, rng: &mut impl Rng) -> bool {
    let deadline = Instant::now() + rng.random_range(Duration::ZERO..max);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child
        .wait()
        .is_ok_and(|s| s.signal() == Some(libc::SIGKILL))
}

/// Random-kill soak: runs started with `apply` and killed at random instants; every resume
/// may be killed again, until one finishes. Then the same audit as the matrix.
pub fn soak(rt: &tokio::runtime::Runtime, full: bool, seed: u64, fam: &mut Family) {
    let target = if full { 500 } else { 24 };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut c = Counts::default();
    // Kill within the time an uninterrupted run takes here.
    let window = {
        let case = Case::start(rt, crate::world::scenario());
        let t0 = Instant::now();
        let out = case.run(&["apply", "--yes", "--run-id", "soak-calibrate"], None);
        fam.case("uninterrupted run", audit_ok(&case, "soak-calibrate", &out));
        t0.elapsed()
    };
    let (mut kills, mut during_resume, mut runs) = (0usize, 0usize, 0usize);
    while kills < target {
        runs += 1;
        let case = Case::start(rt, crate::world::scenario());
        let run = format!("soak-{runs}");
        let mut first = true;
        let mut case_kills = 0;
        let mut before: Vec<Value> = Vec::new();
        let result = crate::report::catch(|| loop {
            let args: Vec<&str> = if first {
                vec!["apply", "--yes", "--run-id", &run]
            } else {
                vec!["resume", &run]
            };
            let mut child = case.spawn(&args, None);
            if case_kills < 12 && kill_at_random(&mut child, window, &mut rng) {
                kills += 1;
                case_kills += 1;
                if !first {
                    during_resume += 1;
                }
                // Killed before the run was created: apply again; else what is recorded
                // now must survive to the end.
                match case.history(&run) {
                    Ok(h) => {
                        first = false;
                        before = h;
                    }
                    Err(_) if first => {}
                    Err(e) => break Err(format!("history after a kill: {e}")),
                }
                continue;
            }
            let out = crate::daemon_support::wait_output(child, Duration::from_secs(120), &args);
            if panicked(&out) {
                break Err(format!("panic: {}", crate::world::text(&out.stderr)));
            }
            if !out.status.success() {
                break Err(format!("{args:?}: {}", crate::world::text(&out.stderr)));
            }
            break audit(&case, &run, &before, &mut c);
        });
        fam.case(&format!("{run} ({case_kills} kills)"), result);
    }
    fam.summary(format!(
        "{kills} kills ({during_resume} during resume) over {runs} runs of ~{} ms, {} duplicates, {} orphans, {} lost",
        window.as_millis(),
        c.duplicates,
        c.orphans,
        c.lost
    ));
    fam.require_zero(c.duplicates + c.orphans + c.lost);
}

fn audit_ok(case: &Case, run: &str, out: &std::process::Output) -> Result<(), String> {
    if !out.status.success() {
        return Err(crate::world::text(&out.stderr));
    }
    audit(case, run, &[], &mut Counts::default())
}
