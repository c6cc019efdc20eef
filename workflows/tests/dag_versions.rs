//! The failback DAG is versioned: every definition version a stored run may carry stays
//! buildable by this release, each one's shape is frozen here (a change to the DAG is a new
//! version, never an edit of an old one), and an unknown version is a typed error naming the
//! versions this release knows.

use failback_engine::{EngineError, SystemClock};
use failback_workflows::failback::{self, Cadence, DEFINITION_VERSION, DEFINITION_VERSIONS};
use failback_workflows::{spec, AzurePool};
use std::sync::Arc;

const SPEC: &str = r#"
[azure]
cloud = "custom"
authority_host = "https://127.0.0.1:9/"
resource_manager = "https://127.0.0.1:9/"
subscription_id = "00000000-0000-0000-0000-000000000001"
tenant_id = "00000000-0000-0000-0000-000000000002"

[azure.credential]
kind = "client-secret"
client_id = "00000000-0000-0000-0000-000000000003"
client_secret = { env = "FB_DAG_VERSIONS_SECRET" }

[site_recovery]
resource_group = "rg-asr"
vault = "vault-failback"
fabric = "cs-fabric"

[process_server]
admin_username = "failbackadmin"
admin_password = { env = "FB_DAG_VERSIONS_PASSWORD" }

[configuration_server]
ip = "10.0.0.10"
passphrase = { env = "FB_DAG_VERSIONS_PASSPHRASE" }

[[network]]
name = "vnet-a"
resource_group = "rg-network"
vnet = "vnet-a"
subnet = "default"
region = "westeurope"
private_ip = "10.1.0.10"

[[network]]
name = "vnet-b"
resource_group = "rg-network"
vnet = "vnet-b"
subnet = "default"
region = "westeurope"
private_ip = "10.2.0.10"

[failback]
protected_items = ["vm-app1", "vm-app2"]
"#;

/// Version 1 as released in 0.1.0: (step, its dependencies, has an undo). Never edit this
/// list: a run stored under v1 is rebuilt from it after an upgrade.
fn v1_shape() -> Vec<(&'static str, Vec<&'static str>, bool)> {
    vec![
        ("validate", vec![], false),
        ("vnet-a/create-nic", vec!["validate"], true),
        ("vnet-a/create-vm", vec!["vnet-a/create-nic"], true),
        ("vnet-a/await-boot", vec!["vnet-a/create-vm"], false),
        ("vnet-a/register", vec!["vnet-a/await-boot"], false),
        ("vnet-b/create-nic", vec!["validate"], true),
        ("vnet-b/create-vm", vec!["vnet-b/create-nic"], true),
        ("vnet-b/await-boot", vec!["vnet-b/create-vm"], false),
        ("vnet-b/register", vec!["vnet-b/await-boot"], false),
        (
            "await-failback",
            vec!["vnet-a/register", "vnet-b/register"],
            false,
        ),
        ("vnet-a/teardown", vec!["await-failback"], false),
        ("vnet-b/teardown", vec!["await-failback"], false),
    ]
}

/// The test spec; its secret variables hold throwaway values (nothing is sent anywhere).
fn spec() -> spec::Spec {
    for var in [
        "FB_DAG_VERSIONS_SECRET",
        "FB_DAG_VERSIONS_PASSWORD",
        "FB_DAG_VERSIONS_PASSPHRASE",
    ] {
        std::env::set_var(var, "Not-a-real-secret-9!");
    }
    spec::parse(SPEC, "dag_versions.rs").expect("spec")
}

fn registry() -> failback_engine::WorkflowRegistry {
    let pool = Arc::new(AzurePool::new(Arc::new(SystemClock), None));
    failback::registry(pool, Cadence::default())
}

#[test]
fn every_stored_version_builds_and_v1_keeps_its_shape() {
    let spec = spec();
    let input = failback::run_input(&spec);
    let reg = registry();
    assert!(DEFINITION_VERSIONS.contains(&DEFINITION_VERSION));
    assert_eq!(reg.latest(failback::WORKFLOW), Some(DEFINITION_VERSION));
    for &v in DEFINITION_VERSIONS {
        let def = reg
            .build(failback::WORKFLOW, v, "r1", &input)
            .unwrap_or_else(|e| panic!("version {v} no longer builds: {e}"));
        assert_eq!(def.version, v);
    }
    let def = reg.build(failback::WORKFLOW, 1, "r1", &input).unwrap();
    let shape: Vec<(String, Vec<String>, bool)> = def
        .steps()
        .iter()
        .map(|s| (s.id.clone(), s.deps.clone(), s.compensation.is_some()))
        .collect();
    let want: Vec<(String, Vec<String>, bool)> = v1_shape()
        .into_iter()
        .map(|(id, deps, undo)| {
            (
                id.to_owned(),
                deps.into_iter().map(str::to_owned).collect(),
                undo,
            )
        })
        .collect();
    assert_eq!(shape, want, "definition v1 changed: add a v2 instead");
}

#[test]
fn an_unknown_version_is_refused_naming_the_known_ones() {
    let spec = spec();
    let input = failback::run_input(&spec);
    let next = DEFINITION_VERSIONS.iter().max().unwrap() + 1;
    match registry().build(failback::WORKFLOW, next, "r1", &input) {
        Err(EngineError::UnknownWorkflow { version, known, .. }) => {
            assert_eq!(version, next);
            assert!(known.contains("failback v1"), "{known}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("version {next} built"),
    }
    let azure = AzurePool::new(Arc::new(SystemClock), None)
        .get(&spec)
        .expect("client");
    assert!(matches!(
        failback::build(next, &spec, "r1", azure, &Cadence::default()),
        Err(EngineError::UnknownWorkflow { .. })
    ));
}
