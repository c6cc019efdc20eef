//! Test support: an emulator with fast timings and a real ARM client talking HTTPS to it, for
//! tests of single steps. Whole-DAG tests live in `workflows/tests`, on the production builder.
#![allow(dead_code)]

use failback_engine::{Clock, ScaledClock};
use failback_sim::{Scenario, Sim, SimConfig, SimHandle};
use failback_steps::arm::{
    ApiVersions, ArmClient, ArmClientConfig, Cloud, CredentialConfig, HttpRetry,
};
use failback_steps::model::*;
use failback_steps::secrets::SecretRef;
use failback_steps::steps::*;
use failback_steps::Azure;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const SPEED: f64 = 1000.0;
pub const PS_PASSWORD: &str = "Zq8#uniquePsPassword!41";

pub struct TestEnv {
    pub sim: SimHandle,
    pub azure: Arc<Azure>,
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
    let azure = azure_for(&sim, &ca_file, clock.clone());
    std::env::set_var("FAILBACK_TEST_PS_PASSWORD", PS_PASSWORD);
    TestEnv {
        sim,
        azure,
        clock,
        dir,
        ca_file,
    }
}

pub fn azure_for(sim: &SimHandle, ca_file: &std::path::Path, clock: Arc<dyn Clock>) -> Arc<Azure> {
    Azure::new(ArmClient::new(client_config(sim, ca_file), clock).expect("client"))
}

/// The ARM client configuration for `sim`: its principal, its CA, fast in-call backoff.
pub fn client_config(sim: &SimHandle, ca_file: &std::path::Path) -> ArmClientConfig {
    let (tenant, client, secret) = sim.credentials().expect("principal");
    let secret_var = format!("FAILBACK_TEST_CLIENT_SECRET_{}", sim.addr().port());
    std::env::set_var(&secret_var, secret);
    let base = url::Url::parse(&sim.base_url()).expect("url");
    ArmClientConfig {
        cloud: Cloud::custom(base.clone(), base),
        tenant_id: tenant,
        subscription_id: sim.subscription_id().expect("subscription"),
        credential: CredentialConfig::ClientSecret {
            client_id: client,
            secret: SecretRef::Env { env: secret_var },
        },
        ca_file: Some(ca_file.to_path_buf()),
        api_versions: ApiVersions::default(),
        retry: HttpRetry {
            initial_backoff: Duration::from_millis(200),
            ..HttpRetry::default()
        },
        timeout: Duration::from_secs(30),
    }
}

/// An ARM client for an emulator started by another process (crash-test children): the
/// parent passes its URL, CA file and principal through the environment.
pub fn azure_from_env(clock: Arc<dyn Clock>) -> Arc<Azure> {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
    let base = url::Url::parse(&var("FB_SIM_URL")).expect("url");
    let config = ArmClientConfig {
        cloud: Cloud::custom(base.clone(), base),
        tenant_id: var("AZURE_TENANT_ID"),
        subscription_id: var("AZURE_SUBSCRIPTION_ID"),
        credential: CredentialConfig::ClientSecret {
            client_id: var("AZURE_CLIENT_ID"),
            secret: SecretRef::Env {
                env: "AZURE_CLIENT_SECRET".into(),
            },
        },
        ca_file: Some(PathBuf::from(var("FAILBACK_CA_FILE"))),
        api_versions: ApiVersions::default(),
        retry: HttpRetry {
            initial_backoff: Duration::from_millis(200),
            ..HttpRetry::default()
        },
        timeout: Duration::from_secs(30),
    };
    Azure::new(ArmClient::new(config, clock).expect("client"))
}

pub fn network(name: &str, vnet: &str, ip: &str) -> NetworkTarget {
    NetworkTarget {
        name: name.into(),
        region: "westeurope".into(),
        resource_group: "rg-network".into(),
        vnet: vnet.into(),
        subnet: "default".into(),
        private_ip: ip.parse().expect("ip"),
        names: ResourceNames {
            nic: format!("ps-{name}-t1-nic"),
            vm: format!("ps-{name}-t1"),
            computer_name: format!("ps-{name}"),
            os_disk: format!("ps-{name}-t1-os"),
            cache_disk: format!("ps-{name}-t1-cache"),
            run_command: "failback-register".into(),
        },
    }
}

