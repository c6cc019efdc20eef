//! Subscription-wide lists (NICs, VMs) and not-found messages worded as ARM words them.

mod support;
use support::*;

#[tokio::test]
async fn nics_and_vms_list_at_subscription_scope() {
    let t = T::new().await;
    t.create_vm("vm-1", "vnet-a", "10.1.0.10").await;
    let nics = t
        .get(&format!(
            "/subscriptions/{}/providers/Microsoft.Network/networkInterfaces?api-version=2026-03-01",
            t.sub
        ))
        .await;
    assert_eq!(nics.status, 200, "{}", nics.text);
    let names: Vec<&str> = nics.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(names.contains(&"vm-1-nic"), "{names:?}");
    let vms = t
        .get(&format!(
            "/subscriptions/{}/providers/Microsoft.Compute/virtualMachines?api-version=2026-04-01",
            t.sub
        ))
        .await;
    assert_eq!(vms.status, 200, "{}", vms.text);
    assert_eq!(vms.body["value"][0]["name"], "vm-1");
}

#[tokio::test]
async fn not_found_names_the_resource_group_and_the_vm_of_a_run_command() {
    let t = T::new().await;
    let r = t
        .get(&format!("{}?api-version=2026-04-01", t.vm("nope")))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "ResourceNotFound");
    assert_eq!(
        r.body["error"]["message"],
        "The Resource 'Microsoft.Compute/virtualMachines/nope' under resource group 'rg-failback' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    );
    t.create_vm("vm-1", "vnet-a", "10.1.0.10").await;
    let r = t
        .get(&format!(
            "{}/runCommands/missing?api-version=2026-04-01",
            t.vm("vm-1")
        ))
        .await;
    assert_eq!(r.status, 404);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("The Resource 'Microsoft.Compute/virtualMachines/vm-1/runCommands/missing' under resource group 'rg-failback' was not found."),
        "{msg}"
    );
}
