//! `failback daemon` at scale, as a real process against the emulator (HTTPS, zero timings,
//! clock x1000): (a) N runs held in await-failback by one daemon — its RSS, and the time from
//! spawning a restarted daemon to its API reporting every run back on its timer; (b) M runs
//! submitted at once through the whole DAG — runs per second.
//!
//! `cargo bench -p failback --bench daemon`; `FB_BENCH_SCALE=0.1` scales N and M down.
//! Runs are submitted with POST /v1/runs, 64 at a time.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;

use daemon_support::{get, json, request, Daemon};
use failback_sim::scenario::{FailbackScriptDef, Scenario};
use failback_sim::{SimConfig, SimHandle};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SPEED: f64 = 1000.0;
/// Held runs for (a) (the goal's 10,000: about two minutes here to get them all to
/// await-failback) and runs through the DAG for (b).
const HELD_RUNS: usize = 10_000;
const DAG_RUNS: usize = 1_000;
const SUBMIT_CONCURRENCY: usize = 64;
/// Held runs submitted at once.
const WAVE: usize = 500;

struct Env {
    sim: SimHandle,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    spec: String,
    _rt: tokio::runtime::Runtime,
}

/// Runs per shard: one /24 subnet per network and one configuration server (VMware fabric)
/// per shard, as an operator with thousands of machines would have. A fabric GET lists every
/// process server registered with it (as in Azure), so all runs on one fabric would make
/// registration O(N) per run and the bench O(N²) in the emulator, not in the daemon.
const SHARD: usize = 250;

/// The demo scenario with zero timings, `shards` copies of each network (`vnet-a`, `vnet-a-1`,
/// …: `10.1.k.0/24`) and of the configuration server (`cs-fabric`, `cs-fabric-1`, …:
/// `10.0.k.10`), no server-side throttling; with `held`, vm-db1's failback never completes.
fn scenario(held: bool, shards: usize) -> Scenario {
    let mut s = failback::commands::demo::scenario();
    s.throttle.enabled = false;
    let t = &mut s.timings;
    for v in [
        &mut t.nic_put_secs,
        &mut t.nic_delete_secs,
        &mut t.vm_create_secs,
        &mut t.vm_update_secs,
        &mut t.vm_delete_secs,
        &mut t.vm_force_delete_secs,
        &mut t.agent_ready_secs,
        &mut t.disk_delete_secs,
        &mut t.run_command_secs,
        &mut t.run_command_delete_secs,
        &mut t.registration_run_secs,
        &mut t.registration_delay_secs,
        &mut t.nic_reservation_secs,
        &mut t.reprotect_secs,
        &mut t.failover_secs,
        &mut t.commit_secs,
    ] {
        *v = 0.0;
    }
    t.compute_retry_after_secs = 1;
    t.network_retry_after_secs = 1;
    t.asr_retry_after_secs = 1;
    for sub in &mut s.subscriptions {
        for region in &mut sub.regions {
            for limit in region.quota.values_mut() {
                *limit = (*limit).max(1_000_000_000);
            }
        }
        let base = sub.vnets.clone();
        for vnet in &mut sub.vnets {
            vnet.address_prefixes = vec![vnet.address_prefixes[0].replace(".0.0/16", ".0.0/24")];
        }
        for k in 1..shards {
            for v in &base {
                let mut v = v.clone();
                let net = |p: &str| {
                    p.replace(".0.0/16", &format!(".{k}.0/24"))
                        .replace(".0.0/24", &format!(".{k}.0/24"))
                };
                v.name = format!("{}-{k}", v.name);
                v.address_prefixes = v.address_prefixes.iter().map(|p| net(p)).collect();
                for subnet in &mut v.subnets {
                    subnet.address_prefix = subnet.address_prefix.as_deref().map(net);
                }
                sub.vnets.push(v);
            }
        }
        for vault in &mut sub.vaults {
            let base = vault.fabrics[0].clone();
            for k in 1..shards {
                let mut f = base.clone();
                f.name = format!("{}-{k}", base.name);
                f.friendly_name = format!("cs{k}.contoso.local");
                f.cs_host_name = f.friendly_name.clone();
                f.cs_ip = format!("10.0.{k}.10");
                f.process_servers.clear();
                f.master_targets.clear();
                f.containers = vec![format!("cloud_{}", f.name)];
                vault.fabrics.push(f);
            }
            for script in &mut vault.failback_scripts {
                script.complete_after_secs = 0.0;
                if held {
                    script.items.retain(|i| i != "item-vm-db1");
                }
            }
            if held {
                vault.failback_scripts.push(FailbackScriptDef {
                    items: vec!["item-vm-db1".into()],
                    complete_after_secs: 1e12,
                    require_process_server: true,
                });
            }
        }
    }
    s
}

