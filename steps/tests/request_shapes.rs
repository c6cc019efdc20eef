//! The bodies of the requests that create resources have the shape of Microsoft's official
//! request examples (fixtures/azure-examples, MIT): the same core paths, and nothing beyond
//! them except fields REFERENCE.md documents for this tool.

mod support;

use failback_steps::steps::{CreateNic, CreateVm, Register};
use serde_json::Value;
use std::collections::BTreeSet;
use support::*;

fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{prefix}/{k}");
                out.insert(p.clone());
                paths(v, &p, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                paths(v, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn set(v: &Value) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    paths(v, "", &mut s);
    s
}

fn example_body(file: &str) -> Value {
    let path = format!(
        "{}/../fixtures/azure-examples/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let ex: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("example")).expect("json");
    ex["parameters"]
        .as_object()
        .and_then(|p| p.values().rfind(|v| v.is_object()).cloned())
        .expect("request body")
}

fn check(file: &str, ours: &Value, core: &[&str], documented_extras: &[&str]) {
    let ex = set(&example_body(file));
    let ours = set(ours);
    for c in core {
        assert!(
            ex.contains(*c),
            "{file}: core path {c} is not in the example (test is wrong)"
        );
        assert!(ours.contains(*c), "{file}: our request lacks {c}");
    }
    let extra: Vec<&String> = ours
        .difference(&ex)
        .filter(|p| !documented_extras.iter().any(|d| p.starts_with(d)))
        .collect();
    assert!(
        extra.is_empty(),
        "{file}: fields not in the example nor documented: {extra:?}"
    );
}

#[tokio::test]
async fn nic_vm_and_run_command_requests_match_the_official_examples() {
    let env = start(fast_scenario()).await;
    let nic = CreateNic {
        azure: env.azure.clone(),
        net: net_a(),
    };
    check(
        "Network_NetworkInterfaces_CreateOrUpdate.json",
        &nic.body("run", "vnet-a/create-nic"),
        &[
            "/location",
            "/properties/ipConfigurations",
            "/properties/ipConfigurations[]/name",
            "/properties/ipConfigurations[]/properties/subnet/id",
            "/properties/enableAcceleratedNetworking",
        ],
        // REFERENCE.md §4: the static-IP fields and tags.
        &[
            "/tags",
            "/properties/ipConfigurations[]/properties/primary",
            "/properties/ipConfigurations[]/properties/privateIPAllocationMethod",
            "/properties/ipConfigurations[]/properties/privateIPAddress",
            "/properties/ipConfigurations[]/properties/privateIPAddressVersion",
        ],
    );
    let vm = CreateVm {
        azure: env.azure.clone(),
        net: net_a(),
        vm: vm_spec(),
    };
    check(
        "Compute_VirtualMachines_CreateOrUpdate_WindowsPassword.json",
        &vm.body("run", "vnet-a/create-vm", "x"),
        &[
            "/location",
            "/properties/hardwareProfile/vmSize",
            "/properties/storageProfile/imageReference/publisher",
            "/properties/storageProfile/imageReference/offer",
            "/properties/storageProfile/imageReference/sku",
            "/properties/storageProfile/imageReference/version",
            "/properties/storageProfile/osDisk/createOption",
            "/properties/storageProfile/osDisk/managedDisk/storageAccountType",
            "/properties/osProfile/computerName",
            "/properties/osProfile/adminUsername",
            "/properties/osProfile/adminPassword",
            "/properties/osProfile/windowsConfiguration/provisionVMAgent",
            "/properties/networkProfile/networkInterfaces[]/id",
            "/properties/networkProfile/networkInterfaces[]/properties/primary",
        ],
        // REFERENCE.md §5: deleteOption cascades, the cache data disk, boot diagnostics, tags.
        &[
            "/tags",
            "/properties/storageProfile/osDisk/deleteOption",
            "/properties/storageProfile/dataDisks",
            "/properties/networkProfile/networkInterfaces[]/properties/deleteOption",
            "/properties/diagnosticsProfile",
        ],
    );
    let reg = Register {
        azure: env.azure.clone(),
        net: net_a(),
        site: site(),
        reg: registration(&env, CS_PASSPHRASE),
        poll: std::time::Duration::from_secs(15),
    };
    check(
        "Compute_VirtualMachineRunCommands_CreateOrUpdate.json",
        &reg.body("x"),
        &[
            "/location",
            "/properties/parameters[]/name",
            "/properties/parameters[]/value",
            "/properties/asyncExecution",
            "/properties/treatFailureAsDeploymentFailure",
            "/properties/timeoutInSeconds",
        ],
        // REFERENCE.md §7.2: inline script source and protected parameters.
        &[
            "/properties/source/script",
            "/properties/protectedParameters",
        ],
    );
}
