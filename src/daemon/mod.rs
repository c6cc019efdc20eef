//! `failback daemon`: one long-running process owns the store, drives every run and serves a
//! local JSON API (Unix socket, optionally loopback TCP with a bearer token), `/metrics` and a
//! status page. While it runs, the CLI talks to it instead of opening the store.

pub mod api;
pub mod client;
pub mod extract;
#[cfg(test)]
mod health_tests;
pub mod limits;
pub mod metrics;
pub mod page;
pub mod router;
pub mod server;
pub mod takeover;
pub mod ui;

use crate::store_location::StoreLocation;
use anyhow::{anyhow, bail, Context as _, Result};
use failback_state::{RunFilter, StateStore};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The socket's file name inside the state directory.
pub const SOCKET_NAME: &str = "failback.sock";
/// Largest request body accepted (specs are a few KiB).
pub const MAX_BODY: usize = 1 << 20;

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_NAME)
}

/// What `failback daemon` was asked to do.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub state_dir: PathBuf,
    /// `--store`: runs kept elsewhere than `{state_dir}/store` (a blob container shared with
    /// other daemons). The state directory still holds the socket.
    pub store: Option<StoreLocation>,
    /// Start with every unfinished run paused.
    pub paused: bool,
    pub listen_tcp: Option<SocketAddr>,
    pub token_file: Option<PathBuf>,
    /// How long in-flight steps get to reach a checkpoint at shutdown.
    pub grace: Duration,
    /// Step executions in flight at once.
    pub max_steps: usize,
    /// Print a one-time login link for the browser console at start.
    pub ui: bool,
    /// How long a run's lease on a shared store lasts without renewal.
    pub lease: Duration,
}

/// The bearer token: a regular, owner-only file (as ssh refuses a key others can read).
fn read_token(path: &Path) -> Result<String> {
    use failback_steps::bounded::{read_private, MAX_SECRET_FILE};
    let bytes = read_private(path, MAX_SECRET_FILE, "token file")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("the token file {} is not UTF-8 text", path.display()))?;
    let token = text.trim().to_owned();
    if token.len() < 16 {
        bail!(
            "the token in {} is shorter than 16 characters",
            path.display()
        );
    }
    Ok(token)
}

/// `--listen-tcp` (loopback only) with its token, read before anything else starts.
fn tcp_option(opts: &DaemonOptions) -> Result<Option<(SocketAddr, String)>> {
    match (opts.listen_tcp, &opts.token_file) {
        (Some(addr), Some(file)) => {
            if !addr.ip().is_loopback() {
                bail!("--listen-tcp {addr}: only loopback addresses are allowed");
            }
            Ok(Some((addr, read_token(file)?)))
        }
        (Some(_), None) => bail!("--listen-tcp needs --token-file"),
        (None, _) => Ok(None),
    }
}

/// Run the daemon until SIGTERM or SIGINT, or until the engine cannot drive any more; returns
/// the exit code.
pub async fn run(opts: DaemonOptions) -> Result<i32> {
    let signals = StopSignals::install()?;
    let tcp = tcp_option(&opts)?;
    // Before anything opens a descriptor: the API must not be able to take the store's.
    let nofile = limits::raise_nofile().context("reading RLIMIT_NOFILE")?;
    let budget = limits::Budget::for_limit(nofile.soft, opts.max_steps);
    let (store, _state_dir_lock) = open_store(&opts).await?;
    let (engine, pool) = crate::context::engine_with_pool(store, opts.max_steps).await?;
    let metrics = metrics::Metrics::start(&engine, Some(pool));
    let sock = socket_path(&opts.state_dir);
    let unix = server::bind_unix(&sock)?;
    let tcp = match tcp {
        Some((addr, token)) => {
            let l = limits::bind_tcp(addr).with_context(|| format!("listening on {addr}"))?;
            let local = l.local_addr().unwrap_or(addr);
            Some((l, local, token))
        }
        None => None,
    };
    let (started, scheduled) = start_runs(&engine, opts.paused).await?;
    let state = Arc::new(api::AppState::new(
        crate::service::local::LocalRuns::new(engine.clone()),
        metrics,
    ));
    let stop = CancellationToken::new();
    let mut servers = tokio::task::JoinSet::new();
    if let Some(lease) = engine.store().raw().lease() {
        let every = takeover::interval(lease);
        servers.spawn(takeover::scan(engine.clone(), every, stop.clone()));
        // Commands other daemons forward for the runs this one drives.
        servers.spawn(engine.clone().serve_inbox(stop.clone()));
    }
    let unix_stats = limits::ListenerStats::new("unix", budget.unix);
    state.metrics.add_listener(unix_stats.clone());
    servers.spawn(server::serve_unix(
        unix,
        state.clone(),
        unix_stats,
        stop.clone(),
    ));
    let tcp_note = match tcp {
        Some((l, local, token)) => {
            let _ = state.console.tcp.set(local);
            let tcp_stats = limits::ListenerStats::new("tcp", budget.tcp);
            state.metrics.add_listener(tcp_stats.clone());
            servers.spawn(server::serve_tcp(
                l,
                state.clone(),
                token,
                tcp_stats,
                stop.clone(),
            ));
            format!(" and http://{local}")
        }
        None => String::new(),
    };
    eprintln!(
        "failback daemon: pid {}, serving {}{tcp_note}; {started} run(s) started, {scheduled} waiting on timers",
        std::process::id(),
        sock.display()
    );
    if opts.ui {
        state.console.print_login();
    }
    log_budget(&nofile, &budget);
    let code = wait_and_stop(&engine, signals, opts.grace, &stop).await;
    servers.abort_all();
    let _ = std::fs::remove_file(&sock);
    Ok(code)
}