impl Env {
    fn start(held: bool, runs: usize) -> Env {
        let shards = runs.div_ceil(SHARD).max(1);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = SimConfig {
            scenario: scenario(held, shards),
            clock_speed: SPEED,
            tls: true,
            ..SimConfig::default()
        };
        let r = rt
            .block_on(failback::rehearsal::Rehearsal::start_with(
                config,
                dir.path(),
                "Bench-Passw0rd!42",
            ))
            .expect("emulator");
        let (sim, mut env) = (r.sim, r.env);
        env.push(("RUST_LOG".into(), "warn".into()));
        let mut spec = failback::commands::demo::spec_text(&sim).expect("spec");
        if held {
            // One network; the run polls the failback every 30 days (43 min of real time).
            let (head, tail) = spec
                .split_once("[[network]]\nname = \"vnet-b\"")
                .expect("b");
            let rest = &tail[tail.find("[failback]").expect("failback")..];
            spec = format!("{head}{rest}")
                .replace(
                    r#"protected_items = ["vm-app1", "vm-app2"]"#,
                    r#"protected_items = ["vm-db1"]"#,
                )
                .replace("poll_interval = \"5m\"", "poll_interval = \"30d\"")
                .replace("deadline = \"7d\"", "deadline = \"365d\"");
        }
        Env {
            sim,
            dir,
            env,
            spec,
            _rt: rt,
        }
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("state/failback.sock")
    }

    /// Spawn `failback daemon` (not waiting for it).
    fn spawn_daemon(&self, n: usize) -> Daemon {
        let log = self.dir.path().join(format!("daemon-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_failback"))
            .args(["daemon", "--grace", "5s"])
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn daemon");
        Daemon {
            child,
            log,
            socket: self.socket(),
        }
    }

    /// The spec of run `n`: shard `k = n / SHARD` (its own networks and configuration server)
    /// and its own private IP(s) there.
    fn spec_for(&self, n: usize) -> String {
        let (k, host) = (n / SHARD, 4 + n % SHARD);
        let mut spec = self
            .spec
            .replace("10.1.0.10\"", &format!("10.1.{k}.{host}\""))
            .replace("10.2.0.10\"", &format!("10.2.{k}.{host}\""));
        if k > 0 {
            spec = spec
                .replace("10.1.0.0/24\"", &format!("10.1.{k}.0/24\""))
                .replace("10.2.0.0/24\"", &format!("10.2.{k}.0/24\""))
                .replace("vnet = \"vnet-a\"", &format!("vnet = \"vnet-a-{k}\""))
                .replace("vnet = \"vnet-b\"", &format!("vnet = \"vnet-b-{k}\""))
                .replace(
                    "fabric = \"cs-fabric\"",
                    &format!("fabric = \"cs-fabric-{k}\""),
                )
                .replace("ip = \"10.0.0.10\"", &format!("ip = \"10.0.{k}.10\""));
        }
        spec
    }

    /// POST `count` runs with bounded concurrency; returns the time it took.
    fn submit(&self, count: usize) -> Duration {
        self.submit_range(0, count)
    }

    /// POST runs `start..start + count`.
    fn submit_range(&self, start: usize, count: usize) -> Duration {
        let t0 = Instant::now();
        let next = AtomicUsize::new(start);
        let sock = self.socket();
        std::thread::scope(|s| {
            for _ in 0..SUBMIT_CONCURRENCY {
                s.spawn(|| loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= start + count {
                        return;
                    }
                    let body = serde_json::json!({
                        "spec_toml": self.spec_for(n),
                        "run_id": format!("b-{n:05}"),
                    });
                    let (st, text) =
                        request(&sock, "POST", "/v1/runs", body.to_string().as_bytes())
                            .expect("POST /v1/runs");
                    assert_eq!(st, 201, "{text}");
                });
            }
        });
        t0.elapsed()
    }
}

/// (active, scheduled) from GET /v1/health, None while the daemon does not answer.
fn health(socket: &Path) -> Option<(u64, u64)> {
    let (st, body) = get(socket, "/v1/health").ok()?;
    if st != 200 {
        return None;
    }
    let v = json(&body);
    Some((v["active_runs"].as_u64()?, v["scheduled_runs"].as_u64()?))
}

fn runs_in(socket: &Path, state: &str) -> usize {
    let (st, body) = get(socket, &format!("/v1/runs?state={state}")).expect("GET /v1/runs");
    assert_eq!(st, 200, "{body}");
    json(&body)["runs"].as_array().map_or(0, Vec::len)
}

/// VmRSS and VmHWM of a process, MiB.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Poll `cond` every `every` until it holds; None after `limit`.
fn poll(limit: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if cond() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > limit {
            return None;
        }
        std::thread::sleep(every);
    }
}

