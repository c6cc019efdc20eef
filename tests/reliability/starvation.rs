//! Crash-only and starvation (issue 12), against real processes: a daemon whose descriptors an
//! idle-connection flood tries to exhaust, slow-header senders, and a state directory on a
//! small tmpfs filled mid-run (as root) under a foreground `apply` and under a daemon.

use crate::daemon_support::{exchange, get, wait_until, Daemon};
use crate::report::{catch, Family};
use crate::world::{held_scenario, scenario, text, Case};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const TOKEN: &str = "starvation-suite-token-0123456789";
/// The daemon's header timeout is 10 s; dropped connections are looked for until this.
const DROP_LIMIT: Duration = Duration::from_secs(25);

pub fn run(rt: &tokio::runtime::Runtime, full: bool, fam: &mut Family) {
    let n = if full { 4 } else { 2 };
    fam.case(
        &format!(
            "fd exhaustion: RLIMIT_NOFILE 256, {} idle connections",
            256 * n
        ),
        catch(|| fd_exhaustion(rt, 256, 256 * n)),
    );
    fam.case(
        "500 slow-header connections",
        catch(|| slow_headers(rt, 500)),
    );
    let disk_full = match can_mount() {
        Ok(()) => {
            fam.case("disk full under apply", catch(|| disk_full_apply(rt)));
            fam.case("disk full under the daemon", catch(|| disk_full_daemon(rt)));
            "disk full under apply and the daemon on a 64 MiB tmpfs".to_owned()
        }
        Err(why) => {
            println!("  skip starvation: disk-full cases need tmpfs mounts: {why}");
            format!("disk-full cases skipped ({why})")
        }
    };
    fam.summary(format!(
        "{} idle connections under RLIMIT_NOFILE 256, 500 slow-header clients, {disk_full}",
        256 * n
    ));
}

/// Root, and a mount that works here (a container without CAP_SYS_ADMIN cannot).
fn can_mount() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    Tmpfs::mount(&dir.path().join("probe"), "1m").map(drop)
}

fn free_port() -> Result<SocketAddr, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map_err(|e| e.to_string())
}

/// `failback daemon --listen-tcp ADDR`, optionally under an open-file limit (soft = hard).
fn tcp_daemon(case: &Case, addr: SocketAddr, nofile: Option<u64>) -> Result<Daemon, String> {
    let token = case.path("token");
    std::fs::write(&token, TOKEN).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let log = case.path("daemon-tcp.log");
    let addr = addr.to_string();
    let args = ["daemon", "--listen-tcp", &addr, "--token-file", "token"];
    let mut c = case.command(&args, None);
    c.stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?);
    if let Some(limit) = nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            c.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let child = c.spawn().map_err(|e| e.to_string())?;
    let mut d = Daemon {
        child,
        log,
        socket: case.socket(),
    };
    if !case.daemon_ready(&mut d) {
        return Err(format!("the daemon did not start: {}", d.log_text()));
    }
    Ok(d)
}

/// Idle connections that send nothing, kept at `n`: a closed one is opened again.
struct Flood {
    addr: SocketAddr,
    conns: Vec<Option<TcpStream>>,
    opened: usize,
}

impl Flood {
    fn new(addr: SocketAddr, n: usize) -> Self {
        let mut f = Flood {
            addr,
            conns: (0..n).map(|_| None).collect(),
            opened: 0,
        };
        f.refill();
        f
    }

    /// Reopen every connection the daemon closed (a timed-out one reads EOF).
    fn refill(&mut self) {
        for slot in &mut self.conns {
            if !slot.as_mut().is_some_and(still_open) {
                *slot = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).ok();
                self.opened += usize::from(slot.is_some());
            }
        }
    }
}

/// Nothing to read and not closed by the daemon (a timed-out connection reads EOF, or the
/// daemon's error answer before its close).
fn still_open(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 256];
    let _ = s.set_nonblocking(true);
    matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn accept_error_lines(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("accepting an API connection failed"))
        .count()
}

