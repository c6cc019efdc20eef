//! failback-sim: a local emulator of the parts of Azure a failback touches — Entra ID tokens
//! (client credentials + managed identity), ARM Compute/Network and Site Recovery — with LROs,
//! throttling, fault injection, a simulated clock, a request journal and an inventory.
//! It shares no types with the client (see ../shared/DESIGN.md §2). Docs: docs/sim.md.

// ArmError is the whole error response (headers, details); error paths are not hot.
#![allow(clippy::result_large_err)]

pub mod apiver;
pub mod arm;
pub mod asr;
pub mod auth;
pub mod b64;
pub mod cli;
pub mod clock;
pub mod compute;
pub mod control;
pub mod endpoint;
pub mod envelope;
pub mod faults;
pub mod guest;
pub mod inventory;
pub mod journal;
pub mod keyvault;
pub mod lro;
pub mod network;
pub mod persist;
pub mod request;
pub mod router;
pub mod scenario;
pub mod server;
pub mod shared;
pub mod signing;
pub mod throttle;
pub mod tls;
pub mod world;

pub use control::{Inventory, InventoryItem, InventoryProcessServer, InventoryResource};
pub use faults::{FaultAction, FaultMatch, FaultRule, FaultTrigger};
pub use journal::JournalEntry;
pub use scenario::{Scenario, ScenarioError};

use shared::Shared;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// e.g. `127.0.0.1:0` for an ephemeral port.
    pub listen: SocketAddr,
    pub scenario: Scenario,
    /// Sim seconds per real second.
    pub clock_speed: f64,
    /// Persist the world here (and load it at start if present).
    pub state_file: Option<PathBuf>,
    /// Serve HTTPS with a certificate from a local CA generated at start (see `SimHandle::ca_pem`).
    /// With a `state_file`, the CA is kept in `<state_file>.ca.pem` / `<state_file>.ca-key.pem`
    /// and reused at the next start.
    pub tls: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scenario: Scenario::default_two_networks(),
            clock_speed: 1.0,
            state_file: None,
            tls: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{0}")]
    State(String),
    #[error("{0}")]
    Tls(String),
}

pub struct Sim;

impl Sim {
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        cfg.scenario.validate()?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| SimError::Bind {
                addr: cfg.listen,
                source: e,
            })?;
        let addr = listener.local_addr().map_err(|e| SimError::Bind {
            addr: cfg.listen,
            source: e,
        })?;
        let start = match &cfg.scenario.start_time {
            Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| SimError::Scenario(ScenarioError::Parse(format!("start_time: {e}"))))?
                .timestamp_millis(),
            None => clock::real_now_ms(),
        };
        let loaded = match &cfg.state_file {
            Some(p) => persist::load(p).map_err(SimError::State)?,
            None => None,
        };
        let seed = cfg.scenario.seed;
        let (world, now) = match loaded {
            Some((w, t)) => (w, t),
            None => (
                world::World::from_scenario(cfg.scenario.clone(), start),
                start,
            ),
        };
        let tls = if cfg.tls {
            Some(tls::setup(cfg.state_file.as_deref(), addr.ip()).map_err(SimError::Tls)?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared {
            clock: clock::Clock::new(now, cfg.clock_speed),
            world: parking_lot::Mutex::new(world),
            journal: journal::Journal::new(200_000),
            faults: parking_lot::Mutex::new(faults::Faults::new(seed)),
            throttle: parking_lot::Mutex::new(throttle::Throttle::default()),
            signer: signing::TokenSigner::load_or_create(cfg.state_file.as_deref())
                .map_err(|e| SimError::State(e.to_string()))?,
            base_url: format!("{scheme}://{addr}"),
            state_file: cfg.state_file.clone(),
            save_lock: parking_lot::Mutex::new(()),
            ca_file: parking_lot::Mutex::new(tls.as_ref().and_then(|t| t.ca_file.clone())),
        });
        let (acceptor, ca_pem) = match tls {
            Some(t) => (Some(t.acceptor), Some(t.ca_pem)),
            None => (None, None),
        };
        let (stop, rx) = watch::channel(false);
        let server = tokio::spawn(server::serve(
            listener,
            shared.clone(),
            rx.clone(),
            acceptor,
        ));
        let persister = cfg
            .state_file
            .as_ref()
            .map(|_| tokio::spawn(persist::run(shared.clone(), rx)));
        Ok(SimHandle {
            shared,
            addr,
            stop,
            server,
            persister,
            ca_pem,
        })
    }
}

pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    persister: Option<tokio::task::JoinHandle<()>>,
    ca_pem: Option<String>,
}