fn stop(mut d: Daemon) {
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(30));
    assert_eq!(st.code(), Some(0), "{}", d.log_text());
}

fn held_runs(n: usize) {
    println!("(a) {n} runs held in await-failback by one daemon");
    let env = Env::start(true, n);
    let d1 = env.spawn_daemon(1);
    poll(Duration::from_secs(20), Duration::from_millis(10), || {
        health(&d1.socket).is_some()
    })
    .expect("daemon 1 serves");
    let t0 = Instant::now();
    // In waves: thousands of runs creating VMs at once only slow each other (and the emulator)
    // down; the point here is holding them, not getting there.
    let mut submit = Duration::ZERO;
    for start in (0..n).step_by(WAVE) {
        let count = WAVE.min(n - start);
        submit += env.submit_range(start, count);
        poll(Duration::from_secs(600), Duration::from_millis(50), || {
            health(&d1.socket).is_some_and(|(active, _)| active < (WAVE / 4) as u64)
        })
        .expect("wave settles");
    }
    println!(
        "    submitted in waves of {WAVE}: POSTs took {:.1} s ({:.0}/s)",
        submit.as_secs_f64(),
        n as f64 / submit.as_secs_f64()
    );
    // Parked on timers with nothing running, twice in a row (a boot poll parks for ms only).
    let mut quiet = 0;
    let settled = poll(Duration::from_secs(600), Duration::from_millis(250), || {
        let ok = health(&d1.socket) == Some((0, n as u64));
        quiet = if ok { quiet + 1 } else { 0 };
        quiet >= 2
    });
    assert!(
        settled.is_some(),
        "runs did not settle: {:?}\n{}",
        health(&d1.socket),
        d1.log_text()
    );
    let all = t0.elapsed();
    let waiting = runs_in(&d1.socket, "waiting");
    assert_eq!(waiting, n, "runs waiting");
    println!(
        "    all {n} waiting {:.1} s after the first submit ({:.0} runs/s to await-failback)",
        all.as_secs_f64(),
        n as f64 / all.as_secs_f64()
    );
    let (rss, hwm) = rss_mib(d1.child.id());
    println!("    daemon RSS holding them: {rss:.1} MiB (peak {hwm:.1} MiB; goal < 100 MiB)");

    stop(d1);

    let t0 = Instant::now();
    let d2 = env.spawn_daemon(2);
    let restart = poll(Duration::from_secs(60), Duration::from_millis(2), || {
        health(&d2.socket).is_some_and(|(_, s)| s == n as u64)
    })
    .map(|_| t0.elapsed());
    let (rss, hwm) = rss_mib(d2.child.id());
    match restart {
        Some(t) => println!(
            "    restart to all {n} scheduled: {:.0} ms (goal < 1000 ms); RSS after {rss:.1} MiB (peak {hwm:.1} MiB)",
            t.as_secs_f64() * 1000.0
        ),
        None => println!("    restart: not all scheduled within 60 s: {:?}", health(&d2.socket)),
    }
    stop(d2);
    drop(env.sim);
}

fn dag_runs(m: usize) {
    println!("(b) {m} runs at once through the whole DAG (zero-latency emulator, clock x{SPEED})");
    let env = Env::start(false, m);
    let d = env.spawn_daemon(1);
    poll(Duration::from_secs(20), Duration::from_millis(10), || {
        health(&d.socket).is_some()
    })
    .expect("daemon serves");
    let t0 = Instant::now();
    let submit = env.submit(m);
    let done = poll(Duration::from_secs(600), Duration::from_millis(100), || {
        runs_in(&d.socket, "succeeded") + runs_in(&d.socket, "failed") >= m
    });
    assert!(done.is_some(), "runs did not finish\n{}", d.log_text());
    let all = t0.elapsed();
    let failed = runs_in(&d.socket, "failed");
    println!(
        "    submitted in {:.1} s; all finished in {:.1} s: {:.1} runs/s ({failed} failed)",
        submit.as_secs_f64(),
        all.as_secs_f64(),
        m as f64 / all.as_secs_f64()
    );
    let (rss, hwm) = rss_mib(d.child.id());
    println!("    daemon RSS after: {rss:.1} MiB (peak {hwm:.1} MiB)");
    stop(d);
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects (a) "held" or (b) "dag".
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let scale: f64 = std::env::var("FB_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let n = ((HELD_RUNS as f64 * scale) as usize).max(1);
    let m = ((DAG_RUNS as f64 * scale) as usize).max(1);
    println!("FB_BENCH_SCALE={scale}: N={n} held runs, M={m} runs through the DAG");
    if want("held") {
        held_runs(n);
    }
    if want("dag") {
        dag_runs(m);
    }
}