/// The daemon's store, and the lock that makes it the only daemon on its state directory. The
/// sled store's own lock does that (a socket file found after taking it is stale); with a
/// shared store, a lock on the state directory stands in for it, and the daemon joins the
/// store's membership.
async fn open_store(opts: &DaemonOptions) -> Result<(StateStore, Option<std::fs::File>)> {
    let Some(location) = &opts.store else {
        return Ok((crate::context::open_store(&opts.state_dir)?, None));
    };
    crate::context::prepare_state_dir(&opts.state_dir).map_err(|e| anyhow!("{e}"))?;
    let lock = lock_state_dir(&opts.state_dir)?;
    let member = crate::store_location::member_name();
    let store = location.open(Some(opts.lease), Some(member)).await?;
    Ok((store, Some(lock)))
}

/// An exclusive lock on `{state_dir}/daemon.lock`, held as long as the file stays open: one
/// daemon per state directory (and so per socket) when the runs are not in it.
fn lock_state_dir(state_dir: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let path = state_dir.join("daemon.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a descriptor we own; released when `file` is closed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!(
            "another daemon uses the state directory {} (its lock {} is held)",
            state_dir.display(),
            path.display()
        );
    }
    Ok(file)
}

fn log_budget(nofile: &limits::Nofile, budget: &limits::Budget) {
    tracing::info!(
        nofile_soft = nofile.soft,
        nofile_hard = nofile.hard,
        reserved = budget.reserved,
        max_unix_connections = budget.unix,
        max_tcp_connections = budget.tcp,
        "descriptor budget"
    );
}

/// Resume every unfinished run (or pause them all with `--paused`); (started, scheduled).
async fn start_runs(engine: &failback_engine::Engine, paused: bool) -> Result<(usize, usize)> {
    if paused {
        let runs = engine
            .store()
            .run_summaries(&RunFilter::unfinished())
            .map_err(|e| anyhow!("{e}"))?;
        // The runs this daemon can take; other daemons' runs are theirs to pause.
        let engine = engine.without_forwarding();
        let mut paused = 0;
        for r in &runs {
            match engine.pause(&r.id).await {
                Ok(_) => paused += 1,
                Err(e) => tracing::warn!(run_id = %r.id, error = %e, "could not pause run"),
            }
        }
        eprintln!(
            "failback daemon: {paused} of {} unfinished run(s) paused (--paused)",
            runs.len()
        );
        return Ok((0, 0));
    }
    let report = engine.resume_all().map_err(|e| anyhow!("{e}"))?;
    for bad in &report.unreadable {
        eprintln!("warning: {bad}");
    }
    for q in &report.quarantined {
        eprintln!("warning: {q}");
    }
    Ok((report.started, report.scheduled))
}

/// Serve until a stop signal (a clean stop within `grace`, exit 0) or a fatal engine error.
/// Crash-only: once the engine cannot drive (a store write failed, a driver died), the daemon
/// says why and exits 1 at once; its service manager restarts it, and the restart resumes
/// every run from what is durable.
async fn wait_and_stop(
    engine: &failback_engine::Engine,
    mut signals: StopSignals,
    grace: Duration,
    stop: &CancellationToken,
) -> i32 {
    let fatal = tokio::select! {
        _ = signals.recv() => None,
        fatal = engine.fatal() => Some(fatal),
    };
    stop.cancel();
    if let Some(fatal) = fatal {
        eprintln!("failback daemon: {fatal}");
        // Nothing more can be checkpointed: no grace, just stop.
        engine.shutdown(Duration::ZERO).await;
        eprintln!("failback daemon: exiting with an error");
        return crate::commands::EXIT_FAILED;
    }
    eprintln!(
        "failback daemon: stopping; in-flight steps get {} to reach a checkpoint",
        failback_workflows::spec::format_duration(grace)
    );
    if !engine.shutdown(grace).await {
        eprintln!(
            "failback daemon: some steps were still running; they run again at the next start"
        );
    }
    if let Err(e) = engine.store().close() {
        eprintln!("failback daemon: closing the store: {e}");
    }
    eprintln!("failback daemon: stopped");
    crate::commands::EXIT_OK
}

/// SIGTERM and SIGINT, caught from the start: a signal that arrives while the daemon starts
/// (its socket may already answer) is a clean stop, not death by the default action.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
