//! The failback DAG (DESIGN.md section 1): `validate` once, then per `[[network]]`
//! `create-nic → create-vm → await-boot → register`, then `await-failback`, then per network
//! `teardown`. Creates are compensated by a teardown on `cancel --teardown`.
//!
//! A run stores `{"spec": <snapshot>}` as its input (never secrets) and this definition's
//! version; a later release must keep building every version it registers here. The builder
//! takes the version stored in the run: a change to the DAG (a step added, removed, renamed or
//! re-wired) is a new version, the old one stays buildable (`DEFINITION_VERSIONS`), so a run
//! stored under it finishes under the new binary (`workflows/tests/dag_versions.rs`).

use crate::azure_pool::AzurePool;
use crate::spec::{self, ProtectedItems, Spec, TeardownPolicy};
use failback_engine::{EngineError, RetryPolicy, Step, StepDef, WorkflowDef, WorkflowRegistry};
use failback_steps::model::{
    FailbackScope, ImageRef, NetworkTarget, Registration, ResourceNames, SiteRecoveryTarget,
    TeardownPolicy as Policy, VmSpec,
};
use failback_steps::steps::*;
use failback_steps::Azure;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const WORKFLOW: &str = "failback";
/// The version new runs get.
pub const DEFINITION_VERSION: u32 = 1;
/// Every version a stored run may carry; each stays buildable.
pub const DEFINITION_VERSIONS: &[u32] = &[1];

/// Polling cadences and bounds of the waiting steps (simulated seconds in rehearsals).
#[derive(Debug, Clone)]
pub struct Cadence {
    pub boot_poll: Duration,
    pub boot_timeout: Duration,
    pub register_poll: Duration,
    pub appear_timeout: Duration,
}

impl Default for Cadence {
    fn default() -> Self {
        Self {
            boot_poll: Duration::from_secs(15),
            boot_timeout: Duration::from_secs(30 * 60),
            register_poll: Duration::from_secs(30),
            // Infrastructure changes can take ~15 minutes to show in Site Recovery.
            appear_timeout: Duration::from_secs(45 * 60),
        }
    }
}

/// The run input for a spec.
pub fn run_input(spec: &Spec) -> Value {
    json!({ "spec": spec.snapshot() })
}

/// The spec stored in a run's input.
pub fn spec_of(input: &Value) -> Result<Spec, EngineError> {
    Spec::from_snapshot(input.get("spec").unwrap_or(&Value::Null))
        .map_err(|e| EngineError::InvalidDefinition(format!("run input: {e}")))
}

/// The run input with a credential that reads no secret (the Azure CLI's, which does
/// nothing until a token is asked for): its DAG has the same steps and edges, so a view of a
/// run (`status`, `graph`) can be drawn where the credential's secrets are not set. A
/// definition built from it must never be driven.
pub fn input_for_views(input: &Value) -> Result<Value, EngineError> {
    let mut spec = spec_of(input)?;
    spec.azure.credential = crate::spec::Credential::Cli;
    Ok(run_input(&spec))
}

/// What the steps need to know about one network of this run.
pub fn target(spec: &Spec, run_id: &str, net: &spec::Network) -> NetworkTarget {
    NetworkTarget {
        name: net.name.clone(),
        region: net.region.clone(),
        resource_group: net.resource_group.clone(),
        vnet: net.vnet.clone(),
        subnet: net.subnet.clone(),
        private_ip: net.private_ip,
        names: ResourceNames {
            nic: spec.nic_name(run_id, net),
            vm: spec.vm_name(run_id, net),
            computer_name: spec.computer_name(net),
            os_disk: spec.os_disk_name(run_id, net),
            cache_disk: spec.cache_disk_name(run_id, net),
            run_command: "failback-register".into(),
        },
    }
}