/// The environment a client needs to talk to this sim.
pub fn env_for(sh: &Shared) -> Vec<(String, String)> {
    let w = sh.world.lock();
    let base = sh.base_url.clone();
    let mut env = vec![
        ("FAILBACK_ARM_ENDPOINT".to_string(), base.clone()),
        ("FAILBACK_AUTHORITY_HOST".to_string(), base.clone()),
        ("FAILBACK_SIM_URL".to_string(), base.clone()),
        ("IDENTITY_ENDPOINT".to_string(), format!("{base}/msi/token")),
        (
            "IDENTITY_HEADER".to_string(),
            w.scenario.auth.identity_header.clone(),
        ),
    ];
    if let Some(p) = w.scenario.primary_principal() {
        env.push(("AZURE_TENANT_ID".into(), p.tenant_id.clone()));
        env.push(("AZURE_CLIENT_ID".into(), p.client_id.clone()));
        env.push((
            "FAILBACK_CLIENT_SECRET_ENV".into(),
            "AZURE_CLIENT_SECRET".into(),
        ));
        if w.scenario.auth.print_secret {
            env.push(("AZURE_CLIENT_SECRET".into(), p.client_secret.clone()));
        }
    }
    if let Some(s) = w.scenario.subscriptions.first() {
        env.push(("AZURE_SUBSCRIPTION_ID".into(), s.id.clone()));
    }
    if let Some(p) = sh.ca_file.lock().as_ref() {
        env.push(("FAILBACK_CA_FILE".into(), p.display().to_string()));
    }
    env
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (`https://…` with `tls`) — the authority host, ARM endpoint and
    /// control plane.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The client environment; with TLS and a written CA file, includes `FAILBACK_CA_FILE`.
    pub fn env(&self) -> Vec<(String, String)> {
        env_for(&self.shared)
    }
    /// The CA certificate (PEM) to trust when `tls` is on; `None` for plain HTTP.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }
    /// Write the CA certificate (PEM) to `path` (atomically) and report it as `FAILBACK_CA_FILE`
    /// in `env()`. Fails with `InvalidInput` when TLS is off.
    pub fn write_ca(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        let Some(pem) = &self.ca_pem else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the sim does not serve TLS (SimConfig.tls = false)",
            ));
        };
        let path = path.as_ref();
        persist::write_atomic(path, pem.as_bytes())?;
        *self.shared.ca_file.lock() = Some(path.to_path_buf());
        Ok(())
    }
    /// (tenant id, client id, client secret) of the scenario's primary principal.
    pub fn credentials(&self) -> Option<(String, String, String)> {
        let w = self.shared.world.lock();
        w.scenario.primary_principal().map(|p| {
            (
                p.tenant_id.clone(),
                p.client_id.clone(),
                p.client_secret.clone(),
            )
        })
    }
    pub fn subscription_id(&self) -> Option<String> {
        self.shared
            .world
            .lock()
            .scenario
            .subscriptions
            .first()
            .map(|s| s.id.clone())
    }
    pub fn scenario(&self) -> Scenario {
        self.shared.world.lock().scenario.clone()
    }
    /// Replace the whole world with a new scenario (the clock keeps running).
    pub fn load_scenario(&self, s: Scenario) -> Result<(), ScenarioError> {
        s.validate()?;
        control::replace_scenario(&self.shared, s);
        Ok(())
    }
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.shared.clock.now()).unwrap_or_default()
    }
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now()
    }
    /// Advance simulated time and apply everything that became due.
    pub fn advance(&self, secs: f64) {
        control::advance(&self.shared, secs);
    }
    pub fn set_clock_speed(&self, speed: f64) {
        self.shared.clock.set_speed(speed);
    }
    pub fn clock_speed(&self) -> f64 {
        self.shared.clock.speed()
    }
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.journal.since(0)
    }
    pub fn journal_since(&self, seq: u64) -> Vec<JournalEntry> {
        self.shared.journal.since(seq)
    }
    pub fn clear_journal(&self) {
        self.shared.journal.clear();
    }
    pub fn inventory(&self) -> Inventory {
        let now = self.shared.clock.now();
        let mut w = self.shared.world.lock();
        w.tick(now);
        control::inventory(&w, now)
    }
    pub fn add_fault(&self, rule: FaultRule) -> Result<u64, String> {
        self.shared.faults.lock().add(rule)
    }
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }
    pub fn faults(&self) -> Vec<FaultRule> {
        self.shared.faults.lock().list()
    }
    /// What `perl Unregister-ASRComponent.pl -IPAddress IP -Component PS` does on the
    /// configuration server: every Azure process server at `ip` leaves its fabric. Returns how
    /// many were removed.
    pub fn unregister_process_server(&self, ip: &str) -> usize {
        let mut w = self.shared.world.lock();
        let mut removed = 0;
        for f in w.vaults.values_mut().flat_map(|v| v.fabrics.iter_mut()) {
            let before = f.process_servers.len();
            f.process_servers.retain(|p| p.on_prem || p.ip != ip);
            removed += before - f.process_servers.len();
        }
        w.touch();
        removed
    }
    /// Rename a protected item in every vault, as an operator who re-protects a VM under
    /// another name would: its name and friendly name, where they equal `from` (ignoring
    /// case), become `to`. Returns how many items were renamed.
    pub fn rename_protected_item(&self, from: &str, to: &str) -> usize {
        let mut w = self.shared.world.lock();
        let mut n = 0;
        for item in w.vaults.values_mut().flat_map(|v| v.items.iter_mut()) {
            let mut hit = false;
            for name in [&mut item.name, &mut item.friendly_name] {
                if name.eq_ignore_ascii_case(from) {
                    *name = to.to_owned();
                    hit = true;
                }
            }
            n += usize::from(hit);
        }
        w.touch();
        n
    }
    pub fn persist_now(&self) -> std::io::Result<()> {
        persist::save_now(&self.shared)
    }
    /// Stop serving; with a state file, write it one last time.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        if let Some(p) = self.persister {
            let _ = p.await;
        }
        if let Err(e) = persist::save_now(&self.shared) {
            tracing::warn!("final persist failed: {e}");
        }
    }
}
