//! Test support for the production failback DAG against the emulator: an emulator with fast
//! timings, a spec for it (secrets from per-emulator environment variables), and an engine
//! whose registry is `failback_workflows::failback::registry` — the builder the binary uses.
#![allow(dead_code)]

use failback_engine::{Clock, CrashPoints, Engine, EngineConfig, ScaledClock};
use failback_sim::{Scenario, Sim, SimConfig, SimHandle};
use failback_state::StateStore;
use failback_workflows::failback::{self, Cadence};
use failback_workflows::spec::{self, Spec};
use failback_workflows::AzurePool;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const SPEED: f64 = 1000.0;
pub const PS_PASSWORD: &str = "Zq8#uniqueWfPassword!52";

pub struct TestEnv {
    pub sim: SimHandle,
    pub clock: Arc<dyn Clock>,
    pub dir: tempfile::TempDir,
    pub ca_file: PathBuf,
}

/// Emulator timings short enough for tests, in simulated seconds.
pub fn fast_scenario() -> Scenario {
    let mut s = Scenario::default_two_networks();
    s.auth.token_lifetime_secs = 30 * 24 * 3600;
    s.with_test_timings(600.0)
}

pub async fn start(scenario: Scenario) -> TestEnv {
    let sim = Sim::start(SimConfig {
        scenario,
        clock_speed: SPEED,
        tls: true,
        ..SimConfig::default()
    })
    .await
    .expect("start sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    sim.write_ca(&ca_file).expect("write ca");
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(sim.now_ms() as u64, SPEED));
    TestEnv {
        sim,
        clock,
        dir,
        ca_file,
    }
}

/// The names of the secret variables of the spec for the emulator on `port`.
pub fn secret_vars(port: u16) -> [String; 3] {
    [
        format!("FB_WF_CLIENT_SECRET_{port}"),
        format!("FB_WF_PS_PASSWORD_{port}"),
        format!("FB_WF_CS_PASSPHRASE_{port}"),
    ]
}

/// The secrets the spec's variables must hold: client secret, PS password, passphrase.
pub fn secret_values(sim: &SimHandle) -> [String; 3] {
    let (_, _, client_secret) = sim.credentials().expect("principal");
    let passphrase = sim
        .scenario()
        .subscriptions
        .iter()
        .flat_map(|s| s.vaults.iter())
        .flat_map(|v| v.fabrics.iter())
        .map(|f| f.passphrase.clone())
        .next()
        .expect("fabric");
    [client_secret, PS_PASSWORD.to_owned(), passphrase]
}

/// Set the secret variables of `sim`'s spec in this process.
pub fn export_secrets(sim: &SimHandle) {
    for (k, v) in secret_vars(sim.addr().port())
        .iter()
        .zip(secret_values(sim))
    {
        std::env::set_var(k, v);
    }
}

const NETWORKS: [(&str, &str); 2] = [("vnet-a", "10.1.0"), ("vnet-b", "10.2.0")];

/// A spec for `sim` over the first `networks` of the scenario's networks, with `items`.
pub fn spec_text(sim: &SimHandle, networks: usize, items: &[&str]) -> String {
    let (tenant, client, _) = sim.credentials().expect("principal");
    let sub = sim.subscription_id().expect("subscription");
    let url = sim.base_url();
    let [cs, pw, pass] = secret_vars(sim.addr().port());
    let mut text = format!(
        r#"[azure]
cloud = "custom"
authority_host = "{url}"
resource_manager = "{url}"
subscription_id = "{sub}"
tenant_id = "{tenant}"

[azure.credential]
kind = "client-secret"
client_id = "{client}"
client_secret = {{ env = "{cs}" }}

[site_recovery]
resource_group = "rg-asr"
vault = "vault-failback"
fabric = "cs-fabric"

[process_server]
name_prefix = "ps"
admin_username = "failbackadmin"
admin_password = {{ env = "{pw}" }}

[configuration_server]
ip = "10.0.0.10"
passphrase = {{ env = "{pass}" }}
"#
    );
    for (name, net) in NETWORKS.iter().take(networks) {
        text.push_str(&format!(
            r#"
[[network]]
name = "{name}"
resource_group = "rg-network"
vnet = "{name}"
subnet = "default"
region = "westeurope"
private_ip = "{net}.10"
subnet_prefix = "{net}.0/24"
"#
        ));
    }
    let items: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    text.push_str(&format!(
        "\n[failback]\nprotected_items = [{}]\npoll_interval = \"1m\"\ndeadline = \"7d\"\n",
        items.join(", ")
    ));
    text
}

pub fn spec_for(sim: &SimHandle, networks: usize, items: &[&str]) -> Spec {
    spec::parse(&spec_text(sim, networks, items), "test spec").expect("valid spec")
}

/// An engine with the production failback registry, talking to the emulator whose CA is
/// `ca_file`.
pub fn engine_at(store_dir: Option<&Path>, clock: Arc<dyn Clock>, ca_file: &Path) -> Engine {
    let store = match store_dir {
        Some(d) => StateStore::open(d).expect("store"),
        None => StateStore::in_memory(),
    };
    let pool = Arc::new(AzurePool::new(clock.clone(), Some(ca_file.to_path_buf())));
    Engine::new(
        store,
        failback::registry(pool, Cadence::default()),
        clock,
        CrashPoints::from_env(),
        EngineConfig::default(),
    )
}

/// How many journal entries have this method and a path containing `needle` (case-insensitive).
pub fn count(sim: &SimHandle, method: &str, needle: &str) -> usize {
    let needle = needle.to_ascii_lowercase();
    sim.journal()
        .iter()
        .filter(|e| e.method == method && e.path.to_ascii_lowercase().contains(&needle))
        .count()
}

/// PUTs to `needle` that created it (201).
pub fn created(sim: &SimHandle, needle: &str) -> usize {
    let needle = needle.to_ascii_lowercase();
    sim.journal()
        .iter()
        .filter(|e| {
            e.method == "PUT" && e.status == 201 && e.path.to_ascii_lowercase().contains(&needle)
        })
        .count()
}
