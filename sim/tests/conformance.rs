//! Conformance: every operation of REFERENCE.md §3–9 driven with plain HTTP; statuses, headers and
//! body fields checked against the official examples in fixtures/azure-examples.

mod support;
use serde_json::json;
use support::*;

fn body_of(ex: &str, status: &str) -> serde_json::Value {
    example(ex)["responses"][status]["body"].clone()
}

#[tokio::test]
async fn s3_1_resource_skus_list_for_region() {
    let t = T::new().await;
    let r = t
        .get(&format!(
            "/subscriptions/{}/providers/Microsoft.Compute/skus?api-version={SKUS}&$filter={}",
            t.sub,
            urlenc("location eq 'westeurope'")
        ))
        .await;
    assert!(example_statuses("Compute_ResourceSkus_List_ForARegion").contains(&r.status));
    let a8 = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Standard_A8_v2")
        .cloned()
        .expect("A8_v2 listed");
    let ex = &body_of("Compute_ResourceSkus_List_ForARegion", "200")["value"][0];
    assert_shape(ex, &a8, &[]);
    assert_eq!(a8["family"], "standardAv2Family");
    let caps = a8["capabilities"].as_array().unwrap();
    assert!(
        caps.iter().all(|c| c["value"].is_string()),
        "capabilities are strings"
    );
    assert!(caps
        .iter()
        .any(|c| c["name"] == "HyperVGenerations" && c["value"] == "V1"));
    assert!(caps
        .iter()
        .any(|c| c["name"] == "PremiumIO" && c["value"] == "False"));
    assert_eq!(a8["restrictions"], json!([]));
}

#[tokio::test]
async fn s3_2_usages_list() {
    let t = T::new().await;
    let r = t.get(&format!("/subscriptions/{}/providers/Microsoft.Compute/locations/westeurope/usages?api-version={COMPUTE}", t.sub)).await;
    assert_eq!(r.status, 200);
    let ex = &body_of("Compute_Usage_List", "200")["value"][0];
    let av2 = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"]["value"] == "standardAv2Family")
        .cloned()
        .unwrap();
    assert_shape(ex, &av2, &[]);
    assert_eq!(av2["unit"], "Count");
    assert_eq!(av2["limit"], 16);
    assert!(r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["name"]["value"] == "cores"
            && u["name"]["localizedValue"] == "Total Regional vCPUs"));
}

#[tokio::test]
async fn s3_3_vnet_get_subnet_get_and_check_ip() {
    let t = T::new().await;
    let r = t
        .get(&format!("{}?api-version={NET}", t.vnet("vnet-a")))
        .await;
    assert_eq!(r.status, 200);
    assert_shape(
        &body_of("Network_VirtualNetworks_Get", "200"),
        &r.body,
        &["defaultPublicNatGateway", "ipConfigurations"],
    );
    assert_eq!(
        r.body["properties"]["addressSpace"]["addressPrefixes"],
        json!(["10.1.0.0/16"])
    );
    let s = t
        .get(&format!("{}?api-version={NET}", t.subnet_id("vnet-a")))
        .await;
    assert_eq!(s.status, 200);
    assert_shape(&body_of("Network_Subnets_Get", "200"), &s.body, &[]);
    assert_eq!(s.body["properties"]["addressPrefix"], "10.1.0.0/24");
    t.create_nic("taken", "vnet-a", "10.1.0.4").await;
    let c = t
        .get(&format!(
            "{}/CheckIPAddressAvailability?ipAddress=10.1.0.4&api-version={NET}",
            t.vnet("vnet-a")
        ))
        .await;
    assert_eq!(c.status, 200);
    assert_shape(
        &body_of("Network_VirtualNetworks_CheckIPAddressAvailability", "200"),
        &c.body,
        &[],
    );
    assert_eq!(c.body["available"], false);
    assert_eq!(
        c.body["availableIPAddresses"],
        json!(["10.1.0.5", "10.1.0.6", "10.1.0.7", "10.1.0.8", "10.1.0.9"])
    );
    let free = t
        .get(&format!(
            "{}/CheckIPAddressAvailability?ipAddress=10.1.0.50&api-version={NET}",
            t.vnet("vnet-a")
        ))
        .await;
    assert_eq!(free.body["available"], true);
}

