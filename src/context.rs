//! What commands share: the state directory, the store, the clock, the engine.

use anyhow::{anyhow, Context as _, Result};
use failback_engine::{Clock, CrashPoints, Engine, EngineConfig, ScaledClock, SystemClock};
use failback_state::StateStore;
use failback_workflows::failback::{self, Cadence};
use failback_workflows::AzurePool;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--state-dir`, else `$XDG_STATE_HOME/failback`, else `~/.local/state/failback`.
pub fn state_dir(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("failback"));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| anyhow!("no --state-dir, FAILBACK_STATE_DIR, XDG_STATE_HOME or HOME"))?;
    Ok(PathBuf::from(home).join(".local/state/failback"))
}

pub fn open_store(state_dir: &Path) -> Result<StateStore> {
    try_open_store(state_dir).map_err(|e| anyhow!("{e}"))
}

/// The store of a state directory, as a URL: `sled:///<state dir>/store`.
pub fn store_url(state_dir: &Path) -> String {
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    format!("sled://{}", dir.join("store").display())
}

/// Whether [`try_open_store`] failed because another process holds the store.
pub fn held_elsewhere(e: &failback_state::StoreError) -> bool {
    matches!(e, failback_state::StoreError::Locked { .. })
}

/// [`open_store`] with the store's own error, so a caller can tell "held by another process".
pub fn try_open_store(state_dir: &Path) -> Result<StateStore, failback_state::StoreError> {
    prepare_state_dir(state_dir)?;
    StateStore::open_url(&store_url(state_dir))
}

/// Create the state directory if missing, readable by its owner only.
pub fn prepare_state_dir(state_dir: &Path) -> Result<(), failback_state::StoreError> {
    std::fs::create_dir_all(state_dir).map_err(|e| {
        let user = if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!(" (running as {})", failback_state::failure::current_user())
        } else {
            String::new()
        };
        failback_state::StoreError::Io(std::io::Error::new(
            e.kind(),
            format!(
                "creating state directory {}: {e}{user}",
                state_dir.display()
            ),
        ))
    })?;
    set_owner_only(state_dir);
    Ok(())
}

fn set_owner_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: the store holds no secrets, but run details are the operator's business.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

/// Environment variable naming an emulator whose accelerated clock this process follows.
pub const SIM_CLOCK_ENV: &str = "FAILBACK_SIM_CLOCK";

/// The wall clock, or the emulator's accelerated clock in rehearsals. Following the
/// emulator's clock (not starting a fresh scaled clock) keeps durable timers consistent across
/// a crash and a resume in another process.
pub async fn clock() -> Result<Arc<dyn Clock>> {
    let Some(url) = std::env::var_os(SIM_CLOCK_ENV) else {
        return Ok(Arc::new(SystemClock));
    };
    let url = url.to_string_lossy().trim_end_matches('/').to_owned();
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = std::env::var_os(failback_workflows::azure_pool::CA_FILE_ENV) {
        let pem = failback_steps::bounded::read_bounded(
            Path::new(&ca),
            failback_steps::bounded::MAX_TEXT_FILE,
            "CA file",
        )?;
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).context("CA file")?);
    }
    let client = builder.build().context("HTTP client")?;
    let body: serde_json::Value = client
        .get(format!("{url}/_sim/clock"))
        .send()
        .await
        .with_context(|| format!("{SIM_CLOCK_ENV}: reading the emulator clock at {url}"))?
        .json()
        .await
        .context("emulator clock response")?;
    let now = body["now_ms"]
        .as_u64()
        .ok_or_else(|| anyhow!("emulator clock: no now_ms"))?;
    let speed = body["speed"].as_f64().unwrap_or(1.0);
    Ok(Arc::new(ScaledClock::new(now, speed)))
}

/// An engine over the store with the failback workflow registered.
pub async fn engine(store: StateStore) -> Result<Engine> {
    Ok(
        engine_with_pool(store, EngineConfig::default().max_concurrent_steps)
            .await?
            .0,
    )
}

/// The same, with the pool of Azure clients its steps use (the daemon reads their counters).
pub async fn engine_with_pool(
    store: StateStore,
    max_steps: usize,
) -> Result<(Engine, Arc<AzurePool>)> {
    let clock = clock().await?;
    let pool = Arc::new(AzurePool::from_env(clock.clone()));
    let registry = failback::registry(pool.clone(), Cadence::default());
    let engine = Engine::new(
        store,
        registry,
        clock,
        CrashPoints::from_env(),
        EngineConfig {
            max_concurrent_steps: max_steps,
            ..EngineConfig::default()
        },
    );
    Ok((engine, pool))
}

/// A fresh run id: `fb-` and 8 hex digits.
pub fn new_run_id() -> String {
    use rand::Rng;
    format!("fb-{:08x}", rand::rng().random::<u32>())
}
