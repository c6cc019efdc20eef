//! Descriptors and memory of `failback daemon` under a burst of API requests (issue 12): the
//! open descriptors (`/proc/PID/fd`) and RSS at idle, at their peak while N parallel GETs
//! arrive over the socket and over authorised TCP, and once the burst is over.
//!
//! `cargo bench -p failback --bench descriptors` (N = 2000; `FB_BURST=N` changes it). With
//! `FB_NOFILE=256` the daemon runs under that open-file limit (soft = hard), as in the
//! reliability suite's fd-exhaustion case.

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;

use daemon_support::{exchange, get, wait_until, Daemon};
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const TOKEN: &str = "descriptor-bench-token-0123456789";

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn start(dir: &Path, addr: SocketAddr, nofile: Option<u64>) -> Daemon {
    let state = dir.join("state");
    let token = dir.join("token");
    std::fs::write(&token, TOKEN).expect("token");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let log = dir.join("daemon.log");
    let mut c = Command::new(env!("CARGO_BIN_EXE_failback"));
    c.args(["daemon", "--listen-tcp", &addr.to_string(), "--token-file"])
        .arg(&token)
        .env("FAILBACK_STATE_DIR", &state)
        .env_remove("FAILBACK_SIM_CLOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    if let Some(limit) = nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &lim) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    }
    let d = Daemon {
        child: c.spawn().expect("spawn daemon"),
        log,
        socket: state.join("failback.sock"),
    };
    wait_until(Duration::from_secs(20), "the daemon's socket", || {
        get(&d.socket, "/v1/health").is_ok_and(|(s, _)| s == 200)
    });
    d
}

/// One GET, over the socket or authorised TCP; true on a 200.
fn one_get(socket: &Path, tcp: Option<SocketAddr>) -> bool {
    let req = format!(
        "GET /v1/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    let answer = match tcp {
        Some(addr) => TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            exchange(&mut s, req.as_bytes())
        }),
        None => UnixStream::connect(socket).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            exchange(&mut s, req.as_bytes())
        }),
    };
    answer.is_ok_and(|(st, _)| st == 200)
}

/// `n` GETs released at once; (peak descriptors, failed requests, seconds).
fn burst(pid: u32, socket: &Path, tcp: Option<SocketAddr>, n: usize) -> (usize, usize, f64) {
    let go = Arc::new(Barrier::new(n + 1));
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let peak = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(fds(pid));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (go, failed, socket) = (go.clone(), failed.clone(), PathBuf::from(socket));
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    go.wait();
                    if !one_get(&socket, tcp) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .expect("thread")
        })
        .collect();
    go.wait();
    let t0 = Instant::now();
    for t in threads {
        let _ = t.join();
    }
    let secs = t0.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peak = peak.join().unwrap_or(0);
    (peak, failed.load(Ordering::Relaxed), secs)
}

fn main() {
    let n: usize = std::env::var("FB_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let nofile: Option<u64> = std::env::var("FB_NOFILE").ok().and_then(|v| v.parse().ok());
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let mut d = start(dir.path(), addr, nofile);
    let pid = d.child.id();
    let limit = nofile.map_or("raised to the hard limit".into(), |n| n.to_string());
    println!("failback daemon, RLIMIT_NOFILE {limit}, {n} parallel GET /v1/runs per burst");
    println!(
        "  idle:           {:>5} descriptors, RSS {:>6.1} MiB",
        fds(pid),
        rss_mib(pid)
    );
    for (name, tcp) in [("unix socket", None), ("authorised TCP", Some(addr))] {
        let (peak, failed, secs) = burst(pid, &d.socket, tcp, n);
        println!(
            "  {name:<15} peak {peak:>5} descriptors, {failed} failed, {secs:.2} s; RSS after {:>6.1} MiB",
            rss_mib(pid)
        );
    }
    let settled = Instant::now();
    // Kept-alive connections close at the header timeout at the latest.
    while fds(pid) > 64 && settled.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "  after:          {:>5} descriptors, RSS {:>6.1} MiB",
        fds(pid),
        rss_mib(pid)
    );
    let accept_errors = std::fs::read_to_string(&d.log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("accepting an API connection failed"))
        .count();
    println!("  accept-error log lines: {accept_errors}");
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(30));
    let _ = std::io::stdout().flush();
    assert!(st.success(), "daemon exit {st}");
}