#[tokio::test]
async fn s4_network_interface_put_get_delete() {
    let t = T::new().await;
    let r = t
        .put(
            &format!("{}?api-version={NET}", t.nic("nic1")),
            t.nic_body("vnet-a", "10.1.0.10"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(example_statuses("Network_NetworkInterfaces_CreateOrUpdate").contains(&201));
    assert_shape(
        &body_of("Network_NetworkInterfaces_CreateOrUpdate", "201"),
        &r.body,
        &["publicIPAddress", "privateIPAddressPrefixLength"],
    );
    let aso = r.h("azure-asyncoperation").unwrap();
    assert!(aso.starts_with(&format!(
        "{}/subscriptions/{}/providers/Microsoft.Network/locations/westeurope/operations/",
        t.base, t.sub
    )));
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    t.advance(6.0);
    let g = t.get(&format!("{}?api-version={NET}", t.nic("nic1"))).await;
    assert_eq!(g.status, 200);
    assert_eq!(
        g.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.1.0.10"
    );
    assert_eq!(
        g.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAllocationMethod"],
        "Static"
    );
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    assert!(g.body["etag"].as_str().unwrap().starts_with("W/\""));
    let d = t
        .delete(&format!("{}?api-version={NET}", t.nic("nic1")))
        .await;
    assert_eq!(d.status, 202);
    assert!(example_statuses("Network_NetworkInterfaces_Delete").contains(&202));
    let loc = d.h("location").unwrap();
    assert!(
        loc.contains("/networkInterfaces/nic1/operationResults/"),
        "{loc}"
    );
    t.advance(6.0);
    assert_eq!(
        t.get(&format!("{}?api-version={NET}", t.nic("nic1")))
            .await
            .status,
        404
    );
    assert_eq!(
        t.delete(&format!("{}?api-version={NET}", t.nic("nic1")))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn s5_virtual_machine_create_and_get() {
    let t = T::new().await;
    t.create_nic("ps1-nic", "vnet-a", "10.1.0.10").await;
    let r = t
        .put(
            &format!("{}?api-version={COMPUTE}", t.vm("ps1")),
            t.vm_body("ps1-nic", "Standard_A8_v2", "ps1", "2016-Datacenter"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_shape(
        &body_of(
            "Compute_VirtualMachines_CreateOrUpdate_WindowsPassword",
            "201",
        ),
        &r.body,
        &["patchSettings"],
    );
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    assert!(
        r.body["properties"]["osProfile"]
            .get("adminPassword")
            .is_none(),
        "password never echoed"
    );
    assert!(r
        .h("azure-asyncoperation")
        .unwrap()
        .contains("/providers/Microsoft.Compute/locations/westeurope/operations/"));
    t.advance(91.0);
    let g = t
        .get(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
        .await;
    assert_eq!(g.status, 200);
    let ignore = [
        "availabilitySet",
        "proximityPlacementGroup",
        "applicationProfile",
        "userData",
        "extensionsTimeBudget",
        "hostGroup",
        "platformFaultDomain",
        "securityProfile",
        "scheduledEventsProfile",
        "capacityReservation",
        "bootDiagnostics",
        "storageUri",
        "managedBy",
        "resources",
        "myTag1",
    ];
    assert_shape(
        &body_of("Compute_VirtualMachines_Get", "200"),
        &g.body,
        &ignore,
    );
    assert_eq!(g.body["etag"], "\"2\"");
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    let os = &g.body["properties"]["storageProfile"]["osDisk"];
    assert_eq!(
        os["managedDisk"]["id"],
        format!(
            "{}/providers/Microsoft.Compute/disks/ps1-os",
            t.rg("rg-failback")
        )
    );
}

#[tokio::test]
async fn s6_instance_view() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let r = t
        .get(&format!(
            "{}/instanceView?api-version={COMPUTE}",
            t.vm("ps1")
        ))
        .await;
    assert_eq!(r.status, 200);
    let ignore = [
        "extensions",
        "patchStatus",
        "consoleScreenshotBlobUri",
        "serialConsoleLogBlobUri",
        "extensionHandlers",
        "maintenanceRedeployStatus",
        "bootDiagnostics",
    ];
    assert_shape(
        &body_of("Compute_VirtualMachines_InstanceView", "200"),
        &r.body,
        &ignore,
    );
    assert_eq!(r.body["vmAgent"]["statuses"][0]["displayStatus"], "Ready");
    assert_eq!(r.body["computerName"], "ps1");
}

#[tokio::test]
async fn s7_1_action_run_command() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let r = t.post(&format!("{}/runCommand?api-version={COMPUTE}", t.vm("ps1")), json!({"commandId": "RunPowerShellScript", "script": ["Write-Output 'hello from ps1'"]})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(example_statuses("Compute_VirtualMachines_RunCommand_Action").contains(&202));
    let loc = r.h("location").unwrap();
    assert!(
        loc.contains("&monitor=true&api-version="),
        "Compute's Location form: {loc}"
    );
    assert_eq!(t.get(&loc).await.status, 202);
    t.advance(31.0);
    let done = t.get(&loc).await;
    assert_eq!(done.status, 200);
    assert_shape(
        &body_of("Compute_VirtualMachines_RunCommand_Action", "200"),
        &done.body,
        &[],
    );
    assert_eq!(
        done.body["value"][0]["code"],
        "ComponentStatus/StdOut/succeeded"
    );
    assert_eq!(done.body["value"][0]["message"], "hello from ps1\n");
}

#[tokio::test]
async fn s7_2_managed_run_command_put_get_delete() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let p = format!("{}/runCommands/register?api-version={COMPUTE}", t.vm("ps1"));
    let r = t
        .put(&p, t.registration_body("10.0.0.10", "443", &t.passphrase()))
        .await;
    assert_eq!(r.status, 201);
    assert_shape(
        &body_of("Compute_VirtualMachineRunCommands_CreateOrUpdate", "201"),
        &r.body,
        &[
            "tags",
            "runAsUser",
            "outputBlobUri",
            "errorBlobUri",
            "scriptUri",
        ],
    );
    assert_eq!(r.body["properties"]["provisioningState"], "Creating");
    assert!(r.body["properties"].get("protectedParameters").is_none());
    assert!(r.h("azure-asyncoperation").is_some() && r.h("location").is_some());
    t.advance(125.0);
    let g = t
        .get(&format!(
            "{}/runCommands/register?api-version={COMPUTE}&$expand=instanceView",
            t.vm("ps1")
        ))
        .await;
    assert_eq!(g.status, 200);
    assert_shape(
        &body_of("Compute_VirtualMachineRunCommands_Get", "200"),
        &g.body,
        &["tags", "runAsUser", "outputBlobUri", "errorBlobUri"],
    );
    assert_eq!(
        g.body["properties"]["instanceView"]["executionState"],
        "Succeeded"
    );
    assert_eq!(g.body["properties"]["instanceView"]["exitCode"], 0);
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    assert!(!g.text.contains(&t.passphrase()), "passphrase never echoed");
    let d = t.delete(&p).await;
    assert_eq!(d.status, 202);
    assert!(example_statuses("Compute_VirtualMachineRunCommands_Delete").contains(&202));
    assert!(d.h("location").unwrap().contains("&monitor=true"));
    t.advance(6.0);
    assert_eq!(t.get(&p).await.status, 404);
}

#[tokio::test]
async fn s8_1_fabrics_list_get_and_reassociate() {
    let t = T::new().await;
    let l = t
        .get(&format!(
            "{}/replicationFabrics?api-version={ASR}",
            t.vault()
        ))
        .await;
    assert_eq!(l.status, 200);
    assert_eq!(l.body["value"].as_array().unwrap().len(), 1);
    let f = t.fabric().await;
    assert_shape(
        &body_of("RecoveryServices_ReplicationFabrics_Get", "200"),
        &f,
        &[],
    );
    assert_eq!(f["properties"]["customDetails"]["instanceType"], "VMware");
    assert!(
        f["id"].as_str().unwrap().starts_with("/Subscriptions/"),
        "ASR ids use /Subscriptions/"
    );
    let ps = &f["properties"]["customDetails"]["processServers"][0];
    for k in [
        "id",
        "friendlyName",
        "ipAddress",
        "lastHeartbeat",
        "health",
        "healthErrors",
        "psServiceStatus",
        "agentVersion",
        "versionStatus",
    ] {
        assert!(ps.get(k).is_some(), "process server field {k}");
    }
    let ps_id = ps["id"].as_str().unwrap();
    let r = t.post(&format!("{}/replicationFabrics/cs-fabric/reassociateGateway?api-version={ASR}", t.vault()), json!({"properties": {"containerName": "cloud_cs-fabric", "sourceProcessServerId": ps_id, "targetProcessServerId": ps_id, "vmsToMigrate": [], "updateType": "ServerLevel"}})).await;
    assert_eq!(r.status, 200);
    assert!(r
        .h("azure-asyncoperation")
        .unwrap()
        .contains("/replicationOperationStatus/"));
}

#[tokio::test]
async fn s8_2_to_8_4_protected_items_actions_and_jobs() {
    let t = T::new().await;
    let ps = t.deploy_registered_ps("ps1", "vnet-a", "10.1.0.10").await;
    let item = t.item("item-vm-app1");
    s8_2_get_and_list(&t, &item).await;
    s8_3_reprotect_and_its_job(&t, &item, &ps).await;
    s8_3_failover_and_commit(&t, &item).await;
    s8_4_jobs_list(&t).await;
}

async fn s8_2_get_and_list(t: &T, item: &str) {
    let g = t.get(&format!("{item}?api-version={ASR}")).await;
    assert_eq!(g.status, 200);
    assert_shape(
        &body_of("RecoveryServices_ReplicationProtectedItems_Get", "200"),
        &g.body,
        &[],
    );
    assert_eq!(
        g.body["properties"]["providerSpecificDetails"]["instanceType"],
        "InMageAzureV2"
    );
    assert_eq!(g.body["properties"]["activeLocation"], "Recovery");
    let l = t
        .get(&format!(
            "{}/replicationProtectedItems?api-version={ASR}",
            t.vault()
        ))
        .await;
    assert_eq!(l.body["value"].as_array().unwrap().len(), 3);
}

/// reProtect to the registered process server: 202, Location, the job, then the item as InMage.
async fn s8_3_reprotect_and_its_job(t: &T, item: &str, ps: &serde_json::Value) {
    let rp = t.post(&format!("{item}/reProtect?api-version={ASR}"), json!({"properties": {"failoverDirection": "RecoveryToPrimary", "providerSpecificDetails": {
        "instanceType": "InMage", "processServerId": ps["id"], "masterTargetId": "5D3ED340-85AE-C646-B338641E015DA405", "retentionDrive": "R:", "datastoreName": "datastore1", "profileId": "failback-policy"}}})).await;
    assert_eq!(rp.status, 202, "{}", rp.text);
    assert!(
        example_statuses("RecoveryServices_ReplicationProtectedItems_Reprotect").contains(&202)
    );
    assert_eq!(rp.h("retry-after").as_deref(), Some("30"));
    let loc = rp.h("location").unwrap();
    assert!(loc.contains("/operationresults/"));
    let job = loc
        .split("/operationresults/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let j = t
        .get(&format!(
            "{}/replicationJobs/{job}?api-version={ASR}",
            t.vault()
        ))
        .await;
    assert_eq!(j.status, 200);
    assert_shape(
        &body_of("RecoveryServices_ReplicationJobs_Get", "200"),
        &j.body,
        &[
            "endTime",
            "PrimaryVmmId",
            "PrimaryVmmName",
            "RecoveryVmmId",
            "PrimaryFabricProviderId",
            "RecoveryFabricProviderId",
        ],
    );
    assert_eq!(j.body["properties"]["state"], "InProgress");
    assert_eq!(t.get(&loc).await.status, 202);
    t.advance(901.0);
    assert_eq!(t.get(&loc).await.status, 200);
    let g = t.get(&format!("{item}?api-version={ASR}")).await;
    assert_eq!(
        g.body["properties"]["providerSpecificDetails"]["instanceType"],
        "InMage"
    );
    assert!(g.body["properties"]["allowedOperations"]
        .as_array()
        .unwrap()
        .contains(&json!("UnplannedFailover")));
}

/// unplannedFailover back to primary, then failoverCommit.
async fn s8_3_failover_and_commit(t: &T, item: &str) {
    let uf = t.post(&format!("{item}/unplannedFailover?api-version={ASR}"), json!({"properties": {"failoverDirection": "RecoveryToPrimary", "sourceSiteOperations": "NotRequired", "providerSpecificDetails": {"instanceType": "InMage", "recoveryPointType": "LatestTime"}}})).await;
    assert_eq!(uf.status, 202);
    assert!(
        example_statuses("RecoveryServices_ReplicationProtectedItems_UnplannedFailover")
            .contains(&202)
    );
    t.advance(601.0);
    let g = t.get(&format!("{item}?api-version={ASR}")).await;
    assert_eq!(g.body["properties"]["activeLocation"], "Primary");
    assert!(g.body["properties"]["allowedOperations"]
        .as_array()
        .unwrap()
        .contains(&json!("Commit")));
    let fc = t
        .post(
            &format!("{item}/failoverCommit?api-version={ASR}"),
            json!(null),
        )
        .await;
    assert_eq!(fc.status, 202);
    assert!(
        example_statuses("RecoveryServices_ReplicationProtectedItems_FailoverCommit")
            .contains(&202)
    );
    t.advance(301.0);
    let g = t.get(&format!("{item}?api-version={ASR}")).await;
    assert_eq!(
        g.body["properties"]["currentScenario"]["scenarioName"],
        "None"
    );
    assert_eq!(
        g.body["properties"]["currentScenario"]["startTime"],
        "1753-01-01T01:01:01Z"
    );
}

async fn s8_4_jobs_list(t: &T) {
    let jl = t
        .get(&format!("{}/replicationJobs?api-version={ASR}", t.vault()))
        .await;
    assert_eq!(jl.status, 200);
    assert_shape(
        &body_of("RecoveryServices_ReplicationJobs_List", "200")["value"][0],
        &jl.body["value"][0],
        &[],
    );
    assert_eq!(jl.body["value"].as_array().unwrap().len(), 3);
    assert!(jl.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["properties"]["state"] == "Succeeded"));
}

#[tokio::test]
async fn s9_teardown_vm_force_delete_nic_and_disks() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let d = t
        .get(&format!("{}?api-version={DISKS}", t.disk("ps1-os")))
        .await;
    assert_eq!(d.status, 200);
    assert_shape(
        &body_of("Compute_Disks_Get", "200"),
        &d.body,
        &[
            "tags",
            "purchasePlan",
            "supportedCapabilities",
            "supportsHibernation",
            "securityProfile",
            "imageReference",
            "encryptionSettingsCollection",
            "LastOwnershipUpdateTime",
        ],
    );
    assert_eq!(d.body["managedBy"], format!("{}", t.vm("ps1")));
    let dd = t
        .delete(&format!("{}?api-version={DISKS}", t.disk("ps1-os")))
        .await;
    assert_eq!(dd.status, 409, "attached disk cannot be deleted");
    let r = t
        .delete(&format!(
            "{}?forceDeletion=true&api-version={COMPUTE}",
            t.vm("ps1")
        ))
        .await;
    assert_eq!(r.status, 202);
    assert!(example_statuses("Compute_VirtualMachines_Delete_Force").contains(&202));
    assert!(r.h("location").unwrap().contains("&monitor=true"));
    assert_eq!(
        t.get(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
            .await
            .body["properties"]["provisioningState"],
        "Deleting"
    );
    t.advance(16.0);
    assert_eq!(
        t.get(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
            .await
            .status,
        404
    );
    assert_eq!(
        t.get(&format!("{}?api-version={DISKS}", t.disk("ps1-os")))
            .await
            .status,
        404,
        "deleteOption Delete cascades"
    );
    // NIC was Detach: kept, reserved for a while, then deletable.
    let n = t
        .delete(&format!("{}?api-version={NET}", t.nic("ps1-nic")))
        .await;
    assert_eq!(n.code(), "NicReservedForAnotherVm");
    t.advance(181.0);
    let n = t
        .delete(&format!("{}?api-version={NET}", t.nic("ps1-nic")))
        .await;
    assert_eq!(n.status, 202);
    t.advance(6.0);
    assert!(
        t.sim.inventory().created().is_empty(),
        "nothing left behind"
    );
    // Disk delete LRO on a detached disk.
    let _ = DISKS;
    assert!(example_statuses("Compute_Disks_Delete").contains(&202));
}
