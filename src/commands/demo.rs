//! `failback demo`: a whole two-network failback against the embedded emulator, with a real
//! crash of the `apply` process in the middle and a `resume` in a new process, then the
//! timeline and a summary (runs, steps, ARM requests, what is left in "Azure": nothing).

use crate::rehearsal::{count, left_behind, vm_put_paths, Rehearsal};
use crate::render::fmt_duration;
use anyhow::{bail, Context, Result};
use failback_sim::SimHandle;
use failback_state::{RunFilter, StateStore, StepStatus};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RUN: &str = "demo-run";
/// Where the apply process is made to die: after the VM PUT of the second network, before
/// the checkpoint that records it.
const CRASH_AT: &str = "vnet-b/create-vm:after-put";

pub use crate::rehearsal::{scenario, spec_text};

fn random_password() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("Demo-{n:016x}-Pw!")
}

struct Child<'a> {
    exe: PathBuf,
    env: Vec<(String, String)>,
    dir: &'a Path,
}

impl Child<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args)
            .current_dir(self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
}

/// A section heading; the bracket is real seconds since the demo started.
fn banner(t0: Instant, text: &str) {
    crate::outln!("\n=== [{:>5.1}s] {text}", t0.elapsed().as_secs_f64());
}

pub async fn run(speed: f64, dir: Option<PathBuf>) -> Result<i32> {
    let t0 = Instant::now();
    let tmp;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            tmp = tempfile::tempdir().context("temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    banner(
        t0,
        &format!("starting the Azure emulator (HTTPS, clock x{speed})"),
    );
    let rehearsal = Rehearsal::start(scenario(), speed, &dir, &random_password()).await?;
    let sim = &rehearsal.sim;
    let sim_t0 = sim.now_ms();
    let child = Child {
        exe: std::env::current_exe().context("locating the failback binary")?,
        env: rehearsal.env.clone(),
        dir: &dir,
    };
    crate::outln!(
        "emulator at {}; spec written to {}",
        sim.base_url(),
        rehearsal.spec_path.display()
    );
    crate::outln!("{}", clock_note(speed));
    drive(t0, &child, sim)?;
    let left = summary(t0, &dir, sim, sim_t0)?;
    rehearsal.sim.shutdown().await;
    banner(t0, "demo finished");
    Ok(if left == 0 {
        super::EXIT_OK
    } else {
        super::EXIT_FAILED
    })
}

/// Says whose clock the printed times are.
fn clock_note(speed: f64) -> String {
    let hour = 3600.0 / speed;
    format!(
        "Times below (timestamps, \"waiting 4m 59s\", \"2m ago\") are the emulator's clock, \
         accelerated x{speed}: a simulated hour passes in {hour:.1} real seconds.\n\
         The [n.ns] in the === banners are real seconds since the demo started."
    )
}

/// apply (it prints the plan, then dies at the crash point), status, resume, history, and
/// the finished run's plan.
fn drive(t0: Instant, child: &Child<'_>, sim: &SimHandle) -> Result<()> {
    banner(
        t0,
        &format!(
            "failback apply: the plan, then the run; this process will be killed at {CRASH_AT}"
        ),
    );
    let status = child
        .cmd(&["apply", "--yes", "--spec", "failback.toml", "--run-id", RUN])
        .env("FAILBACK_CRASH_AT", CRASH_AT)
        .status()?;
    match status.signal() {
        Some(sig) => {
            crate::outln!("apply process died (signal {sig}) — the run is checkpointed on disk")
        }
        None => bail!("apply was expected to crash at {CRASH_AT}, but exited with {status}"),
    }
    crate::outln!("VM PUTs sent so far: {}", vm_put_paths(sim).len());

    banner(t0, "failback status after the crash");
    child.cmd(&["status", RUN]).status()?;

    banner(
        t0,
        "failback resume (a new process picks the run up where it stopped)",
    );
    let status = child.cmd(&["resume", RUN]).status()?;
    if !status.success() {
        bail!("resume did not complete the run: {status}");
    }

    banner(t0, "timeline (failback history)");
    child.cmd(&["history", RUN]).status()?;

    banner(
        t0,
        "failback plan --run (the finished run: nothing left to do; its summary line)",
    );
    let out = child.cmd(&["plan", "--run", RUN]).output()?;
    if !out.status.success() {
        bail!("plan of the finished run failed: {}", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    crate::outln!(
        "{}",
        text.trim_end().rsplit("\n\n").next().unwrap_or_default()
    );
    Ok(())
}

/// `3 succeeded, 1 failed`, by count of each state name.
fn tally<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for n in names {
        *by.entry(n).or_default() += 1;
    }
    let parts: Vec<String> = by.iter().map(|(k, n)| format!("{n} {k}")).collect();
    parts.join(", ")
}

/// The closing figures, read from the store the child processes left and from the emulator.
/// Returns how many resources were left behind.
fn summary(t0: Instant, dir: &Path, sim: &SimHandle, sim_t0: i64) -> Result<usize> {
    banner(t0, "summary");
    let store = StateStore::open(&dir.join("state").join("store"))
        .map_err(|e| anyhow::anyhow!("opening the demo's store: {e}"))?;
    let runs = store
        .list_runs(&RunFilter::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut steps = Vec::new();
    for r in &runs {
        steps.extend(
            store
                .load_steps(&r.id)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    drop(store);
    crate::outln!(
        "runs:            {} ({})",
        runs.len(),
        tally(runs.iter().map(|r| r.state.as_str()))
    );
    crate::outln!(
        "steps:           {} ({})",
        steps.len(),
        tally(steps.iter().map(|s| s.status.name()))
    );
    crate::outln!(
        "ARM requests:    {} (NIC PUTs {}, VM PUTs {}: one per network, the PUT cut off by the crash was not sent again; run-command PUTs {})",
        sim.journal().len(),
        count(sim, "PUT", "/networkInterfaces/"),
        vm_put_paths(sim).len(),
        count(sim, "PUT", "/runCommands/")
    );
    let notes = steps
        .iter()
        .filter(|s| match &s.status {
            StepStatus::Succeeded { output } => output.get("note").is_some(),
            _ => false,
        })
        .count();
    if notes > 0 {
        crate::outln!(
            "left to you:     {notes} manual step(s): remove each process server from the configuration server (`failback status {RUN}` says how)"
        );
    }
    let left = left_behind(sim);
    match left.len() {
        0 => crate::outln!("resources left:  none"),
        n => crate::outln!("resources left:  {n}: {}", left.join(", ")),
    }
    let simulated = u64::try_from(sim.now_ms() - sim_t0).unwrap_or(0);
    crate::outln!(
        "time:            {:.1} s real; {} on the emulator's clock (x{})",
        t0.elapsed().as_secs_f64(),
        fmt_duration(simulated),
        sim.clock_speed()
    );
    Ok(left.len())
}
