//! Test support for end-to-end tests of the real `failback` binary: an emulator (HTTPS,
//! accelerated clock) in this process, a spec and environment for it, and short ways to run
//! the binary against them.
#![allow(dead_code)]

use assert_cmd::Command;
use failback_sim::SimHandle;
use std::path::{Path, PathBuf};

pub const SPEED: f64 = 1000.0;
pub const PS_PASSWORD: &str = "E2e-Unique-Passw0rd!77";

pub struct Rehearsal {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    rt: tokio::runtime::Runtime,
}

impl Rehearsal {
    pub fn start() -> Self {
        Self::with(failback::commands::demo::scenario())
    }

    pub fn with(scenario: failback_sim::Scenario) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let r = rt
            .block_on(failback::rehearsal::Rehearsal::start(
                scenario,
                SPEED,
                dir.path(),
                PS_PASSWORD,
            ))
            .expect("rehearsal");
        Self {
            sim: r.sim,
            dir,
            env: r.env,
            rt,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Override one environment variable for later commands.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// `failback ARGS` in the rehearsal directory with its environment.
    pub fn failback(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("failback").expect("binary");
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("FAILBACK_CRASH_AT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .timeout(std::time::Duration::from_secs(120));
        c
    }

    /// The same as a plain std command (for killing it).
    pub fn failback_std(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("failback"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("FAILBACK_CRASH_AT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    }

    pub fn count(&self, method: &str, needle: &str) -> usize {
        failback::rehearsal::count(&self.sim, method, needle)
    }

    /// PUTs of VMs (not of their Run Commands).
    pub fn vm_puts(&self) -> usize {
        failback::rehearsal::vm_put_paths(&self.sim).len()
    }

    pub fn left_behind(&self) -> Vec<String> {
        failback::rehearsal::left_behind(&self.sim)
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