pub fn net_a() -> NetworkTarget {
    network("vnet-a", "vnet-a", "10.1.0.10")
}
pub fn net_b() -> NetworkTarget {
    network("vnet-b", "vnet-b", "10.2.0.10")
}

pub fn vm_spec() -> VmSpec {
    VmSpec {
        size: "Standard_A8_v2".into(),
        image: ImageRef {
            publisher: "MicrosoftWindowsServer".into(),
            offer: "WindowsServer".into(),
            sku: "2016-Datacenter".into(),
            version: "latest".into(),
        },
        os_disk_type: "StandardSSD_LRS".into(),
        cache_disk_gb: 600,
        admin_username: "failbackadmin".into(),
        admin_password: SecretRef::Env {
            env: "FAILBACK_TEST_PS_PASSWORD".into(),
        },
    }
}

/// `validate` for `nets` against this emulator's vault, with the scenario's items.
pub fn validate_step(
    env: &TestEnv,
    nets: Vec<NetworkTarget>,
    secrets: Vec<(String, SecretRef)>,
) -> Validate {
    Validate {
        azure: env.azure.clone(),
        vm: vm_spec(),
        networks: nets,
        secrets,
        site: site(),
        scope: scope(),
        cs_ip: "10.0.0.10".parse().expect("ip"),
    }
}

pub fn scope() -> FailbackScope {
    FailbackScope {
        items: Some(vec!["vm-app1".into(), "vm-app2".into()]),
        poll_interval: Duration::from_secs(60),
        deadline: Duration::from_secs(14 * 24 * 3600),
    }
}

pub fn site() -> SiteRecoveryTarget {
    SiteRecoveryTarget {
        resource_group: "rg-asr".into(),
        vault: "vault-failback".into(),
        fabric: "cs-fabric".into(),
    }
}

/// The registration with the scenario's configuration server; the passphrase comes from a
/// per-emulator environment variable.
pub fn registration(env: &TestEnv, passphrase: &str) -> Registration {
    let var = format!("FAILBACK_TEST_CS_PASSPHRASE_{}", env.sim.addr().port());
    std::env::set_var(&var, passphrase);
    Registration {
        cs_ip: "10.0.0.10".parse().expect("ip"),
        cs_port: 443,
        data_port: 9443,
        passphrase: SecretRef::Env { env: var },
        installer_uri: None,
        appear_timeout: Duration::from_secs(3600),
    }
}

pub const CS_PASSPHRASE: &str = "sim-passphrase-not-a-secret";

/// Journal entries that write (PUT/POST/PATCH/DELETE) to ARM, excluding the token endpoint.
pub fn writes(sim: &SimHandle) -> Vec<failback_sim::JournalEntry> {
    sim.journal()
        .into_iter()
        .filter(|e| matches!(e.method.as_str(), "PUT" | "POST" | "PATCH" | "DELETE"))
        .filter(|e| !e.path.contains("/oauth2/") && !e.path.starts_with("/_sim"))
        .collect()
}

/// How many journal entries have this method and a path containing `needle` (case-insensitive).
/// PUTs to `needle` that created it (201): a retried PUT after a fault is fine, a second
/// creation is a duplicate.
pub fn created(sim: &SimHandle, needle: &str) -> usize {
    let needle = needle.to_ascii_lowercase();
    sim.journal()
        .iter()
        .filter(|e| {
            e.method == "PUT" && e.status == 201 && e.path.to_ascii_lowercase().contains(&needle)
        })
        .count()
}

pub fn count(sim: &SimHandle, method: &str, needle: &str) -> usize {
    let needle = needle.to_ascii_lowercase();
    sim.journal()
        .iter()
        .filter(|e| e.method == method && e.path.to_ascii_lowercase().contains(&needle))
        .count()
}
