//! `failback demo`: a whole two-network failback against the embedded emulator, with a real
//! crash of the `apply` process in the middle and a `resume` in a new process, then the
//! timeline and what is left in "Azure" (nothing).

use crate::rehearsal::{count, left_behind, vm_put_paths, Rehearsal};
use anyhow::{bail, Context, Result};
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

fn banner(t0: Instant, text: &str) {
    println!("\n=== [{:>5.1}s] {text}", t0.elapsed().as_secs_f64());
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
    let spec_path = rehearsal.spec_path.clone();
    let child = Child {
        exe: std::env::current_exe().context("locating the failback binary")?,
        env: rehearsal.env.clone(),
        dir: &dir,
    };
    println!(
        "emulator at {}; spec written to {}",
        sim.base_url(),
        spec_path.display()
    );

    banner(t0, "failback plan (dry run: nothing is created)");
    let status = child
        .cmd(&["plan", "--spec", "failback.toml", "--run-id", RUN])
        .status()?;
    if !status.success() {
        bail!("plan failed: {status}");
    }

    banner(
        t0,
        &format!("failback apply — this process will be killed at {CRASH_AT}"),
    );
    let status = child
        .cmd(&["apply", "--yes", "--spec", "failback.toml", "--run-id", RUN])
        .env("FAILBACK_CRASH_AT", CRASH_AT)
        .status()?;
    match status.signal() {
        Some(sig) => {
            println!("apply process died (signal {sig}) — the run is checkpointed on disk")
        }
        None => bail!("apply was expected to crash at {CRASH_AT}, but exited with {status}"),
    }
    let vm_puts = vm_put_paths(sim).len();
    println!("VM PUTs sent so far: {vm_puts}");

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
        "failback plan --run (the finished run: nothing left to do)",
    );
    let status = child.cmd(&["plan", "--run", RUN]).status()?;
    if !status.success() {
        bail!("plan of the finished run failed: {status}");
    }

    banner(t0, "what is left in the emulator");
    let left = left_behind(sim);
    println!(
        "NIC PUTs: {}, VM PUTs: {} (one per network; the crashed PUT was not sent again), run-command PUTs: {}",
        count(sim, "PUT", "/networkInterfaces/"),
        vm_put_paths(sim).len(),
        count(sim, "PUT", "/runCommands/")
    );
    println!("ARM requests in all: {}", sim.journal().len());
    if left.is_empty() {
        println!("resources left behind: none");
    } else {
        for id in &left {
            println!("left behind: {id}");
        }
    }
    rehearsal.sim.shutdown().await;
    banner(t0, "demo finished");
    Ok(if left.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_FAILED
    })
}
