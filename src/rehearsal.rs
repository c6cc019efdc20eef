//! A rehearsal: the emulator (HTTPS, accelerated clock) with a two-network spec and the
//! environment a `failback` process needs to run against it. `failback demo`, the end-to-end
//! tests and the benches all start from here.

use anyhow::{anyhow, Context, Result};
use failback_sim::{Scenario, Sim, SimConfig, SimHandle};
use std::path::{Path, PathBuf};

pub struct Rehearsal {
    pub sim: SimHandle,
    /// `failback.toml` in the rehearsal directory.
    pub spec_path: PathBuf,
    /// What a `failback` process needs: state dir, CA, emulator clock, the spec's secrets.
    pub env: Vec<(String, String)>,
}

impl Rehearsal {
    /// Start the emulator on `scenario` at `speed` and write the spec and CA into `dir`.
    pub async fn start(
        scenario: Scenario,
        speed: f64,
        dir: &Path,
        ps_password: &str,
    ) -> Result<Self> {
        let config = SimConfig {
            scenario,
            clock_speed: speed,
            tls: true,
            ..SimConfig::default()
        };
        Self::start_with(config, dir, ps_password).await
    }

    /// The same with a full emulator configuration (fixed address, persisted world).
    pub async fn start_with(config: SimConfig, dir: &Path, ps_password: &str) -> Result<Self> {
        let sim = Sim::start(config).await.map_err(|e| anyhow!("{e}"))?;
        let ca = dir.join("emulator-ca.pem");
        sim.write_ca(&ca).context("writing the emulator CA")?;
        let spec_path = dir.join("failback.toml");
        std::fs::write(&spec_path, spec_text(&sim)?).context("writing the spec")?;
        let (_, _, client_secret) = sim
            .credentials()
            .ok_or_else(|| anyhow!("emulator has no principal"))?;
        let passphrase = sim
            .scenario()
            .subscriptions
            .iter()
            .flat_map(|s| s.vaults.iter())
            .flat_map(|v| v.fabrics.iter())
            .map(|f| f.passphrase.clone())
            .next()
            .ok_or_else(|| anyhow!("emulator has no fabric"))?;
        let env = vec![
            (
                "FAILBACK_STATE_DIR".into(),
                dir.join("state").display().to_string(),
            ),
            ("FAILBACK_CA_FILE".into(), ca.display().to_string()),
            ("FAILBACK_SIM_CLOCK".into(), sim.base_url()),
            ("FAILBACK_DEMO_CLIENT_SECRET".into(), client_secret),
            ("FAILBACK_DEMO_PS_PASSWORD".into(), ps_password.to_owned()),
            ("FAILBACK_DEMO_CS_PASSPHRASE".into(), passphrase),
            ("NO_COLOR".into(), "1".into()),
        ];
        Ok(Self {
            sim,
            spec_path,
            env,
        })
    }
}

/// Paths of the VM PUTs (not Run Command PUTs) the emulator has answered: one per network
/// per run when nothing was sent twice.
pub fn vm_put_paths(sim: &SimHandle) -> Vec<String> {
    sim.journal()
        .into_iter()
        .filter(|e| {
            e.method == "PUT"
                && e.path.contains("/virtualMachines/")
                && !e.path.contains("/runCommands/")
        })
        .map(|e| e.path)
        .collect()
}

/// Requests with this method whose path contains `needle`.
pub fn count(sim: &SimHandle, method: &str, needle: &str) -> usize {
    sim.journal()
        .iter()
        .filter(|e| e.method == method && e.path.contains(needle))
        .count()
}

/// Ids of resources created through the API that still exist.
pub fn left_behind(sim: &SimHandle) -> Vec<String> {
    sim.inventory()
        .created()
        .iter()
        .map(|r| r.id.clone())
        .collect()
}

/// The built-in two-network scenario, with long-lived tokens and a 30-minute scripted failback.
pub fn scenario() -> Scenario {
    let mut s = Scenario::default_two_networks();
    // azure_identity caches tokens on the wall clock: keep them valid in accelerated time.
    s.auth.token_lifetime_secs = 60 * 24 * 3600;
    for v in s.subscriptions.iter_mut().flat_map(|s| s.vaults.iter_mut()) {
        for f in &mut v.failback_scripts {
            f.complete_after_secs = 1800.0;
        }
    }
    s
}

/// A two-network spec for `sim`; secrets come from the `FAILBACK_DEMO_*` variables.
pub fn spec_text(sim: &SimHandle) -> Result<String> {
    let (tenant, client, _) = sim
        .credentials()
        .ok_or_else(|| anyhow!("emulator has no principal"))?;
    let sub = sim
        .subscription_id()
        .ok_or_else(|| anyhow!("emulator has no subscription"))?;
    let url = sim.base_url();
    Ok(format!(
        r#"# Written by `failback demo` for the embedded emulator at {url}.
[azure]
cloud = "custom"
authority_host = "{url}"
resource_manager = "{url}"
subscription_id = "{sub}"
tenant_id = "{tenant}"

[azure.credential]
kind = "client-secret"
client_id = "{client}"
client_secret = {{ env = "FAILBACK_DEMO_CLIENT_SECRET" }}

[site_recovery]
resource_group = "rg-asr"
vault = "vault-failback"
fabric = "cs-fabric"

[process_server]
name_prefix = "ps"
admin_username = "failbackadmin"
admin_password = {{ env = "FAILBACK_DEMO_PS_PASSWORD" }}

[configuration_server]
ip = "10.0.0.10"
passphrase = {{ env = "FAILBACK_DEMO_CS_PASSPHRASE" }}

[[network]]
name = "vnet-a"
resource_group = "rg-network"
vnet = "vnet-a"
subnet = "default"
region = "westeurope"
private_ip = "10.1.0.10"
subnet_prefix = "10.1.0.0/24"

[[network]]
name = "vnet-b"
resource_group = "rg-network"
vnet = "vnet-b"
subnet = "default"
region = "westeurope"
private_ip = "10.2.0.10"
subnet_prefix = "10.2.0.0/24"

[failback]
protected_items = ["vm-app1", "vm-app2"]
poll_interval = "5m"
deadline = "7d"
"#
    ))
}
