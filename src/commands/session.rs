//! Who serves a verb. When another process holds the store (the daemon, or a foreground
//! `apply`), the verb asks it over the local socket; otherwise this process opens the store.
//! A verb that drives runs in the foreground also serves the socket (read-only), so any other
//! shell can run `status`, `list`, `history`, `graph` and follow while it works.

use crate::context::held_elsewhere;
use crate::daemon::api::AppState;
use crate::daemon::client::DaemonClient;
use crate::daemon::{limits, metrics::Metrics, server, socket_path};
use crate::service::local::LocalRuns;
use crate::service::remote::RemoteRuns;
use crate::service::Runs;
use crate::store_location::StoreLocation;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// How long a verb waits for a process that holds the store without serving it.
const HELD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often it looks again (for the socket, or the store let go).
const HELD_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// What the verb needs of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reads, or actions a daemon carries out (nothing driven here).
    Read,
    /// Drives runs in the foreground when no other process holds the store.
    Drive,
}

struct Serving {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    socket: PathBuf,
}

pub struct Session {
    runs: Arc<dyn Runs>,
    local: Option<LocalRuns>,
    serving: Option<Serving>,
}

impl Session {
    pub async fn open(state_dir: &Path, store: Option<&StoreLocation>, need: Need) -> Result<Self> {
        let deadline = tokio::time::Instant::now() + HELD_WAIT;
        let store = loop {
            if let Some(client) = DaemonClient::connect(state_dir).await {
                return Ok(Self {
                    runs: Arc::new(RemoteRuns::new(client)),
                    local: None,
                    serving: None,
                });
            }
            // Another process holds the store without serving it: a short command (it lets
            // go), or one that has opened the store and binds the socket next.
            if let Some(location) = store {
                break location.open(None, None).await?;
            }
            match crate::context::try_open_store(state_dir) {
                Ok(store) => break store,
                Err(e) if held_elsewhere(&e) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(HELD_POLL).await;
                }
                Err(e) if held_elsewhere(&e) => {
                    return Err(anyhow::anyhow!(
                        "{e}; it did not let go within {}s nor serve the socket (is it a `failback sweep` or a stuck command?)",
                        HELD_WAIT.as_secs()
                    ))
                }
                Err(e) => return Err(anyhow::anyhow!("{e}")),
            }
        };
        let local = LocalRuns::new(crate::context::engine(store).await?);
        let serving = match need {
            Need::Drive => Some(serve(state_dir, &local)?),
            Need::Read => None,
        };
        Ok(Self {
            runs: Arc::new(local.clone()),
            local: Some(local),
            serving,
        })
    }

    pub fn runs(&self) -> Arc<dyn Runs> {
        self.runs.clone()
    }

    /// The in-process engine's side, when this process holds the store.
    pub fn local(&self) -> Option<&LocalRuns> {
        self.local.as_ref()
    }

    /// In-process: drive every unfinished run too (as `cancel`, `signal` and `retry` always
    /// have), warning about records that do not read. Through another process, or on a store
    /// shared by daemons (whose scans take its free runs): nothing to do.
    pub fn drive_unfinished(&self) -> Result<()> {
        if let Some(local) = &self.local {
            if local.engine().store().membership().is_some() {
                return Ok(());
            }
            let report = local
                .engine()
                .resume_all()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for bad in &report.unreadable {
                eprintln!("warning: {bad}");
            }
        }
        Ok(())
    }

    /// Stop serving and let in-flight steps reach a checkpoint.
    pub async fn close(self) {
        if let Some(s) = self.serving {
            s.stop.cancel();
            s.task.abort();
            let _ = std::fs::remove_file(&s.socket);
        }
        self.runs.close().await;
    }
}

/// Serve the local API, read-only, on the state directory's socket while this process drives.
fn serve(state_dir: &Path, local: &LocalRuns) -> Result<Serving> {
    let socket = socket_path(state_dir);
    let listener = server::bind_unix(&socket)?;
    let nofile = limits::raise_nofile().context("reading RLIMIT_NOFILE")?;
    let engine = local.engine().clone();
    let steps = failback_engine::EngineConfig::default().max_concurrent_steps;
    let budget = limits::Budget::for_limit(nofile.soft, steps);
    let metrics = Metrics::start(&engine, None);
    let why = format!(
        "the state store is in use by a foreground failback (pid {}), which answers reads only; wait for it to end, or run `failback daemon` to manage runs from any shell",
        std::process::id()
    );
    let state = Arc::new(AppState::new(local.clone(), metrics).read_only(why));
    let stats = limits::ListenerStats::new("unix", budget.unix);
    state.metrics.add_listener(stats.clone());
    let stop = CancellationToken::new();
    let task = tokio::spawn(server::serve_unix(listener, state, stats, stop.clone()));
    Ok(Serving { stop, task, socket })
}
