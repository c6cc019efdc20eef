//! One case's world: a fresh emulator (HTTPS, accelerated clock) with the two-network spec,
//! its own state directory, and the `failback` binary run against them as real processes.

use crate::daemon_support::{request, Daemon};
use failback_sim::{Scenario, SimHandle};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Distinctive secret values: the secrets family looks for them everywhere.
pub const PS_PASSWORD: &str = "Suite-PS-Passw0rd!Zq81x";
pub const SPEED: f64 = 1000.0;
/// The longest any single command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(180);

pub struct Case {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

/// The demo scenario with short timings: a whole failback is about a second of real time,
/// yet boot, registration and failback each take more than one poll.
pub fn scenario() -> Scenario {
    failback::commands::demo::scenario().with_test_timings(300.0)
}

/// [`scenario`] where failbacks complete only when an operator signals it (runs hold in
/// await-failback), with quota for several runs at once.
pub fn held_scenario() -> Scenario {
    let mut s = scenario();
    for sub in &mut s.subscriptions {
        for v in &mut sub.vaults {
            for f in &mut v.failback_scripts {
                f.complete_after_secs = 1e12;
            }
        }
        for region in &mut sub.regions {
            for limit in region.quota.values_mut() {
                *limit = (*limit).max(1_000);
            }
        }
    }
    s
}

/// Copy a state directory (not its socket or logs).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)?.flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()))?;
        } else if e.file_name() != "failback.sock" && p.extension().is_none_or(|x| x != "log") {
            std::fs::copy(&p, to.join(e.file_name()))?;
        }
    }
    Ok(())
}

impl Case {
    /// What the operator does on the configuration server after a failback (docs/operations.md,
    /// "After teardown"): unregister every Azure process server. Until then a new run on the
    /// same IPs is blocked by the stale entries.
    pub fn unregister_process_servers(&self) {
        for ps in self.sim.inventory().process_servers {
            if !ps.on_prem {
                self.sim.unregister_process_server(&ps.ip_address);
            }
        }
    }

    /// Another spec file `name` in the case directory: the same, with its own private IPs
    /// (x.x.0.`host` instead of x.x.0.10), so several runs can hold NICs at once.
    pub fn spec_with_host(&self, name: &str, host: u8) -> Result<(), String> {
        let spec =
            std::fs::read_to_string(self.path("failback.toml")).map_err(|e| e.to_string())?;
        let spec = spec
            .replace("10.1.0.10\"", &format!("10.1.0.{host}\""))
            .replace("10.2.0.10\"", &format!("10.2.0.{host}\""));
        std::fs::write(self.path(name), spec).map_err(|e| e.to_string())
    }

    pub fn start(rt: &tokio::runtime::Runtime, scenario: Scenario) -> Case {
        Self::start_at(rt, scenario, SPEED)
    }

    pub fn start_at(rt: &tokio::runtime::Runtime, scenario: Scenario, speed: f64) -> Case {
        let config = failback_sim::SimConfig {
            scenario,
            clock_speed: speed,
            tls: true,
            ..failback_sim::SimConfig::default()
        };
        Self::start_config(rt, config, tempfile::tempdir().expect("tempdir"))
    }

    /// With a full emulator configuration, in `dir`.
    pub fn start_config(
        rt: &tokio::runtime::Runtime,
        config: failback_sim::SimConfig,
        dir: tempfile::TempDir,
    ) -> Case {
        let r = rt
            .block_on(failback::rehearsal::Rehearsal::start_with(
                config,
                dir.path(),
                PS_PASSWORD,
            ))
            .expect("emulator");
        Case {
            sim: r.sim,
            dir,
            env: r.env,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }
    pub fn socket(&self) -> PathBuf {
        self.state_dir().join("failback.sock")
    }
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `failback ARGS`, optionally with a crash point.
    pub fn command(&self, args: &[&str], crash: Option<&str>) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_failback"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("FAILBACK_CRASH_AT")
            .env_remove("RUST_LOG")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(point) = crash {
            c.env("FAILBACK_CRASH_AT", point);
        }
        c
    }