/// One run completes while the flood holds every API slot; `list` answers within 2 s; the
/// log has at most 60 accept-error lines a minute; nothing is created twice. The run starts
/// once the daemon has dropped the first idle connections at their header timeout and taken
/// new ones, so it goes on while the daemon churns through the flood.
fn fd_exhaustion(rt: &tokio::runtime::Runtime, nofile: u64, conns: usize) -> Result<(), String> {
    let case = Case::start(rt, scenario());
    let addr = free_port()?;
    let d = tcp_daemon(&case, addr, Some(nofile))?;
    let started = Instant::now();
    let mut flood = Flood::new(addr, conns);
    let mut slowest_list = Duration::ZERO;
    let mut submitted = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        flood.refill();
        if !submitted && flood.opened > conns {
            case.submit("fd-1")?;
            submitted = true;
        }
        let t0 = Instant::now();
        let out = case.run(&["list", "--format", "json"], None);
        slowest_list = slowest_list.max(t0.elapsed());
        if !out.status.success() {
            return Err(format!("list failed: {}", text(&out.stderr)));
        }
        if text(&out.stdout).contains("\"succeeded\"") {
            break;
        }
        if text(&out.stdout).contains("\"failed\"") || Instant::now() > deadline {
            return Err(format!(
                "the run did not succeed ({} connections opened): {}",
                flood.opened,
                text(&out.stdout)
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if flood.opened < conns {
        return Err(format!(
            "only {} of {conns} connections opened",
            flood.opened
        ));
    }
    if slowest_list > Duration::from_secs(2) {
        return Err(format!("`failback list` took {slowest_list:?} (limit 2 s)"));
    }
    let minutes = (started.elapsed().as_secs_f64() / 60.0).max(1.0);
    let errors = accept_error_lines(&d.log_text());
    if errors as f64 / minutes > 60.0 {
        return Err(format!("{errors} accept-error lines in {minutes:.1} min"));
    }
    let (st, body) = get(&d.socket, "/v1/health").map_err(|e| e.to_string())?;
    if st != 200 {
        return Err(format!("health after the flood: {st} {body}"));
    }
    let audit = case.audit();
    if audit.duplicates > 0 {
        return Err(format!("{} duplicate resources", audit.duplicates));
    }
    println!(
        "    fd exhaustion: {} connections opened in {:?}, slowest list {slowest_list:?}, {errors} accept-error lines",
        flood.opened,
        started.elapsed()
    );
    Ok(())
}

/// An authorised GET over TCP; its answer and how long it took.
fn authorised_get(addr: SocketAddr) -> Result<(u16, Duration), String> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "GET /v1/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    let (status, _) = exchange(&mut s, req.as_bytes()).map_err(|e| e.to_string())?;
    Ok((status, t0.elapsed()))
}

/// `n` clients trickle a header a byte a second; an authorised request meanwhile answers
/// within 1 s, and every slow client is dropped after the header timeout.
fn slow_headers(rt: &tokio::runtime::Runtime, n: usize) -> Result<(), String> {
    let case = Case::start(rt, scenario());
    let addr = free_port()?;
    let _d = tcp_daemon(&case, addr, None)?;
    let mut slow: Vec<TcpStream> = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(b"GET /v1/runs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .map_err(|e| e.to_string())?;
        slow.push(s);
    }
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    let mut open = slow.len();
    while open > 0 && started.elapsed() < DROP_LIMIT {
        let (status, took) = authorised_get(addr)?;
        if status != 200 {
            return Err(format!("authorised request during the attack: {status}"));
        }
        worst = worst.max(took);
        // One more header byte from each that is still open.
        open = 0;
        for s in &mut slow {
            if still_open(s) && s.write_all(b"a").is_ok() {
                open += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    if open > 0 {
        return Err(format!(
            "{open} slow connections still open after {DROP_LIMIT:?}"
        ));
    }
    if worst > Duration::from_secs(1) {
        return Err(format!(
            "an authorised request took {worst:?} during the attack"
        ));
    }
    println!(
        "    slow headers: all {n} dropped after {:?}; slowest authorised request {worst:?}",
        started.elapsed()
    );
    Ok(())
}

/// A tmpfs mounted at a path, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount tmpfs: {}", text(&out.stderr)));
        }
        Ok(Tmpfs(at.to_path_buf()))
    }

    /// Write zeros until the file system is full; the filler's path.
    fn fill(&self) -> Result<PathBuf, String> {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(format!("filling: {e}")),
            }
        }
        // The last pages too: small writes until not even one byte fits.
        while f.write(&[0u8]).is_ok_and(|n| n == 1) {}
        Ok(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A child killed and reaped when dropped, whatever path the case takes.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Lines of a child's stdout, collected by a thread.
fn collect_lines(r: impl Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<String>> {
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(r);
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut r, &mut line).is_ok_and(|n| n > 0) {
            if let Ok(mut s) = sink.lock() {
                s.push_str(&line);
            }
            line.clear();
        }
    });
    out
}

/// Wait for the child's exit within `limit` after `from`; its status and stderr.
fn exit_within(
    child: &mut std::process::Child,
    from: Instant,
    limit: Duration,
) -> Result<std::process::ExitStatus, String> {
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(st);
        }
        if from.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running {limit:?} after the disk filled"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// After the failure: free the space, let the held run finish, and check the emulator's
/// journal for duplicates.
fn recover(case: &Case, filler: &Path, run: &str) -> Result<(), String> {
    std::fs::remove_file(filler).map_err(|e| e.to_string())?;
    let out = case.run(&["signal", run, "failback-complete", "--yes"], None);
    if !out.status.success() {
        return Err(format!("signal after freeing space: {}", text(&out.stderr)));
    }
    let out = case.run(&["resume", run], None);
    if !out.status.success() {
        return Err(format!(
            "resume after freeing space: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        ));
    }
    let audit = case.audit();
    if audit.duplicates > 0 {
        return Err(format!(
            "{} duplicate resources after resume",
            audit.duplicates
        ));
    }
    Ok(())
}

/// A foreground `apply` whose state directory fills up while its run waits for failback:
/// it exits non-zero within 5 s naming ENOSPC; after freeing space `resume` finishes it.
fn disk_full_apply(rt: &tokio::runtime::Runtime) -> Result<(), String> {
    let case = Case::start(rt, held_scenario());
    let fs = Tmpfs::mount(&case.state_dir(), "64m")?;
    let mut child = Reaped(case.spawn(&["apply", "--yes", "--run-id", "full-1"], None));
    let child = &mut child.0;
    let stdout = collect_lines(child.stdout.take().ok_or("no stdout")?);
    let stderr = collect_lines(child.stderr.take().ok_or("no stderr")?);
    let seen = |what: &str| stdout.lock().is_ok_and(|s| s.contains(what));
    wait_until(
        Duration::from_secs(60),
        "the run waiting for failback",
        || seen("await-failback") && seen("waiting") || child.try_wait().is_ok_and(|s| s.is_some()),
    );
    let filler = fs.fill()?;
    let filled = Instant::now();
    let status = exit_within(child, filled, Duration::from_secs(5))?;
    let took = filled.elapsed();
    // The pipes close with the process; the reader threads may lag a moment.
    wait_until(Duration::from_secs(5), "apply's stderr", || {
        stderr.lock().is_ok_and(|s| s.contains("ENOSPC"))
    });
    let err = stderr.lock().map(|s| s.clone()).unwrap_or_default();
    if status.success() || !err.contains("failback resume") {
        return Err(format!(
            "apply exited {status} after the disk filled: {err}"
        ));
    }
    recover(&case, &filler, "full-1")?;
    println!("    disk full under apply: {status} {took:?} after the fill; stderr:\n{err}");
    Ok(())
}

/// The same under a daemon: it exits non-zero within 5 s, its log naming ENOSPC; after
/// freeing space a restarted daemon (as its service manager would start it) finishes the run
/// with no duplicate.
fn disk_full_daemon(rt: &tokio::runtime::Runtime) -> Result<(), String> {
    let case = Case::start(rt, held_scenario());
    let fs = Tmpfs::mount(&case.state_dir(), "64m")?;
    let mut d = case.daemon(1, None);
    if !case.daemon_ready(&mut d) {
        return Err(d.log_text());
    }
    case.submit("full-2")?;
    let state_of = |run: &str| {
        crate::daemon_support::run_states(&case.socket())
            .get(run)
            .cloned()
            .unwrap_or_default()
    };
    wait_until(Duration::from_secs(60), "the run waiting", || {
        state_of("full-2") == "waiting"
    });
    let filler = fs.fill()?;
    let filled = Instant::now();
    let status = exit_within(&mut d.child, filled, Duration::from_secs(5))?;
    let took = filled.elapsed();
    let log = d.log_text();
    if status.success() || !log.contains("ENOSPC") {
        return Err(format!("daemon exited {status}: {log}"));
    }
    std::fs::remove_file(&filler).map_err(|e| e.to_string())?;
    let mut again = case.daemon(2, None);
    if !case.daemon_ready(&mut again) {
        return Err(format!("the restarted daemon: {}", again.log_text()));
    }
    let out = case.run(&["signal", "full-2", "failback-complete", "--yes"], None);
    if !out.status.success() {
        return Err(format!("signal: {}", text(&out.stderr)));
    }
    wait_until(Duration::from_secs(60), "the run to succeed", || {
        state_of("full-2") == "succeeded"
    });
    again.signal(libc::SIGTERM);
    again.wait_exit(Duration::from_secs(30));
    let audit = case.audit();
    if audit.duplicates > 0 {
        return Err(format!(
            "{} duplicate resources after the restart",
            audit.duplicates
        ));
    }
    println!("    disk full under the daemon: {status} {took:?} after the fill; log:\n{log}");
    Ok(())
}