/// Build the DAG of definition `version` for run `run_id` and `spec`.
pub fn build(
    version: u32,
    spec: &Spec,
    run_id: &str,
    azure: Arc<Azure>,
    cadence: &Cadence,
) -> Result<WorkflowDef, EngineError> {
    match version {
        1 => build_v1(spec, run_id, azure, cadence),
        v => Err(EngineError::UnknownWorkflow {
            name: WORKFLOW.to_owned(),
            version: v,
            known: DEFINITION_VERSIONS
                .iter()
                .map(|v| format!("{WORKFLOW} v{v}"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// What the steps of a run are made of, from its spec.
struct Parts {
    vm: VmSpec,
    site: SiteRecoveryTarget,
    reg: Registration,
    policy: Policy,
    targets: Vec<NetworkTarget>,
    scope: FailbackScope,
}

fn parts(spec: &Spec, run_id: &str, cadence: &Cadence) -> Parts {
    let ps = &spec.process_server;
    let cs = &spec.configuration_server;
    Parts {
        vm: VmSpec {
            size: ps.size.clone(),
            image: ImageRef {
                publisher: ps.image.publisher.clone(),
                offer: ps.image.offer.clone(),
                sku: ps.image.sku.clone(),
                version: ps.image.version.clone(),
            },
            os_disk_type: ps.os_disk_type.as_str().to_owned(),
            cache_disk_gb: ps.cache_disk_gb,
            admin_username: ps.admin_username.clone(),
            admin_password: ps.admin_password.clone(),
        },
        site: SiteRecoveryTarget {
            resource_group: spec.site_recovery.resource_group.clone(),
            vault: spec.site_recovery.vault.clone(),
            fabric: spec.site_recovery.fabric.clone(),
        },
        reg: Registration {
            cs_ip: cs.ip,
            cs_port: cs.port,
            data_port: cs.data_port,
            passphrase: cs.passphrase.clone(),
            installer_uri: ps.installer_uri.clone(),
            appear_timeout: cadence.appear_timeout,
        },
        policy: Policy {
            delete: spec.teardown.policy == TeardownPolicy::Delete,
            force_deletion: spec.teardown.force_deletion,
        },
        targets: spec
            .networks
            .iter()
            .map(|n| target(spec, run_id, n))
            .collect(),
        scope: FailbackScope {
            items: match &spec.failback.protected_items {
                ProtectedItems::All => None,
                ProtectedItems::Named(v) => Some(v.clone()),
            },
            poll_interval: spec.failback.poll_interval,
            deadline: spec.failback.deadline,
        },
    }
}

/// Version 1: `validate`, per network `create-nic → create-vm → await-boot → register`,
/// `await-failback`, per network `teardown`.
fn build_v1(
    spec: &Spec,
    run_id: &str,
    azure: Arc<Azure>,
    cadence: &Cadence,
) -> Result<WorkflowDef, EngineError> {
    let p = parts(spec, run_id, cadence);
    let retry = RetryPolicy::default();
    let ps = &spec.process_server;
    let cs = &spec.configuration_server;
    let mut steps = vec![StepDef::new(
        "validate",
        Arc::new(Validate {
            azure: azure.clone(),
            vm: p.vm.clone(),
            networks: p.targets.clone(),
            secrets: vec![
                (
                    "process_server.admin_password".into(),
                    ps.admin_password.clone(),
                ),
                (
                    "configuration_server.passphrase".into(),
                    cs.passphrase.clone(),
                ),
            ],
            site: p.site.clone(),
            scope: p.scope.clone(),
            cs_ip: cs.ip,
        }),
    )
    .retry(retry.clone())];
    let mut registers = Vec::new();
    for t in &p.targets {
        steps.extend(network_steps_v1(&azure, t, &p, cadence, &retry));
        registers.push(format!("{}/register", t.name));
    }
    steps.push(
        StepDef::new(
            "await-failback",
            Arc::new(AwaitFailback {
                azure: azure.clone(),
                site: p.site.clone(),
                scope: p.scope.clone(),
            }),
        )
        .after(registers)
        .retry(retry.clone()),
    );
    for t in &p.targets {
        steps.push(
            StepDef::new(
                format!("{}/teardown", t.name),
                Arc::new(Teardown {
                    azure: azure.clone(),
                    net: t.clone(),
                    policy: p.policy.clone(),
                }),
            )
            .after(["await-failback"])
            .retry(retry.clone()),
        );
    }
    WorkflowDef::new(WORKFLOW, 1, steps)
}

/// One network's `create-nic → create-vm → await-boot → register` (v1); the creates are
/// undone by a teardown that always deletes.
fn network_steps_v1(
    azure: &Arc<Azure>,
    t: &NetworkTarget,
    p: &Parts,
    cadence: &Cadence,
    retry: &RetryPolicy,
) -> Vec<StepDef> {
    let id = |s: &str| format!("{}/{s}", t.name);
    let undo = || -> Arc<dyn Step> {
        Arc::new(Teardown {
            azure: azure.clone(),
            net: t.clone(),
            policy: Policy {
                delete: true,
                force_deletion: p.policy.force_deletion,
            },
        })
    };
    vec![
        StepDef::new(
            id("create-nic"),
            Arc::new(CreateNic {
                azure: azure.clone(),
                net: t.clone(),
            }),
        )
        .after(["validate"])
        .retry(retry.clone())
        .compensate_with(undo()),
        StepDef::new(
            id("create-vm"),
            Arc::new(CreateVm {
                azure: azure.clone(),
                net: t.clone(),
                vm: p.vm.clone(),
            }),
        )
        .after([id("create-nic")])
        .retry(retry.clone())
        .compensate_with(undo()),
        StepDef::new(
            id("await-boot"),
            Arc::new(AwaitBoot {
                azure: azure.clone(),
                net: t.clone(),
                interval: cadence.boot_poll,
                timeout: cadence.boot_timeout,
            }),
        )
        .after([id("create-vm")])
        .retry(retry.clone()),
        StepDef::new(
            id("register"),
            Arc::new(Register {
                azure: azure.clone(),
                net: t.clone(),
                site: p.site.clone(),
                reg: p.reg.clone(),
                poll: cadence.register_poll,
            }),
        )
        .after([id("await-boot")])
        .retry(retry.clone()),
    ]
}

/// A registry with every failback definition version this release can run.
pub fn registry(pool: Arc<AzurePool>, cadence: Cadence) -> WorkflowRegistry {
    let mut r = WorkflowRegistry::new();
    for &version in DEFINITION_VERSIONS {
        let (pool, cadence) = (pool.clone(), cadence.clone());
        r.register(WORKFLOW, version, move |run_id, input| {
            let spec = spec_of(input)?;
            let azure = pool
                .get(&spec)
                .map_err(|e| EngineError::InvalidDefinition(e.to_string()))?;
            build(version, &spec, run_id, azure, &cadence)
        });
    }
    r
}