    pub fn spawn(&self, args: &[&str], crash: Option<&str>) -> Child {
        self.command(args, crash).spawn().expect("spawn failback")
    }

    /// Run to completion (bounded).
    pub fn run(&self, args: &[&str], crash: Option<&str>) -> Output {
        let child = self.spawn(args, crash);
        crate::daemon_support::wait_output(child, COMMAND_LIMIT, args)
    }

    /// `failback daemon`, its stderr in `daemon-<n>.log`.
    pub fn daemon(&self, n: usize, crash: Option<&str>) -> Daemon {
        let log = self.path(&format!("daemon-{n}.log"));
        let mut c = self.command(&["daemon", "--grace", "10s"], crash);
        c.stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"));
        let child = c.spawn().expect("spawn daemon");
        Daemon {
            child,
            log,
            socket: self.socket(),
        }
    }

    /// Wait for the daemon's API (false if it died first).
    pub fn daemon_ready(&self, d: &mut Daemon) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(_)) = d.child.try_wait() {
                return false;
            }
            if crate::daemon_support::get(&d.socket, "/v1/health").is_ok_and(|(s, _)| s == 200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// POST the spec as run `run_id` to the daemon.
    pub fn submit(&self, run_id: &str) -> Result<(), String> {
        let spec =
            std::fs::read_to_string(self.path("failback.toml")).map_err(|e| e.to_string())?;
        let body = serde_json::json!({"spec_toml": spec, "run_id": run_id}).to_string();
        match request(&self.socket(), "POST", "/v1/runs", body.as_bytes()) {
            Ok((201, _)) => Ok(()),
            Ok((st, text)) => Err(format!("POST /v1/runs: {st} {text}")),
            Err(e) => Err(format!("POST /v1/runs: {e}")),
        }
    }

    /// The run's history as JSON values (store or daemon, whichever is up).
    pub fn history(&self, run: &str) -> Result<Vec<Value>, String> {
        let out = self.run(&["history", run, "--output", "json"], None);
        parse_json(&out)?["events"]
            .as_array()
            .cloned()
            .ok_or_else(|| "history is not a list".into())
    }

    /// `failback status RUN --output json`.
    pub fn status(&self, run: &str) -> Result<Value, String> {
        parse_json(&self.run(&["status", run, "--output", "json"], None))
    }

    /// Journal and inventory of this case's emulator against what one clean run does.
    pub fn audit(&self) -> Audit {
        let mut creates: BTreeMap<String, usize> = BTreeMap::new();
        for e in self.sim.journal() {
            let path = e.path.split('?').next().unwrap_or_default().to_lowercase();
            if e.method == "PUT"
                && e.status == 201
                && (path.contains("/virtualmachines/") || path.contains("/networkinterfaces/"))
            {
                *creates.entry(path).or_default() += 1;
            }
        }
        let vms = creates
            .keys()
            .filter(|p| p.contains("/virtualmachines/") && !p.contains("/runcommands/"))
            .count();
        let ps = self
            .sim
            .inventory()
            .process_servers
            .iter()
            .filter(|p| !p.on_prem)
            .count();
        Audit {
            duplicates: creates.values().map(|n| n - 1).sum::<usize>()
                + vms.saturating_sub(2)
                + ps.saturating_sub(2),
            orphans: failback::rehearsal::left_behind(&self.sim),
        }
    }
}

pub struct Audit {
    /// Resources created twice, VMs beyond one per network, process servers beyond one
    /// per network.
    pub duplicates: usize,
    /// Resources created through the API that still exist.
    pub orphans: Vec<String>,
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn parse_json(out: &Output) -> Result<Value, String> {
    if !out.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            text(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("not JSON ({e}): {}", text(&out.stdout)))
}

/// A panic in any output of the binary.
pub fn panicked(out: &Output) -> bool {
    out.status.code() == Some(101) || text(&out.stderr).contains("panicked at")
}

pub fn file_panicked(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|s| s.contains("panicked at"))
}
