//! Support for tests of `failback daemon` as a real process: an emulator (HTTPS, clock x1000)
//! in the test process, a spec and environment for it, the daemon as a child process, raw
//! HTTP over its socket, and bounded polling of observable conditions.
#![allow(dead_code)]

pub mod proxy;
pub mod shared;

use failback_sim::SimHandle;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const SPEED: f64 = 1000.0;

pub struct Rehearsal {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    rt: tokio::runtime::Runtime,
}

impl Rehearsal {
    /// Runs that protect vm-db1 hold in await-failback until signalled.
    pub fn start() -> Self {
        Self::start_with_db1_failback_after(1e12)
    }

    /// The same, with vm-db1's failback completing by itself `secs` (emulated) after the
    /// emulator started.
    pub fn start_with_db1_failback_after(secs: f64) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut scenario = failback::commands::demo::scenario();
        // Room for many process servers at once (each is 8 cores).
        for region in scenario
            .subscriptions
            .iter_mut()
            .flat_map(|s| s.regions.iter_mut())
        {
            for limit in region.quota.values_mut() {
                *limit = (*limit).max(1_000_000);
            }
        }
        // vm-db1's failback never completes by itself: runs waiting on it hold in
        // await-failback until signalled.
        for vault in scenario
            .subscriptions
            .iter_mut()
            .flat_map(|s| s.vaults.iter_mut())
        {
            for script in &mut vault.failback_scripts {
                script.items.retain(|i| i != "item-vm-db1");
            }
            vault
                .failback_scripts
                .push(failback_sim::scenario::FailbackScriptDef {
                    items: vec!["item-vm-db1".into()],
                    complete_after_secs: secs,
                    require_process_server: true,
                });
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let r = rt
            .block_on(failback::rehearsal::Rehearsal::start(
                scenario,
                SPEED,
                dir.path(),
                "Daemon-Test-Passw0rd!42",
            ))
            .expect("rehearsal");
        let (sim, env) = (r.sim, r.env);
        Self { sim, dir, env, rt }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A spec for run number `n` (< 200): the demo spec with its own private IPs, so that
    /// runs do not compete for addresses. Returns its file name.
    pub fn spec_for(&self, n: usize) -> String {
        self.spec_with(n, false)
    }

    /// The same, protecting only vm-db1 when `held`: the run waits for a signal.
    pub fn spec_with(&self, n: usize, held: bool) -> String {
        let mut text = std::fs::read_to_string(self.path("failback.toml")).expect("spec");
        if held {
            text = text.replace(
                r#"protected_items = ["vm-app1", "vm-app2"]"#,
                r#"protected_items = ["vm-db1"]"#,
            );
        }
        let text = text
            .replace("10.1.0.10\"", &format!("10.1.0.{}\"", 10 + n))
            .replace("10.2.0.10\"", &format!("10.2.0.{}\"", 10 + n));
        let name = format!("spec-{n}.toml");
        std::fs::write(self.path(&name), text).expect("write spec");
        name
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    pub fn socket(&self) -> PathBuf {
        self.state_dir().join("failback.sock")
    }

    /// `failback ARGS` in the rehearsal directory with its environment.
    pub fn failback(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_failback"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("FAILBACK_CRASH_AT")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Run `failback ARGS` to the end (bounded), returning its output.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let child = self
            .failback(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn failback");
        wait_output(child, Duration::from_secs(60), args)
    }

    /// Start `failback daemon EXTRA` and wait until its socket answers.
    pub fn daemon(&self, extra: &[&str]) -> Daemon {
        self.daemon_at(&self.state_dir(), extra)
    }

    /// The same with its own state directory (several daemons sharing a `--store`).
    pub fn daemon_at(&self, state_dir: &Path, extra: &[&str]) -> Daemon {
        let mut d = self.spawn_daemon_at(state_dir, extra);
        let pid = d.child.id();
        wait_until(
            Duration::from_secs(20),
            "the daemon to serve its socket",
            || {
                if let Ok(Some(st)) = d.child.try_wait() {
                    panic!("daemon exited early ({st}):\n{}", d.log_text());
                }
                d.serves(pid)
            },
        );
        d
    }

    /// Start `failback daemon EXTRA` on `state_dir` without waiting for it (a service
    /// manager's restart, which may fail).
    pub fn spawn_daemon_at(&self, state_dir: &Path, extra: &[&str]) -> Daemon {
        let log = self.path(&format!("daemon-{}.log", unique()));
        let state = state_dir.to_string_lossy().into_owned();
        let mut args = vec!["--state-dir", &state, "daemon", "--grace", "5s"];
        args.extend_from_slice(extra);
        let child = self
            .failback(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn daemon");
        Daemon {
            child,
            log,
            socket: state_dir.join("failback.sock"),
        }
    }

    pub fn vm_puts(&self) -> Vec<String> {
        failback::rehearsal::vm_put_paths(&self.sim)
    }

    pub fn left_behind(&self) -> Vec<String> {
        failback::rehearsal::left_behind(&self.sim)
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub socket: PathBuf,
}

impl Daemon {
    /// Whether the daemon with `pid` answers `/v1/health` on this socket.
    pub fn serves(&self, pid: u32) -> bool {
        get(&self.socket, "/v1/health")
            .is_ok_and(|(s, body)| s == 200 && body.contains(&format!("\"pid\":{pid}")))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGKILL and reap.
    pub fn kill(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Wait for the exit, at most `limit`; after that SIGKILL it and return None.
    pub fn try_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                self.signal(libc::SIGKILL);
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                self.signal(libc::SIGKILL);
                panic!("daemon did not exit within {limit:?}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Poll `cond` every 20 ms until it holds; panic with `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_output(mut child: Child, limit: Duration, what: &[&str]) -> std::process::Output {
    // Drained while it runs: a full pipe would block the child forever.
    fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(status) => std::process::Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "failback {what:?} did not finish within {limit:?}:\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Send raw bytes as one HTTP/1.1 exchange (the request should say `Connection: close`);
/// returns (status, body).
pub fn exchange(
    stream: &mut (impl Read + Write),
    request: &[u8],
) -> std::io::Result<(u16, String)> {
    // A server refusing an oversized body answers and closes before it is all sent: the
    // write then fails, and the answer is still there to read.
    let write = stream.write_all(request);
    let mut resp = Vec::new();
    let read = stream.read_to_end(&mut resp);
    if resp.is_empty() {
        write?;
        read?;
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    exchange(&mut s, &req)
}

pub fn get(socket: &Path, path: &str) -> std::io::Result<(u16, String)> {
    request(socket, "GET", path, b"")
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Runs by id → state, from the daemon.
pub fn run_states(socket: &Path) -> std::collections::BTreeMap<String, String> {
    let (status, body) = get(socket, "/v1/runs").expect("GET /v1/runs");
    assert_eq!(status, 200, "{body}");
    json(&body)["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_owned(),
                r["state"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Debian's headless Chromium (`.ci/run` installs it; a test without it fails, naming the
/// set-up), with a fresh-profile-friendly set of flags: none of its own network traffic, which
/// on a closed network fails slowly and can stall a page.
pub fn chromium() -> Command {
    let exe = Path::new("/usr/bin/chromium");
    assert!(
        exe.exists(),
        "/usr/bin/chromium is absent: `bash .ci/run` installs it (apt-get install chromium)"
    );
    let mut c = Command::new(exe);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ]);
    c
}
